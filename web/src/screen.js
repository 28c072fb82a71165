// The big screen (/screen, /#screen): the city on the wall of the centre,
// dark, refreshing itself every 30 s from /v1/overview without a reload.
import { t, lang } from './i18n.js';
import { h, replace, fmtPercent, fmtNumber } from './dom.js';
import { buildStyle } from './style.js';
import { createMap } from './mapview.js';
import { heatParams, overviewURL, tileTemplate, legacyHeatTemplate } from './urls.js';

const themesList = ['parking', 'waterlogging', 'sanitation'];
export const refreshMs = 30_000;

export function startScreen(ctx) {
  const { api, services, root } = ctx;
  document.body.classList.add('screen-mode');
  const state = { themeIdx: 0, data: null, problem: null, updated: null, charts: null };

  const kpi = (cls, key, testid) => h(`div.kpi.${cls}`,
    h('div.label', t(key)),
    h('div.num', { id: `screen-${cls}`, 'data-testid': testid }, '—'),
    h('div.month', { id: `screen-${cls}-month` }, ''));
  const clock = h('span.screen-clock#screen-clock');
  const updated = h('span.screen-meta#screen-updated');
  const status = h('div#screen-status');
  const mapEl = h('div#map');
  const heatLabel = h('div.overlay#screen-heat-label');
  const byTheme = h('tbody#screen-by-theme');
  const rate = h('span.num#screen-ontime', { 'data-testid': 'screen-ontime' }, '—');
  const rateBar = h('div', { style: 'width:0%' });
  const townChart = h('div.chart#screen-towns', { style: 'height:380px' });
  const dailyChart = h('div.chart#screen-daily', { style: 'height:200px' });
  const topCells = h('ol.toplist#screen-top-cells');

  root.replaceChildren(h('div.screen', { 'data-testid': 'screen' },
    h('header.screen-head',
      h('div.brand-mark', '格'),
      h('div.screen-title', t('screen.title')),
      clock,
      h('div.spacer'),
      updated,
      h('span.screen-meta', t('screen.refreshEvery')),
      ctx.langButton(),
      h('a.bar-btn', { href: '/', 'data-testid': 'screen-exit' }, t('screen.exit'))),
    h('div.screen-body',
      h('div.col',
        h('section.card', h('h3', t('screen.today')),
          h('div.kpis', kpi('new', 'screen.new', 'screen-new'), kpi('closed', 'screen.closed', 'screen-closed'),
            kpi('overdue', 'screen.overdue', 'screen-overdue'), kpi('supervised', 'screen.supervised', 'screen-supervised'))),
        h('section.card', h('h3', t('screen.onTime')), h('div.rate', rate, h('span.screen-meta', t('screen.month'))), h('div.rate-bar', rateBar)),
        h('section.card', h('h3', t('screen.byTheme')),
          h('table.themes', h('thead', h('tr', h('th', ''), h('th', t('screen.new')), h('th', t('screen.closed')), h('th', t('screen.overdue')))), byTheme)),
        status,
      ),
      h('div.screen-map', mapEl, heatLabel,
        h('div.heat-legend', h('div', t('legend.count')), h('div.ramp', { style: 'height:8px;border-radius:2px;background:linear-gradient(90deg,#ffffb2,#fecc5c,#fd8d3c,#f03b20,#bd0026);margin:4px 0' }),
          h('div', { style: 'display:flex;justify-content:space-between' }, h('span', t('legend.low')), h('span', t('legend.high'))))),
      h('div.col.right',
        h('section.card', h('h3', t('screen.byTown')), townChart),
        h('section.card', h('h3', t('screen.daily')), dailyChart),
        h('section.card', h('h3', t('screen.topCells')), topCells),
      ),
    ),
  ));

  const heat = () => heatParams({ theme: themesList[state.themeIdx], days: 1 });
  const map = createMap({
    container: mapEl, api, hash: false, controls: false, lang: lang(),
    style: buildStyle({
      origin: api.origin, tiles: services.tiles, heatTiles: services.heat, heat: heat(), incidents: null, basemap: {},
      theme: 'dark', visible: { towns: true, communities: false, cells: false, heatmap: true },
    }),
  });
  const fit = () => map.fitBounds([[120.86, 28.62], [121.71, 29.08]], { padding: 20, duration: 0 });
  fit();
  map.once('load', () => { map.resize(); fit(); });
  window.citygrid = { map, state, api, services };
  map.on('error', (e) => { if (!e?.error?.status) console.warn('map:', e?.error?.message ?? e); });

  function tick() {
    clock.textContent = new Date().toLocaleString(lang() === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', dateStyle: 'medium', timeStyle: 'medium' });
  }
  tick();
  setInterval(tick, 1000);

  async function refresh() {
    const r = await api.get(overviewURL(api.origin, { level: 'city' }));
    state.updated = new Date();
    if (r.ok) {
      state.data = r.data;
      state.problem = null;
    } else {
      state.problem = r;
    }
    render();
    // The heat layer follows the last 24 hours, one theme after another.
    state.themeIdx = (state.themeIdx + 1) % themesList.length;
    const src = map.getSource('heatmap');
    if (src) {
      src.setTiles([services.heat === 'tiles' ? tileTemplate(api.origin, 'heatmap', heat()) : legacyHeatTemplate(api.origin, heat())]);
    }
    heatLabel.textContent = t('screen.heatTheme', { theme: t(`theme.${themesList[state.themeIdx]}`) }) + ` · ${t('window.1')}`;
    document.body.dataset.screenRefreshed = String(Number(document.body.dataset.screenRefreshed || 0) + 1);
  }

  function render() {
    updated.textContent = state.updated ? t('screen.updated', { time: state.updated.toLocaleTimeString(lang() === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai' }) }) : '';
    const p = state.problem;
    if (p) {
      const msg = p.reason === 'needsKey' ? t('key.needsWhat', { what: t('nav.screen') })
        : p.reason === 'missing' ? t('msg.overviewMissing')
        : p.reason === 'badKey' ? t('key.invalid')
        : p.reason === 'forbidden' ? t('key.forbidden', { what: t('nav.screen') })
        : t('msg.error', { detail: p.problem?.detail ?? p.status });
      replace(status, h('div.note', { 'data-testid': 'screen-notice', 'data-reason': p.reason }, msg));
    } else replace(status);
    const d = state.data;
    if (!d) return;
    const set = (id, v) => { document.getElementById(id).textContent = fmtNumber(v, lang()); };
    set('screen-new', d.today?.new); set('screen-closed', d.today?.closed);
    set('screen-overdue', d.today?.overdue); set('screen-supervised', d.today?.supervised);
    for (const k of ['new', 'closed', 'overdue', 'supervised']) {
      document.getElementById(`screen-${k}-month`).textContent = `${t('screen.month')} ${fmtNumber(d.month?.[k], lang())}`;
    }
    rate.textContent = fmtPercent(d.on_time_closure_rate);
    rateBar.style.width = d.on_time_closure_rate === null || d.on_time_closure_rate === undefined ? '0%' : `${Math.round(d.on_time_closure_rate * 100)}%`;
    replace(byTheme, themesList.map((th) => {
      const x = d.today?.by_theme?.[th] ?? {};
      return h('tr', h('td', t(`theme.${th}`)), h('td', fmtNumber(x.new ?? 0)), h('td', fmtNumber(x.closed ?? 0)), h('td', { style: x.overdue ? 'color:#ff6b6b' : '' }, fmtNumber(x.overdue ?? 0)));
    }));
    replace(topCells, (d.top_cells ?? []).slice(0, 8).map((c, i) => h('li', h('span.i', String(i + 1)), h('span', c.name || c.code), h('span.code', { style: 'color:#5f7fa3' }, c.code.slice(-6)), h('span.n', fmtNumber(c.count)))));
    import('./charts.js').then((charts) => {
      const kids = [...(d.children ?? [])].sort((a, b) => (b.today?.new ?? 0) - (a.today?.new ?? 0));
      charts.groupedBars(townChart, {
        dark: true, labels: kids.map((k) => k.name),
        series: [
          { name: t('screen.new'), data: kids.map((k) => k.today?.new ?? 0) },
          { name: t('screen.closed'), data: kids.map((k) => k.today?.closed ?? 0) },
          { name: t('screen.overdue'), data: kids.map((k) => k.today?.overdue ?? 0) },
        ],
      });
      const days = d.daily ?? [];
      charts.lineChart(dailyChart, {
        dark: true, x: days.map((x) => x.day.slice(5)),
        series: [{ name: t('screen.new'), data: days.map((x) => x.new), area: true }, { name: t('screen.closed'), data: days.map((x) => x.closed) }],
      });
    });
  }

  refresh();
  setInterval(refresh, refreshMs);
  return { render: () => render(), map };
}
