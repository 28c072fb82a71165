package postgres_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
)

// TestAuditLogIsAppendOnly: PostgreSQL itself refuses to change or remove
// an audit row, by UPDATE, DELETE or TRUNCATE, whoever asks; adding rows
// still works.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := grid.WithWho(ctxT(t), grid.CLIWho("operator"))
	x := demoIncident(t, time.Now().Add(-time.Hour))
	if _, err := db.CreateIncident(ctx, &x, "test"); err != nil {
		t.Fatal(err)
	}
	before := count(t, db, `SELECT count(*) FROM audit_log`)
	if before < 2 { // the demo city's activation and this create
		t.Fatalf("%d audit rows before", before)
	}
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'someone else'`,
		`UPDATE audit_log SET detail = '{}' WHERE action = 'incident.create'`,
		`DELETE FROM audit_log`,
		`DELETE FROM audit_log WHERE action = 'incident.create'`,
		`TRUNCATE audit_log`,
		`TRUNCATE audit_log, incident CASCADE`,
	} {
		_, err := db.Pool().Exec(ctxT(t), q)
		if err == nil {
			t.Errorf("%s: allowed", q)
		} else if msg := err.Error(); !strings.Contains(msg, "audit_log is append-only") {
			t.Errorf("%s: %v, want the append-only refusal", q, err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM audit_log`); n != before {
		t.Errorf("%d audit rows after, were %d", n, before)
	}
	if n := count(t, db, `SELECT count(*) FROM audit_log WHERE actor = 'operator' AND role = 'cli' AND action = 'incident.create' AND target = $1`,
		"incident:"+strconv.FormatInt(x.ID, 10)); n != 1 {
		t.Errorf("%d create rows of incident %d by the operator, want 1", n, x.ID)
	}
	if n := count(t, db, `SELECT count(*) FROM incident`); n != 1 { // TRUNCATE … CASCADE took nothing either
		t.Errorf("%d incidents after, want 1", n)
	}
}

// TestAuditRollsBackWithTheChange: a write whose audit row cannot be
// written is not made at all — create, lifecycle action, bulk load, key
// creation — and one that is refused (a disallowed
// action, a duplicate) writes no audit row.
func TestAuditRollsBackWithTheChange(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := grid.WithWho(ctxT(t), grid.CLIWho("operator"))
	x := demoIncident(t, time.Now().Add(-time.Hour))
	x.ExternalID = "rollback-1"
	if _, err := db.CreateIncident(ctx, &x, "test"); err != nil {
		t.Fatal(err)
	}
	audits := func() int { return count(t, db, `SELECT count(*) FROM audit_log`) }
	n0 := audits()

	// Refused: no row.
	if _, _, err := db.Transition(ctx, x.ID, "verify", "test", "", time.Now(), grid.DefaultCalendar()); grid.KindOf(err) != grid.Conflict {
		t.Fatalf("verify from collected: %v", err)
	}
	again := demoIncident(t, time.Now().Add(-time.Hour))
	again.ExternalID = "rollback-1"
	if created, err := db.CreateIncident(ctx, &again, "test"); err != nil || created {
		t.Fatalf("a retry: created %v, %v", created, err)
	}
	if n := audits(); n != n0 {
		t.Fatalf("a refused action and a retry wrote %d audit rows", n-n0)
	}

	// The audit log refuses every row from here on: so must every write.
	if _, err := db.Pool().Exec(ctxT(t), `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'no audit row today'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	incidents, events := count(t, db, `SELECT count(*) FROM incident`), count(t, db, `SELECT count(*) FROM incident_event`)
	rollups, keys := count(t, db, `SELECT count(*) FROM h3_rollup`), count(t, db, `SELECT count(*) FROM api_key`)
	y := demoIncident(t, time.Now().Add(-2*time.Hour))
	if _, err := db.CreateIncident(ctx, &y, "test"); err == nil {
		t.Error("a create whose audit row failed succeeded")
	}
	if _, _, err := db.Transition(ctx, x.ID, "register", "test", "", time.Now(), grid.DefaultCalendar()); err == nil {
		t.Error("an action whose audit row failed succeeded")
	}
	if _, err := db.BulkCreate(ctx, []grid.Incident{demoIncident(t, time.Now().Add(-3*time.Hour)), demoIncident(t, time.Now().Add(-4*time.Hour))}); err == nil {
		t.Error("a bulk load whose audit row failed succeeded")
	}
	if _, err := db.CreateAPIKey(ctx, grid.RoleDispatcher, "", "refused"); err == nil {
		t.Error("a key whose audit row failed was created")
	}
	got, _, err := db.Incident(ctxT(t), x.ID)
	if err != nil || got.Status != grid.StatusCollected {
		t.Errorf("incident %d after the refused action: %v %q", x.ID, err, got.Status)
	}
	if a, b, c, d := count(t, db, `SELECT count(*) FROM incident`), count(t, db, `SELECT count(*) FROM incident_event`),
		count(t, db, `SELECT count(*) FROM h3_rollup`), count(t, db, `SELECT count(*) FROM api_key`); a != incidents || b != events || c != rollups || d != keys {
		t.Errorf("writes without their audit rows: incidents %d→%d, events %d→%d, rollups %d→%d, keys %d→%d", incidents, a, events, b, rollups, c, keys, d)
	}
	if n := audits(); n != n0 {
		t.Errorf("%d audit rows appeared", n-n0)
	}
}

// TestAuditRowsOfTheStore: each write records its Who, action, target,
// town and detail; the bulk load one row with its count and id ranges;
// the sweep one row as the system whoever asked.
func TestAuditRowsOfTheStore(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	who := grid.Who{KeyID: 42, Role: grid.RoleDispatcher, Actor: "api_key:42", Addr: "192.0.2.7", RequestID: "req-1"}
	ctx := grid.WithWho(ctxT(t), who)
	type row struct {
		KeyID                                        *int64
		Role, Actor, Action, Target, Addr, RequestID string
		Town                                         *string
		Detail                                       map[string]any
	}
	rowsOf := func(action string) []row {
		t.Helper()
		rs, err := db.Pool().Query(ctxT(t), `SELECT key_id, role, actor, action, target, addr, request_id, town_code, detail FROM audit_log WHERE action = $1 ORDER BY id`, action)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []row
		for rs.Next() {
			var r row
			var d []byte
			if err := rs.Scan(&r.KeyID, &r.Role, &r.Actor, &r.Action, &r.Target, &r.Addr, &r.RequestID, &r.Town, &d); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(d, &r.Detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	isWho := func(r row) bool {
		return r.KeyID != nil && *r.KeyID == 42 && r.Role == who.Role && r.Actor == who.Actor && r.Addr == who.Addr && r.RequestID == who.RequestID
	}

	x := demoIncident(t, time.Now().Add(-30*24*time.Hour))
	if _, err := db.CreateIncident(ctx, &x, "test"); err != nil {
		t.Fatal(err)
	}
	if rs := rowsOf("incident.create"); len(rs) != 1 || !isWho(rs[0]) || rs[0].Target != "incident:"+strconv.FormatInt(x.ID, 10) ||
		rs[0].Town == nil || *rs[0].Town != x.TownCode || rs[0].Detail["category"] != x.Category || rs[0].Detail["via"] != "api" {
		t.Errorf("create rows %+v", rs)
	}
	if _, _, err := db.Transition(ctx, x.ID, "register", "desk 3", "", time.Now(), grid.DefaultCalendar()); err != nil {
		t.Fatal(err)
	}
	if rs := rowsOf("incident.register"); len(rs) != 1 || !isWho(rs[0]) || rs[0].Target != "incident:"+strconv.FormatInt(x.ID, 10) ||
		*rs[0].Town != x.TownCode || rs[0].Detail["from"] != "collected" || rs[0].Detail["to"] != "registered" || rs[0].Detail["actor"] != "desk 3" {
		t.Errorf("register rows %+v", rs)
	}

	var xs []grid.Incident
	for i := range 300 {
		xs = append(xs, demoIncident(t, time.Now().Add(-time.Duration(i+1)*time.Hour)))
	}
	res, err := db.BulkCreate(ctx, xs)
	if err != nil {
		t.Fatal(err)
	}
	rs := rowsOf("incident.bulk")
	if len(rs) != 1 || !isWho(rs[0]) || rs[0].Town != nil || rs[0].Detail["count"] != 300.0 {
		t.Fatalf("bulk rows %+v", rs)
	}
	covered := map[int64]bool{}
	for _, r := range rs[0].Detail["ids"].([]any) {
		fl := r.([]any)
		for id := int64(fl[0].(float64)); id <= int64(fl[1].(float64)); id++ {
			covered[id] = true
		}
	}
	for _, id := range res.IDs {
		if !covered[id] {
			t.Errorf("id %d of the load is in none of its audit row's ranges %v", id, rs[0].Detail["ids"])
		}
	}
	if len(covered) != len(res.IDs) {
		t.Errorf("the ranges cover %d ids, the load wrote %d", len(covered), len(res.IDs))
	}

	// The sweep: overdue incidents flagged, one row, the system's.
	flagged, err := db.FlagOverdue(ctx, time.Now().AddDate(1, 0, 0))
	if err != nil || len(flagged) == 0 {
		t.Fatalf("sweep: %v %v", flagged, err)
	}
	rs = rowsOf("incident.overdue")
	if len(rs) != 1 || rs[0].KeyID != nil || rs[0].Role != "system" || rs[0].Actor != "system" || rs[0].Detail["count"] != float64(len(flagged)) {
		t.Errorf("sweep rows %+v (%d flagged)", rs, len(flagged))
	}

	// Keys: created and revoked by the command line's operator.
	cli := grid.WithWho(ctxT(t), grid.CLIWho("operator"))
	if _, err := db.CreateAPIKey(cli, grid.RoleAdmin, "331082003", "town admin"); err != nil {
		t.Fatal(err)
	}
	ks, err := db.APIKeys(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	k := ks[len(ks)-1]
	for range 2 { // again: a no-op, not recorded twice
		if _, err := db.RevokeAPIKey(cli, k.Prefix); err != nil {
			t.Fatal(err)
		}
	}
	for _, action := range []string{"api_key.create", "api_key.revoke"} {
		rs := rowsOf(action)
		if len(rs) != 1 || rs[0].Role != "cli" || rs[0].Actor != "operator" || rs[0].KeyID != nil || rs[0].Target != fmt.Sprint("api_key:", k.ID) ||
			rs[0].Town == nil || *rs[0].Town != "331082003" || rs[0].Detail["prefix"] != k.Prefix {
			t.Errorf("%s rows %+v, want one for key %d", action, rs, k.ID)
		}
	}
}
