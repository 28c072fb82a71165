package tiles

import (
	"bytes"
	"compress/gzip"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/paulmach/orb/encoding/mvt"

	"github.com/citygrid/citygrid/internal/grid"
)

// Tile is an encoded vector tile, as cached and served.
type Tile struct {
	// Data is the Mapbox Vector Tile (protobuf, uncompressed). A tile with
	// no features has no layers, and its encoding is zero bytes.
	Data []byte
	// ETag is a strong entity tag of Data, quoted for the ETag header.
	ETag string
	// Gzip is Data gzip-compressed (see WithGzip); nil until asked for.
	Gzip []byte
	// Expires, when not zero, is when the tile stops being true (an
	// incident's overdue flag flips, a relative window moves on): the
	// cache drops it then.
	Expires time.Time
	// CountRes, when not zero, says the tile's incidents layer holds
	// counts per H3 cell of this resolution instead of points (see
	// CountLayer), so the cache evicts it as it does heatmap tiles.
	CountRes int
}

// Empty reports whether the tile has no features.
func (t Tile) Empty() bool { return len(t.Data) == 0 }

// GzipETag is the strong entity tag of the gzip-compressed representation,
// which must differ from that of the uncompressed one.
func (t Tile) GzipETag() string {
	if t.ETag == "" {
		return ""
	}
	return t.ETag[:len(t.ETag)-1] + `-gz"`
}

// WithGzip returns the tile with Gzip filled in. Errors are of kind
// grid.Internal.
func (t Tile) WithGzip() (Tile, error) {
	if t.Gzip != nil || len(t.Data) == 0 {
		return t, nil
	}
	gz, err := Gzip(t.Data)
	if err != nil {
		return t, err
	}
	t.Gzip = gz
	return t, nil
}

// Encode encodes layers into one tile, in the order given: nil layers and
// layers without features are left out, so a tile with nothing to show
// encodes to zero bytes. Every layer is written as MVT version 2 with
// extent 4096; the geometries must be in tile coordinates already (as the
// layer functions of this package return them). Two layers with one name,
// or a property value MVT cannot carry, are grid.Internal errors.
func Encode(layers ...*mvt.Layer) (Tile, error) {
	var ls mvt.Layers
	seen := map[string]bool{}
	for _, l := range layers {
		if l == nil || len(l.Features) == 0 {
			continue
		}
		if seen[l.Name] {
			return Tile{}, grid.Errorf(grid.Internal, "tiles: layer %q twice in one tile", l.Name)
		}
		seen[l.Name] = true
		l.Version, l.Extent = 2, Extent
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return Tile{Data: []byte{}, ETag: ETag(nil)}, nil
	}
	b, err := mvt.Marshal(ls)
	if err != nil {
		return Tile{}, grid.Errorf(grid.Internal, "tiles: encode: %v", err)
	}
	return Tile{Data: b, ETag: ETag(b)}, nil
}

// ETag is the strong entity tag of b: the xxHash64 of the bytes in hex,
// quoted.
func ETag(b []byte) string {
	return `"` + strconv.FormatUint(xxhash.Sum64(b), 16) + `"`
}

// Gzip compresses b (default level). Errors are of kind grid.Internal.
func Gzip(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b)/2 + 64)
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, grid.Errorf(grid.Internal, "tiles: gzip: %v", err)
	}
	if err := w.Close(); err != nil {
		return nil, grid.Errorf(grid.Internal, "tiles: gzip: %v", err)
	}
	return buf.Bytes(), nil
}
