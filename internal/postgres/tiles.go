package postgres

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// tileWhere renders the conditions of a tile's incidents: the cells
// meeting the tile (through the cell index, partitions pruned by the
// window) and the tile's bound as a row filter.
func tileWhere(f grid.IncidentFilter) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Cells != nil {
		where = append(where, "cell_code = ANY("+arg(f.Cells)+")")
	}
	if b := f.BBox; b != nil {
		where = append(where, "geom && ST_MakeEnvelope("+arg(b[0])+", "+arg(b[1])+", "+arg(b[2])+", "+arg(b[3])+", 4326)")
	}
	if len(f.Categories) > 0 {
		where = append(where, "category = ANY("+arg(f.Categories)+")")
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status = ANY("+arg(f.Statuses)+")")
	}
	if f.Town != "" {
		where = append(where, "town_code = "+arg(f.Town))
	}
	if !f.From.IsZero() {
		where = append(where, "occurred_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "occurred_at < "+arg(f.To))
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// TileIncidents lists at most f.Limit incidents matching f (Cells, BBox,
// Categories, Statuses, Town, From, To; the rest is ignored) with the
// fields a vector tile shows — id, point, category, status, deadline,
// department, cell, town — newest first (id descending). The rows are
// not sorted by the database: a tile with more than its bound is drawn as
// counts, so the query stops at the bound plus one, however many match.
func (db *DB) TileIncidents(ctx context.Context, f grid.IncidentFilter) (out []grid.Incident, err error) {
	defer wrap(&err, "TileIncidents")
	where, args := tileWhere(f)
	limit := max(f.Limit, 1)
	rows, err := db.pool.Query(ctx, `SELECT id, ST_X(geom), ST_Y(geom), category, status, deadline, department_code, cell_code, town_code
		FROM incident`+where+` LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, db.classify(err)
	}
	var x grid.Incident
	var lon, lat float64
	_, err = pgx.ForEachRow(rows, []any{&x.ID, &lon, &lat, &x.Category, &x.Status, &x.Deadline, &x.Department, &x.CellCode, &x.TownCode},
		func() error {
			x.Point = orb.Point{lon, lat}
			out = append(out, x)
			return nil
		})
	if err != nil {
		return nil, db.classify(err)
	}
	slices.SortFunc(out, func(a, b grid.Incident) int { return int(b.ID - a.ID) })
	return out, nil
}

// TileCounts counts the incidents matching f (as TileIncidents) per H3
// cell of resolution res (5…10): each incident in the resolution-res
// parent of its stored resolution-10 cell. It answers what the heatmap
// read model cannot: a status filter.
func (db *DB) TileCounts(ctx context.Context, f grid.IncidentFilter, res int) (out []grid.HeatCell, err error) {
	defer wrap(&err, "TileCounts")
	if res < 5 || res > 10 {
		return nil, grid.Errorf(grid.Invalid, "res: %d: want 5…10", res)
	}
	where, args := tileWhere(f)
	rows, err := db.pool.Query(ctx, `SELECT h3, count(*) FROM incident`+where+` GROUP BY h3`, args...)
	if err != nil {
		return nil, db.classify(err)
	}
	sum := map[uint64]int64{}
	var cell, n int64
	_, err = pgx.ForEachRow(rows, []any{&cell, &n}, func() error {
		c := h3.Cell(cell)
		if res < 10 {
			p, err := c.Parent(res)
			if err != nil {
				return grid.Errorf(grid.Internal, "h3 %x: %v", cell, err)
			}
			c = p
		}
		sum[uint64(c)] += n
		return nil
	})
	if err != nil {
		return nil, db.classify(err)
	}
	out = make([]grid.HeatCell, 0, len(sum))
	for c, n := range sum {
		out = append(out, grid.HeatCell{H3: c, Count: n})
	}
	slices.SortFunc(out, func(a, b grid.HeatCell) int {
		if a.H3 < b.H3 {
			return -1
		}
		if a.H3 > b.H3 {
			return 1
		}
		return 0
	})
	return out, nil
}
