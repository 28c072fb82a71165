// One place that creates MapLibre maps: the worker shipped with the bundle,
// the key on our own requests only, CJK labels from local fonts.
import { Map as MapLibreMap, setWorkerUrl, prewarm, NavigationControl, ScaleControl, AttributionControl } from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import { sameOrigin } from './urls.js';

export const cjkFonts = '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';

// Linhai's seat; the whole city fits at zoom 9.
export const home = { center: [121.13, 28.85], zoom: 10 };
export const cityBounds = [[120.6, 28.5], [122.2, 29.3]];

/** startWorkers loads MapLibre's worker while the page asks the server what it serves. */
export function startWorkers() {
  setWorkerUrl(new URL(workerUrl, location.href).href);
  prewarm();
}

export function createMap({ container, style, api, hash = true, controls = true, lang = 'zh' }) {
  startWorkers();
  const map = new MapLibreMap({
    container,
    style,
    hash: hash ? 'map' : false,
    center: home.center,
    zoom: home.zoom,
    minZoom: 6,
    maxZoom: 19,
    maxBounds: [[118.5, 27], [124, 31]],
    localIdeographFontFamily: cjkFonts,
    attributionControl: false,
    // For screenshots and the browser test's pixel check.
    canvasContextAttributes: { preserveDrawingBuffer: true, antialias: true },
    transformRequest: (url) => {
      const key = api.key();
      if (key && sameOrigin(url, location.origin)) return { url, headers: { Authorization: `Bearer ${key}` } };
      return { url };
    },
  });
  if (controls) {
    map.addControl(new NavigationControl({ showCompass: false }), 'top-right');
    map.addControl(new ScaleControl({ unit: 'metric' }), 'bottom-left');
  }
  // Test and bench hooks: the first idle, and when it came after navigation.
  map.once('idle', () => {
    document.body.dataset.mapIdleMs = String(Math.round(performance.now()));
    document.body.dataset.mapIdle = '1';
  });
  map.addControl(new AttributionControl({ compact: true, customAttribution: lang === 'en' ? 'citygrid · synthetic demo city' : 'citygrid · 示例城市（合成数据）' }), 'bottom-right');
  return map;
}
