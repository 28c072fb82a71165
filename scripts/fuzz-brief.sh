#!/usr/bin/env bash
# Runs every fuzz target of the module briefly (FUZZTIME each, default 3s),
# after the unit tests have run their seed corpora. Targets are what
# `go test -list '^Fuzz'` lists, in the packages whose test files declare
# one. Two lanes (the machine has two cores) take whole packages, largest
# first, and fuzz their targets one after another with one worker each; a
# package's instrumented build is thus compiled once. A failure's log is
# printed at the end (go test has written the failing input under the
# package's testdata/fuzz: commit it as a regression case with the fix)
# and makes the script fail. A run that fails only by Go's own fuzztime
# race (no failing input) is run again, up to twice.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."
GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-3s}"
LANES="${FUZZ_LANES:-2}"

# A lane's job: --package "PKG TARGET..." fuzzes the package's targets.
if [ "${1:-}" = "--package" ]; then
	read -r -a words <<<"$2"
	pkg="${words[0]}"
	for name in "${words[@]:1}"; do
		log="$FUZZ_LOGS/$name.$(tr / _ <<<"$pkg").log"
		t0=$SECONDS
		for try in 1 2 3; do
			if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel 1 -timeout 5m "$pkg" >"$log" 2>&1; then
				echo "ok   $name $pkg $((SECONDS - t0))s"
				continue 2
			fi
			# Go's coordinator can fail a run with a bare "context deadline
			# exceeded" as -fuzztime ends, with no failing input
			# (go.dev/issue/75804, fixed in Go 1.27): run it again.
			if [ $try -lt 3 ] && grep -qx $'\tcontext deadline exceeded\|    context deadline exceeded' "$log" &&
				! grep -q 'Failing input written to\|failure while testing seed corpus entry\|^panic:' "$log"; then
				echo "again $name $pkg: the fuzztime race of go.dev/issue/75804"
				continue
			fi
			break
		done
		echo "FAIL $name $pkg $((SECONDS - t0))s"
		mv "$log" "$log.failed"
	done
	exit 0
fi

mapfile -t dirs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | xargs -r -n1 dirname | sort -u)
if [ ${#dirs[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets" >&2
	exit 1
fi

# `go test -list` prints a package's targets, then its "ok" line; a
# package that does not build fails the script here.
listing="$("$GO" test -list '^Fuzz' "${dirs[@]}")"
jobs=()
count=0
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	ok*)
		if [ ${#names[@]} -gt 0 ]; then
			jobs+=("${#names[@]} $(awk '{print $2}' <<<"$line") ${names[*]}")
			count=$((count + ${#names[@]}))
		fi
		names=()
		;;
	esac
done <<<"$listing"
if [ "$count" -eq 0 ]; then
	echo "fuzz: go test -list found no fuzz targets" >&2
	exit 1
fi

FUZZ_LOGS="$(mktemp -d)"
export FUZZ_LOGS GO FUZZTIME
trap 'rm -rf "$FUZZ_LOGS"' EXIT

start=$SECONDS
printf '%s\n' "${jobs[@]}" | sort -rn | cut -d' ' -f2- |
	xargs -d '\n' -P "$LANES" -n 1 "$self" --package

failed=0
for log in "$FUZZ_LOGS"/*.failed; do
	[ -e "$log" ] || continue
	failed=$((failed + 1))
	echo "--- $(basename "$log" .log.failed)"
	cat "$log"
done
echo "fuzz: $count targets, $FUZZTIME each, $((SECONDS - start))s in $LANES lanes"
echo "fuzz: $((count - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
