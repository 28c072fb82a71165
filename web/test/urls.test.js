import { describe, expect, it } from 'vitest';
import {
  tileTemplate, tileJSON, legacyHeatTemplate, timeWindow, hoursParam, heatParams, incidentParams,
  locateURL, nearestURL, statsURL, hotspotsURL, overviewURL, incidentURL, eventsURL, categoriesURL, sameOrigin, gridLayers,
} from '../src/urls.js';

const o = 'http://127.0.0.1:8080';
// 2026-11-02 09:20 UTC
const now = Date.UTC(2026, 10, 2, 9, 20, 0);

describe('tiles', () => {
  it('asks for the grid layers in one composite request', () => {
    expect(tileTemplate(o, gridLayers)).toBe(`${o}/tiles/towns,communities,cells,zones/{z}/{x}/{y}.mvt`);
    expect(tileJSON(o, gridLayers)).toBe(`${o}/tiles/towns,communities,cells,zones.json`);
    expect(tileJSON(o, 'heatmap')).toBe(`${o}/tiles/heatmap.json`);
  });

  it('puts the filters on the query and leaves empty ones out', () => {
    expect(tileTemplate(o, 'incidents', incidentParams({ days: 7, status: '', now })))
      .toBe(`${o}/tiles/incidents/{z}/{x}/{y}.mvt?datetime=2026-10-26T10%3A00%3A00Z%2F2026-11-02T10%3A00%3A00Z`);
    expect(tileTemplate(o, 'heatmap', heatParams({ theme: 'parking', days: 1, hours: '8-18', now })))
      .toBe(`${o}/tiles/heatmap/{z}/{x}/{y}.mvt?theme=parking&from=2026-11-01T10%3A00%3A00Z&to=2026-11-02T10%3A00%3A00Z&hours=8-18`);
    expect(legacyHeatTemplate(o, { theme: 'sanitation' })).toBe(`${o}/v1/heatmap/tiles/{z}/{x}/{y}.mvt?theme=sanitation`);
  });
});

describe('time windows', () => {
  it('end at the next whole hour', () => {
    expect(timeWindow(30, now)).toEqual({ from: '2026-10-03T10:00:00Z', to: '2026-11-02T10:00:00Z' });
    expect(timeWindow(1, Date.UTC(2026, 10, 2, 9, 0, 0))).toEqual({ from: '2026-11-01T09:00:00Z', to: '2026-11-02T09:00:00Z' });
  });

  it('turn an hour range into hours=, wrapping midnight', () => {
    expect(hoursParam(0, 23)).toBe('');
    expect(hoursParam(8, 17)).toBe('8-17');
    expect(hoursParam(7, 7)).toBe('7');
    expect(hoursParam(22, 5)).toBe('0-5,22-23');
    expect(hoursParam(23, 0)).toBe('0,23');
    expect(hoursParam(6, 5)).toBe('');
    expect(() => hoursParam(0, 24)).toThrow();
    expect(() => hoursParam(-1, 3)).toThrow();
  });
});

describe('API URLs', () => {
  it('are exact', () => {
    expect(locateURL(o, { lon: 121.1335, lat: 28.8493, crs: 'gcj02', category: 'E0505' }))
      .toBe(`${o}/v1/locate?lon=121.1335&lat=28.8493&crs=gcj02&category=E0505`);
    expect(locateURL(o, { lon: 121.13, lat: 28.85 })).toBe(`${o}/v1/locate?lon=121.13&lat=28.85&crs=wgs84`);
    expect(nearestURL(o, { lon: 121.13, lat: 28.85 })).toBe(`${o}/v1/facilities/nearest?lon=121.13&lat=28.85&crs=wgs84&kind=camera&k=5`);
    expect(statsURL(o, { groupBy: 'cell', theme: 'parking', days: 30, top: 10, now }))
      .toBe(`${o}/v1/stats?group_by=cell&theme=parking&from=2026-10-03T10%3A00%3A00Z&to=2026-11-02T10%3A00%3A00Z&top=10`);
    expect(statsURL(o, { groupBy: 'town', theme: '', days: 7, interval: 'day', now }))
      .toBe(`${o}/v1/stats?group_by=town&from=2026-10-26T10%3A00%3A00Z&to=2026-11-02T10%3A00%3A00Z&interval=day`);
    expect(hotspotsURL(o, { theme: 'waterlogging', days: 90, now }))
      .toBe(`${o}/v1/hotspots?theme=waterlogging&res=8&from=2026-08-04T10%3A00%3A00Z&to=2026-11-02T10%3A00%3A00Z`);
    expect(overviewURL(o)).toBe(`${o}/v1/overview?level=city`);
    expect(overviewURL(o, { level: 'town', code: '331082001' })).toBe(`${o}/v1/overview?level=town&code=331082001`);
    expect(incidentURL(o, 12)).toBe(`${o}/v1/incidents/12`);
    expect(eventsURL(o, 12)).toBe(`${o}/v1/incidents/12/events`);
    expect(categoriesURL(o)).toBe(`${o}/v1/categories`);
  });

  it('send the key to this server only', () => {
    expect(sameOrigin(`${o}/tiles/cells/1/2/3.mvt`, o)).toBe(true);
    expect(sameOrigin('/v1/locate', o)).toBe(true);
    expect(sameOrigin('https://t0.tianditu.gov.cn/vec_w/wmts?x=1', o)).toBe(false);
    expect(sameOrigin('http://127.0.0.1:9999/x', o)).toBe(false);
  });
});
