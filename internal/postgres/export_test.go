package postgres

// WaitMerges waits for the background merges of busy rollup slices.
func (db *DB) WaitMerges() { db.feed.merges.Wait() }

// The SQL spellings of the domain's vocabulary, for the tests that hold
// them to it.
const ChinaTimeSQL = chinaTime

func OpenStatusSQL() string { return openStatusSQL() }
