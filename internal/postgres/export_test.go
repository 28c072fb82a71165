package postgres

// WaitMerges waits for the background merges of busy rollup slices.
func (db *DB) WaitMerges() { db.feed.merges.Wait() }
