package httpapi_test

import (
	"context"
	"testing"
	"time"
)

// TestCategories: GET /v1/categories is public and lists every category of
// the database, in code order, with its kind, theme and time limit.
func TestCategories(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, b := f.getAs(t, "/v1/categories", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	type category struct {
		Code      string `json:"code"`
		Name      string `json:"name"`
		MajorName string `json:"major_name"`
		Kind      string `json:"kind"`
		Theme     string `json:"theme"`
		TimeLimit int    `json:"time_limit"`
		Unit      string `json:"unit"`
	}
	got := decode[struct{ Categories []category }](t, b).Categories

	// The oracle: the category table itself.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := f.db.Pool().Query(ctx, `SELECT code, name, major_name, time_limit, unit, theme,
		CASE WHEN code LIKE 'P%' THEN 'part' ELSE 'event' END FROM category ORDER BY code`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var want []category
	for rows.Next() {
		var c category
		if err := rows.Scan(&c.Code, &c.Name, &c.MajorName, &c.TimeLimit, &c.Unit, &c.Theme, &c.Kind); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) < 50 {
		t.Fatalf("the demo city has only %d categories", len(want))
	}
	if len(got) != len(want) {
		t.Fatalf("%d categories, the table has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("category %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, c := range got {
		if c.Code == "E0505" && (c.Theme != "parking" || c.Kind != "event" || c.Name != "机动车乱停放") {
			t.Errorf("E0505: %+v", c)
		}
	}
}
