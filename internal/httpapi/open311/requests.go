package open311

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
)

// maxListed is the most requests GET requests answers, and ids it takes.
const maxListed = grid.MaxServiceRequestPage

// Limits of GeoReport's inputs and answers.
const (
	defaultWindow = 90 * 24 * time.Hour // GET requests spans at most this much
	maxBackdate   = 7 * 24 * time.Hour  // requested_datetime: how far an offline client may backdate
	maxMediaURL   = 2000
	maxTokenLen   = 128 // Idempotency-Key
)

// fields are the arguments POST requests takes, besides attribute[CODE]:
// GeoReport's, and the extensions crs (the system of lat and long) and
// requested_datetime (when the citizen made the request, for clients that
// queue reports offline).
var fields = []string{"api_key", "jurisdiction_id", "service_code", "lat", "long", "crs", "address_string", "address_id",
	"email", "device_id", "account_id", "first_name", "last_name", "phone", "description", "media_url", "requested_datetime"}

// form is a POST requests body (with the query string's arguments).
type form struct {
	v     url.Values
	attrs map[string][]string // attribute code → values
}

// readForm reads an application/x-www-form-urlencoded body of at most
// limit bytes, merged with the query string (clients differ in where
// they put the arguments; one given in both is refused). Every argument
// must be known, valid UTF-8, and given once unless it is a
// multivaluelist attribute.
func readForm(c echo.Context, limit int) (*form, error) {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != echo.MIMEApplicationForm {
		return nil, grid.Errorf(grid.Invalid, "Content-Type %q: POST requests takes application/x-www-form-urlencoded", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, grid.Errorf(grid.Invalid, "Content-Type %q: the body must be UTF-8", ct)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, int64(limit)+1))
	if err != nil {
		return nil, grid.Wrap(grid.Invalid, err, "body: could not be read")
	}
	if len(body) > limit {
		return nil, grid.Errorf(grid.Invalid, "body: larger than %d bytes", limit)
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, "body: not a valid form: %v", err)
	}
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, "query string: %v", err)
	}
	for k, vs := range q {
		if _, dup := v[k]; dup {
			return nil, grid.Errorf(grid.Invalid, "%s: given both in the query string and in the body", k)
		}
		v[k] = vs
	}
	f := &form{v: url.Values{}, attrs: map[string][]string{}}
	var unknown []string
	for _, k := range sortedKeys(v) {
		vs := v[k]
		if !utf8.ValidString(k) {
			return nil, grid.Errorf(grid.Invalid, "an argument's name is not valid UTF-8")
		}
		for _, x := range vs {
			if !utf8.ValidString(x) {
				return nil, grid.Errorf(grid.Invalid, "%s: not valid UTF-8", k)
			}
		}
		if code, ok := attributeKey(k); ok {
			if !attributeCodeRE.MatchString(code) {
				return nil, grid.Errorf(grid.Invalid, "%s: an attribute code is 1–64 letters, digits or _", k)
			}
			f.attrs[code] = append(f.attrs[code], vs...)
			continue
		}
		if !slices.Contains(fields, k) {
			unknown = append(unknown, k)
			continue
		}
		if len(vs) > 1 {
			return nil, grid.Errorf(grid.Invalid, "%s: given %d times", k, len(vs))
		}
		f.v[k] = vs
	}
	if len(unknown) > 0 {
		return nil, grid.Errorf(grid.Invalid, "unknown arguments %s: POST requests takes %s and attribute[CODE]",
			strings.Join(unknown, ", "), strings.Join(fields, ", "))
	}
	return f, nil
}

// attributeKey reads "attribute[CODE]" or "attribute[CODE][]".
func attributeKey(k string) (string, bool) {
	rest, ok := strings.CutPrefix(k, "attribute[")
	if !ok {
		return "", false
	}
	rest = strings.TrimSuffix(rest, "[]")
	code, ok := strings.CutSuffix(rest, "]")
	if !ok {
		return rest, true // refused by the code's check
	}
	return code, true
}

func (f *form) get(name string) string { return f.v.Get(name) }

// checkText refuses text a field may not hold: more than max characters,
// NUL and other control characters (line breaks and tabs only where the
// field runs over several lines).
func checkText(field, v string, limit int, multiline bool) error {
	if err := param.Text(field, v); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(v); n > limit {
		return param.Invalid(field, "%d characters, at most %d", n, limit)
	}
	ctl := isControl
	if multiline {
		ctl = isControlInText
	}
	if i := strings.IndexFunc(v, ctl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		return param.Invalid(field, "contains a control character (U+%04X)", r)
	}
	return nil
}

// checkMediaURL admits an absolute http or https URL with a host and no
// user information, of at most maxMediaURL characters.
func checkMediaURL(v string) error {
	if len(v) > maxMediaURL {
		return param.Invalid("media_url", "longer than %d characters", maxMediaURL)
	}
	if err := checkText("media_url", v, maxMediaURL, false); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.ContainsAny(v, " \t") {
		return param.Invalid("media_url", "%q: want an absolute http or https URL", v)
	}
	return nil
}

// contactOf reads and checks who reported; everything is optional.
func contactOf(f *form) (grid.Contact, error) {
	ct := grid.Contact{Email: f.get("email"), FirstName: f.get("first_name"), LastName: f.get("last_name"),
		Phone: f.get("phone"), DeviceID: f.get("device_id"), AccountID: f.get("account_id")}
	for _, x := range []struct {
		field, v string
		limit    int
	}{{"email", ct.Email, 254}, {"first_name", ct.FirstName, 100}, {"last_name", ct.LastName, 100},
		{"phone", ct.Phone, 32}, {"device_id", ct.DeviceID, 200}, {"account_id", ct.AccountID, 200}} {
		if err := checkText(x.field, x.v, x.limit, false); err != nil {
			return ct, err
		}
	}
	if ct.Email != "" {
		if a, err := mail.ParseAddress(ct.Email); err != nil || a.Address != ct.Email || a.Name != "" {
			return ct, param.Invalid("email", "not an email address")
		}
	}
	if ct.Phone != "" {
		digits := 0
		for _, r := range ct.Phone {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case strings.ContainsRune("+-() ", r):
			default:
				return ct, param.Invalid("phone", "want digits, spaces and + - ( ) only")
			}
		}
		if digits < 3 {
			return ct, param.Invalid("phone", "not a phone number")
		}
	}
	return ct, nil
}

// idempotencyToken reads the Idempotency-Key header (a token or a quoted
// string of visible ASCII): a retry of a POST with the same token and key
// answers the first request instead of making a second one.
func idempotencyToken(h string) (string, error) {
	v := strings.TrimSpace(h)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if v == "" || len(v) > maxTokenLen {
		return "", grid.Errorf(grid.Invalid, "Idempotency-Key: want 1–%d visible ASCII characters", maxTokenLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return "", grid.Errorf(grid.Invalid, "Idempotency-Key: want 1–%d visible ASCII characters", maxTokenLen)
		}
	}
	return v, nil
}

// location reads lat and long (WGS84, or the system crs names) into a
// WGS84 point. An address without a point cannot be placed: there is no
// geocoder.
func location(f *form) (orb.Point, error) {
	latS, lonS := f.get("lat"), f.get("long")
	if latS == "" && lonS == "" {
		if f.get("address_string") != "" || f.get("address_id") != "" {
			return orb.Point{}, grid.Errorf(grid.Invalid, "lat and long are required: this endpoint has no geocoder, so address_string and address_id cannot place a request; send the point as lat and long (WGS84, or GCJ-02/BD-09 with crs=gcj02|bd09) and the address beside it")
		}
		return orb.Point{}, grid.Errorf(grid.Invalid, "lat and long are required (WGS84, or GCJ-02/BD-09 with crs=gcj02|bd09)")
	}
	if latS == "" || lonS == "" {
		return orb.Point{}, grid.Errorf(grid.Invalid, "lat and long: send both")
	}
	lat, err := strconv.ParseFloat(latS, 64)
	if err != nil {
		return orb.Point{}, param.Invalid("lat", "%q is not a number", latS)
	}
	lon, err := strconv.ParseFloat(lonS, 64)
	if err != nil {
		return orb.Point{}, param.Invalid("long", "%q is not a number", lonS)
	}
	if err := param.CheckPoint("lat/long", lon, lat); err != nil {
		return orb.Point{}, err
	}
	crs, err := param.CRS(f.get("crs"))
	if err != nil {
		return orb.Point{}, err
	}
	lon, lat = coord.ToWGS84(crs, lon, lat)
	return orb.Point{lon, lat}, nil
}

// notice is what a request's answer says will happen to it: accepted, and
// who handles it.
func notice(department string) string {
	if department == "" {
		return "已受理"
	}
	return "已受理，由 " + department + " 处置"
}

// create: POST requests.{format} — a report made through the one
// assignment path (intake), stored with its side data in one statement.
// The answer names the request and the department that handles it.
func (h *handlers) create(c echo.Context) error {
	f, err := parseFormat(c.Param("format"))
	if err != nil {
		return err
	}
	in, err := readForm(c, h.d.MaxBody)
	if err != nil {
		return err
	}
	p, err := h.caller(c, in.get("api_key"))
	if err != nil {
		return err
	}
	if err := admit(p, grid.Report); err != nil {
		return err
	}
	if err := checkJurisdiction(in.get("jurisdiction_id")); err != nil {
		return err
	}
	if h.d.Requests == nil {
		return grid.Errorf(grid.Unavailable, "service requests are not configured")
	}
	a, err := h.d.Assigner()
	if err != nil {
		return err
	}
	snap := a.Snapshot()
	code := in.get("service_code")
	if code == "" {
		return grid.Errorf(grid.Invalid, "service_code is required: services.json lists the services")
	}
	if _, ok := snap.Category(code); !ok {
		return unknownService(code)
	}
	now := time.Now()
	r, sr, err := newRequest(in, code, now)
	if err != nil {
		return err
	}
	sr.KeyID = p.KeyID
	if hv := c.Request().Header.Get("Idempotency-Key"); hv != "" {
		tok, err := idempotencyToken(hv)
		if err != nil {
			return err
		}
		// Namespaced by the key, so two apps' tokens never meet.
		r.ExternalID = "open311:" + strconv.FormatInt(p.KeyID, 10) + ":" + tok
	}
	var scratch intake.Scratch
	x, err := a.Assign(&r, now, &scratch)
	if grid.KindOf(err) == grid.NotFound {
		return grid.Wrap(grid.Invalid, err, "lat/long: (%v, %v) lies outside the area jurisdiction %s manages", r.Point[1], r.Point[0], grid.CountyCode)
	}
	if err != nil {
		return err
	}
	if p.Town != "" && x.TownCode != p.Town {
		return grid.Errorf(grid.Forbidden, "the point lies in town %s, outside this key's town %s", x.TownCode, p.Town)
	}
	ctx := c.Request().Context()
	if h.d.Audited != nil {
		ctx = h.d.Audited(c, p)
	}
	if _, err := h.d.Requests.CreateServiceRequest(ctx, &x, &sr, fmt.Sprintf("open311 (key %d)", p.KeyID)); err != nil {
		return err
	}
	out := createdWire{ID: strconv.FormatInt(x.ID, 10), Notice: text(notice(departmentName(snap, x.Department)))}
	return write(c, f, http.StatusOK, []createdWire{out}, createdDoc{Requests: []createdWire{out}})
}

// newRequest reads a POST requests form for the service code into the
// report and its side data, with every check of the form's content: the
// point, the attribute answers, the texts' lengths and characters, the
// media URL, the contact and requested_datetime (within the last 7 days
// of now). Errors are Invalid and name the argument.
func newRequest(in *form, code string, now time.Time) (intake.Report, grid.ServiceRequest, error) {
	var r intake.Report
	var sr grid.ServiceRequest
	pt, err := location(in)
	if err != nil {
		return r, sr, err
	}
	answers, err := checkAnswers(code, Definition(code), in.attrs)
	if err != nil {
		return r, sr, err
	}
	desc := in.get("description")
	if err := checkText("description", desc, intake.MaxDescription, true); err != nil {
		return r, sr, err
	}
	sr = grid.ServiceRequest{Address: in.get("address_string"), AddressID: in.get("address_id"),
		MediaURL: in.get("media_url"), Attributes: answers}
	if err := checkText("address_string", sr.Address, 500, false); err != nil {
		return r, sr, err
	}
	if err := checkText("address_id", sr.AddressID, 200, false); err != nil {
		return r, sr, err
	}
	if sr.MediaURL != "" {
		if err := checkMediaURL(sr.MediaURL); err != nil {
			return r, sr, err
		}
	}
	if sr.Contact, err = contactOf(in); err != nil {
		return r, sr, err
	}
	occurred := now
	if v := in.get("requested_datetime"); v != "" {
		if occurred, err = param.Time("requested_datetime", v); err != nil {
			return r, sr, err
		}
		if occurred.After(now.Add(5*time.Minute)) || occurred.Before(now.Add(-maxBackdate)) {
			return r, sr, param.Invalid("requested_datetime", "%s: want a time within the last %d days, not in the future", v, int(maxBackdate/(24*time.Hour)))
		}
	}
	r = intake.Report{Category: code, Point: pt, OccurredAt: occurred, Source: grid.SourceApp, Description: desc}
	return r, sr, nil
}

func departmentName(snap *locate.Snapshot, code string) string {
	if d, ok := snap.Department(code); ok {
		return d.Name
	}
	return ""
}

// access narrows a filter to what the caller may read: a key that may not
// read incidents the requests it created, a town-scoped key its town.
func access(p grid.Principal, flt *grid.ServiceRequestFilter) {
	if !p.Can(grid.ReadIncidents) {
		flt.KeyID = p.KeyID
	}
	flt.Town = p.Town
}

// reader is the caller of a read, admitted.
func (h *handlers) reader(c echo.Context, key string) (grid.Principal, error) {
	p, err := h.caller(c, key)
	if err != nil {
		return p, err
	}
	if p.Public() {
		return p, grid.Errorf(grid.Forbidden, "an api_key is required to read service requests: their points and descriptions are not public in this jurisdiction (a citizens' app key reads the requests it created, a staff key every request)")
	}
	return p, admit(p, grid.ReadOwnReports)
}

// list: GET requests.{format} — newest first, at most 1,000, within 90
// days (the last 90 by default).
func (h *handlers) list(c echo.Context) error {
	f, err := parseFormat(c.Param("format"))
	if err != nil {
		return err
	}
	q, err := url.ParseQuery(c.Request().URL.RawQuery)
	if err != nil {
		return grid.Errorf(grid.Invalid, "query string: %v", err)
	}
	arg := func(name string) string { return strings.Join(q[name], ",") } // "can be declared multiple times, comma delimited"
	p, err := h.reader(c, q.Get("api_key"))
	if err != nil {
		return err
	}
	if err := checkJurisdiction(q.Get("jurisdiction_id")); err != nil {
		return err
	}
	crs, err := param.CRS(q.Get("crs"))
	if err != nil {
		return err
	}
	snap, err := h.snapshot()
	if err != nil {
		return err
	}
	flt := grid.ServiceRequestFilter{Limit: maxListed}
	if ids := arg("service_request_id"); ids != "" {
		// The id list overrides every other argument.
		for _, s := range strings.Split(ids, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || id <= 0 {
				return param.Invalid("service_request_id", "%q is not a service request id", s)
			}
			flt.IDs = append(flt.IDs, id)
		}
		if len(flt.IDs) > maxListed {
			return param.Invalid("service_request_id", "%d ids, at most %d", len(flt.IDs), maxListed)
		}
	} else {
		if codes := arg("service_code"); codes != "" {
			for _, s := range strings.Split(codes, ",") {
				s = strings.TrimSpace(s)
				if _, ok := snap.Category(s); !ok {
					return param.Invalid("service_code", "%q is not a service of this jurisdiction (services.json lists them)", s)
				}
				flt.Categories = append(flt.Categories, s)
			}
		}
		if st := arg("status"); st != "" {
			for _, s := range strings.Split(st, ",") {
				states, ok := lifecycleStates(strings.TrimSpace(s))
				if !ok {
					return param.Invalid("status", "%q: want open or closed", s)
				}
				flt.Statuses = append(flt.Statuses, states...)
			}
		}
		if flt.From, flt.To, err = window(q.Get("start_date"), q.Get("end_date"), time.Now()); err != nil {
			return err
		}
	}
	access(p, &flt)
	if h.d.Requests == nil {
		return grid.Errorf(grid.Unavailable, "service requests are not configured")
	}
	recs, err := h.d.Requests.FindServiceRequests(c.Request().Context(), flt)
	if err != nil {
		return err
	}
	out := make([]requestWire, len(recs))
	for i := range recs {
		out[i] = requestOf(snap, &recs[i], crs)
	}
	return write(c, f, http.StatusOK, out, requestsDoc{Requests: out})
}

// request: GET requests/{service_request_id}.{format} — one request, if
// the caller may read it (else 404, as for one that does not exist).
func (h *handlers) request(c echo.Context) error {
	idS, f, err := splitFormat(c.Param("service_request_id"))
	if err != nil {
		return err
	}
	p, err := h.reader(c, c.QueryParam("api_key"))
	if err != nil {
		return err
	}
	if err := checkJurisdiction(c.QueryParam("jurisdiction_id")); err != nil {
		return err
	}
	crs, err := param.CRS(c.QueryParam("crs"))
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(idS, 10, 64)
	if err != nil || id <= 0 {
		return grid.Errorf(grid.NotFound, "service_request_id %q was not found", idS)
	}
	snap, err := h.snapshot()
	if err != nil {
		return err
	}
	flt := grid.ServiceRequestFilter{IDs: []int64{id}, Limit: 1}
	access(p, &flt)
	if h.d.Requests == nil {
		return grid.Errorf(grid.Unavailable, "service requests are not configured")
	}
	recs, err := h.d.Requests.FindServiceRequests(c.Request().Context(), flt)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return grid.Errorf(grid.NotFound, "service_request_id %d was not found", id)
	}
	out := []requestWire{requestOf(snap, &recs[0], crs)}
	return write(c, f, http.StatusOK, out, requestsDoc{Requests: out})
}

// lifecycleStates maps GeoReport's status onto the lifecycle: open is every
// state that still needs work (grid.Open: collected, registered,
// dispatched, handled, parked), closed the others (closed, evaluated, and
// cancelled — a report not taken up).
func lifecycleStates(status string) ([]string, bool) {
	switch status {
	case "open":
		return grid.OpenStatuses(), true
	case "closed":
		return slices.DeleteFunc(grid.Statuses(), grid.Open), true
	}
	return nil, false
}

func statusOfIncident(status string) string {
	if grid.Open(status) {
		return "open"
	}
	return "closed"
}

// window reads start_date and end_date (w3 format with a time zone) into
// a closed window of at most 90 days: the last 90 days by default, 90 days
// from the start or up to the end when one is given.
func window(startS, endS string, now time.Time) (from, to time.Time, err error) {
	read := func(name, v string) (time.Time, error) {
		// A "+" sent unescaped in a query string arrives as a space.
		if i := strings.LastIndexByte(v, ' '); i > 0 && !strings.ContainsRune(v[i:], 'Z') {
			v = v[:i] + "+" + v[i+1:]
		}
		return param.Time(name, v)
	}
	if startS != "" {
		if from, err = read("start_date", startS); err != nil {
			return from, to, err
		}
	}
	if endS != "" {
		if to, err = read("end_date", endS); err != nil {
			return from, to, err
		}
	}
	switch {
	case from.IsZero() && to.IsZero():
		return now.Add(-defaultWindow), now, nil
	case to.IsZero():
		return from, from.Add(defaultWindow), nil
	case from.IsZero():
		return to.Add(-defaultWindow), to, nil
	case to.Before(from):
		return from, to, param.Invalid("end_date", "%s is before start_date %s", endS, startS)
	case to.Sub(from) > defaultWindow:
		return from, to, param.Invalid("end_date", "the window from start_date to end_date may span at most 90 days")
	}
	return from, to, nil
}

// w3 writes a time in the w3 format GeoReport uses, in China time.
func w3(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(grid.ChinaTime()).Format(time.RFC3339)
}

// requestOf is a stored request as GeoReport shows it. Nothing of who
// reported is in it: the store does not read it back.
func requestOf(snap *locate.Snapshot, rec *grid.ServiceRequestRecord, crs coord.CRS) requestWire {
	x := &rec.Incident
	lon, lat := coord.FromWGS84(crs, x.Point[0], x.Point[1])
	w := requestWire{ID: strconv.FormatInt(x.ID, 10), Status: statusOfIncident(x.Status), StatusNotes: text(rec.StatusNote),
		ServiceCode: x.Category, Description: text(x.Description), RequestedDatetime: w3(x.OccurredAt),
		UpdatedDatetime: w3(rec.UpdatedAt), ExpectedDatetime: text(w3(x.Deadline)), Lat: lat, Long: lon}
	if k, ok := snap.Category(x.Category); ok {
		w.ServiceName = k.Name
	}
	if d := departmentName(snap, x.Department); d != "" {
		w.AgencyResponsible, w.ServiceNotice = text(d), text(notice(d))
	}
	if r := rec.Request; r != nil {
		w.Address, w.AddressID, w.MediaURL = text(r.Address), text(r.AddressID), text(r.MediaURL)
	}
	if w.Address == "" {
		w.Address = text(placeOf(snap, x))
	}
	return w
}

// placeOf describes where an incident lies, most specific first: its
// community and town, as named in the snapshot in force.
func placeOf(snap *locate.Snapshot, x *grid.Incident) string {
	var parts []string
	if m := snap.Community(x.CommunityCode); m != nil {
		parts = append(parts, m.Name)
	}
	if t := snap.Town(x.TownCode); t != nil {
		parts = append(parts, t.Name)
	}
	return strings.Join(parts, "，")
}
