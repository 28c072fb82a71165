package postgres

// NotifyQueued reports whether coalesced notifications are queued or
// scheduled, of the rollups or of the incident changes.
func (db *DB) NotifyQueued() bool {
	db.feed.mu.Lock()
	rollups := db.feed.scheduled || len(db.feed.pending) > 0
	db.feed.mu.Unlock()
	db.tiles.mu.Lock()
	defer db.tiles.mu.Unlock()
	return rollups || db.tiles.scheduled || len(db.tiles.pending) > 0
}
