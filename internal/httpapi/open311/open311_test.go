package open311_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/open311"
)

// TestRoundTrip: services → definition → post → get by id → list with
// filters, in JSON and in XML, and the request follows its incident
// through the lifecycle.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var categories int
	if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM category`).Scan(&categories); err != nil {
		t.Fatal(err)
	}
	for _, format := range f.formats {
		t.Run(format, func(t *testing.T) {
			// Discovery: absolute from the request's host.
			b := must(t)(f.get(t, "/open311/v2/discovery."+format))
			var spec, endpointURL string
			var formats []string
			if format == "xml" {
				d := parseXML(t, b)
				ep := d.kid("endpoints").kid("endpoint")
				spec, endpointURL = ep.kid("specification").text, ep.kid("url").text
				for _, k := range ep.kid("formats").kids {
					formats = append(formats, k.text)
				}
				if d.kid("changeset") == nil || d.kid("contact") == nil || d.kid("key_service") == nil {
					t.Errorf("discovery lacks changeset, contact or key_service")
				}
			} else {
				var d struct {
					Changeset, Contact string
					KeyService         string `json:"key_service"`
					Endpoints          []struct {
						Specification, URL, Changeset, Type string
						Formats                             []string
					}
				}
				if err := json.Unmarshal(b, &d); err != nil || len(d.Endpoints) != 1 || d.Changeset == "" || d.KeyService == "" {
					t.Fatalf("discovery %s: %v", b, err)
				}
				spec, endpointURL, formats = d.Endpoints[0].Specification, d.Endpoints[0].URL, d.Endpoints[0].Formats
			}
			if spec != open311.Specification || endpointURL != f.srv.URL+"/open311/v2" || !slices.Equal(formats, []string{"text/xml", "application/json"}) {
				t.Errorf("discovery endpoint: %s %s %v", spec, endpointURL, formats)
			}

			// Services: every category, E0505 with its attributes.
			services := decodeItems(t, format, must(t)(f.get(t, "/open311/v2/services."+format+q("jurisdiction_id", grid.CountyCode))), ptr("services"))
			if len(services) != categories {
				t.Errorf("%d services, want the %d categories", len(services), categories)
			}
			byCode := map[string]map[string]string{}
			for _, s := range services {
				byCode[s["service_code"]] = s
			}
			parking := byCode["E0505"]
			if parking["service_name"] != "机动车乱停放" || parking["group"] != "街面秩序" || parking["metadata"] != "true" ||
				parking["type"] != "realtime" || !strings.Contains(parking["keywords"], "违停") || parking["description"] == "" {
				t.Errorf("E0505: %v", parking)
			}
			if s := byCode["E0102"]; s["metadata"] != "false" || s["service_name"] != "暴露垃圾" {
				t.Errorf("E0102: %v", s)
			}
			for _, code := range []string{"E0506", "E0406", "P0301"} {
				if byCode[code]["metadata"] != "true" {
					t.Errorf("%s: metadata %q, want true", code, byCode[code]["metadata"])
				}
			}

			// Definitions.
			plate := definition(t, f, format, "E0505")["plate"]
			if plate.Datatype != "string" || !plate.Required || !plate.Variable || plate.Order != 1 || plate.Description != "车牌号" {
				t.Errorf("E0505 plate: %+v", plate)
			}
			depth := definition(t, f, format, "E0406")["depth_cm"]
			if depth.Datatype != "number" || !depth.Required || depth.DatatypeDescription == "" {
				t.Errorf("E0406 depth_cm: %+v", depth)
			}
			fill := definition(t, f, format, "P0301")["fill"]
			if fill.Datatype != "singlevaluelist" || !fill.Required || !slices.Equal(fill.Keys, []string{"full", "overflowing"}) {
				t.Errorf("P0301 fill: %+v", fill)
			}
			if d := definition(t, f, format, "E0102"); len(d) != 0 {
				t.Errorf("E0102 asks %v, want nothing", d)
			}

			// Post, as a citizens' app.
			form := f.report(t, f.app)
			form.Set("media_url", "https://img.example.org/a.jpg")
			form.Set("address_string", "东大街 12 号门口")
			resp, b := f.post(t, format, form)
			created := decodeItems(t, format, must(t)(resp, b), ptr("service_requests"))
			if len(created) != 1 {
				t.Fatalf("POST answered %s", b)
			}
			id, err := strconv.ParseInt(created[0]["service_request_id"], 10, 64)
			if err != nil {
				t.Fatalf("service_request_id: %s", b)
			}
			if _, ok := created[0]["account_id"]; !ok || created[0]["account_id"] != "" {
				t.Errorf("account_id: %q (present %v), want present and empty", created[0]["account_id"], ok)
			}
			// The same assignment as POST /v1/incidents at the same point.
			lon, lat := f.interior(t, "331082001001001")
			resp, b = f.do(t, http.MethodPost, "/v1/incidents", strings.NewReader(fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"collector"}`,
				lon, lat, time.Now().Format(time.RFC3339))), "Authorization", "Bearer "+f.admin, "Content-Type", "application/json")
			var v1 struct {
				Department struct{ Code, Name string }
				Cell       struct{ Code string }
			}
			if err := json.Unmarshal(b, &v1); err != nil || resp.StatusCode != 201 {
				t.Fatalf("POST /v1/incidents: %d %s", resp.StatusCode, b)
			}
			var dept, source, cell string
			var deadline time.Time
			if err := f.db.Pool().QueryRow(ctx, `SELECT department_code, source, cell_code, deadline FROM incident WHERE id = $1`, id).Scan(&dept, &source, &cell, &deadline); err != nil {
				t.Fatal(err)
			}
			if dept != v1.Department.Code || cell != v1.Cell.Code || source != grid.SourceApp {
				t.Errorf("stored: department %s cell %s source %s; /v1 assigns %s %s", dept, cell, source, v1.Department.Code, v1.Cell.Code)
			}
			if want := "已受理，由 " + v1.Department.Name + " 处置"; created[0]["service_notice"] != want {
				t.Errorf("service_notice %q, want %q", created[0]["service_notice"], want)
			}

			// Get it by id.
			path := fmt.Sprintf("/open311/v2/requests/%d.%s", id, format)
			got := decodeItems(t, format, must(t)(f.get(t, path+q("api_key", f.app))), ptr("service_requests"))
			if len(got) != 1 {
				t.Fatalf("GET %s: %d items", path, len(got))
			}
			r := got[0]
			want := map[string]string{"service_request_id": strconv.FormatInt(id, 10), "status": "open", "service_code": "E0505",
				"service_name": "机动车乱停放", "description": "人行道上停了一辆车", "agency_responsible": v1.Department.Name,
				"service_notice": created[0]["service_notice"], "address": "东大街 12 号门口", "media_url": "https://img.example.org/a.jpg",
				"status_notes": "", "expected_datetime": deadline.In(grid.ChinaTime()).Format(time.RFC3339)}
			for k, v := range want {
				if r[k] != v {
					t.Errorf("%s: %q, want %q", k, r[k], v)
				}
			}
			for _, k := range []string{"requested_datetime", "updated_datetime"} {
				at, err := time.Parse(time.RFC3339, r[k])
				if err != nil || time.Since(at) > time.Minute || !strings.HasSuffix(r[k], "+08:00") {
					t.Errorf("%s: %q (%v)", k, r[k], err)
				}
			}
			gotLat, _ := strconv.ParseFloat(r["lat"], 64)
			gotLon, _ := strconv.ParseFloat(r["long"], 64)
			if math.Abs(gotLat-lat) > 1e-9 || math.Abs(gotLon-lon) > 1e-9 {
				t.Errorf("lat/long %v %v, want %v %v", gotLat, gotLon, lat, lon)
			}
			for _, k := range []string{"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
				"agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime", "address",
				"address_id", "zipcode", "lat", "long", "media_url"} {
				if _, ok := r[k]; !ok {
					t.Errorf("request lacks %s", k)
				}
			}

			// List with filters.
			list := func(key string, kv ...string) []string {
				t.Helper()
				items := decodeItems(t, format, must(t)(f.get(t, "/open311/v2/requests."+format+q(append([]string{"api_key", key}, kv...)...))), ptr("service_requests"))
				var ids []string
				for _, it := range items {
					ids = append(ids, it["service_request_id"])
				}
				return ids
			}
			sid := strconv.FormatInt(id, 10)
			day := time.Now().Add(-24 * time.Hour)
			for _, c := range []struct {
				kv   []string
				want bool
			}{
				{nil, true},
				{[]string{"service_code", "E0505"}, true},
				{[]string{"service_code", "E0406,E0505"}, true},
				{[]string{"service_code", "E0406"}, false},
				{[]string{"status", "open"}, true},
				{[]string{"status", "closed"}, false},
				{[]string{"start_date", fmtTime(day), "end_date", fmtTime(time.Now().Add(time.Hour))}, true},
				{[]string{"start_date", fmtTime(day.Add(-48 * time.Hour)), "end_date", fmtTime(day)}, false},
				{[]string{"start_date", fmtTime(day)}, true},
				{[]string{"end_date", fmtTime(day)}, false},
				{[]string{"service_request_id", sid + ",999999999", "status", "closed"}, true}, // ids override the rest
				{[]string{"service_request_id", "999999999"}, false},
			} {
				if got := slices.Contains(list(f.app, c.kv...), sid); got != c.want {
					t.Errorf("list %v: has %s = %v, want %v", c.kv, sid, got, c.want)
				}
			}
			// Staff see it too, and the /v1 incident the app did not make.
			staff := list(f.admin)
			if !slices.Contains(staff, sid) || len(staff) < 2 {
				t.Errorf("admin lists %v, want %s and the /v1 incident", staff, sid)
			}
			if apps := list(f.app); len(apps) == 0 || len(apps) >= len(staff) {
				t.Errorf("the app lists %d requests, staff %d: the app must see only its own", len(apps), len(staff))
			}

			// The lifecycle: notes and closure show through.
			for _, a := range []struct{ action, note string }{{"register", ""}, {"dispatch", "请交警大队尽快处理"}, {"report", ""}, {"verify", "已拖离，结案"}} {
				resp, b := f.do(t, http.MethodPost, fmt.Sprintf("/v1/incidents/%d/events", id), strings.NewReader(fmt.Sprintf(`{"action":%q,"note":%q}`, a.action, a.note)),
					"Authorization", "Bearer "+f.admin, "Content-Type", "application/json")
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %d %s", a.action, resp.StatusCode, b)
				}
			}
			r = decodeItems(t, format, must(t)(f.get(t, path, "Authorization", "Bearer "+f.app)), nil)[0]
			if r["status"] != "closed" || r["status_notes"] != "已拖离，结案" {
				t.Errorf("after verify: status %q, notes %q", r["status"], r["status_notes"])
			}
			if !slices.Contains(list(f.app, "status", "closed"), sid) || slices.Contains(list(f.app, "status", "open"), sid) {
				t.Errorf("status filters after closing")
			}
		})
	}
}

// attr is an attribute of a service definition, read from either format.
type attr struct {
	Variable, Required            bool
	Datatype, DatatypeDescription string
	Order                         int
	Description                   string
	Keys                          []string
}

func definition(t *testing.T, f *fixture, format, code string) map[string]attr {
	t.Helper()
	b := must(t)(f.get(t, "/open311/v2/services/"+code+"."+format))
	out := map[string]attr{}
	if format == "xml" {
		d := parseXML(t, b)
		if d.name != "service_definition" || d.kid("service_code").text != code || d.kid("attributes") == nil {
			t.Fatalf("definition of %s: %s", code, b)
		}
		for _, a := range d.kid("attributes").kids {
			x := attr{Variable: a.kid("variable").text == "true", Required: a.kid("required").text == "true", Datatype: a.kid("datatype").text,
				DatatypeDescription: a.kid("datatype_description").text, Description: a.kid("description").text}
			x.Order, _ = strconv.Atoi(a.kid("order").text)
			if vs := a.kid("values"); vs != nil {
				for _, v := range vs.kids {
					x.Keys = append(x.Keys, v.kid("key").text)
					if v.kid("name").text == "" {
						t.Errorf("%s: a value without a name", code)
					}
				}
			}
			out[a.kid("code").text] = x
		}
		return out
	}
	var d struct {
		ServiceCode string `json:"service_code"`
		Attributes  []struct {
			Variable, Required  bool
			Code, Datatype      string
			DatatypeDescription *string `json:"datatype_description"`
			Order               int
			Description         string
			Values              []struct{ Key, Name string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil || d.ServiceCode != code || d.Attributes == nil {
		t.Fatalf("definition of %s: %s (%v)", code, b, err)
	}
	for _, a := range d.Attributes {
		x := attr{Variable: a.Variable, Required: a.Required, Datatype: a.Datatype, Order: a.Order, Description: a.Description}
		if a.DatatypeDescription != nil {
			x.DatatypeDescription = *a.DatatypeDescription
		}
		for _, v := range a.Values {
			x.Keys = append(x.Keys, v.Key)
		}
		out[a.Code] = x
	}
	return out
}

// TestErrors: every error case of the spec, in both formats, with
// GeoReport's statuses and error documents.
func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.create(t, f.report(t, f.app))
	for _, format := range f.formats {
		t.Run(format, func(t *testing.T) {
			post := func(edit func(url.Values), header ...string) (*http.Response, []byte) {
				form := f.report(t, f.app)
				edit(form)
				return f.post(t, format, form, header...)
			}
			set := func(kv ...string) func(url.Values) {
				return func(v url.Values) {
					for i := 0; i+1 < len(kv); i += 2 {
						if kv[i+1] == "" {
							v.Del(kv[i])
						} else {
							v.Set(kv[i], kv[i+1])
						}
					}
				}
			}
			for _, c := range []struct {
				name     string
				edit     func(url.Values)
				header   []string
				status   int
				mentions string
			}{
				{"no key", set("api_key", ""), nil, 403, "api_key is required"},
				{"bad key", set("api_key", "cg_nope_nope"), nil, 403, "invalid api_key"},
				{"bad header key", set("api_key", ""), []string{"Authorization", "Bearer cg_nope_nope"}, 403, "API key"},
				{"planner key", set("api_key", f.planner), nil, 403, "a key of role planner may not"},
				{"bad jurisdiction", set("jurisdiction_id", "330100"), nil, 404, "jurisdiction_id"},
				{"no service", set("service_code", ""), nil, 400, "service_code is required"},
				{"unknown service", set("service_code", "E9999"), nil, 404, "E9999"},
				{"no location", set("lat", "", "long", ""), nil, 400, "lat and long are required"},
				{"address without location", set("lat", "", "long", "", "address_string", "东大街 12 号"), nil, 400, "no geocoder"},
				{"address id without location", set("lat", "", "long", "", "address_id", "A-17"), nil, 400, "no geocoder"},
				{"lat only", set("long", ""), nil, 400, "send both"},
				{"lat not a number", set("lat", "north"), nil, 400, "lat"},
				{"long not a number", set("long", "121,1"), nil, 400, "long"},
				{"lat out of range", set("lat", "95"), nil, 400, "latitude"},
				{"long NaN", set("long", "NaN"), nil, 400, "longitude"},
				{"outside the city", set("lat", "39.9", "long", "116.4"), nil, 400, "outside"},
				{"bad crs", set("crs", "utm"), nil, 400, "crs"},
				{"missing required attribute", set("attribute[plate]", ""), nil, 400, "attribute[plate]: required"},
				{"bad plate", set("attribute[plate]", "ABC123"), nil, 400, "attribute[plate]"},
				{"unknown attribute", set("attribute[colour]", "red"), nil, 400, "attribute[colour]"},
				{"bad attribute datetime", set("attribute[parked_since]", "yesterday"), nil, 400, "attribute[parked_since]"},
				{"bad attribute key", set("attribute[pl ate]", "x"), nil, 400, "attribute code"},
				{"bad number", set("service_code", "E0406", "attribute[plate]", "", "attribute[depth_cm]", "deep"), nil, 400, "attribute[depth_cm]"},
				{"number out of range", set("service_code", "E0406", "attribute[plate]", "", "attribute[depth_cm]", "500"), nil, 400, "outside"},
				{"informational attribute", set("service_code", "E0406", "attribute[plate]", "", "attribute[depth_cm]", "20", "attribute[safety]", "ok"), nil, 400, "attribute[safety]"},
				{"bad list value", set("service_code", "P0301", "attribute[plate]", "", "attribute[fill]", "empty"), nil, 400, "attribute[fill]"},
				{"two values for a single list", func(v url.Values) {
					v.Set("service_code", "P0301")
					v.Del("attribute[plate]")
					v["attribute[fill][]"] = []string{"full", "overflowing"}
				}, nil, 400, "attribute[fill]"},
				{"a multi list value twice", func(v url.Values) {
					v.Set("service_code", "P0301")
					v.Del("attribute[plate]")
					v.Set("attribute[fill]", "full")
					v["attribute[defects][]"] = []string{"odour", "odour"}
				}, nil, 400, "attribute[defects]"},
				{"too long description", set("description", strings.Repeat("长", 4001)), nil, 400, "description"},
				{"NUL in description", set("description", "a\x00b"), nil, 400, "NUL"},
				{"NUL in email", set("email", "a\x00@example.org"), nil, 400, "email"},
				{"NUL in attribute", set("attribute[plate]", "浙J1\x002345"), nil, 400, "attribute[plate]"},
				{"control character in name", set("first_name", "a\x07"), nil, 400, "first_name"},
				{"bad email", set("email", "not an address"), nil, 400, "email"},
				{"bad phone", set("phone", "call me"), nil, 400, "phone"},
				{"too long account id", set("account_id", strings.Repeat("a", 201)), nil, 400, "account_id"},
				{"media not http", set("media_url", "ftp://example.org/a.jpg"), nil, 400, "media_url"},
				{"media relative", set("media_url", "/a.jpg"), nil, 400, "media_url"},
				{"media too long", set("media_url", "https://example.org/"+strings.Repeat("a", 2000)), nil, 400, "media_url"},
				{"unknown field", set("lng", "121.1"), nil, 400, "unknown arguments lng"},
				{"requested in the future", set("requested_datetime", fmtTime(time.Now().Add(time.Hour))), nil, 400, "requested_datetime"},
				{"requested long ago", set("requested_datetime", fmtTime(time.Now().AddDate(0, -1, 0))), nil, 400, "requested_datetime"},
				{"requested without zone", set("requested_datetime", "2026-06-18T09:30:00"), nil, 400, "requested_datetime"},
				{"bad idempotency key", nil, []string{"Idempotency-Key", "two words"}, 400, "Idempotency-Key"},
			} {
				t.Run(c.name, func(t *testing.T) {
					edit := c.edit
					if edit == nil {
						edit = func(url.Values) {}
					}
					resp, b := post(edit, c.header...)
					wantError(t, format, resp, b, c.status, c.mentions)
				})
			}
			formBody := f.report(t, f.app).Encode()
			for _, c := range []struct {
				name, method, path, ct, body string
				status                       int
				mentions                     string
			}{
				{"JSON body", "POST", "/open311/v2/requests." + format, "application/json", `{"service_code":"E0505"}`, 400, "Content-Type"},
				{"multipart body", "POST", "/open311/v2/requests." + format, "multipart/form-data; boundary=x", formBody, 400, "Content-Type"},
				{"no content type", "POST", "/open311/v2/requests." + format, "", formBody, 400, "Content-Type"},
				{"latin-1 body", "POST", "/open311/v2/requests." + format, "application/x-www-form-urlencoded; charset=iso-8859-1", formBody, 400, "UTF-8"},
				{"not UTF-8", "POST", "/open311/v2/requests." + format, "application/x-www-form-urlencoded", formBody + "&description=%FF", 400, "UTF-8"},
				{"field twice", "POST", "/open311/v2/requests." + format, "application/x-www-form-urlencoded", formBody + "&service_code=E0406", 400, "service_code: given 2 times"},
				{"too large", "POST", "/open311/v2/requests." + format, "application/x-www-form-urlencoded", formBody + "&description=" + strings.Repeat("a", 70_000), 400, "larger than"},
				{"no key to list", "GET", "/open311/v2/requests." + format, "", "", 403, "api_key is required to read service requests"},
				{"no key to get", "GET", fmt.Sprintf("/open311/v2/requests/%d.%s", id, format), "", "", 403, "api_key is required"},
				{"bad key to list", "GET", "/open311/v2/requests." + format + q("api_key", "cg_x_y"), "", "", 403, "invalid api_key"},
				{"unknown request", "GET", "/open311/v2/requests/999999999." + format + q("api_key", f.admin), "", "", 404, "999999999"},
				{"not a request id", "GET", "/open311/v2/requests/abc." + format + q("api_key", f.admin), "", "", 404, "abc"},
				{"bad jurisdiction get", "GET", fmt.Sprintf("/open311/v2/requests/%d.%s", id, format) + q("api_key", f.admin, "jurisdiction_id", "x.gov"), "", "", 404, "jurisdiction_id"},
				{"bad jurisdiction list", "GET", "/open311/v2/requests." + format + q("api_key", f.admin, "jurisdiction_id", "x.gov"), "", "", 404, "jurisdiction_id"},
				{"bad jurisdiction services", "GET", "/open311/v2/services." + format + q("jurisdiction_id", "x.gov"), "", "", 404, "jurisdiction_id"},
				{"bad jurisdiction definition", "GET", "/open311/v2/services/E0505." + format + q("jurisdiction_id", "x.gov"), "", "", 404, "jurisdiction_id"},
				{"unknown service definition", "GET", "/open311/v2/services/E9999." + format, "", "", 404, "E9999"},
				{"bad start date", "GET", "/open311/v2/requests." + format + q("api_key", f.admin, "start_date", "2026-06-01"), "", "", 400, "start_date"},
				{"bad end date", "GET", "/open311/v2/requests." + format + q("api_key", f.admin, "end_date", "soon"), "", "", 400, "end_date"},
				{"end before start", "GET", "/open311/v2/requests." + format + q("api_key", f.admin, "start_date", "2026-06-10T00:00:00Z", "end_date", "2026-06-01T00:00:00Z"), "", "", 400, "before start_date"},
				{"window over 90 days", "GET", "/open311/v2/requests." + format + q("api_key", f.admin, "start_date", "2026-01-01T00:00:00Z", "end_date", "2026-06-01T00:00:00Z"), "", "", 400, "90 days"},
				{"bad status", "GET", "/open311/v2/requests." + format + q("api_key", f.admin, "status", "pending"), "", "", 400, "status"},
				{"unknown service filter", "GET", "/open311/v2/requests." + format + q("api_key", f.admin, "service_code", "E9999"), "", "", 400, "service_code"},
				{"bad id list", "GET", "/open311/v2/requests." + format + q("api_key", f.admin, "service_request_id", "1,x"), "", "", 400, "service_request_id"},
				{"unknown resource", "GET", "/open311/v2/tokens/1." + format, "", "", 404, "no such resource"},
				{"method not allowed", "DELETE", "/open311/v2/requests." + format, "", "", 400, "not allowed"},
			} {
				t.Run(c.name, func(t *testing.T) {
					resp, b := f.do(t, c.method, c.path, strings.NewReader(c.body), "Content-Type", c.ct)
					wantError(t, format, resp, b, c.status, c.mentions)
				})
			}
		})
	}
	// A format that is neither is no resource; its error comes as JSON.
	for _, p := range []string{"/open311/v2/services.txt", "/open311/v2/services/E0505.html", "/open311/v2/services/E0505", "/open311/v2/discovery.yaml"} {
		resp, b := f.get(t, p)
		wantError(t, "json", resp, b, 404, "json")
	}
	// Nothing refused was stored.
	var n int
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM incident`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d incidents stored (%v), want the one valid report", n, err)
	}
}

// TestValidInputs: what the checks admit — every datatype, GCJ-02 points,
// a long Chinese description, the backdating extension, lists given in
// either form — is stored as sent, normalised where the definition says.
func TestValidInputs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	lon, lat := f.interior(t, "331082002001001")
	glon, glat := coord.WGS84ToGCJ02(lon, lat)
	at := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	id := f.create(t, url.Values{"api_key": {f.app}, "service_code": {"P0301"}, "lat": {ftoa(glat)}, "long": {ftoa(glon)}, "crs": {"gcj02"},
		"attribute[fill]": {"overflowing"}, "attribute[defects][]": {"odour", "damaged"}, "requested_datetime": {at.Format(time.RFC3339)},
		"description": {strings.Repeat("满", 4000)}, "jurisdiction_id": {grid.CountyCode}})
	var cell, desc string
	var attrs map[string][]string
	var occurred time.Time
	if err := f.db.Pool().QueryRow(ctx, `SELECT i.cell_code, i.description, i.occurred_at, r.attributes FROM incident i JOIN open311_request r ON r.incident_id = i.id WHERE i.id = $1`, id).
		Scan(&cell, &desc, &occurred, &attrs); err != nil {
		t.Fatal(err)
	}
	if cell != "331082002001001" || len([]rune(desc)) != 4000 || !occurred.Equal(at) {
		t.Errorf("stored cell %s, %d characters, occurred %v (want %v)", cell, len([]rune(desc)), occurred, at)
	}
	if !slices.Equal(attrs["fill"], []string{"overflowing"}) || !slices.Equal(attrs["defects"], []string{"damaged", "odour"}) {
		t.Errorf("attributes %v", attrs)
	}
	// GeoReport's lat/long are WGS84; crs=gcj02 gives them back in GCJ-02.
	b := must(t)(f.get(t, fmt.Sprintf("/open311/v2/requests/%d.json", id)+q("api_key", f.app, "crs", "gcj02")))
	r := decodeItems(t, "json", b, nil)[0]
	gotLat, _ := strconv.ParseFloat(r["lat"], 64)
	if math.Abs(gotLat-glat) > 1e-6 || r["requested_datetime"] != at.In(grid.ChinaTime()).Format(time.RFC3339) {
		t.Errorf("in GCJ-02: lat %v (want %v), requested %s", r["lat"], glat, r["requested_datetime"])
	}
	// Without an address, the place is named from the grid.
	if !strings.Contains(r["address"], "大洋街道") {
		t.Errorf("address %q does not name the town", r["address"])
	}

	// A plate typed with a separator and lower case is stored normalised;
	// parked_since is kept in its own zone.
	form := f.report(t, f.app)
	form.Set("attribute[plate]", "浙j·d12345")
	form.Set("attribute[parked_since]", "2026-06-18T09:30:00+08:00")
	id = f.create(t, form)
	if err := f.db.Pool().QueryRow(ctx, `SELECT attributes FROM open311_request WHERE incident_id = $1`, id).Scan(&attrs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(attrs["plate"], []string{"浙JD12345"}) || !slices.Equal(attrs["parked_since"], []string{"2026-06-18T09:30:00+08:00"}) {
		t.Errorf("attributes %v", attrs)
	}
	// Water depth as a number; an optional argument sent empty is not sent.
	lon, lat = f.interior(t, "331082001001001")
	id = f.create(t, url.Values{"api_key": {f.app}, "service_code": {"E0406"}, "lat": {ftoa(lat)}, "long": {ftoa(lon)},
		"attribute[depth_cm]": {"25.5"}, "email": {""}, "address_id": {""}, "media_url": {""}})
	if err := f.db.Pool().QueryRow(ctx, `SELECT attributes FROM open311_request WHERE incident_id = $1`, id).Scan(&attrs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(attrs["depth_cm"], []string{"25.5"}) {
		t.Errorf("attributes %v", attrs)
	}
	// The key may come in the Authorization header, and the arguments in
	// the query string.
	form = f.report(t, "")
	form.Del("api_key")
	resp, b := f.do(t, http.MethodPost, "/open311/v2/requests.json?service_code=E0505&"+url.Values{"lat": form["lat"], "long": form["long"]}.Encode(),
		strings.NewReader(url.Values{"attribute[plate]": {"浙J54321"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer "+f.app)
	if resp.StatusCode != 200 {
		t.Errorf("key in the header, arguments in the query: %d %s", resp.StatusCode, b)
	}
}

// TestPersonalFieldsNeverShown: what a client sends of the reporter is
// stored, and no answer — Open311's or the JSON API's, list or single, to
// the app or to staff — carries it.
func TestPersonalFieldsNeverShown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	personal := map[string]string{"email": "zhang.san.marker@example.org", "first_name": "三MARKERFIRST", "last_name": "张MARKERLAST",
		"phone": "+86 576 8512 3456", "device_id": "DEVICE-MARKER-77", "account_id": "ACCOUNT-MARKER-42"}
	form := f.report(t, f.app)
	for k, v := range personal {
		form.Set(k, v)
	}
	var answers [][]byte
	for _, format := range f.formats {
		resp, b := f.post(t, format, form)
		answers = append(answers, must(t)(resp, b))
	}
	ids := decodeItems(t, "json", answers[0], nil)
	id := ids[0]["service_request_id"]
	var stored grid.Contact
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT email, first_name, last_name, phone, device_id, account_id FROM open311_request WHERE incident_id = $1`, id).
		Scan(&stored.Email, &stored.FirstName, &stored.LastName, &stored.Phone, &stored.DeviceID, &stored.AccountID); err != nil {
		t.Fatal(err)
	}
	if stored != (grid.Contact{Email: personal["email"], FirstName: personal["first_name"], LastName: personal["last_name"],
		Phone: personal["phone"], DeviceID: personal["device_id"], AccountID: personal["account_id"]}) {
		t.Errorf("stored contact %+v", stored)
	}
	for _, key := range []string{f.app, f.admin} {
		for _, format := range f.formats {
			for _, p := range []string{"/open311/v2/requests." + format, "/open311/v2/requests/" + id + "." + format,
				"/open311/v2/requests." + format + q("service_request_id", id)} {
				answers = append(answers, must(t)(f.get(t, p, "X-API-Key", key)))
			}
		}
	}
	for _, p := range []string{"/v1/incidents", "/v1/incidents/" + id, "/v1/incidents?f=geojson"} {
		answers = append(answers, must(t)(f.get(t, p, "Authorization", "Bearer "+f.admin)))
	}
	for i, b := range answers {
		for k, v := range personal {
			for _, s := range []string{v, url.QueryEscape(v), strings.Fields(v)[0]} {
				if strings.Contains(string(b), s) {
					t.Errorf("answer %d shows %s (%q): %.200s", i, k, s, b)
				}
			}
		}
	}
}

// TestAppReadsItsOwn: a citizens' app key reads only the requests it
// created; staff read all, a town's key its town's; an app key is refused
// wherever the JSON API needs staff.
func TestAppReadsItsOwn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mine := f.create(t, f.report(t, f.app))
	lon, lat := f.interior(t, "331082002001001") // another town
	theirs := f.create(t, url.Values{"api_key": {f.app2}, "service_code": {"E0102"}, "lat": {ftoa(lat)}, "long": {ftoa(lon)}})
	ids := func(key string, path string) []int64 {
		t.Helper()
		var out []int64
		for _, it := range decodeItems(t, "json", must(t)(f.get(t, path, "X-API-Key", key)), nil) {
			id, _ := strconv.ParseInt(it["service_request_id"], 10, 64)
			out = append(out, id)
		}
		slices.Sort(out)
		return out
	}
	both := fmt.Sprintf("?service_request_id=%d,%d", mine, theirs)
	for _, c := range []struct {
		who, key string
		want     []int64
	}{
		{"app", f.app, []int64{mine}}, {"app2", f.app2, []int64{theirs}}, {"admin", f.admin, []int64{mine, theirs}},
		{"planner", f.planner, []int64{mine, theirs}}, {"town 1 dispatcher", f.town1, []int64{mine}},
	} {
		for _, p := range []string{"/open311/v2/requests.json", "/open311/v2/requests.json" + both} {
			if got := ids(c.key, p); !slices.Equal(got, c.want) {
				t.Errorf("%s lists %v at %s, want %v", c.who, got, p, c.want)
			}
		}
	}
	resp, b := f.get(t, fmt.Sprintf("/open311/v2/requests/%d.xml", theirs), "X-API-Key", f.app)
	wantError(t, "xml", resp, b, 404, "was not found")
	resp, b = f.get(t, fmt.Sprintf("/open311/v2/requests/%d.json", theirs), "X-API-Key", f.town1)
	wantError(t, "json", resp, b, 404, "was not found")
	must(t)(f.get(t, fmt.Sprintf("/open311/v2/requests/%d.json", mine), "X-API-Key", f.town1))
	// A town's key reports only in its town.
	form := f.report(t, f.town1)
	form.Set("lat", ftoa(lat))
	form.Set("long", ftoa(lon))
	resp, b = f.post(t, "json", form)
	wantError(t, "json", resp, b, 403, "outside this key's town")
	// An api_key argument and a header naming another key disagree.
	resp, b = f.get(t, "/open311/v2/requests.json"+q("api_key", f.app), "X-API-Key", f.app2)
	wantError(t, "json", resp, b, 403, "different keys")
}

// TestIdempotentRetry: a POST retried with the same Idempotency-Key (and
// key) answers the first request and stores nothing more; another key's
// same token is its own request; a token that names an incident the JSON
// API made is refused.
func TestIdempotentRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first := f.create(t, f.report(t, f.app), "Idempotency-Key", `"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"`)
	again := f.create(t, f.report(t, f.app), "Idempotency-Key", "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
	other := f.create(t, f.report(t, f.app2), "Idempotency-Key", "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")
	if again != first || other == first {
		t.Errorf("first %d, retry %d, another app's %d", first, again, other)
	}
	var n, sides int
	if err := f.db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM incident), (SELECT count(*) FROM open311_request)`).Scan(&n, &sides); err != nil || n != 2 || sides != 2 {
		t.Errorf("%d incidents, %d side rows (%v), want 2 and 2", n, sides, err)
	}
	// A /v1 incident cannot take the external id a token would make: the
	// prefix is Open311's own namespace.
	lon, lat := f.interior(t, "331082001001001")
	ext := "open311:" + strconv.FormatInt(f.appID, 10) + ":taken"
	resp, b := f.do(t, http.MethodPost, "/v1/incidents", strings.NewReader(fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"collector","external_id":%q}`,
		lon, lat, time.Now().Format(time.RFC3339), ext)), "Authorization", "Bearer "+f.admin, "Content-Type", "application/json")
	if resp.StatusCode != 400 || !strings.Contains(string(b), "external_id") {
		t.Fatalf("POST /v1/incidents with Open311's prefix: %d %s, want 400 naming external_id", resp.StatusCode, b)
	}
	if resp, b = f.post(t, "json", f.report(t, f.app), "Idempotency-Key", "taken"); resp.StatusCode != 200 {
		t.Errorf("the token after the refused /v1 attempt: %d %s, want 200 (a new request)", resp.StatusCode, b)
	}
}
