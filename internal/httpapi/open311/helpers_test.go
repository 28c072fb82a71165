package open311_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/api"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
)

// fixture is one replica of the service on a fresh demo database, with a
// key of each kind.
type fixture struct {
	srv                       *httptest.Server
	db                        *postgres.DB
	admin, app, app2, planner string
	town1                     string // a dispatcher of 古城街道 (331082001)
	appID, app2ID             int64
	formats                   []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.New(t, pgtest.Demo)
	cat := locate.NewCatalog(db)
	if _, err := cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s := httpapi.New(httpapi.Config{Store: db, Incidents: db, Requests: db, Stats: db, Heatmaps: db, Keys: db, Audit: db, Facilities: db,
		Catalog: cat, OpenAPI: api.OpenAPI})
	f := &fixture{srv: httptest.NewServer(s.Handler()), db: db, formats: []string{"json", "xml"}}
	t.Cleanup(f.srv.Close)
	key := func(role, town string) string {
		k, err := db.CreateAPIKey(ctx, role, town, "open311 test "+role)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	f.admin, f.app, f.app2, f.planner, f.town1 = key("admin", ""), key("app", ""), key("app", ""), key("planner", ""), key("dispatcher", "331082001")
	f.appID, f.app2ID = f.keyID(t, f.app), f.keyID(t, f.app2)
	return f
}

// keyID is the stored id of a key, by its prefix.
func (f *fixture) keyID(t *testing.T, key string) int64 {
	t.Helper()
	prefix := strings.Split(key, "_")[1]
	var id int64
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT id FROM api_key WHERE prefix = $1`, prefix).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// interior is a point inside a cell, chosen by PostGIS.
func (f *fixture) interior(t *testing.T, cell string) (lon, lat float64) {
	t.Helper()
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM cell
		WHERE code = $1 AND version_id = (SELECT id FROM grid_version WHERE active)) s`, cell).Scan(&lon, &lat); err != nil {
		t.Fatal(err)
	}
	return lon, lat
}

// do sends one request with the given headers (empty values are not sent).
func (f *fixture) do(t *testing.T, method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (f *fixture) get(t *testing.T, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return f.do(t, http.MethodGet, path, nil, header...)
}

// post sends a form to requests.{format}.
func (f *fixture) post(t *testing.T, format string, form url.Values, header ...string) (*http.Response, []byte) {
	t.Helper()
	h := append([]string{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, header...)
	return f.do(t, http.MethodPost, "/open311/v2/requests."+format, strings.NewReader(form.Encode()), h...)
}

// report is a valid POST requests form for E0505 in cell 331082001001001.
func (f *fixture) report(t *testing.T, key string) url.Values {
	t.Helper()
	lon, lat := f.interior(t, "331082001001001")
	return url.Values{"api_key": {key}, "service_code": {"E0505"}, "lat": {ftoa(lat)}, "long": {ftoa(lon)},
		"attribute[plate]": {"浙J12345"}, "description": {"人行道上停了一辆车"}}
}

// create posts form and returns the new request's id.
func (f *fixture) create(t *testing.T, form url.Values, header ...string) int64 {
	t.Helper()
	resp, b := f.post(t, "json", form, header...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST requests: %d %s", resp.StatusCode, b)
	}
	items := decodeItems(t, "json", b, nil)
	if len(items) != 1 {
		t.Fatalf("POST requests answered %d items: %s", len(items), b)
	}
	id, err := strconv.ParseInt(items[0]["service_request_id"], 10, 64)
	if err != nil {
		t.Fatalf("service_request_id %q: %v", items[0]["service_request_id"], err)
	}
	return id
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Element names of GeoReport v2's documents: each element's children.
var specElements = map[string][]string{
	"discovery":          {"changeset", "contact", "key_service", "endpoints"},
	"endpoints":          {"endpoint"},
	"endpoint":           {"specification", "url", "changeset", "type", "formats"},
	"formats":            {"format"},
	"services":           {"service"},
	"service":            {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"},
	"service_definition": {"service_code", "attributes"},
	"attributes":         {"attribute"},
	"attribute":          {"variable", "code", "datatype", "required", "datatype_description", "order", "description", "values"},
	"values":             {"value"},
	"value":              {"key", "name"},
	"service_requests":   {"request"},
	"request": {"service_request_id", "token", "service_notice", "account_id", // POST's answer
		"status", "status_notes", "service_name", "service_code", "description", "agency_responsible",
		"requested_datetime", "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"},
	"errors": {"error"},
	"error":  {"code", "description"},
}

// node is an XML element.
type node struct {
	name string
	text string
	kids []*node
}

// parseXML reads a document with encoding/xml, checks the XML declaration
// and that every element is one the spec names under its parent.
func parseXML(t *testing.T, b []byte) *node {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("no XML declaration with UTF-8: %.60s", b)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("XML: %v in %s", err, b)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{name: tk.Name.Local}
			if tk.Name.Space != "" || len(tk.Attr) > 0 {
				t.Errorf("element %s has a namespace or attributes", n.name)
			}
			if len(stack) == 0 {
				root = n
			} else {
				parent := stack[len(stack)-1]
				if !slices.Contains(specElements[parent.name], n.name) {
					t.Errorf("<%s> inside <%s>: not an element of GeoReport v2", n.name, parent.name)
				}
				parent.kids = append(parent.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tk)
			}
		}
	}
	if root == nil {
		t.Fatalf("empty XML document")
	}
	return root
}

func (n *node) kid(name string) *node {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// decodeItems reads a list document — services, service requests, errors
// — into one map per item, in either format; in XML the root must be
// root (nil: any) and each item's fields must be leaves.
func decodeItems(t *testing.T, format string, b []byte, root *string) []map[string]string {
	t.Helper()
	var out []map[string]string
	if format == "xml" {
		r := parseXML(t, b)
		if root != nil && r.name != *root {
			t.Fatalf("root <%s>, want <%s>", r.name, *root)
		}
		for _, item := range r.kids {
			m := map[string]string{}
			for _, k := range item.kids {
				if len(k.kids) > 0 {
					t.Errorf("<%s> in <%s> is not a leaf", k.name, item.name)
				}
				m[k.name] = k.text
			}
			out = append(out, m)
		}
		return out
	}
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("JSON: %v in %s", err, b)
	}
	for _, item := range list {
		m := map[string]string{}
		for k, v := range item {
			switch x := v.(type) {
			case nil:
				m[k] = ""
			case string:
				m[k] = x
			case float64:
				m[k] = ftoa(x)
			case bool:
				m[k] = strconv.FormatBool(x)
			default:
				t.Errorf("%s: a %T in a flat item", k, v)
			}
		}
		out = append(out, m)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// wantError checks a GeoReport error answer: the status, the format's
// content type, a list of {code, description} whose first description
// mentions mentions.
func wantError(t *testing.T, format string, resp *http.Response, b []byte, status int, mentions string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	ct := resp.Header.Get("Content-Type")
	if want := map[string]string{"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}[format]; ct != want {
		t.Errorf("Content-Type %q, want %q", ct, want)
	}
	errs := decodeItems(t, format, b, ptr("errors"))
	if len(errs) == 0 {
		t.Fatalf("no errors in %s", b)
	}
	for _, e := range errs {
		if e["code"] != strconv.Itoa(status) || e["description"] == "" {
			t.Errorf("error %v: want code %d and a description", e, status)
		}
	}
	if !strings.Contains(errs[0]["description"], mentions) {
		t.Errorf("error %q does not mention %q", errs[0]["description"], mentions)
	}
}

// must passes on the body of a 200 answer.
func must(t *testing.T) func(*http.Response, []byte) []byte {
	t.Helper()
	return func(resp *http.Response, b []byte) []byte {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, b)
		}
		return b
	}
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

func fmtTime(t time.Time) string { return t.Format(time.RFC3339) }
