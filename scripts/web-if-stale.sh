#!/usr/bin/env bash
# Rebuilds the web map (make web) when its sources no longer match the hash
# recorded in web/dist and npm is installed; otherwise leaves the committed
# bundle alone. The hash is the one web/scripts/sourcehash.mjs and
# web/dist_test.go compute: SHA-256 over "<sha256>  <path>" lines.
set -euo pipefail
cd "$(dirname "$0")/../web"
current="$(find index.html package.json package-lock.json scripts src vite.config.js -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
built="$(cat dist/source-hash.txt 2>/dev/null || true)"
if [ "$current" = "$built" ]; then
	exit 0
fi
if command -v npm >/dev/null 2>&1; then
	echo "web map sources changed: rebuilding web/dist (npm ci && npm run build) …" >&2
	npm ci --no-audit --no-fund >/dev/null
	npm run build >/dev/null
	echo "rebuilt web/dist" >&2
else
	echo "web map sources changed but npm is not installed: serving the committed web/dist (install Node 20 and run make web to rebuild)" >&2
fi
