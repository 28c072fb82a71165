// Gi* hot spot cells as hexagons, drawn client-side from /v1/hotspots JSON.
import { cellToBoundary } from 'h3-js';

/** hotspotFeatures: the significant cells (bin ≠ 0) as GeoJSON polygons. */
export function hotspotFeatures(cells, { withInsignificant = false } = {}) {
  const features = [];
  for (const c of cells ?? []) {
    if (!withInsignificant && !c.bin) continue;
    const ring = cellToBoundary(c.h3, true); // [lng, lat] pairs
    ring.push(ring[0]);
    features.push({
      type: 'Feature',
      properties: { h3: c.h3, bin: c.bin, count: c.count, z: c.z, p: c.p },
      geometry: { type: 'Polygon', coordinates: [ring] },
    });
  }
  return { type: 'FeatureCollection', features };
}
