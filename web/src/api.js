// Fetches from citygrid with the API key (if one is saved), turning every
// answer into {ok, status, data, problem, reason}. reason: 'needsKey' (401
// without a key), 'badKey' (401 with one), 'forbidden' (403), 'missing'
// (404), 'network', 'error'.

const keyStorage = 'citygrid.key';

export function createApi(origin, storage) {
  const api = {
    origin,
    key() {
      return storage?.getItem(keyStorage) || '';
    },
    setKey(k) {
      if (k) storage?.setItem(keyStorage, k.trim());
      else storage?.removeItem(keyStorage);
    },
    headers(extra = {}) {
      const k = api.key();
      return k ? { ...extra, Authorization: `Bearer ${k}` } : extra;
    },
    async get(url, opts = {}) {
      return api.request(url, { ...opts, method: 'GET' });
    },
    async post(url, body) {
      return api.request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    },
    async request(url, { method = 'GET', body, headers = {}, key } = {}) {
      const h = key === undefined ? api.headers(headers) : (key ? { ...headers, Authorization: `Bearer ${key}` } : headers);
      let resp;
      try {
        resp = await fetch(url, { method, body, headers: { Accept: 'application/json', ...h } });
      } catch (e) {
        return { ok: false, status: 0, reason: 'network', problem: { detail: String(e) } };
      }
      let data = null;
      const text = await resp.text();
      if (text) {
        try {
          data = JSON.parse(text);
        } catch {
          data = null;
        }
      }
      if (resp.ok) return { ok: true, status: resp.status, data };
      const sentKey = 'Authorization' in h;
      const reason = resp.status === 401 ? (sentKey ? 'badKey' : 'needsKey')
        : resp.status === 403 ? 'forbidden'
        : resp.status === 404 ? 'missing'
        : 'error';
      return { ok: false, status: resp.status, reason, problem: data ?? { detail: `HTTP ${resp.status}` } };
    },
  };
  return api;
}
