package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// Every write records who made it (grid.WhoOf its context) in audit_log,
// in the same transaction as the change: statements that write in one
// round trip add an INSERT … SELECT auditValues … CTE with auditArgs,
// the others call insertAudit. Migration 011 makes the rows append-only.

// auditColumns and auditValues are the who-columns of an audit row and
// the named arguments auditArgs fills.
const (
	auditColumns = `key_id, role, actor, addr, request_id`
	auditValues  = `@audit_key::bigint, @audit_role::text, @audit_actor::text, @audit_addr::text, @audit_request::text`
)

// auditArgs adds ctx's Who to args, for auditValues.
func auditArgs(ctx context.Context, args pgx.NamedArgs) {
	w := grid.WhoOf(ctx)
	var key any
	if w.KeyID != 0 {
		key = w.KeyID
	}
	args["audit_key"], args["audit_role"], args["audit_actor"], args["audit_addr"], args["audit_request"] = key, w.Role, w.Actor, w.Addr, w.RequestID
}

// insertAudit writes one audit row of ctx's Who in tx. town is the town
// the change belongs to ("" city-wide); detail is encoded as JSON (nil:
// an empty object).
func insertAudit(ctx context.Context, tx pgx.Tx, action, target, town string, detail any) error {
	args := pgx.NamedArgs{"action": action, "target": target, "town": nil, "detail": detail}
	if town != "" {
		args["town"] = town
	}
	if detail == nil {
		args["detail"] = map[string]any{}
	}
	auditArgs(ctx, args)
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (`+auditColumns+`, action, target, town_code, detail)
		VALUES (`+auditValues+`, @action, @target, @town, @detail::jsonb)`, args)
	return err
}

// Audit lists audit rows newest first (id descending), the filter's
// Before continuing a page.
func (db *DB) Audit(ctx context.Context, f grid.AuditFilter) (out []grid.AuditEntry, err error) {
	defer wrap(&err, "Audit")
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if f.KeyID != 0 {
		add("key_id = $?", f.KeyID)
	}
	if f.Action != "" {
		add("action = $?", f.Action)
	}
	if f.Target != "" {
		add("target = $?", f.Target)
	}
	if f.RequestID != "" {
		add("request_id = $?", f.RequestID)
	}
	if !f.From.IsZero() {
		add("at >= $?", f.From)
	}
	if !f.To.IsZero() {
		add("at < $?", f.To)
	}
	if f.Town != "" {
		add("town_code = $?", f.Town)
	}
	if f.Before > 0 {
		add("id < $?", f.Before)
	}
	limit := f.Limit
	if limit <= 0 || limit > grid.MaxAuditPage {
		limit = grid.DefaultAuditPage
	}
	q := `SELECT id, at, coalesce(key_id, 0), role, actor, action, target, coalesce(town_code, ''), detail, addr, request_id FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, db.classify(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (e grid.AuditEntry, err error) {
		err = r.Scan(&e.ID, &e.At, &e.KeyID, &e.Role, &e.Actor, &e.Action, &e.Target, &e.Town, &e.Detail, &e.Addr, &e.RequestID)
		return e, err
	})
}
