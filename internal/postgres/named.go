package postgres

import (
	"context"
	"fmt"
	"regexp"
	"sync"

	"github.com/jackc/pgx/v5"
)

// namedStatements holds statements written with @name placeholders,
// rewritten to positional ones once each: pgx.NamedArgs rewrites the text
// at every call, which was a fifth of a create's client CPU. Safe for
// concurrent use.
type namedStatements struct{ m sync.Map } // SQL → *namedStatement

// namedStatement is a statement with its placeholders numbered: names[i]
// is the name of $(i+1).
type namedStatement struct {
	sql   string
	names []string
}

var namedCandidate = regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_]*)`)

// positional is sql with its @name placeholders numbered and the values
// of args in their order, as pgx.NamedArgs would send them (a name args
// lacks is NULL).
func (ns *namedStatements) positional(sql string, args pgx.NamedArgs) (string, []any, error) {
	v, ok := ns.m.Load(sql)
	if !ok {
		st, err := numberPlaceholders(sql)
		if err != nil {
			return "", nil, err
		}
		v, _ = ns.m.LoadOrStore(sql, st)
	}
	st := v.(*namedStatement)
	out := make([]any, len(st.names))
	for i, n := range st.names {
		out[i] = args[n]
	}
	return st.sql, out, nil
}

// numberPlaceholders rewrites sql with pgx's own lexer (which knows
// strings, comments and operators such as @>), each candidate name
// standing for itself, so the values come back as the names in order.
func numberPlaceholders(sql string) (*namedStatement, error) {
	probe := pgx.NamedArgs{}
	for _, m := range namedCandidate.FindAllStringSubmatch(sql, -1) {
		probe[m[1]] = m[1]
	}
	out, vals, err := probe.RewriteQuery(context.Background(), nil, sql, nil)
	if err != nil {
		return nil, err
	}
	st := &namedStatement{sql: out, names: make([]string, len(vals))}
	for i, v := range vals {
		n, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("postgres: placeholder %d of a named statement is not a name", i+1)
		}
		st.names[i] = n
	}
	return st, nil
}
