package postgres

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// The H3 rollups hold, per row of a category's local day, signed counts
// per town, local hour and H3 cell: a base entry +1 at the incident's
// resolution-10 cell, and the corrections hexbin.Exact finds for its point
// (see grid.RollupSource): every resolution 5…10 sums to H3's own
// answer. A town is stored as its 9-digit code read as a number.

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

// rollupKey is one entry: a slice's hour and cell.
type rollupKey struct {
	category, town string
	day            int32 // days since 1970-01-01, local
	hour           int16
	h3             int64
}

func (k rollupKey) slice() grid.RollupSlice {
	return grid.RollupSlice{Category: k.category, Day: dateOfDay(k.day), Town: k.town}
}

// townNumber is a town code as stored in the rollups.
func townNumber(code string) (int32, error) {
	if !grid.ValidTownCode(code) {
		return 0, grid.Errorf(grid.Invalid, "town %q: want a 9-digit code", code)
	}
	n, err := strconv.ParseInt(code, 10, 32)
	return int32(n), err
}

// townCodes turns stored town numbers back into codes, each string made
// once.
type townCodes map[int32]string

func (tc townCodes) code(n int32) string {
	s, ok := tc[n]
	if !ok {
		s = fmt.Sprintf("%09d", n)
		tc[n] = s
	}
	return s
}

func dayNumberOf(t time.Time) int32 {
	return int32(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func dateOfDay(d int32) grid.Date { return grid.DateOf(time.Unix(int64(d)*86400, 0).UTC()) }

// rollupOf calls add with each signed entry of one incident: its base entry
// and its corrections. Errors are Invalid: a cell that is not a valid
// resolution-10 cell, a point H3 cannot index, or a town code that is not
// 9 digits.
func rollupOf(ex *hexbin.Exact, in rollupInput, add func(k rollupKey, n int)) error {
	if !grid.ValidTownCode(in.town) {
		return grid.Errorf(grid.Invalid, "town %q: want a 9-digit code", in.town)
	}
	d := in.at.In(cst)
	k := rollupKey{category: in.category, town: in.town, day: dayNumberOf(d), hour: int16(d.Hour()), h3: int64(in.h3)}
	err := ex.Corrections(h3.NewLatLng(in.point[1], in.point[0]), in.h3, func(_ int, exact, parent h3.Cell) {
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

// rollupRow is one h3_rollup row: a category's day, its entries in town,
// hour and cell order.
type rollupRow struct {
	category string
	day      int32
	hours    []int16
	towns    []int32
	cells    []int64
	counts   []int32
	touched  []grid.RollupSlice // its towns' slices
}

// rollupRows groups entries into one row per category and day, dropping
// those that cancel out, in category and day order; within a row the
// entries of a town are together, towns in order.
func rollupRows(roll map[rollupKey]int) []rollupRow {
	type catDay struct {
		cat string
		day int32
	}
	type entry struct {
		hour int16
		h3   int64
		n    int32
	}
	byDay := map[catDay]map[string][]entry{}
	for k, n := range roll {
		if n == 0 { // cancelled, or every line of a key proved a duplicate
			continue
		}
		cd := catDay{k.category, k.day}
		towns := byDay[cd]
		if towns == nil {
			towns = map[string][]entry{}
			byDay[cd] = towns
		}
		towns[k.town] = append(towns[k.town], entry{k.hour, k.h3, int32(n)})
	}
	out := make([]rollupRow, 0, len(byDay))
	for cd, towns := range byDay {
		size := 0
		for _, es := range towns {
			size += len(es)
		}
		r := rollupRow{category: cd.cat, day: cd.day, hours: make([]int16, 0, size), towns: make([]int32, 0, size),
			cells: make([]int64, 0, size), counts: make([]int32, 0, size)}
		for _, town := range slices.Sorted(maps.Keys(towns)) {
			num, _ := townNumber(town) // checked by rollupOf
			for _, e := range towns[town] {
				r.hours, r.towns = append(r.hours, e.hour), append(r.towns, num)
				r.cells, r.counts = append(r.cells, e.h3), append(r.counts, e.n)
			}
			r.touched = append(r.touched, grid.RollupSlice{Category: cd.cat, Day: dateOfDay(cd.day), Town: town})
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b rollupRow) int {
		return cmp.Or(cmp.Compare(a.category, b.category), cmp.Compare(a.day, b.day))
	})
	return out
}

// copyRollups appends a batch's counts to the H3 rollups, one row per
// category and day, and returns the slices (towns' days) touched.
func copyRollups(ctx context.Context, tx pgx.Tx, roll map[rollupKey]int) ([]grid.RollupSlice, error) {
	rows := rollupRows(roll)
	if err := copyRollupRows(ctx, tx, rows); err != nil {
		return nil, err
	}
	var touched []grid.RollupSlice
	for _, r := range rows {
		touched = append(touched, r.touched...)
	}
	return touched, nil
}

func copyRollupRows(ctx context.Context, tx pgx.Tx, rows []rollupRow) error {
	i := 0
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"h3_rollup"}, []string{"category", "day", "hours", "towns", "cells", "counts"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(rows) {
				return nil, nil
			}
			r := rows[i]
			i++
			return []any{r.category, dateOfDay(r.day).Time(), r.hours, r.towns, r.cells, r.counts}, nil
		}))
	return err
}
