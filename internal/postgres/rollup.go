package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// The H3 rollups hold, per slice (category, town, local day), signed
// counts per local hour and H3 cell: a base entry +1 at the incident's
// resolution-10 cell, and the corrections hexbin.Corrections finds for its
// point (see grid.RollupSource): every resolution 5…10 sums to H3's own
// answer.

const (
	baseRes  = hexbin.BaseRes
	coarsest = hexbin.MinRes
)

// rollupInput is what an incident's rollup entries depend on.
type rollupInput struct {
	category, town string
	at             time.Time
	h3             h3.Cell // resolution 10: latLngToCell(point, 10)
	point          orb.Point
}

func inputOf(x *grid.Incident) rollupInput {
	return rollupInput{x.Category, x.TownCode, x.OccurredAt, h3.Cell(x.H3), x.Point}
}

// rollupKey is one entry of a slice: an hour and a cell.
type rollupKey struct {
	category, town string
	day            int32 // days since 1970-01-01, local
	hour           int16
	h3             int64
}

func (k rollupKey) slice() grid.RollupSlice {
	return grid.RollupSlice{Category: k.category, Day: dateOfDay(k.day), Town: k.town}
}

func dayNumberOf(t time.Time) int32 {
	return int32(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func dateOfDay(d int32) grid.Date { return grid.DateOf(time.Unix(int64(d)*86400, 0).UTC()) }

// rollupOf calls add with each signed entry of one incident: its base entry
// and its corrections. Errors are Invalid: a cell that is not a valid
// resolution-10 cell, a point H3 cannot index, or no town.
func rollupOf(in rollupInput, add func(k rollupKey, n int)) error {
	if in.town == "" {
		return grid.Errorf(grid.Invalid, "incident without a town")
	}
	d := in.at.In(cst)
	k := rollupKey{category: in.category, town: in.town, day: dayNumberOf(d), hour: int16(d.Hour()), h3: int64(in.h3)}
	err := hexbin.Corrections(h3.NewLatLng(in.point[1], in.point[0]), in.h3, func(_ int, exact, parent h3.Cell) {
		k.h3 = int64(exact)
		add(k, 1)
		k.h3 = int64(parent)
		add(k, -1)
	})
	if err != nil {
		return grid.Errorf(grid.Invalid, "%v", err)
	}
	k.h3 = int64(in.h3)
	add(k, 1)
	return nil
}

// rollupRow is one h3_rollup row: a slice's entries.
type rollupRow struct {
	slice  rollupKey // category, town, day
	hours  []int16
	cells  []int64
	counts []int32
}

// rollupRows groups entries into one row per slice, dropping those that
// cancel out, in slice order.
func rollupRows(roll map[rollupKey]int) []rollupRow {
	bySlice := map[rollupKey]*rollupRow{}
	for k, n := range roll {
		if n == 0 { // cancelled, or every line of a key proved a duplicate
			continue
		}
		sk := rollupKey{category: k.category, town: k.town, day: k.day}
		r := bySlice[sk]
		if r == nil {
			r = &rollupRow{slice: sk}
			bySlice[sk] = r
		}
		r.hours = append(r.hours, k.hour)
		r.cells = append(r.cells, k.h3)
		r.counts = append(r.counts, int32(n))
	}
	out := make([]rollupRow, 0, len(bySlice))
	for _, r := range bySlice {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b rollupRow) int {
		return cmp.Or(cmp.Compare(a.slice.category, b.slice.category), cmp.Compare(a.slice.town, b.slice.town), cmp.Compare(a.slice.day, b.slice.day))
	})
	return out
}

// copyRollups appends a batch's counts to the H3 rollups, one row per
// slice, and returns the slices touched.
func copyRollups(ctx context.Context, tx pgx.Tx, roll map[rollupKey]int) ([]grid.RollupSlice, error) {
	rows := rollupRows(roll)
	if err := copyRollupRows(ctx, tx, rows); err != nil {
		return nil, err
	}
	touched := make([]grid.RollupSlice, len(rows))
	for i, r := range rows {
		touched[i] = r.slice.slice()
	}
	return touched, nil
}

func copyRollupRows(ctx context.Context, tx pgx.Tx, rows []rollupRow) error {
	i := 0
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"h3_rollup"}, []string{"category", "town", "day", "hours", "cells", "counts"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(rows) {
				return nil, nil
			}
			r := rows[i]
			i++
			return []any{r.slice.category, r.slice.town, dateOfDay(r.slice.day).Time(), r.hours, r.cells, r.counts}, nil
		}))
	return err
}
