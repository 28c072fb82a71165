package postgres

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paulmach/orb"
)

// TestCoverCacheIsH3Cover: the cached cover of a box is always the box's
// own, for boxes asked again and for boxes sharing a slot.
func TestCoverCacheIsH3Cover(t *testing.T) {
	var c coverCache
	r := rand.New(rand.NewPCG(1, 9))
	var boxes []orb.Bound
	for range 600 {
		x, y := 121+r.Float64()*0.5, 28.7+r.Float64()*0.3
		boxes = append(boxes, orb.Bound{Min: orb.Point{x, y}, Max: orb.Point{x + r.Float64()*0.01, y + r.Float64()*0.01}})
	}
	for round := range 3 {
		for _, b := range boxes {
			got, ok := c.cover(b)
			want, wok := h3Cover(b)
			if ok != wok || !slices.Equal(got, want) {
				t.Fatalf("round %d, box %v: %d cells (%v), h3Cover %d (%v)", round, b, len(got), ok, len(want), wok)
			}
		}
	}
}
