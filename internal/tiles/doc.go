// Package tiles draws citygrid's Mapbox Vector Tiles: the grid layers
// (towns, communities, cells, zones) from memory, points (facilities,
// incidents), aggregates (the H3 heatmap, counts per cell), composites of
// several layers in one tile, their TileJSON 3.0.0, and a bounded tile
// cache with precise invalidation.
//
// It is logic: it imports the domain (internal/grid), orb, h3-go, rtree
// and xxhash, and knows nothing of HTTP or SQL. A handler for
// GET /tiles/{layers}/{z}/{x}/{y}.mvt is meant to be thin:
//
//	layers, err := tiles.ParseLayers(c.Param("layers"))   // grid.Invalid
//	t := maptile.New(x, y, z)                              // parsed and checked by the HTTP adapter
//	key := tiles.NewKey(layers, t, tiles.FilterKey(params), scope)
//	tile, cached, err := cache.GetOrLoad(ctx, key, func(ctx context.Context) (tiles.Tile, error) {
//		var ls []*mvt.Layer // g.Layer(...) for grid layers; FacilityLayer, IncidentLayer,
//		                    // HeatmapLayer for the others, fed from the stores with TileBound(t)
//		return tiles.Encode(ls...)
//	})
//
// and a write calls cache.EvictPoint([]string{"incidents", "heatmap"},
// lon, lat) once it is committed (and the read model it draws from has
// seen it); a new grid version calls EvictLayer for each grid layer and
// swaps the Grid.
//
// Conventions: tiles have extent 4096 and are clipped to a 64-unit
// buffer; shells are clockwise on screen (the MVT rule); layers are MVT
// version 2. An empty tile encodes to zero bytes (no layers). Errors are
// *grid.Error: grid.Invalid for a bad layer name, H3 index, base URL or
// grid code; grid.Internal for what cannot happen with sound inputs (an
// unencodable property, a panic in a cache load).
package tiles
