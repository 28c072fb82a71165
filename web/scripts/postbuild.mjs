// After vite build and the glyphs: precompress what is worth it (the Go
// server sends the .gz to clients that accept gzip) and record the hash of
// the sources, so a Go test can tell a stale dist.
import { gzipSync, constants } from 'node:zlib';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceHash } from './sourcehash.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(web, 'dist');
const compressible = /\.(js|mjs|css|html|json|pbf|svg)$/;

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const rows = [];
for (const p of walk(dist)) {
  if (!compressible.test(p)) continue;
  const raw = readFileSync(p);
  if (raw.length < 1024) continue;
  const gz = gzipSync(raw, { level: constants.Z_BEST_COMPRESSION, mtime: 0 });
  if (gz.length >= raw.length * 0.9) continue;
  writeFileSync(`${p}.gz`, gz);
  rows.push([relative(dist, p), raw.length, gz.length]);
}
writeFileSync(join(dist, 'source-hash.txt'), `${sourceHash(web)}\n`);
rows.sort((a, b) => b[1] - a[1]);
for (const [p, raw, gz] of rows.filter(([p]) => !p.startsWith('glyphs/'))) {
  console.log(`${p.padEnd(48)} ${(raw / 1024).toFixed(1).padStart(8)} KiB  gzip ${(gz / 1024).toFixed(1).padStart(7)} KiB`);
}
const g = rows.filter(([p]) => p.startsWith('glyphs/'));
console.log(`glyphs/ (${g.length} files)`.padEnd(48), `${(g.reduce((s, r) => s + r[1], 0) / 1024).toFixed(1).padStart(8)} KiB  gzip ${(g.reduce((s, r) => s + r[2], 0) / 1024).toFixed(1).padStart(7)} KiB`);
