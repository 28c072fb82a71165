import { describe, expect, it } from 'vitest';
import { buildStyle, layerGroups } from '../src/style.js';

const base = { origin: 'http://h', heat: { theme: 'parking' }, visible: { towns: true, cells: true } };

describe('buildStyle', () => {
  it('draws the grid from one composite source, with glyphs from this server', () => {
    const s = buildStyle({ ...base, tiles: true, heatTiles: 'tiles', incidents: { status: 'dispatched' } });
    expect(s.glyphs).toBe('http://h/glyphs/{fontstack}/{range}.pbf');
    expect(s.sources.grid.tiles).toEqual(['http://h/tiles/towns,communities,cells,zones/{z}/{x}/{y}.mvt']);
    expect(s.sources.incidents.tiles[0]).toBe('http://h/tiles/incidents/{z}/{x}/{y}.mvt?status=dispatched');
    expect(s.sources.heatmap.tiles[0]).toBe('http://h/tiles/heatmap/{z}/{x}/{y}.mvt?theme=parking');
    const ids = s.layers.map((l) => l.id);
    for (const group of Object.values(layerGroups)) {
      for (const id of group) if (id !== 'basemap') expect(ids, id).toContain(id);
    }
    expect(new Set(ids).size).toBe(ids.length);
    const byId = Object.fromEntries(s.layers.map((l) => [l.id, l]));
    expect(byId['cells-line'].layout.visibility).toBe('visible');
    expect(byId['zones-fill'].layout.visibility).toBe('none');
    expect(byId['cells-label'].layout['text-field']).toEqual(['get', 'code']);
    for (const l of s.layers) if (l['source-layer']) expect(['towns', 'communities', 'cells', 'zones', 'facilities', 'incidents', 'heatmap']).toContain(l['source-layer']);
  });

  it('leaves out what is not served, and incidents without a key', () => {
    const s = buildStyle({ ...base, tiles: false, heatTiles: 'legacy', incidents: null });
    expect(Object.keys(s.sources).sort()).toEqual(['heatmap', 'hotspots', 'selection']);
    expect(s.sources.heatmap.tiles[0]).toBe('http://h/v1/heatmap/tiles/{z}/{x}/{y}.mvt?theme=parking');
    expect(buildStyle({ ...base, tiles: true, incidents: null }).sources.incidents).toBeUndefined();
  });

  it('adds the configured basemap under everything', () => {
    const s = buildStyle({ ...base, tiles: true, basemap: { basemap: 'https://b/{z}/{x}/{y}.png', basemap_attribution: '天地图' }, visible: { basemap: true } });
    expect(s.sources.basemap).toMatchObject({ type: 'raster', tiles: ['https://b/{z}/{x}/{y}.png'], attribution: '天地图' });
    expect(s.layers[1].id).toBe('basemap');
  });
});
