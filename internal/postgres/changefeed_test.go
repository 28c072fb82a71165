package postgres

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb"
)

// Payloads stay under PostgreSQL's limit, split as needed, and read back
// to the same change; a large change is told as areas covering every
// point.
func TestTileChangePayloads(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var pts []orb.Point
	for range 900 {
		pts = append(pts, orb.Point{120.8 + r.Float64()*0.9, 28.6 + r.Float64()*0.45})
	}
	for _, counted := range []bool{true, false} {
		ch := IncidentChange{Points: pts, Counted: counted}
		ps := encodeChange("o1", ch)
		if len(ps) < 2 {
			t.Fatalf("900 points in %d payload(s)", len(ps))
		}
		var back []orb.Point
		for _, p := range ps {
			if len(p) > maxPayload {
				t.Fatalf("payload of %d bytes", len(p))
			}
			origin, got, err := decodeChange(p)
			if err != nil || origin != "o1" || got.Counted != counted {
				t.Fatalf("%q: %v %+v", p[:40], err, got)
			}
			back = append(back, got.Points...)
		}
		if len(back) != len(pts) {
			t.Fatalf("%d points back, want %d", len(back), len(pts))
		}
		for i := range pts {
			if d := pts[i].Point().Bound().Pad(1e-7); !d.Contains(back[i]) {
				t.Fatalf("point %d: %v back as %v", i, pts[i], back[i])
			}
		}
	}

	var many []orb.Point
	for range 50_000 {
		many = append(many, orb.Point{120.8 + r.Float64()*0.9, 28.6 + r.Float64()*0.45})
	}
	big := coarsen(IncidentChange{Points: many, Counted: true})
	if big.Points != nil || len(big.Areas) == 0 || len(big.Areas) > maxChangePoints {
		t.Fatalf("coarsened to %d points, %d areas", len(big.Points), len(big.Areas))
	}
	for _, p := range many {
		in := false
		for _, b := range big.Areas {
			if b.Contains(p) {
				in = true
				break
			}
		}
		if !in {
			t.Fatalf("%v is in no area", p)
		}
	}
	var areas []orb.Bound
	for _, p := range encodeChange("o2", big) {
		_, got, err := decodeChange(p)
		if err != nil || !got.Counted {
			t.Fatal(err)
		}
		areas = append(areas, got.Areas...)
	}
	if len(areas) != len(big.Areas) {
		t.Errorf("%d areas back, want %d", len(areas), len(big.Areas))
	}

	for _, bad := range []string{"o", "o;x;1,2", "o;c;1", "o;c;a,b", "o;C;1,2,0,0", "o;c;NaN,1"} {
		if _, _, err := decodeChange(bad); err == nil {
			t.Errorf("%q read without error", bad)
		}
	}
	if _, ch, err := decodeChange("o;*"); err != nil || !ch.All {
		t.Errorf("o;*: %+v %v", ch, err)
	}
	if !strings.HasPrefix(encodeChange("o", IncidentChange{All: true})[0], "o;*") {
		t.Error("everything is not o;*")
	}
}

// Ids travel as ranges, split under PostgreSQL's limit and read back the
// same; too many ranges merge into fewer that still cover every id.
func TestIncidentChangeIDs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var ids []int64
	for id := int64(1); len(ids) < 5000; id += 1 + r.Int64N(3) {
		ids = append(ids, id)
	}
	rs := idRanges(ids)
	covered := func(rs []grid.IDRange, id int64) bool {
		for _, r := range rs {
			if r.First <= id && id <= r.Last {
				return true
			}
		}
		return false
	}
	for i, x := range rs {
		if x.First > x.Last || (i > 0 && x.First <= rs[i-1].Last+1) {
			t.Fatalf("range %d %v after %v", i, x, rs[max(i-1, 0)])
		}
	}
	var back []grid.IDRange
	ps := encodeChange("o1", IncidentChange{IDs: rs})
	if len(ps) < 2 {
		t.Fatalf("%d ranges in %d payload(s)", len(rs), len(ps))
	}
	for _, p := range ps {
		if len(p) > maxPayload {
			t.Fatalf("payload of %d bytes", len(p))
		}
		_, ch, err := decodeChange(p)
		if err != nil || ch.Counted || len(ch.Points) > 0 {
			t.Fatalf("%q: %v %+v", p[:40], err, ch)
		}
		back = append(back, ch.IDs...)
	}
	if !slices.Equal(back, rs) {
		t.Fatalf("%d ranges back, want %d", len(back), len(rs))
	}
	few := coarsenIDs(rs, 100)
	if len(few) > 100 {
		t.Fatalf("coarsened to %d ranges", len(few))
	}
	for _, id := range ids {
		if !covered(few, id) {
			t.Fatalf("id %d is in no coarsened range", id)
		}
	}
	// A single create is one notification: its point and its id.
	one := encodeChange("o", IncidentChange{IDs: []grid.IDRange{{First: 5, Last: 5}}, Points: []orb.Point{{121.1, 28.8}}, Counted: true})
	if len(one) != 1 {
		t.Fatalf("a single create in %d payloads: %q", len(one), one)
	}
	if _, ch, err := decodeChange(one[0]); err != nil || !ch.Counted || len(ch.Points) != 1 || !slices.Equal(ch.IDs, []grid.IDRange{{First: 5, Last: 5}}) {
		t.Fatalf("%q: %+v %v", one[0], ch, err)
	}
	for _, bad := range []string{"o;i;x", "o;i;5-3", "o;i;0", "o;i;1-", "o;"} {
		if _, _, err := decodeChange(bad); err == nil {
			t.Errorf("%q read without error", bad)
		}
	}
}
