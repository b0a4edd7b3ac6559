#!/usr/bin/env bash
# The test runner `make test` calls. One test = one executable: a cmocka
# binary in build/tests/unit/, a script in tests/e2e/, or a libFuzzer target in
# build/tests/fuzz/ run for a bounded time over its committed corpus and
# regression inputs. Exit 0 passes, 77 skips (the test prints why), anything
# else fails; each test runs under a timeout, generous enough that only a
# stuck test reaches it. Ends with one line: "N passed, N failed, N skipped".
#
#   tests/run.sh [--fuzz-only] [FILTER]   the tests whose name contains FILTER
#
# LLMI_BUILD names the tree to test (default build/; make test passes
# build/san-LIST, the tree built with SAN=LIST, and LLMI_SAN=LIST). The
# end-to-end scripts name build/ as they are, so for another tree the runner
# re-runs itself in a private mount namespace with that tree bind-mounted
# over build/ (root only: e2e tests are skipped, with the reason, where that
# cannot be done).
#
# Sanitizer reports: every instrumented process writes its report to a file
# of the test's own directory (ASAN_OPTIONS/UBSAN_OPTIONS log_path), and a
# test in which any process wrote one fails, whatever its exit status: a
# report in a tool whose non-zero exit a test expected is not missed.
#
# Fuzzing: FUZZ_SECONDS per target (default 20 here, 600 with make fuzz),
# starting from a copy of tests/fuzz/corpus/NAME, after replaying every input
# of tests/fuzz/regress/NAME (inputs that once crashed it). A crashing input
# is kept in $LLMI_BUILD/tests/fuzz-crashes/NAME/; commit it to the
# regression folder with the fix. --fuzz-only (make fuzz) keeps the corpus it
# grows in $LLMI_BUILD/tests/fuzz-corpus/NAME/ for the next long run.
set -u
cd "$(dirname "$0")/.."
root=$PWD
fuzz_only=0
if [ "${1:-}" = --fuzz-only ]; then
	fuzz_only=1
	shift
fi
filter=${1:-}
tree=${LLMI_BUILD:-build}
tree=${tree%/}
unit_timeout=${UNIT_TIMEOUT:-600}
e2e_timeout=${E2E_TIMEOUT:-900}
fuzz_seconds=${FUZZ_SECONDS:-20}

[ -d "$tree" ] || { echo "run.sh: $tree is not built (make)" >&2; exit 2; }
# the sanitizers of a build/san-LIST tree, when not given (make gives them)
if [ -z "${LLMI_SAN:-}" ] && [[ ${tree##*/} == san-* ]]; then
	LLMI_SAN=$(tr - , <<<"${tree##*/san-}")
fi
export LLMI_SAN=${LLMI_SAN:-}

# Another tree than build/: seen as build/ by the e2e scripts through a
# private bind mount (undone when this process ends; the rest of the system
# still sees the plain build/).
e2e_skip=
if [ "$tree" != build ] && [ $fuzz_only = 0 ] && [ -z "${LLMI_RUN_NS:-}" ]; then
	if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
		LLMI_RUN_NS=1 exec unshare --mount --propagation private -- "$0" "$@"
	fi
	e2e_skip="SKIP: the end-to-end tests see $tree as build/ through a private bind mount, which needs root"
fi
if [ -n "${LLMI_RUN_NS:-}" ]; then
	mount --bind "$root/$tree" "$root/build" ||
		{ echo "run.sh: cannot bind-mount $tree over build/" >&2; exit 2; }
	shown=$tree	# where the logs are, seen from outside
	tree=build
else
	shown=$tree
fi

logdir=$tree/tests/logs
mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd)

# Sanitizers (a no-op for processes built without them). A report is written
# to the test's directory and the process exits non-zero at once.
sanroot=$(mktemp -d /tmp/llmi-san.XXXXXX)	# this run's own: runs may overlap
trap 'rm -rf "$sanroot"' EXIT
sanopts=halt_on_error=1:print_stacktrace=1
export UBSAN_OPTIONS=$sanopts
export ASAN_OPTIONS=$sanopts:detect_leaks=1:strict_string_checks=1
# Programs the e2e scripts compile themselves (against the stand-in runtime)
# must carry the same runtime as the tree they link with.
if [ -n "${LLMI_SAN:-}" ] && [ "${LLMI_SAN}" != none ]; then
	export LLMI_TEST_CFLAGS="-fsanitize=$LLMI_SAN -fno-sanitize-recover=all"
else
	export LLMI_TEST_CFLAGS=
fi

pass=0 fail=0 skip=0
failed=() skipped=()
t_start=$SECONDS

run_one() {	# name timeout cmd...
	local name=$1 t=$2; shift 2
	[ -n "$filter" ] && [[ $name != *"$filter"* ]] && return
	local log=$logdir/${name//\//_}.log start=$SECONDS rc
	local san=$sanroot/${name//\//_}
	mkdir -p "$san" && chmod 1777 "$sanroot" "$san"	# tools run as nobody write here too
	ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$san/asan" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$san/ubsan" \
		timeout --kill-after=10 "$t" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	local dt=$((SECONDS - start)) shown_tail
	[ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "(timed out after ${t}s)" >>"$log"
	shown_tail=$(tail -n 30 "$log")
	if [ -n "$(ls -A "$san")" ]; then
		for r in "$san"/*; do
			printf '\n== sanitizer report %s\n' "${r##*/}"
			cat "$r"
		done >>"$log"
		[ $rc -eq 0 ] || [ $rc -eq 77 ] && rc=99
		echo "FAIL: a sanitizer report (below)" >>"$log"
		# the test's last lines, then what each report says first: the
		# error, where, and the allocation
		shown_tail=$(tail -n 8 <<<"$shown_tail"; echo "FAIL: a sanitizer report:"
			     for r in "$san"/*; do grep -v '^ *$' "$r" | head -n 25; done)
	fi
	case $rc in
	0)  pass=$((pass + 1)); printf 'PASS  %-44s %4ds\n' "$name" "$dt" ;;
	77) skip=$((skip + 1)); skipped+=("$name: $(grep -i skip "$log" | tail -n 1)")
	    printf 'SKIP  %-44s %4ds\n' "$name" "$dt" ;;
	*)  fail=$((fail + 1)); failed+=("$name")
	    printf 'FAIL  %-44s %4ds  (exit %d, log %s)\n' "$name" "$dt" "$rc" \
		"$shown/tests/logs/${log##*/}"
	    sed 's/^/      | /' <<<"$shown_tail" ;;
	esac
}

skip_with() {	# reason: a test script that only says why it is skipped
	echo "echo '$1'; exit 77"
}

if [ $fuzz_only = 0 ]; then
	for t in "$tree"/tests/unit/*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		run_one "unit/$(basename "$t")" "$unit_timeout" "$t"
	done
	for t in tests/e2e/*.sh; do
		[ -f "$t" ] || continue
		if [ -n "$e2e_skip" ]; then
			run_one "e2e/$(basename "$t" .sh)" 10 bash -c "$(skip_with "$e2e_skip")"
		else
			run_one "e2e/$(basename "$t" .sh)" "$e2e_timeout" bash "$t"
		fi
	done
fi
for t in "$tree"/tests/fuzz/*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	n=$(basename "$t")
	[ -n "$filter" ] && [[ fuzz/$n != *"$filter"* ]] && continue
	crashes=$tree/tests/fuzz-crashes/$n
	mkdir -p "$crashes"
	before=$(ls "$crashes" | wc -l)
	if [ $fuzz_only = 1 ]; then
		work=$tree/tests/fuzz-corpus/$n
		mkdir -p "$work"
	else
		work=$(mktemp -d)
	fi
	[ -d tests/fuzz/corpus/$n ] && cp -rn tests/fuzz/corpus/$n/. "$work"/ 2>/dev/null
	dirs=("$work")
	[ -d tests/fuzz/regress/$n ] && dirs+=("tests/fuzz/regress/$n")
	# -error_exitcode: libFuzzer's own default, 77, would read as a skip
	run_one "fuzz/$n" $((fuzz_seconds + 300)) "$t" -max_total_time="$fuzz_seconds" \
		-error_exitcode=1 -timeout_exitcode=1 -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$crashes/" "${dirs[@]}"
	if [ "$(ls "$crashes" | wc -l)" -gt "$before" ]; then
		echo "      new inputs that crashed fuzz/$n are in $shown/tests/fuzz-crashes/$n/"
		echo "      (replay: $shown/tests/fuzz/$n FILE; commit them with the fix to tests/fuzz/regress/$n/)"
	fi
	[ $fuzz_only = 1 ] || rm -rf "$work"
done

echo
for s in "${skipped[@]}"; do echo "skipped: $s"; done
for f in "${failed[@]}"; do echo "failed: $f"; done
echo "$pass passed, $fail failed, $skip skipped ($shown, ${LLMI_SAN:-no} sanitizers, $((SECONDS - t_start)) s)"
[ $fail -eq 0 ] && [ $((pass + skip)) -gt 0 ]
