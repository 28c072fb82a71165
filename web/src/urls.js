// URL building for every endpoint the page calls. Pure: no globals, the
// origin is passed in, so the unit tests pin each URL exactly.

/** The grid layers drawn from one composite tile request. */
export const gridLayers = ['towns', 'communities', 'cells', 'zones'];

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** tileTemplate: /tiles/{a,b,…}/{z}/{x}/{y}.mvt with its filters, for a source's tiles. */
export function tileTemplate(origin, layers, params = {}) {
  const names = Array.isArray(layers) ? layers.join(',') : layers;
  return `${origin}/tiles/${names}/{z}/{x}/{y}.mvt${query(params)}`;
}

/** tileJSON: the TileJSON of a layer or composite, to learn whether tiles are served. */
export function tileJSON(origin, layers) {
  const names = Array.isArray(layers) ? layers.join(',') : layers;
  return `${origin}/tiles/${names}.json`;
}

/** legacyHeatTemplate: /v1/heatmap/tiles, the heatmap tiles served before /tiles. */
export function legacyHeatTemplate(origin, params = {}) {
  return `${origin}/v1/heatmap/tiles/{z}/{x}/{y}.mvt${query(params)}`;
}

/** rfc3339 formats a time without milliseconds, in UTC. */
export function rfc3339(d) {
  return new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * timeWindow is the last `days` days ending at the next whole hour after
 * now (the rollups count whole hours): {from, to} as RFC 3339.
 */
export function timeWindow(days, now = Date.now()) {
  const hour = 3600_000;
  const to = Math.ceil(now / hour) * hour;
  return { from: rfc3339(to - days * 24 * hour), to: rfc3339(to) };
}

/**
 * hoursParam turns an hour-of-day range [from, to] (inclusive, 0…23) into
 * the hours= filter; a range that wraps midnight (22…5) becomes two. The
 * whole day is no filter ("").
 */
export function hoursParam(from, to) {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > 23 || to < 0 || from > 23) {
    throw new Error(`hours ${from}…${to}: want 0…23`);
  }
  if (from === 0 && to === 23) return '';
  if (from === to + 1) return ''; // wraps all the way round
  const span = (a, b) => (a === b ? `${a}` : `${a}-${b}`);
  return from <= to ? span(from, to) : `${span(0, to)},${span(from, 23)}`;
}

/** heatParams: the heatmap layer's filters, the same on /tiles/heatmap and /v1/heatmap/tiles. */
export function heatParams({ theme, days, hours, now }) {
  const w = timeWindow(days, now);
  return { theme, from: w.from, to: w.to, hours: hours ?? '' };
}

/** incidentParams: the incidents layer's filters (datetime=start/end, status, theme). */
export function incidentParams({ days, status, theme, now }) {
  const w = timeWindow(days, now);
  return { datetime: `${w.from}/${w.to}`, status, theme };
}

export function locateURL(origin, { lon, lat, crs = 'wgs84', category }) {
  return `${origin}/v1/locate${query({ lon, lat, crs, category })}`;
}

export function nearestURL(origin, { lon, lat, crs = 'wgs84', kind = 'camera', k = 5 }) {
  return `${origin}/v1/facilities/nearest${query({ lon, lat, crs, kind, k })}`;
}

export function incidentURL(origin, id) {
  return `${origin}/v1/incidents/${encodeURIComponent(id)}`;
}

export function eventsURL(origin, id) {
  return `${origin}/v1/incidents/${encodeURIComponent(id)}/events`;
}

export function cellURL(origin, code) {
  return `${origin}/v1/grid/cells/${encodeURIComponent(code)}`;
}

export function categoriesURL(origin) {
  return `${origin}/v1/categories`;
}

export function statsURL(origin, { groupBy, theme, days, interval, top, now }) {
  const w = timeWindow(days, now);
  return `${origin}/v1/stats${query({ group_by: groupBy, theme, from: w.from, to: w.to, interval, top })}`;
}

export function hotspotsURL(origin, { theme, res = 8, days, now }) {
  const w = timeWindow(days, now);
  return `${origin}/v1/hotspots${query({ theme, res, from: w.from, to: w.to })}`;
}

export function overviewURL(origin, { level = 'city', code } = {}) {
  return `${origin}/v1/overview${query({ level, code })}`;
}

/** sameOrigin: only our own server gets the API key, never a basemap's host. */
export function sameOrigin(url, origin) {
  try {
    return new URL(url, origin).origin === new URL(origin).origin;
  } catch {
    return false;
  }
}
