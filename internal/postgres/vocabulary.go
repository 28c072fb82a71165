package postgres

import (
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
)

// chinaTime is grid.ChinaTime in SQL: `ts AT TIME ZONE ` + chinaTime is the
// local (UTC+8) wall-clock time of a timestamptz, and `local AT TIME ZONE `
// + chinaTime the instant of a local time. A fixed offset, as in Go: the
// same answer whatever the server's time zone data say. A test holds it
// equal to grid.ChinaOffset.
const chinaTime = "INTERVAL '+08:00'"

// openStatusSQL is the predicate of the open (supervision queue) states,
// spelled as the partial index incident_open spells it, so the planner can
// use that index. Built from grid.OpenStatuses; a test holds the index to
// the same list.
func openStatusSQL() string {
	q := make([]string, 0, len(grid.OpenStatuses()))
	for _, s := range grid.OpenStatuses() {
		q = append(q, "'"+s+"'")
	}
	return "status IN (" + strings.Join(q, ", ") + ")"
}
