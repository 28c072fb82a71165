package postgres

// The SQL spellings of the domain's vocabulary, for the tests that hold
// them to it.
const ChinaTimeSQL = chinaTime

func OpenStatusSQL() string { return openStatusSQL() }

// H3Cover is the H3 read of a small box.
var H3Cover = h3Cover
