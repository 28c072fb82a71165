package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi"
)

// sample is a request that exercises one row of the permission table.
type sample struct {
	path, body, contentType string
	// keyInRequest sends the key as Open311's api_key parameter.
	keyInRequest bool
}

// TestPermissionTable enforces the permission table: every route the
// router serves has a row and every row a route; the README shows the
// table as the code has it; and for every row and every caller — the
// public and a key of each role — the running router allows, limits or
// refuses (401, 403) as the row says.
func TestPermissionTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rows := httpapi.Permissions()

	routes := map[string]bool{}
	for _, r := range f.api.Routes() {
		routes[r] = true
	}
	tabled := map[string]bool{}
	for _, p := range rows {
		if p.Part == "" {
			tabled[p.Method+" "+p.Path] = true
		}
	}
	for r := range routes {
		if !tabled[r] {
			t.Errorf("route %s is not in the permission table", r)
		}
	}
	for r := range tabled {
		if !routes[r] {
			t.Errorf("the permission table lists %s, which the router does not serve", r)
		}
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if table := httpapi.PermissionTable(); !strings.Contains(string(readme), table) {
		t.Errorf("README.md does not show the permission table as the code has it; it should read:\n%s", table)
	}

	ctx := context.Background()
	keys := map[string]string{"": ""}
	for _, role := range grid.Roles() {
		k, err := f.db.CreateAPIKey(ctx, role, "", "permission table")
		if err != nil {
			t.Fatal(err)
		}
		keys[role] = k
	}
	x := f.newIncident(t)
	lon, lat := f.interior(t, "331082001001001")
	incident := fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"collector"}`, lon, lat, time.Now().Add(-time.Hour).Format(time.RFC3339))
	report := url.Values{"service_code": {"E0406"}, "lat": {fmt.Sprint(lat)}, "long": {fmt.Sprint(lon)}, "attribute[depth_cm]": {"12"}, "description": {"积水"}}
	var facility string // a public toilet
	if err := f.db.Pool().QueryRow(ctx, `SELECT code FROM facility WHERE kind = 'toilet' ORDER BY code LIMIT 1`).Scan(&facility); err != nil {
		t.Fatal(err)
	}
	samples := map[string]sample{
		"GET /healthz":                                          {path: "/healthz"},
		"GET /readyz":                                           {path: "/readyz"},
		"GET /metrics":                                          {path: "/metrics"},
		"GET /api/openapi.yaml":                                 {path: "/api/openapi.yaml"},
		"GET /v1/locate":                                        {path: fmt.Sprintf("/v1/locate?lon=%v&lat=%v&category=E0505", lon, lat)},
		"POST /v1/locate":                                       {path: "/v1/locate", body: fmt.Sprintf(`{"points":[[%v,%v]]}`, lon, lat), contentType: "application/json"},
		"GET /v1/categories":                                    {path: "/v1/categories"},
		"GET /v1/grid/versions":                                 {path: "/v1/grid/versions"},
		"POST /v1/grid/versions":                                {path: "/v1/grid/versions", body: `{"type":"FeatureCollection","features":[]}`, contentType: "application/geo+json"},
		"GET /v1/grid/versions/:id":                             {path: fmt.Sprintf("/v1/grid/versions/%d", f.cat.Current().Version.ID)},
		"GET /v1/grid/cells/:code":                              {path: "/v1/grid/cells/331082001001001"},
		"GET /v1/facilities":                                    {path: "/v1/facilities?limit=5"},
		"GET /v1/facilities/nearest":                            {path: fmt.Sprintf("/v1/facilities/nearest?lon=%v&lat=%v", lon, lat)},
		"POST /v1/incidents":                                    {path: "/v1/incidents", body: incident, contentType: "application/json"},
		"POST /v1/incidents/bulk":                               {path: "/v1/incidents/bulk", body: incident + "\n", contentType: "application/x-ndjson"},
		"GET /v1/incidents":                                     {path: "/v1/incidents?limit=5"},
		"GET /v1/incidents/:id":                                 {path: fmt.Sprintf("/v1/incidents/%d", x.ID)},
		"POST /v1/incidents/:id/events":                         {path: fmt.Sprintf("/v1/incidents/%d/events", x.ID), body: `{"action":"supervise"}`, contentType: "application/json"},
		"GET /v1/heatmap":                                       {path: "/v1/heatmap?theme=parking&res=7"},
		"GET /v1/heatmap/tiles/:z/:x/:y":                        {path: "/v1/heatmap/tiles/12/3426/1704.mvt?theme=parking"},
		"GET /v1/hotspots":                                      {path: "/v1/hotspots?theme=parking&res=7"},
		"GET /v1/hotspots/emerging":                             {path: "/v1/hotspots/emerging?theme=parking&res=7"},
		"GET /v1/stats":                                         {path: "/v1/stats?group_by=town"},
		"GET /v1/overview":                                      {path: "/v1/overview?level=city"},
		"GET /v1/audit":                                         {path: "/v1/audit?limit=5"},
		"GET /tiles/:layers":                                    {path: "/tiles/cells,incidents.json"},
		"GET /tiles/:layers/:z/:x/:y":                           {path: "/tiles/towns,cells/14/13705/6819.mvt"},
		"GET /tiles/:layers/:z/:x/:y layer incidents":           {path: "/tiles/cells,incidents/14/13705/6819.mvt"},
		"GET /tiles/:layers/:z/:x/:y layer facilities":          {path: "/tiles/facilities/14/13705/6819.mvt"},
		"GET /tiles/:layers/:z/:x/:y layer heatmap":             {path: "/tiles/heatmap/12/3426/1704.mvt?theme=parking"},
		"GET /ogc":                                              {path: "/ogc"},
		"GET /ogc/api":                                          {path: "/ogc/api"},
		"GET /ogc/conformance":                                  {path: "/ogc/conformance"},
		"GET /ogc/collections":                                  {path: "/ogc/collections"},
		"GET /ogc/collections/:collection_id":                   {path: "/ogc/collections/cells"},
		"GET /ogc/collections/:collection_id/queryables":        {path: "/ogc/collections/cells/queryables"},
		"GET /ogc/collections/:collection_id/items":             {path: "/ogc/collections/cells/items?limit=2"},
		"GET /ogc/collections/:collection_id/items/:feature_id": {path: "/ogc/collections/cells/items/331082001001001"},
		"GET /ogc/collections/:collection_id/items collection incidents":              {path: "/ogc/collections/incidents/items?limit=2"},
		"GET /ogc/collections/:collection_id/items collection facilities":             {path: "/ogc/collections/facilities/items?limit=2"},
		"GET /ogc/collections/:collection_id/items/:feature_id collection incidents":  {path: fmt.Sprintf("/ogc/collections/incidents/items/%d", x.ID)},
		"GET /ogc/collections/:collection_id/items/:feature_id collection facilities": {path: "/ogc/collections/facilities/items/" + facility},
		"GET /open311/v2/discovery.:format":                                           {path: "/open311/v2/discovery.json"},
		"GET /open311/v2/services.:format":                                            {path: "/open311/v2/services.json"},
		"GET /open311/v2/services/:service_code":                                      {path: "/open311/v2/services/E0406.json"},
		"POST /open311/v2/requests.:format":                                           {path: "/open311/v2/requests.json", body: report.Encode(), contentType: "application/x-www-form-urlencoded", keyInRequest: true},
		"GET /open311/v2/requests.:format":                                            {path: "/open311/v2/requests.json", keyInRequest: true},
		"GET /open311/v2/requests/:service_request_id":                                {path: fmt.Sprintf("/open311/v2/requests/%d.json", x.ID), keyInRequest: true},
		"GET /":                         {path: "/"},
		"GET /screen":                   {path: "/screen"},
		"GET /config.json":              {path: "/config.json"},
		"GET /assets/:file":             {path: "/assets/none.js"},
		"GET /glyphs/:fontstack/:range": {path: "/glyphs/Noto%20Sans%20Regular/0-255.pbf"},
	}
	callers := append([]string{""}, grid.Roles()...)
	for _, p := range rows {
		name := p.Method + " " + p.Path
		if p.Part != "" {
			name += " " + p.Part
		}
		s, ok := samples[name]
		if !ok {
			t.Errorf("no sample request for the row %q", name)
			continue
		}
		for _, role := range callers {
			who := grid.Principal{Role: role}
			want := "allowed"
			if who.Need(p.Needs) != nil {
				want = "403"
				if who.Public() && !p.InRequest {
					want = "401"
				}
			}
			path, body := s.path, s.body
			header := []string{"Content-Type", s.contentType}
			switch {
			case s.keyInRequest && p.Method == "POST" && role != "":
				body += "&api_key=" + url.QueryEscape(keys[role])
			case s.keyInRequest && role != "":
				path += "?api_key=" + url.QueryEscape(keys[role])
			default:
				header = append(header, "Authorization", bearer(keys[role]))
			}
			resp, b := f.do(t, p.Method, path, strings.NewReader(body), header...)
			got := "allowed"
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				got = "401"
			case http.StatusForbidden:
				got = "403"
			}
			if got != want {
				caller := role
				if caller == "" {
					caller = "the public"
				}
				t.Errorf("%s for %s: HTTP %d (%s), the table says %s: %.200s", name, caller, resp.StatusCode, got, want, b)
			}
			if got == "allowed" && resp.StatusCode >= 500 {
				t.Errorf("%s for %q: HTTP %d: %.200s", name, role, resp.StatusCode, b)
			}
		}
	}
	if len(samples) != len(rows) {
		t.Errorf("%d samples for %d rows: remove the samples of rows that are gone", len(samples), len(rows))
	}
}
