package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/featcache"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// Limits of the incident endpoints' bodies.
const (
	MaxBulkLines    = 250_000
	maxBulkBody     = 128 << 20
	maxLineBytes    = 64 << 10
	maxIncidentBody = 64 << 10 // one incident or one lifecycle action
)

func (s *Server) routesIncidents(e *echo.Echo) {
	e.POST("/v1/incidents", s.createIncident)
	e.POST("/v1/incidents/bulk", s.bulkIncidents)
	e.GET("/v1/incidents", s.findIncidents)
	e.GET("/v1/incidents/:id", s.getIncident)
	e.POST("/v1/incidents/:id/events", s.incidentEvent)
}

// incidentIn is the body of POST /v1/incidents and one line of the bulk form.
type incidentIn struct {
	Category    string   `json:"category"`
	Lon         *float64 `json:"lon"`
	Lat         *float64 `json:"lat"`
	CRS         string   `json:"crs"`
	OccurredAt  string   `json:"occurred_at"`
	Source      string   `json:"source"`
	Description string   `json:"description"`
	ExternalID  string   `json:"external_id"`
}

// report validates the wire form and converts the point to WGS84.
func (in *incidentIn) report() (intake.Report, error) {
	var r intake.Report
	if in.Lon == nil {
		return r, param.Invalid("lon", "required")
	}
	if in.Lat == nil {
		return r, param.Invalid("lat", "required")
	}
	if err := param.CheckPoint("lon/lat", *in.Lon, *in.Lat); err != nil {
		return r, err
	}
	crs, err := param.CRS(in.CRS)
	if err != nil {
		return r, err
	}
	if in.OccurredAt == "" {
		return r, param.Invalid("occurred_at", "required (RFC 3339)")
	}
	t, err := param.Time("occurred_at", in.OccurredAt)
	if err != nil {
		return r, err
	}
	if in.Source == "" {
		in.Source = "other"
	}
	if grid.ReservedExternalID(in.ExternalID) {
		return r, param.Invalid("external_id", "%q: the prefixes town: and open311: are the service's own", in.ExternalID)
	}
	lon, lat := coord.ToWGS84(crs, *in.Lon, *in.Lat)
	r = intake.Report{Category: in.Category, Point: orb.Point{lon, lat}, OccurredAt: t, Source: in.Source,
		Description: in.Description, ExternalID: in.ExternalID}
	return r, intake.Check(&r)
}

// createIncident: POST /v1/incidents → 201, or 200 with the first incident
// when the external id was seen before.
func (s *Server) createIncident(c echo.Context) error {
	if s.cfg.Incidents == nil {
		return grid.Errorf(grid.Unavailable, "incidents are not configured")
	}
	if err := requireBody(c, mimeJSON); err != nil {
		return err
	}
	body, err := readBody(c, maxIncidentBody)
	if err != nil {
		return err
	}
	var in incidentIn
	if err := param.DecodeStrict(body, &in, "not valid JSON"); err != nil {
		return err
	}
	r, err := in.report()
	if err != nil {
		return err
	}
	p := principal(c)
	r.ExternalID = p.ExternalIDOf(r.ExternalID)
	v, err := s.view()
	if err != nil {
		return err
	}
	var scratch intake.Scratch
	x, err := v.assign.Assign(&r, time.Now(), &scratch)
	if err != nil {
		return err
	}
	if err := outsideTown(p.Town, x.TownCode); err != nil {
		return err
	}
	created, err := s.cfg.Incidents.CreateIncident(c.Request().Context(), &x, actorOf(c))
	if err != nil {
		return err
	}
	if !inScope(c, x.TownCode) {
		// A town's external ids are its own (ExternalIDOf): this cannot
		// be another town's incident, so say nothing of it.
		return grid.Errorf(grid.Internal, "incident %d of town %s answered a retry of a key of town %s", x.ID, x.TownCode, p.Town)
	}
	crs, _ := param.CRS(in.CRS)
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	} else {
		c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/v1/incidents/%d", x.ID))
	}
	return c.JSON(status, s.incidentDTO(principal(c), &x, crs, nil))
}

// actorOf names who acts: the X-Actor header, else "api".
func actorOf(c echo.Context) string {
	if a := strings.TrimSpace(c.Request().Header.Get("X-Actor")); a != "" && len(a) <= 100 {
		return a
	}
	return "api"
}

type eventDTO struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Actor  string    `json:"actor"`
	Note   string    `json:"note,omitempty"`
}

type incidentDTO struct {
	ID           int64      `json:"id"`
	ExternalID   string     `json:"external_id,omitempty"`
	Category     codeName   `json:"category"`
	Status       string     `json:"status"`
	Lon          float64    `json:"lon"`
	Lat          float64    `json:"lat"`
	CRS          string     `json:"crs"`
	OccurredAt   time.Time  `json:"occurred_at"`
	ReceivedAt   time.Time  `json:"received_at"`
	Source       string     `json:"source"`
	Description  string     `json:"description,omitempty"`
	Cell         codeName   `json:"cell"`
	Community    codeName   `json:"community"`
	Town         codeName   `json:"town"`
	Department   codeName   `json:"department"`
	RuleID       int64      `json:"rule_id,omitempty"`
	GridVersion  int64      `json:"grid_version"`
	Deadline     time.Time  `json:"deadline"`
	Overdue      bool       `json:"overdue"`
	H3           string     `json:"h3"`
	RegisteredAt *time.Time `json:"registered_at,omitempty"`
	DispatchedAt *time.Time `json:"dispatched_at,omitempty"`
	HandledAt    *time.Time `json:"handled_at,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	Reworks      int        `json:"reworks"`
	Extensions   int        `json:"extensions"`
	Supervised   bool       `json:"supervised"`
	Allowed      []string   `json:"allowed_actions"`
	Events       []eventDTO `json:"events,omitempty"`
}

func (s *Server) incidentDTO(who grid.Principal, x *grid.Incident, crs coord.CRS, evs []grid.Event) incidentDTO {
	lon, lat := coord.FromWGS84(crs, x.Point[0], x.Point[1])
	d := incidentDTO{ID: x.ID, ExternalID: who.ShownExternalID(x.ExternalID), Category: codeName{Code: x.Category}, Status: x.Status,
		Lon: lon, Lat: lat, CRS: crs.String(), OccurredAt: x.OccurredAt, ReceivedAt: x.ReceivedAt, Source: x.Source,
		Description: x.Description, Cell: codeName{Code: x.CellCode}, Community: codeName{Code: x.CommunityCode},
		Town: codeName{Code: x.TownCode}, Department: codeName{Code: x.Department}, RuleID: x.RuleID,
		GridVersion: x.GridVersion, Deadline: x.Deadline, Overdue: grid.Overdue(x.Status, x.Deadline, time.Now()),
		H3: h3.Cell(x.H3).String(), RegisteredAt: x.RegisteredAt, DispatchedAt: x.DispatchedAt, HandledAt: x.HandledAt,
		ClosedAt: x.ClosedAt, Reworks: x.Reworks, Extensions: x.Extensions, Supervised: x.Supervised,
		Allowed: []string{}}
	if who.Can(grid.WriteIncidents) { // the actions this key may take now
		d.Allowed = append(d.Allowed, grid.AllowedActions(x.Status)...)
	}
	if snap := s.cfg.Catalog.Current(); snap != nil {
		if k, ok := snap.Category(x.Category); ok {
			d.Category.Name = k.Name
		}
		if dep, ok := snap.Department(x.Department); ok {
			d.Department.Name = dep.Name
		}
		if snap.Version.ID == x.GridVersion {
			if c, ok := snap.CellByCode(x.CellCode); ok {
				d.Cell.Name = c.Name
			}
			if m := snap.Community(x.CommunityCode); m != nil {
				d.Community.Name = m.Name
			}
			if t := snap.Town(x.TownCode); t != nil {
				d.Town.Name = t.Name
			}
		}
	}
	for _, e := range evs {
		d.Events = append(d.Events, eventDTO{ID: e.ID, At: e.At, Action: e.Action, From: e.From, To: e.To, Actor: e.Actor, Note: e.Note})
	}
	return d
}

func parseID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, param.Invalid("id", "%q is not an incident id", c.Param("id"))
	}
	return id, nil
}

// getIncident: GET /v1/incidents/{id}?crs= with its trail.
func (s *Server) getIncident(c echo.Context) error {
	if s.cfg.Incidents == nil {
		return grid.Errorf(grid.Unavailable, "incidents are not configured")
	}
	id, err := parseID(c)
	if err != nil {
		return err
	}
	crs, err := param.CRS(c.QueryParam("crs"))
	if err != nil {
		return err
	}
	x, evs, err := s.cfg.Incidents.Incident(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if !inScope(c, x.TownCode) {
		return grid.Errorf(grid.NotFound, "no incident %d", id)
	}
	return c.JSON(http.StatusOK, s.incidentDTO(principal(c), &x, crs, evs))
}

type eventIn struct {
	Action string `json:"action"`
	Actor  string `json:"actor"`
	Note   string `json:"note"`
}

// incidentEvent: POST /v1/incidents/{id}/events — one lifecycle action.
func (s *Server) incidentEvent(c echo.Context) error {
	if s.cfg.Incidents == nil {
		return grid.Errorf(grid.Unavailable, "incidents are not configured")
	}
	id, err := parseID(c)
	if err != nil {
		return err
	}
	if err := requireBody(c, mimeJSON); err != nil {
		return err
	}
	body, err := readBody(c, maxIncidentBody)
	if err != nil {
		return err
	}
	var in eventIn
	if err := param.DecodeStrict(body, &in, "not valid JSON"); err != nil {
		return err
	}
	if !slices.Contains(grid.Actions(), in.Action) {
		return param.Invalid("action", "%q: want one of %s", in.Action, strings.Join(grid.Actions(), ", "))
	}
	if len(in.Note) > 4000 || len(in.Actor) > 100 {
		return param.Invalid("note", "note ≤ 4000 bytes, actor ≤ 100 bytes")
	}
	if err := param.Text("actor", in.Actor); err != nil {
		return err
	}
	if err := param.Text("note", in.Note); err != nil {
		return err
	}
	if in.Actor == "" {
		in.Actor = actorOf(c)
	}
	if principal(c).Town != "" { // a town's key acts on its own town's incidents only
		x, _, err := s.cfg.Incidents.Incident(c.Request().Context(), id)
		if err != nil {
			return err
		}
		if !inScope(c, x.TownCode) {
			return grid.Errorf(grid.NotFound, "no incident %d", id)
		}
	}
	x, ev, err := s.cfg.Incidents.Transition(c.Request().Context(), id, in.Action, in.Actor, in.Note, time.Now(), s.views.cal)
	if err != nil {
		return err
	}
	d := s.incidentDTO(principal(c), &x, coord.WGS84, []grid.Event{ev})
	return c.JSON(http.StatusOK, d)
}

// incidentProps is an incident's GeoJSON properties: its JSON form less
// lon and lat, which the geometry carries (the shallower fields, always
// nil, hide the embedded ones). Typed structs marshal in one pass; the
// map of a generic GeoJSON feature cost a marshal, an unmarshal and a
// sorted marshal per incident.
type incidentProps struct {
	incidentDTO
	Lon *struct{} `json:"lon,omitempty"`
	Lat *struct{} `json:"lat,omitempty"`
}

type incidentFeature struct {
	Type       string        `json:"type"`
	ID         int64         `json:"id"`
	Geometry   pointGeometry `json:"geometry"`
	Properties incidentProps `json:"properties"`
}

type incidentCollection struct {
	Type     string            `json:"type"`
	Features []incidentFeature `json:"features"`
	Links    []link            `json:"links,omitempty"`
}

// findIncidents: GET /v1/incidents with filters and keyset pagination.
func (s *Server) findIncidents(c echo.Context) error {
	if s.cfg.Incidents == nil {
		return grid.Errorf(grid.Unavailable, "incidents are not configured")
	}
	q := c.QueryParams()
	// Answers are cached under the raw query, the caller's town scope, the
	// grid version (names come from it) and the format the Accept header
	// picks: an answer stored was a 200 for exactly this. overdue=true
	// selects by the clock, so it is never cached.
	var key string
	var ticket featcache.Ticket
	cache := s.cfg.Cache
	if cache != nil && !q.Has("overdue") {
		if snap := s.cfg.Catalog.Current(); snap != nil {
			key = "v1\x00" + principal(c).Town + "\x00" + strconv.FormatInt(snap.Version.ID, 10) + "\x00" +
				strconv.FormatBool(strings.Contains(c.Request().Header.Get(echo.HeaderAccept), mimeGeoJSON)) + "\x00" + c.Request().URL.RawQuery
			if a, ok := cache.Get(key); ok {
				return c.Blob(http.StatusOK, a.ContentType, a.Body)
			}
			ticket = cache.Begin()
		}
	}
	out, err := parseOutput(c)
	if err != nil {
		return err
	}
	crs := out.crs
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	var f grid.IncidentFilter
	if f.Categories, err = categoryFilter(snap, q.Get("category"), q.Get("theme")); err != nil {
		return err
	}
	if f.Categories != nil && len(f.Categories) == 0 {
		f.Categories = []string{"-"} // the category is not of the theme: nothing matches
	}
	if f.Statuses, err = statusFilter(q.Get("status")); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if t := q.Get(p.name); t != "" {
			if *p.dst, err = param.Time(p.name, t); err != nil {
				return err
			}
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return param.Invalid("from", "must be before to")
	}
	if t := q.Get("town"); t != "" {
		if !grid.ValidTownCode(t) {
			return param.Invalid("town", "%q: want a 9-digit town code", t)
		}
		f.Town = t
	}
	if p := principal(c); p.Town != "" {
		if f.Town != "" && f.Town != p.Town {
			return grid.Errorf(grid.Forbidden, "town %s: this key sees town %s only", f.Town, p.Town)
		}
		f.Town = p.Town
	}
	if d := q.Get("department"); d != "" {
		if _, ok := snap.Department(d); !ok {
			return param.Invalid("department", "%q is not a known department", d)
		}
		f.Department = d
	}
	if cell := q.Get("cell"); cell != "" {
		if !grid.ValidCellCode(cell) {
			return param.Invalid("cell", "%q is not a cell code", cell)
		}
		f.Cells = []string{cell}
	}
	if bb := q.Get("bbox"); bb != "" {
		in, err := param.BBox(bb)
		if err != nil {
			return err
		}
		b := param.WGS84Envelope(crs, *in)
		f.BBox = &b
		var cells []string
		snap.CellsMeeting(orb.Bound{Min: orb.Point{b[0], b[1]}, Max: orb.Point{b[2], b[3]}}, func(x *grid.Cell) bool {
			if f.Cells == nil || slices.Contains(f.Cells, x.Code) {
				cells = append(cells, x.Code)
			}
			return true
		})
		if cells == nil {
			cells = []string{}
		}
		f.Cells = cells
	}
	if o := q.Get("overdue"); o != "" {
		if f.Overdue, err = strconv.ParseBool(o); err != nil {
			return param.Invalid("overdue", "%q: want true or false", o)
		}
	}
	if l := q.Get("limit"); l != "" {
		if f.Limit, err = strconv.Atoi(l); err != nil || f.Limit < 1 || f.Limit > grid.MaxIncidentPage {
			return param.Invalid("limit", "%q: want 1…%d", l, grid.MaxIncidentPage)
		}
	} else {
		f.Limit = 100
	}
	if a := q.Get("after"); a != "" {
		if f.After, err = strconv.ParseInt(a, 10, 64); err != nil || f.After <= 0 {
			return param.Invalid("after", "%q is not a cursor", a)
		}
	}
	xs, err := s.cfg.Incidents.FindIncidents(c.Request().Context(), f)
	if err != nil {
		return err
	}
	next := ""
	if len(xs) == f.Limit {
		nq := c.Request().URL.Query()
		nq.Set("after", strconv.FormatInt(xs[len(xs)-1].ID, 10))
		next = "/v1/incidents?" + nq.Encode()
	}
	var body []byte
	ct := mimeGeoJSON
	if out.geojson {
		fc := incidentCollection{Type: "FeatureCollection", Features: make([]incidentFeature, len(xs))}
		for i := range xs {
			d := s.incidentDTO(principal(c), &xs[i], crs, nil)
			fc.Features[i] = incidentFeature{Type: "Feature", ID: d.ID,
				Geometry: pointGeometry{Type: "Point", Coordinates: [2]float64{d.Lon, d.Lat}}, Properties: incidentProps{incidentDTO: d}}
		}
		if next != "" {
			fc.Links = []link{{Rel: "next", Type: mimeGeoJSON, Href: next}}
		}
		if body, err = appendIncidentCollection(make([]byte, 0, 128+incidentJSONSize*len(xs)), &fc); err != nil {
			return err
		}
	} else {
		list := make([]incidentDTO, 0, len(xs))
		for i := range xs {
			list = append(list, s.incidentDTO(principal(c), &xs[i], crs, nil))
		}
		if body, err = appendIncidentPage(make([]byte, 0, 128+incidentJSONSize*len(xs)), list, next); err != nil {
			return err
		}
		ct = echo.MIMEApplicationJSON
	}
	if key != "" {
		var area *orb.Bound
		if f.BBox != nil {
			area = &orb.Bound{Min: orb.Point{f.BBox[0], f.BBox[1]}, Max: orb.Point{f.BBox[2], f.BBox[3]}}
		}
		cache.Put(ticket, key, area, featcache.Expiry(xs, time.Now()), featcache.Answer{Body: body, ContentType: ct})
	}
	return c.Blob(http.StatusOK, ct, body)
}
