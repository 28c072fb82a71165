// The map page: layers, the dispatcher's panel, the planner's charts.
import { t, lang } from './i18n.js';
import { h, replace, fmtTime } from './dom.js';
import { buildStyle, layerGroups, facilityColors, zoneColors, statusColors, hotBinColors } from './style.js';
import { createMap } from './mapview.js';
import { parseCoordinates, crsList } from './coords.js';
import {
  tileTemplate, legacyHeatTemplate, heatParams, incidentParams, hoursParam, locateURL, nearestURL, cellURL,
  incidentURL, eventsURL, statsURL, hotspotsURL,
} from './urls.js';

const themesList = ['parking', 'waterlogging', 'sanitation'];
const windowSteps = [1, 3, 7, 14, 30, 60, 90, 180, 365];
const statuses = ['collected', 'registered', 'dispatched', 'handled', 'closed', 'evaluated', 'cancelled', 'parked'];

export function startMapApp(ctx) {
  const { api, config, services, root } = ctx;
  const hasKey = !!api.key();
  const state = {
    tab: 'layers',
    visible: {
      basemap: !!config.basemap, towns: true, communities: true, cells: true, zones: false,
      facilities: false, incidents: hasKey, heatmap: false, hotspots: false,
    },
    facilityKinds: Object.keys(facilityColors),
    heat: { theme: 'parking', step: 4, hourFrom: 0, hourTo: 23 },
    incidents: { step: 4, status: '' },
    hot: { theme: 'parking', step: 6, status: 'idle', data: null, problem: null },
    dispatch: { input: '', crs: 'wgs84', category: '', seq: 0, loading: false, result: null, cameras: null, problem: null, point: null },
    incident: null,
    planner: { theme: '', step: 4, interval: 'day', status: 'idle' },
  };

  // ---- shell ----
  const panel = h('aside.panel#panel');
  const notices = h('div.notices');
  const legend = h('div.legend#legend', { 'data-testid': 'legend' });
  const mapEl = h('div#map');
  const tabs = h('nav.tabs', { role: 'tablist' });
  const app = h('div.app',
    ctx.topbar(tabs),
    panel,
    h('main.mapwrap', mapEl, notices, legend),
  );
  root.replaceChildren(app);

  // ---- map ----
  const styleOpts = () => ({
    origin: api.origin,
    tiles: services.tiles,
    heatTiles: services.heat,
    heat: currentHeat(),
    incidents: hasKey ? currentIncidents() : null,
    basemap: config,
    theme: 'light',
    visible: state.visible,
    facilityKinds: state.facilityKinds,
  });
  const map = createMap({ container: mapEl, style: buildStyle(styleOpts()), api, lang: lang() });
  // Test hooks: open an incident or locate a point as a click would.
  window.citygrid = { map, state, api, services, showIncident: (id) => showIncident(id), locate: (lon, lat, crs = 'wgs84') => locate(lon, lat, crs, { fly: true }) };
  map.on('error', (e) => {
    // Tiles that answer 401/404 are expected while keys or services are
    // missing; they are reported in the panel, not thrown.
    if (e?.error?.status) return;
    console.warn('map:', e?.error?.message ?? e);
  });

  function currentHeat() {
    return heatParams({ theme: state.heat.theme, days: windowSteps[state.heat.step], hours: hoursParam(state.heat.hourFrom, state.heat.hourTo) });
  }
  function currentIncidents() {
    return incidentParams({ days: windowSteps[state.incidents.step], status: state.incidents.status });
  }

  function applyVisibility() {
    if (!map.isStyleLoaded() && !map.getStyle()) return;
    for (const [name, ids] of Object.entries(layerGroups)) {
      for (const id of ids) {
        if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', state.visible[name] ? 'visible' : 'none');
      }
    }
    if (map.getLayer('facilities')) map.setFilter('facilities', ['in', ['get', 'kind'], ['literal', state.facilityKinds]]);
    // Over a basemap the towns' fill turns translucent, so the basemap shows.
    if (map.getLayer('towns-fill')) map.setPaintProperty('towns-fill', 'fill-opacity', config.basemap && state.visible.basemap ? 0.15 : 1);
  }
  function refreshHeatTiles() {
    const src = map.getSource('heatmap');
    if (!src) return;
    const p = currentHeat();
    src.setTiles([services.heat === 'tiles' ? tileTemplate(api.origin, 'heatmap', p) : legacyHeatTemplate(api.origin, p)]);
  }
  function refreshIncidentTiles() {
    const src = map.getSource('incidents');
    if (src) src.setTiles([tileTemplate(api.origin, 'incidents', currentIncidents())]);
  }

  // ---- notices over the map ----
  function renderNotices() {
    const items = [];
    if (!services.tiles) items.push(h('div.note.warn', { 'data-testid': 'notice-tiles' }, t('msg.tilesMissing')));
    if (config.basemap && config.basemap_crs === 'gcj02' && state.visible.basemap) items.push(h('div.note.warn', t('msg.basemapGcj')));
    replace(notices, items);
  }

  // ---- legend ----
  function renderLegend() {
    const parts = [h('h4', t('legend.title'))];
    const v = state.visible;
    let any = false;
    const item = (sw, label) => h('div.item', sw, h('span', label));
    if (v.basemap && config.basemap) {
      any = true;
      parts.push(h('h4', t('layer.basemap')), h('div.caption', `${config.basemap_attribution || new URL(config.basemap).host} · ${config.basemap_crs === 'gcj02' ? 'GCJ-02' : 'WGS84 / CGCS2000'}`));
    }
    if (services.tiles && (v.towns || v.communities || v.cells)) {
      any = true;
      parts.push(h('h4', t('layers.grid')));
      if (v.towns) parts.push(item(h('span.swatch.line', { style: 'background:#3d4f66;height:3px' }), t('layer.towns')));
      if (v.communities) parts.push(item(h('span.swatch.dash'), t('layer.communities')));
      if (v.cells) parts.push(item(h('span.swatch.line', { style: 'background:#a9b6c6;height:1px' }), `${t('layer.cells')} · ${t('legend.cellsLabel')}`));
    }
    if (services.tiles && v.zones) {
      any = true;
      parts.push(h('h4', t('layer.zones')));
      for (const [k, c] of Object.entries(zoneColors)) parts.push(item(h('span.swatch', { style: `background:${c};opacity:.6` }), t(`zone.${k}`)));
    }
    if (services.tiles && v.facilities) {
      any = true;
      parts.push(h('h4', t('layer.facilities')));
      for (const k of state.facilityKinds) parts.push(item(h('span.swatch.dot', { style: `background:${facilityColors[k]}` }), t(`facility.${k}`)));
    }
    if (services.tiles && v.incidents && hasKey) {
      any = true;
      parts.push(h('h4', `${t('layer.incidents')} · ${windowLabel(state.incidents.step)}`));
      for (const s of statuses) {
        if (state.incidents.status && state.incidents.status !== s) continue;
        parts.push(item(h('span.swatch.dot', { style: `background:${statusColors[s]}` }), t(`status.${s}`)));
      }
      parts.push(item(h('span.ring'), t('status.overdue')));
      parts.push(item(h('span.swatch.dot', { style: 'background:rgba(36,52,71,.72);width:14px;height:14px' }), t('legend.aggregated')));
    }
    if (services.heat && v.heatmap) {
      any = true;
      parts.push(h('h4', `${t('layer.heatmap')} · ${t(`theme.${state.heat.theme}`)}`),
        h('div.caption', `${windowLabel(state.heat.step)} · ${hoursLabel()}`),
        h('div.ramp'), h('div.ramp-labels', h('span', '1'), h('span', '5'), h('span', '20'), h('span', '60'), h('span', '200+')),
        h('div.caption', t('legend.count')));
    }
    if (v.hotspots) {
      any = true;
      parts.push(h('h4', `${t('layer.hotspots')} · ${t(`theme.${state.hot.theme}`)}`));
      for (const b of [3, 2, 1, 0, -1, -2, -3]) parts.push(item(h('span.swatch', { style: `background:${hotBinColors[b]}` }), t(`hot.bin.${b}`)));
      parts.push(h('div.caption', `${windowLabel(state.hot.step)} · ${t('hot.res', { res: 8 })}`));
    }
    if (!any) parts.push(h('div.caption', t('legend.none')));
    replace(legend, parts);
  }

  function windowLabel(step) {
    const n = windowSteps[step];
    const k = `window.${n}`;
    return t(k) === k ? t('window.days', { n }) : t(k);
  }
  function hoursLabel() {
    const { hourFrom: a, hourTo: b } = state.heat;
    return a === 0 && b === 23 ? t('hours.all') : t('hours.range', { from: a, to: b + 1 });
  }

  // ---- tabs ----
  function renderTabs() {
    const tab = (id, key) => h('button.tab', {
      role: 'tab', 'aria-selected': state.tab === id ? 'true' : 'false', 'data-testid': `tab-${id}`,
      onclick: () => { state.tab = id; renderTabs(); renderPanel(); },
    }, t(key));
    replace(tabs, tab('layers', 'nav.layers'), tab('dispatch', 'nav.dispatch'), tab('planner', 'nav.planner'));
  }

  function renderPanel() {
    if (state.tab === 'layers') replace(panel, layersPanel());
    else if (state.tab === 'dispatch') replace(panel, dispatchPanel());
    else replace(panel, plannerPanel());
    if (state.tab === 'planner') loadPlanner();
  }

  // ---- layers tab ----
  function toggle(name, label, opts = {}) {
    const disabled = opts.disabled;
    return h(`label.check${disabled ? '.disabled' : ''}`,
      h('input', { type: 'checkbox', checked: state.visible[name] && !disabled, disabled, 'data-testid': `layer-${name}`,
        onchange: (e) => {
          state.visible[name] = e.target.checked;
          applyVisibility(); renderLegend(); renderNotices();
          if (name === 'hotspots' && e.target.checked) loadHotspots();
          if (name === 'heatmap' || name === 'hotspots' || name === 'incidents') renderPanel();
        } }),
      opts.swatch, h('span', label));
  }

  function layersPanel() {
    const noTiles = !services.tiles;
    const sec = [];
    const gridSec = [h('h2', t('layers.grid'))];
    if (config.basemap) gridSec.push(toggle('basemap', t('layer.basemap')));
    gridSec.push(
      toggle('towns', t('layer.towns'), { disabled: noTiles }),
      toggle('communities', t('layer.communities'), { disabled: noTiles }),
      toggle('cells', t('layer.cells'), { disabled: noTiles }),
      toggle('zones', t('layer.zones'), { disabled: noTiles }),
    );
    if (noTiles) gridSec.push(h('div.note.warn', t('msg.tilesMissing')));
    sec.push(h('div.section', gridSec));

    const ops = [h('h2', t('layers.operations')), toggle('facilities', t('layer.facilities'), { disabled: noTiles })];
    if (state.visible.facilities && !noTiles) {
      ops.push(h('div.sub', Object.keys(facilityColors).map((k) => h('label.check',
        h('input', { type: 'checkbox', checked: state.facilityKinds.includes(k), onchange: (e) => {
          state.facilityKinds = e.target.checked ? [...state.facilityKinds, k] : state.facilityKinds.filter((x) => x !== k);
          applyVisibility(); renderLegend();
        } }),
        h('span.swatch.dot', { style: `background:${facilityColors[k]}` }), h('span', t(`facility.${k}`))))));
    }
    ops.push(toggle('incidents', t('layer.incidents'), { disabled: noTiles || !hasKey }));
    if (!hasKey) ops.push(h('div.note.key', t('key.needsWhat', { what: t('layer.incidents') })));
    if (hasKey && !noTiles && state.visible.incidents) {
      ops.push(h('div.sub',
        h('label.field', h('span', t('incident.status')),
          h('select', { onchange: (e) => { state.incidents.status = e.target.value; refreshIncidentTiles(); renderLegend(); } },
            h('option', { value: '' }, t('status.all')),
            statuses.map((s) => h('option', { value: s, selected: state.incidents.status === s || undefined }, t(`status.${s}`))))),
        windowSlider(state.incidents, () => { refreshIncidentTiles(); renderLegend(); }),
      ));
    }
    sec.push(h('div.section', ops));

    const an = [h('h2', t('layers.analysis')), toggle('heatmap', t('layer.heatmap'), { disabled: !services.heat })];
    if (state.visible.heatmap && services.heat) {
      an.push(h('div.sub',
        themeSelect(state.heat.theme, (v) => { state.heat.theme = v; refreshHeatTiles(); renderLegend(); }, 'heat-theme'),
        windowSlider(state.heat, () => { refreshHeatTiles(); renderLegend(); }, 'heat-window'),
        hoursSliders(),
        services.heat === 'legacy' ? h('div.value-note', t('msg.heatFallback')) : null,
      ));
    }
    an.push(toggle('hotspots', t('layer.hotspots'), { disabled: !hasKey }));
    if (!hasKey) an.push(h('div.note.key', t('key.needsWhat', { what: t('layer.hotspots') })));
    if (hasKey && state.visible.hotspots) an.push(h('div.sub', hotspotControls()));
    sec.push(h('div.section', an));
    return sec;
  }

  function themeSelect(value, onchange, testid, withAll = false) {
    return h('label.field', h('span', t('theme.label')),
      h('select', { 'data-testid': testid, onchange: (e) => onchange(e.target.value) },
        withAll ? h('option', { value: '' }, t('theme.all')) : null,
        themesList.map((th) => h('option', { value: th, selected: value === th || undefined }, t(`theme.${th}`)))));
  }

  function windowSlider(obj, onchange, testid) {
    const label = h('span.value-note', windowLabel(obj.step));
    return h('label.field', h('span', t('window.label'), ' · ', label),
      h('input', { type: 'range', min: 0, max: windowSteps.length - 1, step: 1, value: obj.step, 'data-testid': testid,
        oninput: (e) => { obj.step = Number(e.target.value); label.textContent = windowLabel(obj.step); },
        onchange: () => onchange() }));
  }

  function hoursSliders() {
    const label = h('span.value-note', hoursLabel());
    const mk = (key) => h('input', { type: 'range', min: 0, max: 23, step: 1, value: state.heat[key], 'data-testid': `heat-${key}`,
      oninput: (e) => { state.heat[key] = Number(e.target.value); label.textContent = hoursLabel(); },
      onchange: () => { refreshHeatTiles(); renderLegend(); } });
    return h('div.field', h('span', t('hours.label'), ' · ', label), mk('hourFrom'), mk('hourTo'));
  }

  function hotspotControls() {
    const out = [
      themeSelect(state.hot.theme, (v) => { state.hot.theme = v; loadHotspots(); renderLegend(); }, 'hot-theme'),
      windowSlider(state.hot, () => { loadHotspots(); renderLegend(); }, 'hot-window'),
    ];
    if (state.hot.status === 'loading') out.push(h('div.value-note', t('hot.loading')));
    if (state.hot.status === 'done') out.push(h('div.value-note', t('hot.cells', { n: state.hot.data.features.length })));
    if (state.hot.problem) out.push(problemNote(state.hot.problem, t('layer.hotspots')));
    return out;
  }

  let hotSeq = 0;
  async function loadHotspots() {
    const seq = ++hotSeq;
    state.hot.status = 'loading';
    state.hot.problem = null;
    if (state.tab === 'layers') renderPanel();
    const [r, mod] = await Promise.all([
      api.get(hotspotsURL(api.origin, { theme: state.hot.theme, res: 8, days: windowSteps[state.hot.step] })),
      import('./hotspots.js'),
    ]);
    if (seq !== hotSeq) return;
    if (!r.ok) {
      state.hot.status = 'error';
      state.hot.problem = r;
    } else {
      state.hot.data = mod.hotspotFeatures(r.data.cells);
      state.hot.status = 'done';
      map.getSource('hotspots')?.setData(state.hot.data);
    }
    if (state.tab === 'layers') renderPanel();
  }

  // ---- dispatcher ----
  function dispatchPanel() {
    const d = state.dispatch;
    const input = h('input', { type: 'text', id: 'coord-input', 'data-testid': 'coord-input', placeholder: t('dispatch.placeholder'), value: d.input,
      onfocus: (e) => e.target.select(), // a paste replaces the last point
      onkeydown: (e) => { if (e.key === 'Enter') submit(); } });
    const crs = h('select', { id: 'coord-crs', 'data-testid': 'coord-crs' },
      crsList.map((c) => h('option', { value: c, selected: d.crs === c || undefined }, t(`crs.${c}`))));
    const submit = () => {
      d.input = input.value;
      d.crs = crs.value;
      const p = parseCoordinates(input.value);
      if (p.error) {
        d.problem = { reason: 'input', problem: { detail: t(p.error) } };
        d.result = null;
        renderPanel();
        return;
      }
      locate(p.lon, p.lat, crs.value, { fly: true });
    };
    const out = [h('div.section',
      h('h2', t('dispatch.title')),
      h('div.value-note', t('dispatch.hint')),
      h('label.field', h('span', t('dispatch.coords')), input),
      h('div.row', h('label.field.grow', h('span', t('dispatch.crs')), crs),
        h('button.btn.primary', { style: 'align-self:end;margin-bottom:8px', 'data-testid': 'locate-btn', onclick: submit }, t('dispatch.locate'))),
      categoryField(),
    )];
    if (state.incident) out.push(h('div.section', { id: 'incident-detail', 'data-testid': 'incident-detail' }, incidentView()));
    out.push(h('div.section', { id: 'dispatch-result', 'data-testid': 'dispatch-result', 'data-seq': String(d.seq), 'data-state': d.loading ? 'loading' : (d.result ? 'done' : (d.problem ? 'error' : 'idle')) }, resultView()));
    return out;
  }

  function categoryField() {
    const cats = ctx.categories;
    const sel = h('select', { id: 'category-select', 'data-testid': 'category-select',
      onchange: (e) => {
        state.dispatch.category = e.target.value;
        const p = state.dispatch.point;
        if (p) locate(p.lon, p.lat, p.crs, { fly: false });
      } },
    h('option', { value: '' }, t('dispatch.categoryNone')));
    if (cats) {
      const byMajor = new Map();
      for (const c of cats) {
        const g = `${c.kind === 'part' ? 'P' : 'E'} · ${c.major_name || c.code.slice(0, 3)}`;
        if (!byMajor.has(g)) byMajor.set(g, []);
        byMajor.get(g).push(c);
      }
      for (const [g, list] of byMajor) {
        sel.append(h('optgroup', { label: g }, list.map((c) => h('option', { value: c.code, selected: state.dispatch.category === c.code || undefined }, `${c.code} ${c.name}`))));
      }
    }
    return h('label.field', h('span', t('dispatch.category')), sel, cats ? null : h('div.note.error', t('msg.categoriesMissing')));
  }

  function resultView() {
    const d = state.dispatch;
    if (d.loading) return h('div.value-note', t('msg.loading'));
    if (d.problem) {
      if (d.problem.reason === 'missing') return h('div.note.warn', { 'data-testid': 'outside' }, t('dispatch.outside'));
      return problemNote(d.problem, t('dispatch.title'));
    }
    if (!d.result) return null;
    const r = d.result;
    const rows = [
      h('dt', t('dispatch.cell')), h('dd', h('div.code.big-code#dispatch-cell-code', { 'data-testid': 'cell-code' }, r.cell.code), h('div', r.cell.name)),
      h('dt', t('dispatch.community')), h('dd', h('span#dispatch-community', r.community.name), ' ', h('span.code.value-note', r.community.code)),
      h('dt', t('dispatch.town')), h('dd', h('span#dispatch-town', r.town.name), ' ', h('span.code.value-note', r.town.code)),
    ];
    if (r.department) {
      rows.push(h('dt', t('dispatch.department')), h('dd',
        h('div.dept#dispatch-department', { 'data-testid': 'department', 'data-code': r.department.code }, r.department.name || r.department.code),
        h('div.code.value-note#dispatch-department-code', r.department.code)));
      if (r.rule) rows.push(h('dt', t('dispatch.rule')), h('dd.rule', { 'data-testid': 'rule' }, ruleText(r.rule)));
    }
    rows.push(h('dt', t('dispatch.gridVersion')), h('dd.code', String(r.grid_version)));
    const out = [h('dl.kv', rows)];
    if (d.crs !== 'wgs84') out.push(h('div.note', t('dispatch.shiftNote')));
    out.push(h('h3', { style: 'margin-top:14px' }, t('dispatch.cameras')));
    if (d.cameras === null) out.push(h('div.value-note', t('msg.loading')));
    else if (d.cameras.problem) out.push(problemNote(d.cameras.problem, t('dispatch.cameras')));
    else if (!d.cameras.list.length) out.push(h('div.value-note', t('dispatch.camerasNone')));
    else {
      out.push(h('ul.list', { 'data-testid': 'cameras' }, d.cameras.list.map((f, i) => h('li',
        h('span.rank', String(i + 1)),
        h('div', h('div', f.name || f.code), h('div.code.value-note', f.code)),
        h('span.dist', t('dispatch.meters', { m: Math.round(f.meters) }))))));
    }
    return out;
  }

  function ruleText(rule) {
    const parts = [];
    const where = rule.scope === 'zone_kind' ? t(`zone.${rule.scope_code}`) : rule.scope_code;
    parts.push(rule.fallback ? t('rule.fallback') : t(`rule.scope.${rule.scope}`) + (where ? ` ${where}` : ''));
    if (rule.zone) parts.push(rule.zone);
    parts.push(t('rule.pattern', { pattern: rule.pattern }));
    if (rule.priority) parts.push(t('rule.priority', { p: rule.priority }));
    parts.push(`#${rule.id}`);
    return parts.join(' · ');
  }

  async function locate(lon, lat, crs, { fly }) {
    const d = state.dispatch;
    const seq = ++d.seq;
    Object.assign(d, { loading: true, result: null, cameras: null, problem: null, point: { lon, lat, crs }, crs });
    d.input = `${lon.toFixed(6)}, ${lat.toFixed(6)}`;
    state.incident = null;
    state.tab = 'dispatch';
    renderTabs(); renderPanel();
    const [loc, near] = await Promise.all([
      api.get(locateURL(api.origin, { lon, lat, crs, category: d.category })),
      api.get(nearestURL(api.origin, { lon, lat, crs, kind: 'camera', k: 5 })),
    ]);
    if (seq !== d.seq) return;
    d.loading = false;
    if (!loc.ok) d.problem = loc;
    else d.result = loc.data;
    d.cameras = near.ok ? { list: near.data.facilities ?? [] } : { problem: near, list: [] };
    window.citygrid.lastLocate = { lon, lat, crs, category: d.category, result: d.result, seq };
    renderPanel();
    document.body.dataset.locateSeq = String(seq);
    // The selection on the map: the point and cameras when they are WGS84,
    // and the owning cell's outline in every case.
    const feats = [];
    if (crs === 'wgs84') {
      feats.push({ type: 'Feature', properties: { role: 'point' }, geometry: { type: 'Point', coordinates: [lon, lat] } });
      for (const [i, f] of (d.cameras.list ?? []).entries()) {
        feats.push({ type: 'Feature', properties: { role: 'camera', rank: String(i + 1) }, geometry: { type: 'Point', coordinates: [f.lon, f.lat] } });
      }
    }
    setSelection(feats);
    if (d.result) {
      const cell = await api.get(cellURL(api.origin, d.result.cell.code));
      if (seq !== d.seq || !cell.ok) return;
      setSelection([{ type: 'Feature', properties: { role: 'cell' }, geometry: cell.data.geometry }, ...feats]);
      if (fly) {
        const b = bbox(cell.data.geometry);
        map.fitBounds(b, { padding: 80, maxZoom: 16, duration: 600 });
      }
    }
  }

  function setSelection(features) {
    map.getSource('selection')?.setData({ type: 'FeatureCollection', features });
  }

  // ---- incidents ----
  async function showIncident(id) {
    state.incident = { id, loading: true };
    state.tab = 'dispatch';
    renderTabs(); renderPanel();
    const r = await api.get(incidentURL(api.origin, id));
    state.incident = r.ok ? { id, data: r.data } : { id, problem: r };
    renderPanel();
    if (r.ok) {
      const p = [r.data.lon, r.data.lat];
      setSelection([{ type: 'Feature', properties: { role: 'point' }, geometry: { type: 'Point', coordinates: p } }]);
      map.easeTo({ center: p, zoom: Math.max(map.getZoom(), 15), duration: 500 });
    }
  }

  function incidentView() {
    const s = state.incident;
    if (s.loading) return h('div.value-note', t('msg.loading'));
    if (s.problem) return problemNote(s.problem, t('layer.incidents'));
    const x = s.data;
    const cat = ctx.categories?.find((c) => c.code === x.category.code);
    const out = [
      h('h3', t('incident.title', { id: x.id }), ' ',
        h('span.badge', { style: `background:${statusColors[x.status] ?? '#777'}` }, t(`status.${x.status}`)), ' ',
        x.overdue ? h('span.badge.overdue', t('incident.overdue')) : null, ' ',
        x.supervised ? h('span.badge.soft', t('incident.supervised')) : null),
      h('dl.kv',
        h('dt', t('incident.category')), h('dd', cat ? `${cat.code} ${cat.name}` : x.category.code),
        h('dt', t('incident.occurred')), h('dd', fmtTime(x.occurred_at, lang())),
        h('dt', t('incident.deadline')), h('dd', { style: x.overdue ? 'color:#c62828' : '' }, fmtTime(x.deadline, lang())),
        h('dt', t('incident.department')), h('dd', x.department.name || x.department.code),
        h('dt', t('incident.cell')), h('dd.code', x.cell.code),
        h('dt', t('incident.source')), h('dd', t(`source.${x.source}`) === `source.${x.source}` ? x.source : t(`source.${x.source}`)),
        x.description ? [h('dt', t('incident.description')), h('dd', x.description)] : null),
    ];
    if (x.events?.length) {
      out.push(h('h3', { style: 'margin-top:12px' }, t('incident.trail')),
        h('ul.trail', x.events.map((ev) => h('li',
          h('div', h('b', t(`action.${ev.action}`) === `action.${ev.action}` ? ev.action : t(`action.${ev.action}`)),
            ' → ', t(`status.${ev.to}`)),
          h('div.when', fmtTime(ev.at, lang()), ev.actor ? ` · ${ev.actor}` : ''),
          ev.note ? h('div', ev.note) : null))));
    }
    const allowed = x.allowed_actions ?? [];
    if (allowed.length) {
      out.push(h('h3', { style: 'margin-top:12px' }, t('incident.actions')));
      if (!api.key()) out.push(h('div.note.key', t('incident.actionsNeedKey')));
      else {
        const note = h('textarea', { placeholder: t('incident.note') });
        out.push(note, h('div.actions', allowed.map((a) => h(`button.btn${a === 'dismiss' ? '.danger' : ''}`, {
          'data-action': a,
          onclick: async () => {
            const r = await api.post(eventsURL(api.origin, x.id), { action: a, note: note.value || undefined, actor: 'web' });
            state.incident = r.ok ? { id: x.id, data: r.data, done: a } : { id: x.id, data: x, actionProblem: r };
            renderPanel();
            refreshIncidentTiles();
          },
        }, t(`action.${a}`)))));
      }
    }
    if (s.done) out.push(h('div.note', { 'data-testid': 'incident-done' }, t('incident.done', { action: t(`action.${s.done}`) })));
    if (s.actionProblem) out.push(problemNote(s.actionProblem, t('incident.actions')));
    return out;
  }

  // ---- planner ----
  function plannerPanel() {
    const p = state.planner;
    return [
      h('div.section',
        h('h2', t('planner.title')),
        themeSelect(p.theme, (v) => { p.theme = v; loadPlanner(); }, 'planner-theme', true),
        windowSlider(p, () => loadPlanner(), 'planner-window'),
        h('label.field', h('span', t('planner.interval')),
          h('select', { onchange: (e) => { p.interval = e.target.value; loadPlanner(); } },
            ['day', 'week', 'month'].map((i) => h('option', { value: i, selected: p.interval === i || undefined }, t(`interval.${i}`))))),
        h('label.check', h('input', { type: 'checkbox', checked: state.visible.hotspots, disabled: !hasKey, onchange: (e) => {
          state.visible.hotspots = e.target.checked;
          if (p.theme) state.hot.theme = p.theme;
          state.hot.step = p.step;
          applyVisibility(); renderLegend();
          if (e.target.checked) loadHotspots();
        } }), h('span', t('planner.hotspots'))),
        h('div#planner-status'),
      ),
      h('div.section', h('h3', t('planner.topCells')), h('div.chart#chart-top')),
      h('div.section', h('h3', t('planner.trend')), h('div.chart#chart-trend')),
      h('div.section', h('h3', t('planner.departments')), h('div.chart.tall#chart-dept')),
    ];
  }

  let plannerSeq = 0;
  async function loadPlanner() {
    const seq = ++plannerSeq;
    const p = state.planner;
    const days = windowSteps[p.step];
    const status = document.getElementById('planner-status');
    if (status) replace(status, h('div.value-note', t('msg.loading')));
    const [charts, top, trend, dept] = await Promise.all([
      import('./charts.js'),
      api.get(statsURL(api.origin, { groupBy: 'cell', theme: p.theme, days, top: 10 })),
      api.get(statsURL(api.origin, { groupBy: 'town', theme: p.theme, days, interval: p.interval })),
      api.get(statsURL(api.origin, { groupBy: 'department', theme: p.theme, days, top: 15 })),
    ]);
    if (seq !== plannerSeq || state.tab !== 'planner') return;
    const st = document.getElementById('planner-status');
    const bad = [top, trend, dept].find((r) => !r.ok);
    if (bad) {
      replace(st, problemNote(bad, t('planner.title')));
      for (const id of ['chart-top', 'chart-trend', 'chart-dept']) document.getElementById(id).closest('.section').hidden = true;
      return;
    }
    replace(st);
    for (const id of ['chart-top', 'chart-trend', 'chart-dept']) document.getElementById(id).closest('.section').hidden = false;
    const el = (id) => document.getElementById(id);
    const empty = (id) => replace(el(id), h('div.value-note', { style: 'padding:20px 0' }, t('planner.empty')));
    const tg = top.data.groups;
    if (!tg.length) empty('chart-top');
    else charts.barChart(el('chart-top'), { labels: tg.map((g) => (g.name ? g.name.split('-').slice(1).join('-') || g.name : g.code)), values: tg.map((g) => g.total) });

    const groups = trend.data.groups;
    if (!groups.length) empty('chart-trend');
    else {
      const x = groups[0].series.map((b) => fmtBucket(b.start, p.interval));
      const total = x.map((_, i) => groups.reduce((s, g) => s + (g.series[i]?.count ?? 0), 0));
      const series = [{ name: lang() === 'en' ? 'City' : '全市', data: total, area: true },
        ...groups.slice(0, 4).map((g) => ({ name: g.name || g.code, data: g.series.map((b) => b.count) }))];
      charts.lineChart(el('chart-trend'), { x, series });
    }
    const dg = dept.data.groups.filter((g) => g.ratios && g.ratios.on_time_closure !== null)
      .sort((a, b) => b.ratios.on_time_closure - a.ratios.on_time_closure);
    if (!dg.length) empty('chart-dept');
    else charts.barChart(el('chart-dept'), { labels: dg.map((g) => g.name || g.code), values: dg.map((g) => g.ratios.on_time_closure), percent: true, max: 1, color: '#3c9a3f' });
  }

  function fmtBucket(iso, interval) {
    const d = new Date(iso);
    const opts = { timeZone: 'Asia/Shanghai' };
    if (interval === 'month') return d.toLocaleDateString(lang() === 'en' ? 'en-GB' : 'zh-CN', { ...opts, year: '2-digit', month: 'short' });
    return d.toLocaleDateString(lang() === 'en' ? 'en-GB' : 'zh-CN', { ...opts, month: '2-digit', day: '2-digit' });
  }

  // ---- shared ----
  function problemNote(r, what) {
    if (r.reason === 'needsKey') return h('div.note.key', { 'data-testid': 'needs-key' }, t('key.needsWhat', { what }));
    if (r.reason === 'badKey') return h('div.note.error', t('key.invalid'));
    if (r.reason === 'forbidden') return h('div.note.error', t('key.forbidden', { what }));
    if (r.reason === 'network') return h('div.note.error', t('msg.network'));
    if (r.reason === 'input') return h('div.note.error', { 'data-testid': 'input-error' }, r.problem.detail);
    return h('div.note.error', t('msg.error', { detail: r.problem?.detail || r.problem?.title || `HTTP ${r.status}` }));
  }

  map.on('click', (e) => {
    const layers = ['incidents', 'incidents-agg'].filter((id) => map.getLayer(id) && state.visible.incidents);
    const hits = layers.length ? map.queryRenderedFeatures(e.point, { layers }) : [];
    const hit = hits.find((f) => f.layer.id === 'incidents');
    if (hit) {
      const id = hit.properties.id ?? hit.id;
      if (id !== undefined) return void showIncident(id);
    }
    if (hits.length) {
      map.easeTo({ center: e.lngLat, zoom: Math.min(map.getZoom() + 2, 18) });
      return;
    }
    locate(e.lngLat.lng, e.lngLat.lat, 'wgs84', { fly: false });
  });
  for (const id of ['incidents', 'incidents-agg']) {
    map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
  }
  map.on('load', () => {
    if (state.hot.data) map.getSource('hotspots')?.setData(state.hot.data);
  });

  function render() {
    renderTabs();
    renderPanel();
    renderLegend();
    renderNotices();
  }
  render();
  return { render, map, state };
}

function bbox(geom) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      minX = Math.min(minX, c[0]); maxX = Math.max(maxX, c[0]);
      minY = Math.min(minY, c[1]); maxY = Math.max(maxY, c[1]);
    } else c.forEach(walk);
  };
  walk(geom.coordinates);
  return [[minX, minY], [maxX, maxY]];
}

