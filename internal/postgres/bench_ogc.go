package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// GeoJSONBaseline is the baseline of the OGC items rows of `citygrid
// bench`: the query a PostGIS feature server (pg_featureserv) runs for a
// bbox, ST_AsGeoJSON of whole rows through a GiST index, on a copy of the
// incident table that has one (the incident table itself keeps no GiST
// index, so bulk ingest stays fast).
type GeoJSONBaseline struct{ db *DB }

// PrepareGeoJSONBaseline copies the incidents into a GiST-indexed table.
func (db *DB) PrepareGeoJSONBaseline(ctx context.Context) (b *GeoJSONBaseline, err error) {
	defer wrap(&err, "PrepareGeoJSONBaseline")
	for _, q := range []string{
		`DROP TABLE IF EXISTS bench_incident_gist`,
		`CREATE UNLOGGED TABLE bench_incident_gist AS SELECT * FROM incident`,
		`CREATE INDEX ON bench_incident_gist USING gist (geom)`,
		`VACUUM ANALYZE bench_incident_gist`,
	} {
		if _, err := db.pool.Exec(ctx, q); err != nil {
			return nil, err
		}
	}
	return &GeoJSONBaseline{db}, nil
}

// Query runs the baseline once: the features of a box (WGS84), at most
// limit, each a GeoJSON Feature built by PostGIS; it returns how many and
// their bytes.
func (b *GeoJSONBaseline) Query(ctx context.Context, box [4]float64, limit int) (n, size int, err error) {
	defer wrap(&err, "GeoJSONBaseline.Query")
	rows, err := b.db.pool.Query(ctx, `SELECT ST_AsGeoJSON(t.*)::text FROM bench_incident_gist t
		WHERE ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) LIMIT $5`, box[0], box[1], box[2], box[3], limit)
	if err != nil {
		return 0, 0, err
	}
	var s string
	_, err = pgx.ForEachRow(rows, []any{&s}, func() error {
		n++
		size += len(s)
		return nil
	})
	return n, size, err
}

// Columns reads the columns IncidentFeatures reads, for the same box, on
// the GiST-indexed copy: what a GiST index on the incident table would
// give the items query.
func (b *GeoJSONBaseline) Columns(ctx context.Context, box [4]float64, limit int) (n int, err error) {
	defer wrap(&err, "GeoJSONBaseline.Columns")
	rows, err := b.db.pool.Query(ctx, strings.Replace(featureIncidentSelect, "FROM incident", "FROM bench_incident_gist", 1)+
		` WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) ORDER BY id DESC LIMIT $5`, box[0], box[1], box[2], box[3], limit)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var x grid.Incident
	for rows.Next() {
		if err := scanFeatureIncident(rows, &x); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// Drop removes the copy.
func (b *GeoJSONBaseline) Drop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = b.db.pool.Exec(ctx, `DROP TABLE IF EXISTS bench_incident_gist`)
}
