// The hash of the web map's sources, written into dist by the build and
// recomputed by a Go test (web/dist_test.go) that fails when dist is stale.
// It is the SHA-256 of lines "<sha256 of file>  <path>\n", paths relative
// to web/ in byte order, over src/, scripts/, index.html, package.json,
// package-lock.json and vite.config.js.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export const sourceRoots = ['index.html', 'package.json', 'package-lock.json', 'scripts', 'src', 'vite.config.js'];

function walk(dir, root, out) {
  const st = statSync(join(root, dir));
  if (st.isFile()) {
    out.push(dir);
    return;
  }
  for (const name of readdirSync(join(root, dir))) walk(join(dir, name), root, out);
}

export function sourceHash(root) {
  const files = [];
  for (const r of sourceRoots) walk(r, root, files);
  const paths = files.map((f) => relative(root, join(root, f)).split(sep).join('/'));
  paths.sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  const all = createHash('sha256');
  for (const p of paths) {
    const h = createHash('sha256').update(readFileSync(join(root, p))).digest('hex');
    all.update(`${h}  ${p}\n`);
  }
  return all.digest('hex');
}
