package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb/encoding/mvt"
)

// TestSensitivePlacesNotPublic: the public and a citizens' app key see
// public toilets and transfer stations, never cameras, gas points or
// sensors — in the facility list, the nearest search, the facilities tile
// and the OGC collection — while a staff key sees them all.
func TestSensitivePlacesNotPublic(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	app, err := f.db.CreateAPIKey(ctx, grid.RoleApp, "", "sensitive places")
	if err != nil {
		t.Fatal(err)
	}
	planner, err := f.db.CreateAPIKey(ctx, grid.RolePlanner, "", "sensitive places")
	if err != nil {
		t.Fatal(err)
	}
	var camera string
	var lon, lat float64
	if err := f.db.Pool().QueryRow(ctx, `SELECT code, ST_X(geom), ST_Y(geom) FROM facility WHERE kind = 'camera' ORDER BY code LIMIT 1`).Scan(&camera, &lon, &lat); err != nil {
		t.Fatal(err)
	}
	kinds := func(key, path string) []string {
		t.Helper()
		resp, b := f.getAs(t, path, key)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		var out []string
		for _, x := range decode[struct{ Facilities []struct{ Kind string } }](t, b).Facilities {
			out = append(out, x.Kind)
		}
		return out
	}
	near := fmt.Sprintf("/v1/facilities/nearest?lon=%v&lat=%v&k=20", lon, lat)
	for _, key := range []string{"", app} {
		for _, path := range []string{"/v1/facilities?limit=1000", near} {
			ks := kinds(key, path)
			if len(ks) == 0 {
				t.Errorf("%s: nothing, want the public facilities", path)
			}
			for _, k := range ks {
				if !slices.Contains(grid.PublicFacilityKinds(), k) {
					t.Errorf("%s without a staff key shows a %s", path, k)
				}
			}
		}
		for _, path := range []string{"/v1/facilities?kind=camera", near + "&kind=gas_point", "/tiles/facilities/14/13705/6819.mvt?kind=camera"} {
			if resp, _ := f.getAs(t, path, key); resp.StatusCode != 401 && resp.StatusCode != 403 {
				t.Errorf("%s without a staff key: %d, want 401 or 403", path, resp.StatusCode)
			}
		}
		if resp, _ := f.getAs(t, "/ogc/collections/facilities/items/"+camera, key); resp.StatusCode != 404 {
			t.Errorf("a camera's OGC feature without a staff key: %d, want 404", resp.StatusCode)
		}
		resp, b := f.getAs(t, "/ogc/collections/facilities/items?limit=10000", key)
		if resp.StatusCode != 200 {
			t.Fatalf("OGC facilities: %d %s", resp.StatusCode, b)
		}
		for _, x := range decode[struct {
			Features []struct{ Properties struct{ Kind string } }
		}](t, b).Features {
			if !slices.Contains(grid.PublicFacilityKinds(), x.Properties.Kind) {
				t.Fatalf("the OGC facilities collection shows a %s without a staff key", x.Properties.Kind)
			}
		}
		tileKinds := func(key string) map[string]int {
			resp, b := f.getAs(t, "/tiles/facilities/14/13705/6819.mvt", key)
			if resp.StatusCode != 200 && resp.StatusCode != 204 {
				t.Fatalf("facilities tile: %d %s", resp.StatusCode, b)
			}
			out := map[string]int{}
			if len(b) == 0 {
				return out
			}
			ls, err := mvt.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range ls {
				for _, ft := range l.Features {
					if k, ok := ft.Properties["kind"].(string); ok {
						out[k]++
					}
				}
			}
			return out
		}
		for k := range tileKinds(key) {
			if !slices.Contains(grid.PublicFacilityKinds(), k) {
				t.Errorf("the facilities tile shows a %s without a staff key", k)
			}
		}
		if staff := tileKinds(planner); staff[grid.FacilityCamera] == 0 {
			t.Errorf("the planner's facilities tile over the old town shows no camera: %v", staff)
		}
	}
	if ks := kinds(planner, "/v1/facilities?kind=camera&limit=5"); len(ks) != 5 {
		t.Errorf("a planner lists %d cameras, want 5", len(ks))
	}
}
