package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// Limits of NearestFacilities: at most MaxNearestK facilities, at most
// MaxNearestMeters away.
const (
	MaxNearestK      = grid.MaxNearestK
	MaxNearestMeters = grid.MaxNearestMeters
)

// Facilities lists facilities in code order: of one kind ("" any) and of
// the kinds listed (nil any), with
// points in a WGS84 box (edges included), with codes after f.After, at most
// f.Limit of them (0: no limit). Invalid for an unknown kind, a negative
// limit or a malformed box.
func (db *DB) Facilities(ctx context.Context, f grid.FacilityFilter) (out []grid.Facility, err error) {
	defer wrap(&err, "Facilities(kind %q, bbox %v, limit %d, after %q)", f.Kind, f.BBox, f.Limit, f.After)
	for _, k := range append([]string{f.Kind}, f.Kinds...) {
		if err := checkKind(k); err != nil {
			return nil, err
		}
	}
	if f.Limit < 0 {
		return nil, grid.Errorf(grid.Invalid, "limit %d is negative", f.Limit)
	}
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Kind != "" {
		conds = append(conds, "kind = "+arg(f.Kind))
	}
	if f.Kinds != nil {
		conds = append(conds, "kind = ANY("+arg(f.Kinds)+")")
	}
	if f.BBox != nil {
		b := *f.BBox
		if err := checkBBox(b); err != nil {
			return nil, err
		}
		// Not a bare &&: it compares boxes rounded outward to float4, about
		// a metre loose. ST_Intersects uses the index and is exact, edges in.
		conds = append(conds, fmt.Sprintf("ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
			arg(b[0]), arg(b[1]), arg(b[2]), arg(b[3])))
	}
	if f.After != "" {
		conds = append(conds, "code > "+arg(f.After))
	}
	q := `SELECT code, kind, name, ST_X(geom), ST_Y(geom), attrs FROM facility`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY code"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, db.classify(err)
	}
	out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (grid.Facility, error) {
		var x grid.Facility
		var attrs []byte
		if err := r.Scan(&x.Code, &x.Kind, &x.Name, &x.Point[0], &x.Point[1], &attrs); err != nil {
			return x, err
		}
		x.Attrs, err = decodeAttrs(attrs)
		return x, err
	})
	if err != nil {
		return nil, db.classify(err)
	}
	return out, nil
}

// nearestSQL finds the k facilities nearest to ($1, $2) by geodesic distance
// on the WGS84 spheroid, within $3 metres, in two steps in one statement:
//
//  1. r: the first k by the GiST index's KNN order (planar, in degrees) are k
//     facilities, so the true k-th nearest is no farther than the largest
//     geodesic distance among them (plus 1 mm against rounding; never beyond
//     max_m). The planar order alone is not the geodesic one: a degree of
//     longitude is shorter than one of latitude.
//  2. Every facility within r is a candidate: a box in degrees containing the
//     geodesic disc of radius r lets the GiST index find them, and the exact
//     distance ranks and cuts them. Candidates number about k.
//
// The box holds because along any path of length ≤ r from the centre
// ds ≥ M dφ ≥ 110,574 m per degree of latitude and ds ≥ N cos φ dλ ≥
// 111,319 m · cos φmax per degree of longitude (φmax: the largest |latitude|
// the disc reaches); the constants are rounded down for a margin. A disc that
// reaches a pole or crosses the antimeridian gets the whole world.
// {kind} and {andKind} are empty or filters on kind = $5; two fixed variants
// keep each plan sharp with cached statements.
const nearestSQL = `
WITH r AS (
  SELECT least(max(ST_Distance(k.geom::geography, ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326)::geography)) + 0.001, $3::float8) AS m
  FROM (SELECT geom FROM facility {kind}
        ORDER BY geom <-> ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326) LIMIT $4) k
), d AS (
  SELECT m, m / 110000.0 AS dlat,
    m / (111000.0 * greatest(cos(radians(least(abs($2::float8) + m / 110000.0, 90))), 1e-9)) AS dlon
  FROM r
), e AS (
  SELECT m, CASE WHEN $1::float8 - dlon < -180 OR $1::float8 + dlon > 180 OR abs($2::float8) + dlat >= 90
    THEN ST_MakeEnvelope(-180, -90, 180, 90, 4326)
    ELSE ST_MakeEnvelope($1::float8 - dlon, $2::float8 - dlat, $1::float8 + dlon, $2::float8 + dlat, 4326) END AS box
  FROM d
)
SELECT f.code, f.kind, f.name, ST_X(f.geom), ST_Y(f.geom), f.attrs, g.m
FROM e, facility f
CROSS JOIN LATERAL (SELECT ST_Distance(f.geom::geography, ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326)::geography) AS m) g
WHERE f.geom && e.box AND g.m <= e.m {andKind}
ORDER BY g.m, f.code
LIMIT $4`

var (
	nearestAnyKind = strings.NewReplacer("{kind}", "", "{andKind}", "").Replace(nearestSQL)
	nearestOfKind  = strings.NewReplacer("{kind}", "WHERE kind = $5", "{andKind}", "AND f.kind = $5").Replace(nearestSQL)
)

// NearestFacilities returns up to k facilities of a kind ("" any) within
// maxMeters of p (WGS84), nearest first (ties by code), with geodesic
// distances on the WGS84 spheroid. Invalid for a point outside -180…180,
// -90…90, an unknown kind, k outside 1…MaxNearestK or maxMeters outside
// (0, MaxNearestMeters]: defaults belong to the callers.
func (db *DB) NearestFacilities(ctx context.Context, p [2]float64, kind string, k int, maxMeters float64) (out []grid.FacilityDistance, err error) {
	defer wrap(&err, "NearestFacilities(%v, %q, %d, %v)", p, kind, k, maxMeters)
	if !(p[0] >= -180 && p[0] <= 180 && p[1] >= -90 && p[1] <= 90) {
		return nil, grid.Errorf(grid.Invalid, "point %v is not a longitude, latitude in degrees", p)
	}
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if k < 1 || k > MaxNearestK {
		return nil, grid.Errorf(grid.Invalid, "k %d is outside 1…%d", k, MaxNearestK)
	}
	if !(maxMeters > 0 && maxMeters <= MaxNearestMeters) {
		return nil, grid.Errorf(grid.Invalid, "max distance %v m is outside (0, %d]", maxMeters, MaxNearestMeters)
	}
	q, args := nearestAnyKind, []any{p[0], p[1], maxMeters, k}
	if kind != "" {
		q, args = nearestOfKind, append(args, kind)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, db.classify(err)
	}
	out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (grid.FacilityDistance, error) {
		var x grid.FacilityDistance
		var attrs []byte
		if err := r.Scan(&x.Code, &x.Kind, &x.Name, &x.Point[0], &x.Point[1], &attrs, &x.Meters); err != nil {
			return x, err
		}
		x.Attrs, err = decodeAttrs(attrs)
		return x, err
	})
	if err != nil {
		return nil, db.classify(err)
	}
	return out, nil
}

func checkKind(kind string) error {
	if kind == "" || slices.Contains(grid.FacilityKinds(), kind) {
		return nil
	}
	return grid.Errorf(grid.Invalid, "kind %q: want one of %s", kind, strings.Join(grid.FacilityKinds(), ", "))
}

func checkBBox(b [4]float64) error {
	for _, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return grid.Errorf(grid.Invalid, "bbox %v: not finite numbers", b)
		}
	}
	if b[0] > b[2] || b[1] > b[3] {
		return grid.Errorf(grid.Invalid, "bbox %v: want min lon, min lat, max lon, max lat", b)
	}
	return nil
}

// decodeAttrs reads the attrs object; values that are not JSON strings keep
// their JSON text, so a hand-edited row never fails a read.
func decodeAttrs(b []byte) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("attrs: %w", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	return out, nil
}

var _ grid.FacilityStore = (*DB)(nil)
