package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
)

// TestTwoTownsNothingLeaks: incidents in two towns; a dispatcher key of
// the first tries every endpoint that shows incidents or counts them. No
// answer names an incident of the second town, counts it, or tells that
// an external id of it exists.
func TestTwoTownsNothingLeaks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const townA, townB = "331082001", "331082002"
	var cellB string
	if err := f.db.Pool().QueryRow(ctx, `SELECT code FROM cell WHERE town_code = $1 AND version_id = (SELECT id FROM grid_version WHERE active)
		ORDER BY code LIMIT 1`, townB).Scan(&cellB); err != nil {
		t.Fatal(err)
	}
	lonA, latA := f.interior(t, "331082001001001")
	lonB, latB := f.interior(t, cellB)
	body := func(lon, lat float64, ext string) string {
		return fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"collector","external_id":%q}`,
			lon, lat, time.Now().Add(-2*time.Hour).Format(time.RFC3339), ext)
	}
	// Town B: incidents by an unscoped key, one through Open311.
	var idsB []int64
	for i := range 6 {
		x := decode[incident](t, mustStatus(t, 201)(f.post(t, "/v1/incidents", body(lonB+float64(i)*1e-5, latB, "shared-"+strconv.Itoa(i)))))
		idsB = append(idsB, x.ID)
	}
	app, err := f.db.CreateAPIKey(ctx, grid.RoleApp, "", "two towns")
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"api_key": {app}, "service_code": {"E0406"}, "lat": {fmt.Sprint(latB)}, "long": {fmt.Sprint(lonB)}, "attribute[depth_cm]": {"20"}}
	resp, b := f.do(t, "POST", "/open311/v2/requests.json", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("Open311 request in town B: %d %s", resp.StatusCode, b)
	}
	sr := decode[[]struct {
		ID string `json:"service_request_id"`
	}](t, b)
	n, _ := strconv.ParseInt(sr[0].ID, 10, 64)
	idsB = append(idsB, n)

	// Town A: its own key's incidents, one with an external id town B uses.
	keyA, err := f.db.CreateAPIKey(ctx, grid.RoleDispatcher, townA, "two towns")
	if err != nil {
		t.Fatal(err)
	}
	resp, b = f.postAs(t, "/v1/incidents", body(lonA, latA, "shared-0"), keyA)
	if resp.StatusCode != 201 {
		t.Fatalf("town A's key reusing town B's external id: %d %s, want 201 as for any new id", resp.StatusCode, b)
	}
	ownA := decode[incident](t, b)
	if resp, b := f.postAs(t, "/v1/incidents", body(lonA, latA, "shared-0"), keyA); resp.StatusCode != 200 || decode[incident](t, b).ID != ownA.ID {
		t.Fatalf("a retry of town A's key: %d %s, want 200 with its first incident", resp.StatusCode, b)
	}
	for i := range 3 {
		mustStatus(t, 201)(f.postAs(t, "/v1/incidents", body(lonA+float64(i)*1e-5, latA+1e-5, ""), keyA))
	}
	const countA = 4

	// A grid layer shows town B's cells: the geography is public. What
	// must not show is its incidents and their counts.
	leaks := func(what string, b []byte) {
		t.Helper()
		geography := strings.Contains(what, "cells,")
		s := string(b)
		for _, id := range idsB {
			for _, form := range []string{`"id":%d,`, `"id":%d}`, `"service_request_id":"%d"`, `>%d<`, `/incidents/%d`, `"feature_id":"%d"`} {
				if strings.Contains(s, fmt.Sprintf(form, id)) {
					t.Errorf("%s names town B's incident %d: %.300s", what, id, s)
				}
			}
		}
		for _, code := range []string{townB, cellB} {
			if !geography && strings.Contains(s, code) {
				t.Errorf("%s names town B (%s): %.300s", what, code, s)
			}
		}
	}
	// absent checks that asking for town B's incident id answers exactly
	// as asking for an id that does not exist.
	const none = 987654321
	absent := func(method, pattern string, id int64, body any) {
		t.Helper()
		ask := func(id int64) (int, string) {
			path := fmt.Sprintf(pattern, id)
			if method == "POST" {
				r, b := f.postAs(t, path, body, keyA)
				return r.StatusCode, string(b)
			}
			r, b := f.getAs(t, path, keyA)
			return r.StatusCode, string(b)
		}
		gotStatus, got := ask(id)
		wantStatus, want := ask(none)
		want = strings.ReplaceAll(want, strconv.Itoa(none), strconv.FormatInt(id, 10))
		if gotStatus != wantStatus || got != want {
			t.Errorf("%s %s for town B's incident: %d %s; for no incident: %d %s", method, pattern, gotStatus, got, wantStatus, want)
		}
	}
	get := func(path string, want ...int) []byte {
		t.Helper()
		resp, b := f.getAs(t, path, keyA)
		if len(want) == 0 {
			want = []int{200}
		}
		ok := false
		for _, w := range want {
			ok = ok || resp.StatusCode == w
		}
		if !ok {
			t.Fatalf("%s: %d %s, want %v", path, resp.StatusCode, b, want)
		}
		leaks(path, b)
		return b
	}
	bbox := fmt.Sprintf("%v,%v,%v,%v", min(lonA, lonB)-0.01, min(latA, latB)-0.01, max(lonA, lonB)+0.01, max(latA, latB)+0.01)

	if got := decode[struct{ Incidents []incident }](t, get("/v1/incidents?limit=1000")).Incidents; len(got) != countA {
		t.Errorf("town A's key lists %d incidents, want %d", len(got), countA)
	}
	get("/v1/incidents?limit=1000&f=geojson&bbox=" + bbox)
	if resp, _ := f.getAs(t, "/v1/incidents?town="+townB, keyA); resp.StatusCode != 403 {
		t.Errorf("town A's key asking for town B's list: %d, want 403", resp.StatusCode)
	}
	for _, id := range idsB {
		absent("GET", "/v1/incidents/%d", id, nil)
		absent("POST", "/v1/incidents/%d/events", id, map[string]string{"action": "register"})
		absent("GET", "/ogc/collections/incidents/items/%d", id, nil)
		absent("GET", "/open311/v2/requests/%d.json?api_key="+url.QueryEscape(keyA), id, nil)
	}
	for res := 5; res <= 10; res++ {
		h := decode[struct{ Total int }](t, get(fmt.Sprintf("/v1/heatmap?theme=parking&res=%d", res)))
		if h.Total != countA {
			t.Errorf("heatmap res %d counts %d, want town A's %d", res, h.Total, countA)
		}
	}
	get("/v1/heatmap?theme=parking&res=9&f=geojson&bbox=" + bbox)
	get("/v1/hotspots?theme=parking&res=8")
	get("/v1/hotspots/emerging?theme=parking&res=8&all=true")
	for _, g := range []string{"town", "community", "cell", "department"} {
		st := decode[struct{ Groups []struct{ Total int } }](t, get("/v1/stats?group_by="+g))
		total := 0
		for _, x := range st.Groups {
			total += x.Total
		}
		if total != countA {
			t.Errorf("stats by %s count %d, want %d", g, total, countA)
		}
	}
	for _, z := range []int{10, 14, 17} {
		tile := maptile.At(orb.Point{lonB, latB}, maptile.Zoom(z))
		for _, layers := range []string{"incidents", "heatmap", "cells,incidents"} {
			get(fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt?theme=parking", layers, z, tile.X, tile.Y), 200, 204)
		}
	}
	get("/ogc/collections/incidents/items?limit=1000&bbox=" + bbox)
	list := get("/open311/v2/requests.json?api_key=" + url.QueryEscape(keyA))
	if strings.Count(string(list), "service_request_id") != countA {
		t.Errorf("town A's key lists %d Open311 requests, want %d: %.300s", strings.Count(string(list), "service_request_id"), countA, list)
	}
}
