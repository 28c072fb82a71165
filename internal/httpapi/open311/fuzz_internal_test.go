package open311

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/labstack/echo/v4"
)

// fuzzNow is the clock of the fuzz targets: requested_datetime is checked
// against it.
var fuzzNow = time.Date(2026, 6, 18, 9, 30, 0, 0, grid.ChinaTime())

// postForm runs readForm on a POST requests body and query string as the
// handler would get them.
func postForm(body, query string) (*form, error) {
	req := httptest.NewRequest(http.MethodPost, "/open311/v2/requests.json", strings.NewReader(body))
	req.URL.RawQuery = query
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
	return readForm(echo.New().NewContext(req, httptest.NewRecorder()), 64<<10)
}

// FuzzRequestForm: readForm and newRequest, the checks of a POST requests
// form, never panic and answer Invalid; what they accept keeps every
// documented limit: the form holds only known arguments, each once and
// valid UTF-8; the point is finite and in range; texts are within their
// lengths and free of NUL and control characters (line breaks only in the
// description); the media URL is absolute http(s); the contact is well
// formed; requested_datetime lies in the last 7 days; every attribute
// answer is of its attribute's datatype.
func FuzzRequestForm(f *testing.F) {
	for _, s := range [][2]string{
		{"service_code=E0505&lat=28.85&long=121.13&attribute%5Bplate%5D=%E6%B5%99J%C2%B712345&description=%E5%8D%A0%E9%81%93", ""},
		{"service_code=E0406&lat=28.85&long=121.13&crs=gcj02&attribute[depth_cm]=15&email=a%40b.cn&phone=%2B86+576-1234", ""},
		{"service_code=P0301&lat=28.85&long=121.13&attribute[fill]=full&attribute[defects][]=odour&attribute[defects][]=damaged", "api_key=k"},
		{"service_code=E0505&lat=28.85&long=121.13&attribute[plate]=浙JD12345&attribute[parked_since]=2026-06-18T08:00:00%2B08:00", ""},
		{"service_code=E0102&lat=28.85&long=121.13&media_url=https://example.cn/a.jpg&requested_datetime=2026-06-17T09:30:00Z", ""},
		{"service_code=E0102&lat=91&long=121.13", ""},
		{"service_code=E0102&lat=NaN&long=0x1p-2", ""},
		{"service_code=E0102&address_string=x", ""},
		{"service_code=E0102&lat=28.85&long=121.13&description=a%00b", ""},
		{"service_code=E0406&lat=28.85&long=121.13&attribute[depth_cm]=1e400", ""},
		{"service_code=E0406&lat=28.85&long=121.13&attribute[safety]=x", ""},
		{"service_code=P0301&lat=28.85&long=121.13&attribute[fill]=full&attribute[defects][]=odour&attribute[defects][]=odour", ""},
		{"service_code=E0505&lat=28.85&long=121.13&attribute[plate]=a&attribute[plate]=b", ""},
		{"service_code=E0102&lat=28.85&long=121.13&email=%22x%22+%3Ca%40b.cn%3E", ""},
		{"lat=1;long=2", ""},
		{"service_code=E0102", "service_code=E0505"},
		{"attribute[a-b]=1", ""},
		{"\xff=1", ""},
	} {
		f.Add(s[0], s[1])
	}
	codeRE := regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	known := map[string]bool{}
	for _, k := range fields {
		known[k] = true
	}
	f.Fuzz(func(t *testing.T, body, query string) {
		in, err := postForm(body, query)
		if err != nil {
			if grid.KindOf(err) != grid.Invalid {
				t.Fatalf("readForm(%q, %q): %v, want Invalid", body, query, err)
			}
			return
		}
		for k, vs := range in.v {
			if !known[k] || len(vs) != 1 || !utf8.ValidString(vs[0]) {
				t.Fatalf("readForm(%q, %q) accepted %s=%q", body, query, k, vs)
			}
		}
		for code, vs := range in.attrs {
			if !codeRE.MatchString(code) || !utf8.ValidString(strings.Join(vs, "")) {
				t.Fatalf("readForm(%q, %q) accepted attribute %q=%q", body, query, code, vs)
			}
		}
		code := in.get("service_code")
		r, sr, err := newRequest(in, code, fuzzNow)
		if err != nil {
			if grid.KindOf(err) != grid.Invalid {
				t.Fatalf("newRequest(%q, %q): %v, want Invalid", body, query, err)
			}
			return
		}
		checkRequest(t, in, code, r, sr)
	})
}

// checkRequest checks an accepted request against the documented limits,
// read from the form again.
func checkRequest(t *testing.T, in *form, code string, r intake.Report, sr grid.ServiceRequest) {
	t.Helper()
	lat, errLat := strconv.ParseFloat(in.get("lat"), 64)
	lon, errLon := strconv.ParseFloat(in.get("long"), 64)
	if errLat != nil || errLon != nil || !(lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90) {
		t.Fatalf("accepted lat %q, long %q", in.get("lat"), in.get("long"))
	}
	p := r.Point
	if math.IsNaN(p[0]) || math.IsNaN(p[1]) || p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90 {
		t.Fatalf("lat %q, long %q: point %v", in.get("lat"), in.get("long"), p)
	}
	if c := in.get("crs"); (c == "" || strings.EqualFold(c, "wgs84")) && (p[0] != lon || p[1] != lat) {
		t.Fatalf("WGS84 lat %v, long %v became %v", lat, lon, p)
	}
	if r.Category != code || r.Source != grid.SourceApp || r.ExternalID != "" {
		t.Fatalf("report %+v for service %q", r, code)
	}
	if r.OccurredAt.After(fuzzNow.Add(5*time.Minute)) || r.OccurredAt.Before(fuzzNow.Add(-7*24*time.Hour)) {
		t.Fatalf("requested_datetime %q: occurred %s", in.get("requested_datetime"), r.OccurredAt)
	}
	text := func(field, v string, limit int, multiline bool) {
		t.Helper()
		if v != in.get(field) {
			t.Fatalf("%s %q stored as %q", field, in.get(field), v)
		}
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > limit {
			t.Fatalf("%s: accepted %d characters (limit %d): %q", field, utf8.RuneCountInString(v), limit, v)
		}
		for _, c := range v {
			if c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t')) || c == 0x7f {
				t.Fatalf("%s: accepted control character U+%04X in %q", field, c, v)
			}
		}
	}
	text("description", r.Description, 4000, true)
	text("address_string", sr.Address, 500, false)
	text("address_id", sr.AddressID, 200, false)
	text("media_url", sr.MediaURL, 2000, false)
	text("email", sr.Contact.Email, 254, false)
	text("first_name", sr.Contact.FirstName, 100, false)
	text("last_name", sr.Contact.LastName, 100, false)
	text("phone", sr.Contact.Phone, 32, false)
	text("device_id", sr.Contact.DeviceID, 200, false)
	text("account_id", sr.Contact.AccountID, 200, false)
	if sr.MediaURL != "" {
		u, err := url.Parse(sr.MediaURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(sr.MediaURL) > 2000 {
			t.Fatalf("accepted media_url %q", sr.MediaURL)
		}
	}
	if e := sr.Contact.Email; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			t.Fatalf("accepted email %q", e)
		}
	}
	if ph := sr.Contact.Phone; ph != "" {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, ph)
		if strings.ContainsFunc(ph, func(r rune) bool { return !strings.ContainsRune("0123456789+-() ", r) }) || len(digits) < 3 {
			t.Fatalf("accepted phone %q", ph)
		}
	}
	checkAttributes(t, code, in.attrs, sr.Attributes)
}

// checkAttributes checks stored answers against the service definition:
// only asked attributes, the required ones present, each value of its
// datatype.
func checkAttributes(t *testing.T, code string, sent, got map[string][]string) {
	t.Helper()
	defs := Definition(code)
	for k, vs := range got {
		i := slices.IndexFunc(defs, func(a Attribute) bool { return a.Code == k })
		if i < 0 || !defs[i].Variable || len(vs) == 0 {
			t.Fatalf("service %s: stored attribute %q = %q (sent %q)", code, k, vs, sent)
		}
		a := defs[i]
		if len(vs) > 1 && a.Datatype != typeMulti {
			t.Fatalf("%s: %d values for a %s attribute", k, len(vs), a.Datatype)
		}
		for _, v := range vs {
			if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\r' && r != '\t' || r == 0x7f }) {
				t.Fatalf("%s: control character in %q", k, v)
			}
			switch a.Datatype {
			case typeNumber:
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < a.min || f > a.max || strconv.FormatFloat(f, 'f', -1, 64) != v {
					t.Fatalf("%s: number %q outside %v…%v", k, v, a.min, a.max)
				}
			case typeDatetime:
				if _, err := param.Time("v", v); err != nil {
					t.Fatalf("%s: datetime %q: %v", k, v, err)
				}
			case typeSingle, typeMulti:
				if !slices.ContainsFunc(a.Values, func(x Value) bool { return x.Key == v }) {
					t.Fatalf("%s: %q is not a choice", k, v)
				}
			case typeString, typeText:
				if a.pattern != nil && !a.pattern.MatchString(v) || utf8.RuneCountInString(v) > 4000 ||
					a.Datatype == typeString && (utf8.RuneCountInString(v) > 200 || strings.ContainsAny(v, "\n\r\t")) {
					t.Fatalf("%s: string %q", k, v)
				}
			default:
				t.Fatalf("%s: datatype %s", k, a.Datatype)
			}
		}
		if a.Datatype == typeMulti && (!slices.IsSorted(vs) || len(slices.Compact(slices.Clone(vs))) != len(vs)) {
			t.Fatalf("%s: multivaluelist %q is not a sorted set", k, vs)
		}
	}
	for _, a := range defs {
		if a.Required && len(got[a.Code]) == 0 {
			t.Fatalf("service %s: required attribute %s missing from %q", code, a.Code, got)
		}
	}
}

// FuzzWindow: GET requests' start_date and end_date make a closed window
// of at most 90 days, or an Invalid error naming one of them.
func FuzzWindow(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"2026-06-01T00:00:00+08:00", ""}, {"", "2026-06-01T00:00:00Z"},
		{"2026-06-01T00:00:00 08:00", "2026-06-10T00:00:00+08:00"}, {"2026-06-10T00:00:00Z", "2026-06-01T00:00:00Z"},
		{"2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"}, {"2026-06-01", ""}, {" Z", "x y"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, start, end string) {
		from, to, err := window(start, end, fuzzNow)
		if err != nil {
			var ge *grid.Error
			if !errors.As(err, &ge) || ge.Kind != grid.Invalid ||
				!strings.HasPrefix(ge.Message, "start_date: ") && !strings.HasPrefix(ge.Message, "end_date: ") {
				t.Fatalf("window(%q, %q): %v", start, end, err)
			}
			return
		}
		if to.Before(from) || to.Sub(from) > 90*24*time.Hour || from.Before(param.MinTime.Add(-90*24*time.Hour)) || to.After(param.MaxTime.Add(90*24*time.Hour)) {
			t.Fatalf("window(%q, %q) = %s … %s", start, end, from, to)
		}
		if start == "" && end == "" && (!from.Equal(fuzzNow.Add(-90*24*time.Hour)) || !to.Equal(fuzzNow)) {
			t.Fatalf("default window %s … %s", from, to)
		}
	})
}
