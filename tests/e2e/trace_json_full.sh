#!/usr/bin/env bash
# llminstr-trace --json on a full disk (a small tmpfs, filled): the trace
# itself completes with its summary on stdout, the --json failure is one
# line naming the file and the reason, the partial file (not valid JSON) is
# removed, and the exit status is 1. The same for --json - on a stdout that
# cannot be written (/dev/full).
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace W=build/bin/llm_decode
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF and mount"; exit 77; }
for b in $T $W; do [ -x $b ] || { echo "SKIP: $b not built"; exit 77; }; done
tmp=$(mktemp -d); mnt=
trap '[ -n "$mnt" ] && umount "$mnt" 2>/dev/null; rm -rf "$tmp"' EXIT
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# Each case: exit 1, the summary on stdout, one --json line naming what and why.
check() {	# label json-name
	local st=$1 name=$2 label=$3
	if [ "$st" != 1 ]; then
		cat "$tmp/out" "$tmp/err"; fail "$label: exit $st, want 1"
	elif ! grep -q "^llminstr-trace: --json $name: cannot write the summary: No space left on device" "$tmp/err" ||
	     [ "$(grep -c -- '--json' "$tmp/err")" != 1 ]; then
		cat "$tmp/err"; fail "$label: the failure is not one line naming the file and the reason"
	else
		echo "ok: $label: $(grep -- '--json' "$tmp/err")"
	fi
}

echo "== --json - on a stdout that cannot be written"
timeout 60 $T --json - -- $W -q --tokens 4 --layers 1 >/dev/full 2>"$tmp/err"; st=$?
: >"$tmp/out"
check $st "- (stdout)" "stdout"

echo "== --json FILE on a full tmpfs"
mnt=$tmp/small; mkdir "$mnt"
if ! mount -t tmpfs -o size=64k tmpfs "$mnt" 2>"$tmp/m"; then
	echo "SKIP: cannot mount a small tmpfs here ($(head -n 1 "$tmp/m")): the full-disk case is not run"
	mnt=; exit 77
fi
dd if=/dev/zero of="$mnt/fill" bs=4k 2>/dev/null	# until the disk is full
timeout 60 $T --json "$mnt/s.json" -- $W -q --tokens 4 --layers 1 >"$tmp/out" 2>"$tmp/err"; st=$?
check $st "$mnt/s.json" "full disk"
grep -q "^Top kernels" "$tmp/out" && grep -q "ended by targets exited" "$tmp/out" ||
	{ cat "$tmp/out"; fail "full disk: no summary on stdout"; }
[ -e "$mnt/s.json" ] && fail "full disk: the partial --json file was left behind ($(stat -c %s "$mnt/s.json") bytes)"
rm -f "$mnt/fill"
timeout 60 $T --json "$mnt/s.json" -- $W -q --tokens 4 --layers 1 >/dev/null 2>"$tmp/err" &&
	/usr/bin/python3 -m json.tool "$mnt/s.json" >/dev/null &&
	echo "ok: with room again the same run writes valid JSON" || { cat "$tmp/err"; fail "with room: no JSON"; }
exit $rc
