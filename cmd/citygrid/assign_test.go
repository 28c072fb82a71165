package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/locate"
)

// BenchmarkSeedAssign measures generation plus assignment and the
// lifecycle, without the database.
func BenchmarkSeedAssign(b *testing.B) {
	city := geodata.MustLinhai()
	snap, err := locate.Build(&grid.Model{Version: grid.Version{ID: 1}, City: city})
	if err != nil {
		b.Fatal(err)
	}
	in, err := intake.New(snap, grid.DefaultCalendar())
	if err != nil {
		b.Fatal(err)
	}
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	a := &seeder{in: in, end: end, rng: rand.New(rand.NewPCG(1, 2))}
	b.ResetTimer()
	n := 0
	err = geodata.SynthIncidents(city, b.N, end, 1, func(si geodata.SynthIncident) error {
		if _, ok := a.assign(si); ok {
			n++
		}
		a.trail.evs = a.trail.evs[:0] // the trail is not kept here
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
