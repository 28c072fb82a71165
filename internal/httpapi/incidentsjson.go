package httpapi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The answers of GET /v1/incidents, written as encoding/json writes them
// (the same fields, order, omissions and escapes) without reflection:
// reflection cost some 3 µs an incident, and a page holds up to 10,000.
// Where encoding/json fails — a NaN or infinite float, a time RFC 3339
// cannot write — these fail too, before writing anything.

// incidentJSONSize is about the length of one incident's JSON.
const incidentJSONSize = 900

// appendIncidentPage writes the plain answer, encoding/json's form of
// map[string]any{"incidents": list, "next": next}: a map's keys sorted.
func appendIncidentPage(b []byte, list []incidentDTO, next string) ([]byte, error) {
	for i := range list {
		if err := checkIncidentJSON(&list[i]); err != nil {
			return b, err
		}
	}
	b = append(b, `{"incidents":`...)
	if list == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIncidentDTO(b, &list[i], false)
		}
		b = append(b, ']')
	}
	b = append(b, `,"next":`...)
	b = appendQuoted(b, next)
	return append(b, '}'), nil
}

// appendIncidentCollection writes the GeoJSON answer. The Lon and Lat of
// every feature's properties must be nil (they only hide the
// incident's).
func appendIncidentCollection(b []byte, fc *incidentCollection) ([]byte, error) {
	for i := range fc.Features {
		f := &fc.Features[i]
		if f.Properties.Lon != nil || f.Properties.Lat != nil {
			return b, fmt.Errorf("feature %d: properties lon and lat must be nil", f.ID)
		}
		if !finite(f.Geometry.Coordinates[0]) || !finite(f.Geometry.Coordinates[1]) {
			return b, fmt.Errorf("feature %d: coordinates not finite", f.ID)
		}
		if err := checkIncidentJSON(&f.Properties.incidentDTO); err != nil {
			return b, err
		}
	}
	b = append(b, `{"type":`...)
	b = appendQuoted(b, fc.Type)
	b = append(b, `,"features":`...)
	if fc.Features == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range fc.Features {
			f := &fc.Features[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = appendQuoted(b, f.Type)
			b = appendJSONInt(b, `,"id":`, f.ID)
			b = append(b, `,"geometry":{"type":`...)
			b = appendQuoted(b, f.Geometry.Type)
			b = append(b, `,"coordinates":[`...)
			b = appendJSONFloat(b, f.Geometry.Coordinates[0])
			b = append(b, ',')
			b = appendJSONFloat(b, f.Geometry.Coordinates[1])
			b = append(b, `]},"properties":`...)
			b = appendIncidentDTO(b, &f.Properties.incidentDTO, true)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(fc.Links) > 0 {
		b = append(b, `,"links":[`...)
		for i, l := range fc.Links {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rel":`...)
			b = appendQuoted(b, l.Rel)
			b = append(b, `,"type":`...)
			b = appendQuoted(b, l.Type)
			b = append(b, `,"href":`...)
			b = appendQuoted(b, l.Href)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendIncidentDTO writes d, less lon and lat when geojson (the
// properties of its feature). d must pass checkIncidentJSON.
func appendIncidentDTO(b []byte, d *incidentDTO, geojson bool) []byte {
	b = appendJSONInt(b, `{"id":`, d.ID)
	if d.ExternalID != "" {
		b = append(b, `,"external_id":`...)
		b = appendQuoted(b, d.ExternalID)
	}
	b = appendCodeName(b, `,"category":`, d.Category)
	b = append(b, `,"status":`...)
	b = appendQuoted(b, d.Status)
	if !geojson {
		b = append(b, `,"lon":`...)
		b = appendJSONFloat(b, d.Lon)
		b = append(b, `,"lat":`...)
		b = appendJSONFloat(b, d.Lat)
	}
	b = append(b, `,"crs":`...)
	b = appendQuoted(b, d.CRS)
	b = append(b, `,"occurred_at":`...)
	b = appendJSONTime(b, d.OccurredAt)
	b = append(b, `,"received_at":`...)
	b = appendJSONTime(b, d.ReceivedAt)
	b = append(b, `,"source":`...)
	b = appendQuoted(b, d.Source)
	if d.Description != "" {
		b = append(b, `,"description":`...)
		b = appendQuoted(b, d.Description)
	}
	b = appendCodeName(b, `,"cell":`, d.Cell)
	b = appendCodeName(b, `,"community":`, d.Community)
	b = appendCodeName(b, `,"town":`, d.Town)
	b = appendCodeName(b, `,"department":`, d.Department)
	if d.RuleID != 0 {
		b = appendJSONInt(b, `,"rule_id":`, d.RuleID)
	}
	b = appendJSONInt(b, `,"grid_version":`, d.GridVersion)
	b = append(b, `,"deadline":`...)
	b = appendJSONTime(b, d.Deadline)
	b = append(b, `,"overdue":`...)
	b = strconv.AppendBool(b, d.Overdue)
	b = append(b, `,"h3":`...)
	b = appendQuoted(b, d.H3)
	b = appendOptTime(b, `,"registered_at":`, d.RegisteredAt)
	b = appendOptTime(b, `,"dispatched_at":`, d.DispatchedAt)
	b = appendOptTime(b, `,"handled_at":`, d.HandledAt)
	b = appendOptTime(b, `,"closed_at":`, d.ClosedAt)
	b = appendJSONInt(b, `,"reworks":`, int64(d.Reworks))
	b = appendJSONInt(b, `,"extensions":`, int64(d.Extensions))
	b = append(b, `,"supervised":`...)
	b = strconv.AppendBool(b, d.Supervised)
	b = append(b, `,"allowed_actions":`...)
	if d.Allowed == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range d.Allowed {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, a)
		}
		b = append(b, ']')
	}
	if len(d.Events) > 0 {
		b = append(b, `,"events":[`...)
		for i := range d.Events {
			e := &d.Events[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONInt(b, `{"id":`, e.ID)
			b = append(b, `,"at":`...)
			b = appendJSONTime(b, e.At)
			b = append(b, `,"action":`...)
			b = appendQuoted(b, e.Action)
			if e.From != "" {
				b = append(b, `,"from":`...)
				b = appendQuoted(b, e.From)
			}
			b = append(b, `,"to":`...)
			b = appendQuoted(b, e.To)
			b = append(b, `,"actor":`...)
			b = appendQuoted(b, e.Actor)
			if e.Note != "" {
				b = append(b, `,"note":`...)
				b = appendQuoted(b, e.Note)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendCodeName(b []byte, key string, c codeName) []byte {
	b = append(b, key...)
	b = append(b, `{"code":`...)
	b = appendQuoted(b, c.Code)
	if c.Name != "" {
		b = append(b, `,"name":`...)
		b = appendQuoted(b, c.Name)
	}
	return append(b, '}')
}

func appendOptTime(b []byte, key string, t *time.Time) []byte {
	if t == nil {
		return b
	}
	return appendJSONTime(append(b, key...), *t)
}

// checkIncidentJSON fails where encoding/json fails on d: lon or lat NaN
// or infinite, or a time whose year is outside 0…9999 or whose zone is
// 24 hours or more off UTC.
func checkIncidentJSON(d *incidentDTO) error {
	if !finite(d.Lon) || !finite(d.Lat) {
		return fmt.Errorf("incident %d: lon/lat not finite", d.ID)
	}
	ok := rfc3339OK(d.OccurredAt) && rfc3339OK(d.ReceivedAt) && rfc3339OK(d.Deadline)
	for _, t := range [...]*time.Time{d.RegisteredAt, d.DispatchedAt, d.HandledAt, d.ClosedAt} {
		ok = ok && (t == nil || rfc3339OK(*t))
	}
	for i := range d.Events {
		ok = ok && rfc3339OK(d.Events[i].At)
	}
	if !ok {
		return fmt.Errorf("incident %d: %w", d.ID, errNotRFC3339)
	}
	return nil
}

var errNotRFC3339 = errors.New("a time RFC 3339 cannot write")

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// rfc3339OK tells whether time.Time's MarshalJSON writes t.
func rfc3339OK(t time.Time) bool {
	_, off := t.Zone()
	y := t.Year()
	return 0 <= y && y <= 9999 && -24*3600 < off && off < 24*3600
}
