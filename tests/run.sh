#!/usr/bin/env bash
# The test runner `make test` calls. One test = one executable: a cmocka
# binary in build/tests/unit/, a script in tests/e2e/, or a libFuzzer target in
# build/tests/fuzz/ run for a bounded time over its committed corpus.
# Exit 0 passes, 77 skips (the test prints why), anything else fails; each
# test runs under a timeout. Ends with one line: "N passed, N failed, N skipped".
#
#   tests/run.sh [FILTER]      run the tests whose name contains FILTER
set -u
cd "$(dirname "$0")/.."
filter=${1:-}
unit_timeout=${UNIT_TIMEOUT:-300}
e2e_timeout=${E2E_TIMEOUT:-600}
fuzz_seconds=${FUZZ_SECONDS:-20}
logdir=build/tests/logs
mkdir -p "$logdir"

pass=0 fail=0 skip=0
failed=() skipped=()

run_one() {	# name timeout cmd...
	local name=$1 t=$2; shift 2
	[ -n "$filter" ] && [[ $name != *"$filter"* ]] && return
	local log=$logdir/${name//\//_}.log start=$SECONDS rc
	timeout --kill-after=10 "$t" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	local dt=$((SECONDS - start))
	case $rc in
	0)  pass=$((pass + 1)); printf 'PASS  %-44s %4ds\n' "$name" "$dt" ;;
	77) skip=$((skip + 1)); skipped+=("$name: $(grep -i skip "$log" | tail -n 1)")
	    printf 'SKIP  %-44s %4ds\n' "$name" "$dt" ;;
	*)  fail=$((fail + 1)); failed+=("$name")
	    [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "(timed out after ${t}s)" >>"$log"
	    printf 'FAIL  %-44s %4ds  (exit %d, log %s)\n' "$name" "$dt" "$rc" "$log"
	    sed 's/^/      | /' "$log" | tail -n 30 ;;
	esac
}

for t in build/tests/unit/*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	run_one "unit/$(basename "$t")" "$unit_timeout" "$t"
done
for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	run_one "e2e/$(basename "$t" .sh)" "$e2e_timeout" bash "$t"
done
for t in build/tests/fuzz/*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	n=$(basename "$t")
	corpus=tests/fuzz/corpus/$n
	work=$(mktemp -d)
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
	run_one "fuzz/$n" $((fuzz_seconds + 120)) "$t" -max_total_time="$fuzz_seconds" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work"
	rm -rf "$work"
done

echo
for s in "${skipped[@]}"; do echo "skipped: $s"; done
for f in "${failed[@]}"; do echo "failed: $f"; done
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $((pass + skip)) -gt 0 ]
