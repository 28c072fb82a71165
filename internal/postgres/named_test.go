package postgres

import (
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Numbered once, a named statement sends what pgx.NamedArgs sends: the
// same text and the same values in order, a missing name as NULL, and
// names in strings, comments and operators left alone.
func TestPositionalMatchesNamedArgs(t *testing.T) {
	var ns namedStatements
	for _, sql := range []string{
		createIncidentSQL,
		transitionSQL,
		`SELECT @a, @b, @a, '@notname', x @> y /* @nor */ FROM t WHERE c = @missing -- @comment`,
	} {
		args := pgx.NamedArgs{"a": 1, "b": "two", "id": int64(7), "now": "t", "actor": "x"}
		wantSQL, wantArgs, err := args.RewriteQuery(t.Context(), nil, sql, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second from the cache
			gotSQL, gotArgs, err := ns.positional(sql, args)
			if err != nil {
				t.Fatal(err)
			}
			if gotSQL != wantSQL || !reflect.DeepEqual(gotArgs, wantArgs) {
				t.Fatalf("positional(%.40q…) = %.80q %v, want %.80q %v", sql, gotSQL, gotArgs, wantSQL, wantArgs)
			}
		}
	}
}
