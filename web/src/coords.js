// Parsing of coordinates typed or pasted by a dispatcher. Conversion between
// WGS84, GCJ-02 and BD-09 is the server's (crs= on every endpoint): the page
// never converts, it passes the system along.

export const crsList = ['wgs84', 'gcj02', 'bd09'];

const fullWidth = /[\uFF01-\uFF5E]/g; // full-width ASCII, as Chinese input methods type it

/**
 * parseCoordinates reads "lon, lat" in decimal degrees, or degrees, minutes
 * and seconds (121°8′0.6″E 28°51′N). Hemisphere letters (N/S/E/W, 北纬/东经)
 * fix the order; without them a pair in China's ranges is put right
 * (28.85, 121.13 is read as lat, lon), else the order is lon, lat.
 * Returns {lon, lat} or {error: 'coords.empty' | 'coords.format' | 'coords.range'}.
 */
export function parseCoordinates(input) {
  let s = String(input ?? '')
    .replace(fullWidth, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/[，、；;]/g, ',')
    .replace(/北纬/g, 'N').replace(/南纬/g, 'S').replace(/东经/g, 'E').replace(/西经/g, 'W')
    .replace(/[度]/g, '°').replace(/[分′’]/g, "'").replace(/[秒″”]/g, '"')
    .replace(/''/g, '"')
    .trim();
  if (s === '') return { error: 'coords.empty' };
  // "lng: 121.13, lat: 28.85" and the like: the labels say the order.
  const lonAt = s.search(/\b(lon|lng|longitude)\s*[=:]/i);
  const latAt = s.search(/\b(lat|latitude)\s*[=:]/i);
  const labelled = lonAt >= 0 && latAt >= 0 ? (lonAt < latAt ? 'lon' : 'lat') : null;
  s = s.replace(/\b(lon|lng|longitude|lat|latitude)\s*[=:]\s*/gi, '').trim();
  const parts = splitPair(s);
  if (!parts) return { error: 'coords.format' };
  const a = parseAngle(parts[0]);
  const b = parseAngle(parts[1]);
  if (!a || !b) return { error: 'coords.format' };
  let lon, lat;
  if (labelled) {
    [lon, lat] = labelled === 'lon' ? [a.value, b.value] : [b.value, a.value];
  } else if (a.axis === 'lat' || b.axis === 'lon') {
    if (a.axis === b.axis) return { error: 'coords.format' };
    [lat, lon] = [a.value, b.value];
  } else if (a.axis === 'lon' || b.axis === 'lat') {
    [lon, lat] = [a.value, b.value];
  } else if (inChinaLat(a.value) && inChinaLon(b.value) && !(inChinaLon(a.value) && inChinaLat(b.value))) {
    [lat, lon] = [a.value, b.value];
  } else {
    [lon, lat] = [a.value, b.value];
  }
  if (!(lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90)) return { error: 'coords.range' };
  return { lon, lat };
}

const inChinaLon = (v) => v >= 73 && v <= 136;
const inChinaLat = (v) => v >= 3 && v <= 54;

// splitPair cuts "a, b", "a b" or "121°8'E 28°51'N" into two strings.
function splitPair(s) {
  if (s.includes(',')) {
    const p = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
    return p.length === 2 ? p : null;
  }
  // Hemisphere letters end a value: split after the first one.
  const m = /^(.+?[NSEW])\s*(.+)$/i.exec(s);
  if (m && /[NSEW]$/i.test(m[2])) return [m[1].trim(), m[2].trim()];
  const p = s.split(/\s+/);
  return p.length === 2 ? p : null;
}

// parseAngle reads decimal degrees or D°M'S" with an optional sign or
// hemisphere letter (before or after). Returns {value, axis} or null.
function parseAngle(s) {
  let t = s.trim();
  let axis = null;
  let sign = 1;
  const hemi = /^([NSEW])\s*(.*)$/i.exec(t) || /^(.*?)\s*([NSEW])$/i.exec(t);
  if (hemi) {
    const letter = (/^[NSEW]$/i.test(hemi[1]) ? hemi[1] : hemi[2]).toUpperCase();
    t = (/^[NSEW]$/i.test(hemi[1]) ? hemi[2] : hemi[1]).trim();
    axis = letter === 'N' || letter === 'S' ? 'lat' : 'lon';
    if (letter === 'S' || letter === 'W') sign = -1;
  }
  if (/^[-+]?\d+(\.\d+)?$/.test(t)) {
    return { value: sign * Number(t), axis };
  }
  const dms = /^([-+]?)(\d+(?:\.\d+)?)°\s*(?:(\d+(?:\.\d+)?)'\s*)?(?:(\d+(?:\.\d+)?)"\s*)?$/.exec(t);
  if (!dms) return null;
  const [, neg, d, m = '0', sec = '0'] = dms;
  if (Number(m) >= 60 || Number(sec) >= 60) return null;
  const v = Number(d) + Number(m) / 60 + Number(sec) / 3600;
  return { value: sign * (neg === '-' ? -v : v), axis };
}
