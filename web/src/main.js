// Entry: reads the server's configuration and what it serves, then starts
// the map page or the big screen.
import 'maplibre-gl/dist/maplibre-gl.css';
import './app.css';
import { initLang, lang, setLang, t } from './i18n.js';
import { h, replace } from './dom.js';
import { createApi } from './api.js';
import { categoriesURL, tileJSON, gridLayers } from './urls.js';
import { startMapApp } from './mapapp.js';
import { startScreen } from './screen.js';
import { startWorkers } from './mapview.js';

startWorkers();
const storage = window.localStorage;
initLang(storage);
document.documentElement.lang = lang() === 'en' ? 'en' : 'zh-CN';
const api = createApi(location.origin, storage);
const root = document.getElementById('app');
const isScreen = location.pathname.replace(/\/+$/, '') === '/screen' || /^#screen(&|$)/.test(location.hash);

async function probe(url) {
  // A TileJSON answer says the tiles are served; 404 that they are not yet.
  const r = await api.get(url);
  return r.ok || (r.status !== 404 && r.status !== 0);
}

async function main() {
  document.title = t(isScreen ? 'screen.title' : 'app.title');
  const [config, cats, tiles, heatTiles] = await Promise.all([
    api.get(`${api.origin}/config.json`),
    api.get(categoriesURL(api.origin)),
    probe(tileJSON(api.origin, gridLayers)),
    probe(tileJSON(api.origin, 'heatmap')),
  ]);
  let bar, tabsEl;
  const services = { tiles, heat: heatTiles ? 'tiles' : 'legacy', overview: null };
  const ctx = {
    api, root, services,
    config: config.ok ? config.data : {},
    categories: cats.ok ? cats.data.categories : null,
    langButton,
    topbar,
  };
  document.body.dataset.tiles = tiles ? '1' : '0';
  ctx.app = isScreen ? startScreen(ctx) : startMapApp(ctx);

  function langButton() {
    return h('button.bar-btn', { id: 'lang-toggle', 'data-testid': 'lang-toggle', title: t('lang.toggle'),
      onclick: () => {
        setLang(lang() === 'zh' ? 'en' : 'zh', storage);
        document.documentElement.lang = lang() === 'en' ? 'en' : 'zh-CN';
        document.title = t(isScreen ? 'screen.title' : 'app.title');
        document.body.dataset.lang = lang();
        if (isScreen) location.reload(); // the wall has nothing to keep
        else { renderTopbar(); ctx.app.render(); }
      } }, t('lang.toggle'));
  }

  function topbar(tabs) {
    tabsEl = tabs;
    bar = h('header.topbar');
    renderTopbar();
    return bar;
  }
  function renderTopbar() {
    const key = api.key();
    replace(bar,
      h('div.brand', h('div.brand-mark', '格'), h('div', h('div.brand-title', t('app.title')), h('div.brand-sub', t('app.subtitle')))),
      tabsEl,
      h('div.spacer'),
      h(`span.keystate${key ? '.has-key' : ''}`, { 'data-testid': 'key-state' }, key ? t('key.setNoRole') : t('key.public')),
      h('button.bar-btn', { 'data-testid': 'key-button', onclick: keyDialog }, t('key.button')),
      langButton(),
      h('a.bar-btn', { href: '/screen', 'data-testid': 'screen-link' }, t('nav.screen')));
  }

  function keyDialog() {
    const input = h('input', { type: 'password', placeholder: t('key.placeholder'), value: api.key(), 'data-testid': 'key-input' });
    const msg = h('div');
    const close = () => back.remove();
    const back = h('div.modal-back', { onclick: (e) => { if (e.target === back) close(); } },
      h('div.modal',
        h('h3', t('key.title')),
        h('p.value-note', t('key.help')),
        input, msg,
        h('div.actions', { style: 'justify-content:flex-end' },
          h('button.btn', { onclick: () => { api.setKey(''); location.reload(); } }, t('key.clear')),
          h('button.btn', { onclick: close }, t('key.cancel')),
          h('button.btn.primary', { 'data-testid': 'key-save', onclick: async () => {
            const k = input.value.trim();
            // Any key may read incidents: one row says whether it is valid.
            const r = await api.request(`${api.origin}/v1/incidents?limit=1`, { key: k });
            if (r.status === 401) { replace(msg, h('div.note.error', t('key.invalid'))); return; }
            api.setKey(k);
            location.reload(); // tiles and layers are requested anew with the key
          } }, t('key.save')))));
    document.body.append(back);
    input.focus();
  }
}

main();
