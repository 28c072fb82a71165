#!/usr/bin/env bash
# Makes sure what citygrid needs is installed: Go with cgo (gcc), the
# PostgreSQL 15 server and PostGIS 3; with --test also the real clients the
# tests drive: Chromium (the web map's browser test, through chromedp), the
# Noto CJK fonts its Chinese labels are drawn with, and GDAL (gdal-bin:
# ogrinfo's MVT driver reads the vector tiles, its OAPIF driver the OGC
# API). Installs Debian's
# packages when run as root; otherwise prints the exact command and fails.
set -euo pipefail
tests=false
[ "${1:-}" = "--test" ] && tests=true

missing=()
command -v go >/dev/null 2>&1 || { echo "citygrid needs Go 1.26 or newer (https://go.dev/dl)" >&2; exit 1; }
command -v gcc >/dev/null 2>&1 || missing+=(gcc)

bindir=""
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
	bindir="$(pg_config --bindir)"
else
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ]; then bindir="$d"; break; fi
	done
fi
if [ -z "$bindir" ]; then
	missing+=(postgresql-15 postgresql-15-postgis-3)
else
	ver="$(basename "$(dirname "$bindir")")"
	if ! ls /usr/share/postgresql/"$ver"/extension/postgis.control >/dev/null 2>&1; then
		missing+=("postgresql-$ver-postgis-3")
	fi
fi

if $tests; then
	{ command -v ogrinfo >/dev/null 2>&1 && command -v ogr2ogr >/dev/null 2>&1; } || missing+=(gdal-bin)
	command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
	command -v ogrinfo >/dev/null 2>&1 || missing+=(gdal-bin) # GDAL's MVT driver reads the vector tiles
	if ! { command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh family | grep -qi "Noto Sans CJK"; } && [ ! -d /usr/share/fonts/opentype/noto ]; then
		missing+=(fonts-noto-cjk)
	fi
fi

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "citygrid needs: ${missing[*]}" >&2
	echo "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing ${missing[*]} from the system's packages …" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a system cluster on 5432 with the server package; citygrid
# never uses it and leaves it alone.
echo "installed ${missing[*]}" >&2
