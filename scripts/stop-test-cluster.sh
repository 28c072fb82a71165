#!/usr/bin/env bash
# Stops the shared PostGIS cluster that the tests started (if any).
set -u
dir="${CITYGRID_TEST_DATA_DIR:-${TMPDIR:-/tmp}/citygrid-test-$(id -u)}/pg"
[ -f "$dir/postmaster.pid" ] || exit 0
bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
	[ -x "$d/pg_ctl" ] && { bindir="$d"; break; }
done
command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ] && bindir="$(pg_config --bindir)"
[ -n "$bindir" ] || exit 0
if [ "$(id -u)" -eq 0 ]; then
	owner="$(stat -c %U "$dir")"
	runuser -u "$owner" -- "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
else
	"$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
fi
