// The map's style: sources and layers, built from what the server offers.
// Pure, so the layer list can be checked without a browser.
import { gridLayers, tileTemplate, legacyHeatTemplate } from './urls.js';

export const fonts = { regular: ['Noto Sans Regular'], bold: ['Noto Sans Bold'] };

export const facilityColors = {
  camera: '#1f6fd1',
  gas_company: '#d93025',
  gas_point: '#f28b00',
  toilet: '#8e44ad',
  transfer_station: '#795548',
  waterlog_sensor: '#0097a7',
};

export const zoneColors = {
  urban_core: '#e8b93c',
  park: '#55a84f',
  arterial_road: '#8a8f98',
  scenic_area: '#2aa198',
  river_bank: '#4a90d9',
};

export const statusColors = {
  collected: '#8c9aa8',
  registered: '#5468c2',
  dispatched: '#e6a100',
  handled: '#1e9e8f',
  closed: '#3c9a3f',
  evaluated: '#2b6e2e',
  cancelled: '#b9bec4',
  parked: '#8d6e63',
};

// ArcGIS's hot spot palette, the one planners know: cold blue … hot red.
export const hotBinColors = {
  3: '#d62f27',
  2: '#ed7551',
  1: '#fab984',
  0: '#eeeeee',
  '-1': '#c0ccbe',
  '-2': '#849eba',
  '-3': '#4575b5',
};

// Heat ramp (YlOrRd) over the incident count of a hexagon.
export const heatStops = [
  [1, '#ffffb2'],
  [5, '#fecc5c'],
  [20, '#fd8d3c'],
  [60, '#f03b20'],
  [200, '#bd0026'],
];

export const themes = {
  light: {
    background: '#eef1f5',
    townFill: '#f9fafb',
    townLine: '#3d4f66',
    communityLine: '#7d8da1',
    cellLine: '#a9b6c6',
    label: '#243447',
    halo: '#ffffff',
    heatOpacity: 0.72,
  },
  dark: {
    background: '#07111f',
    townFill: '#0c1a2e',
    townLine: '#3fb6ff',
    communityLine: '#1f5f8b',
    cellLine: '#17405f',
    label: '#cfe8ff',
    halo: '#07111f',
    heatOpacity: 0.85,
  },
};

/**
 * buildStyle: the style for the page. opts: origin, tiles (whether /tiles
 * is served), heatTiles ('tiles' | 'legacy' | null), heat ({theme, from,
 * to, hours}), incidents ({datetime, status, theme} or null without a key),
 * basemap (config.json), theme ('light' | 'dark'), visible (layer name → bool).
 */
export function buildStyle(opts) {
  const c = themes[opts.theme ?? 'light'];
  const vis = (name) => (opts.visible?.[name] ? 'visible' : 'none');
  const sources = {};
  const layers = [{ id: 'background', type: 'background', paint: { 'background-color': c.background } }];

  if (opts.basemap?.basemap) {
    sources.basemap = {
      type: 'raster',
      tiles: [opts.basemap.basemap],
      tileSize: 256,
      maxzoom: 18,
      attribution: opts.basemap.basemap_attribution || '',
    };
    layers.push({ id: 'basemap', type: 'raster', source: 'basemap', layout: { visibility: vis('basemap') } });
  }

  if (opts.tiles) {
    sources.grid = { type: 'vector', tiles: [tileTemplate(opts.origin, gridLayers)], minzoom: 0, maxzoom: 18 };
    layers.push(
      { id: 'towns-fill', type: 'fill', source: 'grid', 'source-layer': 'towns', layout: { visibility: vis('towns') },
        paint: { 'fill-color': c.townFill, 'fill-opacity': opts.basemap?.basemap && opts.visible?.basemap ? 0.15 : 1 } },
      { id: 'zones-fill', type: 'fill', source: 'grid', 'source-layer': 'zones', layout: { visibility: vis('zones') },
        paint: { 'fill-color': matchColor('kind', zoneColors, '#999999'), 'fill-opacity': 0.14 } },
      { id: 'zones-line', type: 'line', source: 'grid', 'source-layer': 'zones', layout: { visibility: vis('zones') },
        paint: { 'line-color': matchColor('kind', zoneColors, '#999999'), 'line-width': 1, 'line-opacity': 0.8 } },
    );
  }

  if (opts.heatTiles) {
    const tpl = opts.heatTiles === 'tiles'
      ? tileTemplate(opts.origin, 'heatmap', opts.heat)
      : legacyHeatTemplate(opts.origin, opts.heat);
    sources.heatmap = { type: 'vector', tiles: [tpl], minzoom: 0, maxzoom: 18 };
    layers.push({
      id: 'heatmap-fill', type: 'fill', source: 'heatmap', 'source-layer': 'heatmap',
      filter: ['==', ['geometry-type'], 'Polygon'],
      layout: { visibility: vis('heatmap') },
      paint: { 'fill-color': heatRamp(), 'fill-opacity': c.heatOpacity, 'fill-outline-color': 'rgba(120,40,0,0.25)' },
    }, {
      id: 'heatmap-points', type: 'heatmap', source: 'heatmap', 'source-layer': 'heatmap',
      filter: ['==', ['geometry-type'], 'Point'],
      layout: { visibility: vis('heatmap') },
      paint: { 'heatmap-weight': ['interpolate', ['linear'], ['get', 'count'], 0, 0, 50, 1], 'heatmap-radius': 18, 'heatmap-opacity': 0.8 },
    });
  }

  sources.hotspots = { type: 'geojson', data: { type: 'FeatureCollection', features: [] } };
  layers.push({
    id: 'hotspots-fill', type: 'fill', source: 'hotspots', layout: { visibility: vis('hotspots') },
    paint: { 'fill-color': matchColor('bin', hotBinColors, '#eeeeee', true), 'fill-opacity': 0.7, 'fill-outline-color': 'rgba(60,60,60,0.35)' },
  });

  if (opts.tiles) {
    layers.push(
      { id: 'cells-line', type: 'line', source: 'grid', 'source-layer': 'cells', minzoom: 12, layout: { visibility: vis('cells') },
        paint: { 'line-color': c.cellLine, 'line-width': ['interpolate', ['linear'], ['zoom'], 12, 0.3, 16, 1], 'line-opacity': ['interpolate', ['linear'], ['zoom'], 12, 0.4, 13.5, 1] } },
      { id: 'communities-line', type: 'line', source: 'grid', 'source-layer': 'communities', minzoom: 9, layout: { visibility: vis('communities') },
        paint: { 'line-color': c.communityLine, 'line-width': ['interpolate', ['linear'], ['zoom'], 9, 0.5, 15, 1.4], 'line-dasharray': [3, 2] } },
      { id: 'towns-line', type: 'line', source: 'grid', 'source-layer': 'towns', layout: { visibility: vis('towns') },
        paint: { 'line-color': c.townLine, 'line-width': ['interpolate', ['linear'], ['zoom'], 8, 1, 14, 2.4] } },
    );
    sources.facilities = { type: 'vector', tiles: [tileTemplate(opts.origin, 'facilities')], minzoom: 10, maxzoom: 18 };
    layers.push({
      id: 'facilities', type: 'circle', source: 'facilities', 'source-layer': 'facilities', minzoom: 11,
      layout: { visibility: vis('facilities') },
      filter: ['in', ['get', 'kind'], ['literal', opts.facilityKinds ?? Object.keys(facilityColors)]],
      paint: {
        'circle-color': matchColor('kind', facilityColors, '#555555'),
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 11, 2, 16, 5],
        'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1,
      },
    });
    if (opts.incidents) {
      sources.incidents = { type: 'vector', tiles: [tileTemplate(opts.origin, 'incidents', opts.incidents)], minzoom: 0, maxzoom: 18 };
      layers.push(
        { id: 'incidents-agg', type: 'circle', source: 'incidents', 'source-layer': 'incidents', filter: ['has', 'count'],
          layout: { visibility: vis('incidents') },
          paint: {
            'circle-color': 'rgba(36,52,71,0.72)', 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.2,
            'circle-radius': ['interpolate', ['linear'], ['sqrt', ['get', 'count']], 1, 6, 30, 26],
          } },
        { id: 'incidents', type: 'circle', source: 'incidents', 'source-layer': 'incidents', filter: ['!', ['has', 'count']],
          layout: { visibility: vis('incidents') },
          paint: {
            'circle-color': matchColor('status', statusColors, '#777777'),
            'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, 2.5, 16, 6],
            'circle-stroke-color': ['case', ['to-boolean', ['get', 'overdue']], '#d0021b', '#ffffff'],
            'circle-stroke-width': ['case', ['to-boolean', ['get', 'overdue']], 2.5, 0.8],
          } },
        { id: 'incidents-count', type: 'symbol', source: 'incidents', 'source-layer': 'incidents', filter: ['has', 'count'],
          layout: { visibility: vis('incidents'), 'text-field': ['to-string', ['get', 'count']], 'text-font': fonts.bold, 'text-size': 11, 'text-allow-overlap': true },
          paint: { 'text-color': '#ffffff' } },
      );
    }
  }

  sources.selection = { type: 'geojson', data: { type: 'FeatureCollection', features: [] } };
  layers.push(
    { id: 'selection-cell', type: 'line', source: 'selection', filter: ['==', ['get', 'role'], 'cell'],
      paint: { 'line-color': '#ff6d00', 'line-width': 3 } },
    { id: 'selection-cell-fill', type: 'fill', source: 'selection', filter: ['==', ['get', 'role'], 'cell'],
      paint: { 'fill-color': '#ff6d00', 'fill-opacity': 0.08 } },
    { id: 'selection-camera', type: 'circle', source: 'selection', filter: ['==', ['get', 'role'], 'camera'],
      paint: { 'circle-color': facilityColors.camera, 'circle-radius': 7, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } },
    { id: 'selection-camera-label', type: 'symbol', source: 'selection', filter: ['==', ['get', 'role'], 'camera'],
      layout: { 'text-field': ['get', 'rank'], 'text-font': fonts.bold, 'text-size': 10, 'text-allow-overlap': true },
      paint: { 'text-color': '#ffffff' } },
    { id: 'selection-point', type: 'circle', source: 'selection', filter: ['==', ['get', 'role'], 'point'],
      paint: { 'circle-color': '#ff3d00', 'circle-radius': 6, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2.5 } },
  );

  if (opts.tiles) {
    layers.push(
      { id: 'cells-label', type: 'symbol', source: 'grid', 'source-layer': 'cells', minzoom: 15,
        layout: { visibility: vis('cells'), 'text-field': ['get', 'code'], 'text-font': fonts.regular, 'text-size': 10, 'symbol-placement': 'point' },
        paint: { 'text-color': '#5a6b7d', 'text-halo-color': c.halo, 'text-halo-width': 1.2 } },
      { id: 'communities-label', type: 'symbol', source: 'grid', 'source-layer': 'communities', minzoom: 12.5, maxzoom: 15,
        layout: { visibility: vis('communities'), 'text-field': ['get', 'name'], 'text-font': fonts.regular, 'text-size': 12 },
        paint: { 'text-color': c.label, 'text-halo-color': c.halo, 'text-halo-width': 1.4 } },
      { id: 'towns-label', type: 'symbol', source: 'grid', 'source-layer': 'towns', minzoom: 8, maxzoom: 13,
        layout: { visibility: vis('towns'), 'text-field': ['get', 'name'], 'text-font': fonts.bold, 'text-size': ['interpolate', ['linear'], ['zoom'], 8, 12, 12, 16] },
        paint: { 'text-color': c.label, 'text-halo-color': c.halo, 'text-halo-width': 1.6 } },
    );
  }

  return {
    version: 8,
    glyphs: `${opts.origin}/glyphs/{fontstack}/{range}.pbf`,
    sources,
    layers,
  };
}

/** Which style layers a legend entry (and its toggle) stands for. */
export const layerGroups = {
  basemap: ['basemap'],
  towns: ['towns-fill', 'towns-line', 'towns-label'],
  communities: ['communities-line', 'communities-label'],
  cells: ['cells-line', 'cells-label'],
  zones: ['zones-fill', 'zones-line'],
  facilities: ['facilities'],
  incidents: ['incidents-agg', 'incidents', 'incidents-count'],
  heatmap: ['heatmap-fill', 'heatmap-points'],
  hotspots: ['hotspots-fill'],
};

function matchColor(prop, colors, fallback, numeric = false) {
  const expr = ['match', numeric ? ['to-number', ['get', prop]] : ['get', prop]];
  for (const [k, v] of Object.entries(colors)) expr.push(numeric ? Number(k) : k, v);
  expr.push(fallback);
  return expr;
}

function heatRamp() {
  const expr = ['interpolate', ['linear'], ['to-number', ['get', 'count']]];
  for (const [n, color] of heatStops) expr.push(n, color);
  return expr;
}
