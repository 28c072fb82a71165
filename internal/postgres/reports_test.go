package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/migrations"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// TestServiceRequests: an Open311 report and its side row are written
// together; the key that made it is the one resolved from its secret; the
// side row's partition key is the incident's, to the microsecond, so the
// join finds it; reading never returns the contact; a retry with the same
// external id by the same key is the first request, by another key a
// Conflict.
func TestServiceRequests(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	key, err := db.CreateAPIKey(ctx, grid.RoleApp, "", "an app")
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.Principal(ctx, key)
	if err != nil || p.Role != grid.RoleApp || p.KeyID <= 0 || p.Can(grid.ReadIncidents) || p.Public() {
		t.Fatalf("principal %+v (%v)", p, err)
	}
	other, err := db.CreateAPIKey(ctx, grid.RoleApp, "", "another app")
	if err != nil {
		t.Fatal(err)
	}
	q, err := db.Principal(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), 10)
	// Nanoseconds that round up, not down, to the microsecond.
	at := time.Now().Add(-time.Hour).Truncate(time.Second).Add(999_999_999)
	x := grid.Incident{Category: "E0505", Point: orb.Point{121.13, 28.85}, OccurredAt: at, ReceivedAt: time.Now(), ExternalID: "open311:t:1",
		Source: grid.SourceApp, Status: grid.StatusCollected, CellCode: "331082001001001", CommunityCode: "331082001001", TownCode: "331082001",
		Department: "D01", GridVersion: 1, Deadline: time.Now().Add(4 * time.Hour), H3: uint64(h)}
	sr := grid.ServiceRequest{KeyID: p.KeyID, Address: "东大街", MediaURL: "https://example.org/a.jpg",
		Attributes: map[string][]string{"plate": {"浙J12345"}}, Contact: grid.Contact{Email: "a@example.org", Phone: "123456"}}
	first := x
	created, err := db.CreateServiceRequest(ctx, &first, &sr, "test")
	if err != nil || !created || first.ID == 0 {
		t.Fatalf("create: %v %v %d", created, err, first.ID)
	}
	var email, phone string
	if err := db.Pool().QueryRow(ctx, `SELECT email, phone FROM open311_request WHERE incident_id = $1`, first.ID).Scan(&email, &phone); err != nil || email != "a@example.org" || phone != "123456" {
		t.Errorf("stored contact %q %q (%v)", email, phone, err)
	}
	recs, err := db.FindServiceRequests(ctx, grid.ServiceRequestFilter{KeyID: p.KeyID})
	if err != nil || len(recs) != 1 {
		t.Fatalf("the app's requests: %d (%v)", len(recs), err)
	}
	r := recs[0]
	if r.Incident.ID != first.ID || r.Request == nil || r.Request.KeyID != p.KeyID || r.Request.Address != "东大街" ||
		r.Request.MediaURL != sr.MediaURL || r.Request.Contact != (grid.Contact{}) || r.Incident.Description != "" || r.UpdatedAt.IsZero() {
		t.Errorf("record %+v, request %+v", r.Incident, r.Request)
	}
	if recs, err := db.FindServiceRequests(ctx, grid.ServiceRequestFilter{KeyID: q.KeyID}); err != nil || len(recs) != 0 {
		t.Errorf("another app's requests: %d (%v)", len(recs), err)
	}

	again := x
	if created, err := db.CreateServiceRequest(ctx, &again, &sr, "test"); err != nil || created || again.ID != first.ID {
		t.Errorf("retry: created %v, id %d (first %d), %v", created, again.ID, first.ID, err)
	}
	stolen, other2 := x, sr
	other2.KeyID = q.KeyID
	if _, err := db.CreateServiceRequest(ctx, &stolen, &other2, "test"); grid.KindOf(err) != grid.Conflict {
		t.Errorf("another key's retry: %v, want a conflict", err)
	}
	var n int
	if err := db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM incident) + (SELECT count(*) FROM open311_request)`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d rows (%v), want one incident and its side row", n, err)
	}
	// The database holds the role list too.
	if _, err := db.Pool().Exec(ctx, `UPDATE api_key SET role = 'mayor' WHERE id = $1`, p.KeyID); err == nil {
		t.Error("a key of an unknown role was stored")
	}
}

// TestOpen311MigrationDown: migration 009's down part undoes it (app keys
// included) and its up part applies again, in one transaction rolled back.
func TestOpen311MigrationDown(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Empty)
	ctx := ctxT(t)
	b, err := migrations.FS.ReadFile("009_open311.sql")
	if err != nil {
		t.Fatal(err)
	}
	up, down, ok := strings.Cut(string(b), "---- create above / drop below ----")
	if !ok {
		t.Fatal("009_open311.sql has no down part")
	}
	if _, err := db.CreateAPIKey(ctx, grid.RoleApp, "", "an app"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the test undoes everything
	if _, err := tx.Exec(ctx, down); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'open311_request'`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("open311_request after down: %d (%v)", tables, err)
	}
	if _, err := tx.Exec(ctx, `SAVEPOINT s`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO api_key (prefix, hash, role) VALUES ('abcdefgh', decode(repeat('00', 32), 'hex'), 'app')`); err == nil {
		t.Error("an app key was stored after down")
	}
	if _, err := tx.Exec(ctx, `ROLLBACK TO s`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, up); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
