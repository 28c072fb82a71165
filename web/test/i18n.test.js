import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dict, languages, initLang, lang, setLang, t } from '../src/i18n.js';

const memory = () => {
  const m = new Map();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
};

describe('the dictionary', () => {
  it('has every key in both languages, none empty', () => {
    const zh = Object.keys(dict.zh).sort();
    const en = Object.keys(dict.en).sort();
    expect(en).toEqual(zh);
    for (const l of languages) {
      for (const [k, v] of Object.entries(dict[l])) expect(v.trim(), `${l} ${k}`).not.toBe('');
    }
  });

  it('fills the same placeholders in both languages', () => {
    const holes = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const k of Object.keys(dict.zh)) expect(holes(dict.en[k]), k).toEqual(holes(dict.zh[k]));
  });

  it('has every key the sources ask for', () => {
    const src = join(import.meta.dirname, '..', 'src');
    const missing = [];
    for (const f of readdirSync(src).filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(join(src, f), 'utf8');
      for (const m of text.matchAll(/\bt\('([a-zA-Z][\w.-]*)'/g)) {
        if (!(m[1] in dict.zh)) missing.push(`${f}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('names every status, action, theme, facility and zone kind the server knows', () => {
    const keys = [
      ...['collected', 'registered', 'dispatched', 'handled', 'closed', 'evaluated', 'cancelled', 'parked'].map((s) => `status.${s}`),
      ...['register', 'dismiss', 'dispatch', 'return', 'report', 'verify', 'reject', 'extend', 'supervise', 'park', 'unpark', 'evaluate'].map((a) => `action.${a}`),
      ...['parking', 'waterlogging', 'sanitation'].map((x) => `theme.${x}`),
      ...['camera', 'gas_company', 'gas_point', 'toilet', 'transfer_station', 'waterlog_sensor'].map((x) => `facility.${x}`),
      ...['urban_core', 'park', 'arterial_road', 'scenic_area', 'river_bank'].map((x) => `zone.${x}`),
      ...['zone', 'zone_kind', 'cell', 'community', 'town', 'city'].map((x) => `rule.scope.${x}`),
      ...[3, 2, 1, 0, -1, -2, -3].map((b) => `hot.bin.${b}`),
    ];
    for (const k of keys) expect(dict.zh, k).toHaveProperty([k]);
  });
});

describe('language', () => {
  it('is Chinese by default and remembers English', () => {
    const s = memory();
    expect(initLang(s)).toBe('zh');
    expect(t('nav.dispatch')).toBe('调度');
    setLang('en', s);
    expect(t('nav.dispatch')).toBe('Dispatch');
    expect(s.getItem('citygrid.lang')).toBe('en');
    expect(initLang(s)).toBe('en');
    expect(initLang(memory())).toBe('zh');
    s.setItem('citygrid.lang', 'fr');
    expect(initLang(s)).toBe('zh');
    expect(() => setLang('fr', s)).toThrow();
    expect(lang()).toBe('zh');
  });

  it('fills placeholders', () => {
    initLang(memory());
    expect(t('incident.title', { id: 42 })).toBe('案件 #42');
    expect(t('dispatch.meters', { m: 5 })).toBe('5 米');
    expect(t('no.such.key')).toBe('no.such.key');
  });
});
