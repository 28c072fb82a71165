package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestAccessPolicy: the public reads geography and heatmaps only; incidents
// are written by dispatchers and admins and read by every role; a key
// scoped to a town sees and acts on its own town's incidents only.
func TestAccessPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key := func(role, town string) string {
		k, err := f.db.CreateAPIKey(ctx, role, town, "test "+role)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	planner, town1 := key("planner", ""), key("dispatcher", "331082001")
	lon1, lat1 := f.interior(t, "331082001001001")
	lon2, lat2 := f.interior(t, "331082002001001")
	body := func(lon, lat float64, ext string) string {
		return fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"collector","external_id":%q}`,
			lon, lat, time.Now().Add(-time.Hour).Format(time.RFC3339), ext)
	}

	// The public.
	for _, p := range []string{"/v1/incidents", "/v1/incidents/1", "/v1/stats?group_by=town", "/v1/overview", "/v1/hotspots?theme=parking"} {
		resp, b := f.getAs(t, p, "")
		wantProblem(t, resp, b, 401, "API key")
	}
	resp, b := f.postAs(t, "/v1/incidents", body(lon1, lat1, ""), "")
	wantProblem(t, resp, b, 401, "role dispatcher, admin")
	resp, b = f.postAs(t, "/v1/incidents/bulk", body(lon1, lat1, "")+"\n", "")
	wantProblem(t, resp, b, 401, "API key")
	for _, p := range []string{fmt.Sprintf("/v1/locate?lon=%v&lat=%v", lon1, lat1), "/v1/facilities?limit=1", "/v1/heatmap?theme=parking", "/v1/grid/versions"} {
		if resp, b := f.getAs(t, p, ""); resp.StatusCode != 200 {
			t.Errorf("public %s: %d %s", p, resp.StatusCode, b)
		}
	}

	// A planner reads but does not write.
	resp, b = f.postAs(t, "/v1/incidents", body(lon1, lat1, ""), planner)
	wantProblem(t, resp, b, 403, "planner")
	other := decode[incident](t, mustStatus(t, 201)(f.post(t, "/v1/incidents", body(lon2, lat2, "town2-1"))))
	if resp, b := f.getAs(t, fmt.Sprintf("/v1/incidents/%d", other.ID), planner); resp.StatusCode != 200 {
		t.Errorf("planner reads an incident: %d %s", resp.StatusCode, b)
	} else if x := decode[incident](t, b); len(x.Allowed) != 0 {
		t.Errorf("a planner is offered the actions %v, which it may not take", x.Allowed)
	}
	if len(other.Allowed) == 0 {
		t.Errorf("a dispatcher is offered no action on a new incident")
	}

	// A dispatcher of town 1.
	own := decode[incident](t, mustStatus(t, 201)(f.postAs(t, "/v1/incidents", body(lon1, lat1, ""), town1)))
	resp, b = f.postAs(t, "/v1/incidents", body(lon2, lat2, ""), town1)
	wantProblem(t, resp, b, 403, "outside this key's town 331082001")
	resp, b = f.postAs(t, "/v1/incidents", body(lon2, lat2, "town2-1"), town1) // a retry naming town 2's incident
	wantProblem(t, resp, b, 403, "outside this key's town")
	resp, b = f.postAs(t, "/v1/incidents/bulk", body(lon1, lat1, "")+"\n"+body(lon2, lat2, "")+"\n", town1)
	wantProblem(t, resp, b, 400, "line 2")
	resp, b = f.getAs(t, fmt.Sprintf("/v1/incidents/%d", other.ID), town1)
	wantProblem(t, resp, b, 404, "no incident")
	resp, b = f.postAs(t, fmt.Sprintf("/v1/incidents/%d/events", other.ID), `{"action":"register"}`, town1)
	wantProblem(t, resp, b, 404, "no incident")
	if resp, b := f.postAs(t, fmt.Sprintf("/v1/incidents/%d/events", own.ID), `{"action":"register"}`, town1); resp.StatusCode != 200 {
		t.Errorf("town dispatcher registers its own incident: %d %s", resp.StatusCode, b)
	}
	resp, b = f.getAs(t, "/v1/incidents?town=331082002", town1)
	wantProblem(t, resp, b, 403, "331082001 only")
	list := decode[struct{ Incidents []incident }](t, mustStatus(t, 200)(f.getAs(t, "/v1/incidents", town1)))
	if len(list.Incidents) != 1 || list.Incidents[0].ID != own.ID {
		t.Errorf("town 1 lists %d incidents, want only its own", len(list.Incidents))
	}
	var n int
	if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d incidents stored (%v), want 2: refused writes must write nothing", n, err)
	}
}

// mustStatus checks a response's status and passes its body on.
func mustStatus(t *testing.T, want int) func(resp *http.Response, b []byte) []byte {
	t.Helper()
	return func(resp *http.Response, b []byte) []byte {
		t.Helper()
		if resp.StatusCode != want {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, b[:min(len(b), 300)])
		}
		return b
	}
}

// TestAppKeyIsNotStaff: a citizens' app key reports through Open311 only;
// wherever the JSON API needs a staff key it is refused (403), and it sees
// heatmaps as the public does, small counts hidden.
func TestAppKeyIsNotStaff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	app, err := f.db.CreateAPIKey(ctx, "app", "", "citizens' app")
	if err != nil {
		t.Fatal(err)
	}
	lon, lat := f.interior(t, "331082001001001")
	body := fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"app"}`, lon, lat, time.Now().Add(-time.Hour).Format(time.RFC3339))
	x := decode[incident](t, mustStatus(t, 201)(f.post(t, "/v1/incidents", body)))
	for _, p := range []string{"/v1/incidents", fmt.Sprintf("/v1/incidents/%d", x.ID), "/v1/stats?group_by=town", "/v1/overview",
		"/v1/hotspots?theme=parking", "/v1/hotspots/emerging?theme=parking"} {
		resp, b := f.getAs(t, p, app)
		wantProblem(t, resp, b, 403, "a key of role app may not")
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/incidents", body},
		{"/v1/incidents/bulk", body + "\n"},
		{fmt.Sprintf("/v1/incidents/%d/events", x.ID), `{"action":"register"}`},
	} {
		resp, b := f.postAs(t, c.path, c.body, app)
		wantProblem(t, resp, b, 403, "a key of role app may not")
	}
	var n int
	if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d incidents (%v): the app's refused writes must write nothing", n, err)
	}
	// One incident is below the public's threshold: staff see its cell,
	// the app and the public do not.
	type heat struct{ Cells []struct{ Count int } }
	const path = "/v1/heatmap?theme=parking&res=8"
	if h := decode[heat](t, mustStatus(t, 200)(f.getAs(t, path, f.key))); len(h.Cells) != 1 {
		t.Fatalf("staff see %d cells, want 1", len(h.Cells))
	}
	for _, key := range []string{app, ""} {
		if h := decode[heat](t, mustStatus(t, 200)(f.getAs(t, path, key))); len(h.Cells) != 0 {
			t.Errorf("key %q sees %d cells of one incident, want none", key, len(h.Cells))
		}
	}
	// The public geography stays open to it.
	for _, p := range []string{fmt.Sprintf("/v1/locate?lon=%v&lat=%v", lon, lat), "/v1/grid/versions", "/v1/facilities?limit=1"} {
		if resp, b := f.getAs(t, p, app); resp.StatusCode != 200 {
			t.Errorf("app %s: %d %s", p, resp.StatusCode, b)
		}
	}
}
