#!/usr/bin/env bash
# The tools as an ordinary user. As root, this drops to nobody:nogroup with
# no supplementary groups and no capabilities (setpriv), under the usual
# 8 MiB RLIMIT_MEMLOCK, in a directory nobody owns:
# - llminstr-dump pack / info / ls / export / verify / perfetto work; pack
#   writes a 12 MiB tensor through the io_uring writer, whose registered
#   buffers cannot all be pinned under that limit without CAP_IPC_LOCK: it
#   must fall back without a word and the data must come back exact (lossless)
#   or within its bound (nmse), checked with numpy; the files belong to nobody.
# - an output in a directory the user cannot write: one line, exit 3.
# - llminstr-trace fails with one clear line saying it needs root (or
#   CAP_BPF and CAP_PERFMON), a non-zero exit and no crash.
# Skips (77) when not root or setpriv is missing.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to switch to an unprivileged user"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv not found (util-linux)"; exit 77; }
id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null ||
	{ echo "SKIP: no nobody user or nogroup group"; exit 77; }
$PY -c 'import numpy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no numpy"; exit 77; }
for b in build/bin/llminstr-dump build/bin/llminstr-trace; do
	[ -x "$b" ] || { echo "FAIL: $b not built (run make)"; exit 1; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The tools are copied where nobody can run them whatever the checkout's modes.
chmod 711 "$T"
mkdir "$T/bin" "$T/u"
cp build/bin/llminstr-dump build/bin/llminstr-trace "$T/bin/"
chmod 755 "$T/bin" "$T/bin"/*
chown nobody:nogroup "$T/u"
D=$T/bin/llminstr-dump
U=$T/u

# as_user CMD...: runs CMD as nobody, RLIMIT_MEMLOCK 8 MiB, in $U.
as_user() {
	( ulimit -l 8192 && cd "$U" &&
	  exec setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all -- "$@" )
}
# Sanity: the switch took, and no capability is left.
who=$(as_user id -u)
[ "$who" = "$(id -u nobody)" ] || { echo "FAIL: setpriv did not switch users ($who)"; exit 1; }
as_user grep -q '^CapEff:[[:space:]]*0*$' /proc/self/status || fail "capabilities left after setpriv"
echo "running as nobody (uid $who), RLIMIT_MEMLOCK $(as_user bash -c 'ulimit -l') KiB"

# 12 MiB of f32 made by nobody: more than RLIMIT_MEMLOCK, so the writer
# cannot pin all its buffers.
as_user $PY -c '
import numpy as np
x = np.random.default_rng(7).standard_t(5, (3072, 1024)).astype(np.float32)
x.tofile("acts.raw")' || { echo "FAIL: making the input as nobody"; exit 1; }

step() {	# DESC CMD...: as nobody, must exit 0 with nothing on stderr
	local desc=$1; shift
	as_user "$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc -ne 0 ] || [ -s "$T/err" ]; then
		fail "$desc as nobody: exit $rc: $(head -n 3 "$T/err")"; return 1
	fi
	echo "ok $desc: $(head -n 1 "$T/out")"
}
for codec in lossless quant:nmse=1e-3; do
	f=${codec//[:=]/_}
	step "pack $codec" $D pack --dtype f32 --shape 3072x1024 --codec $codec acts.raw -o $f.llmi || continue
	[ "$(stat -c %U "$U/$f.llmi")" = nobody ] || fail "$f.llmi is not owned by nobody"
	step "verify $codec" $D verify $f.llmi
	step "info $codec" $D info --json $f.llmi &&
		$PY -c 'import json,sys; j = json.load(open(sys.argv[1])); assert j["tensors"]["count"] == 1 and not j["errors"], j' "$T/out" ||
		fail "info --json $codec"
	step "ls $codec" $D ls $f.llmi && { grep -q "3072x1024" "$T/out" || fail "ls $codec lists no tensor"; }
	step "export $codec" $D export $f.llmi --tensor acts.raw -o $f.npy || continue
	step "perfetto $codec" $D perfetto $f.llmi -o $f.json
	as_user $PY - "$f.npy" "$codec" <<'PY' || fail "numpy check of $codec"
import sys, numpy as np
y = np.load(sys.argv[1]); x = np.fromfile("acts.raw", np.float32).reshape(3072, 1024)
assert y.dtype == np.float32 and y.shape == x.shape, (y.dtype, y.shape)
if sys.argv[2] == "lossless":
    assert np.array_equal(x.view(np.uint32), y.view(np.uint32)), "lossless is not exact"
else:
    d = x.astype(np.float64) - y
    nmse = np.mean(d * d) / np.var(x.astype(np.float64))
    assert nmse <= 1e-3, nmse
    print("nmse", nmse)
PY
done

# An output where the user may not write ($T is root's, mode 711): one line
# naming it, exit 3 (cannot), nothing created.
for c in export pack perfetto; do
	case $c in
	export) args=(export lossless.llmi --tensor 0 -o "$T/no.$c") ;;
	pack) args=(pack --dtype f32 --shape 3072x1024 --codec lossless acts.raw -o "$T/no.$c") ;;
	perfetto) args=(perfetto lossless.llmi -o "$T/no.$c") ;;
	esac
	as_user $D "${args[@]}" >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc -ne 3 ] || [ "$(wc -l <"$T/err")" -ne 1 ] || ! grep -q "$T/no.$c: cannot create: Permission denied" "$T/err"; then
		fail "$c into an unwritable directory as nobody: exit $rc: $(cat "$T/err")"
	else
		echo "ok ($rc) $c into an unwritable directory: $(cat "$T/err")"
	fi
	[ -e "$T/no.$c" ] && fail "$c as nobody created $T/no.$c"
done

# The tracer refuses a normal user with one line and a non-zero exit.
for args in "-- /bin/true" "-p $$"; do
	as_user $T/bin/llminstr-trace $args >"$T/out" 2>"$T/err"
	rc=$?
	n=$(wc -l <"$T/err")
	if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then
		fail "llminstr-trace $args as nobody: exit $rc"
	elif [ "$n" -ne 1 ]; then
		fail "llminstr-trace $args as nobody: $n lines on stderr"; cat "$T/err"
	elif ! grep -q root "$T/err" || ! grep -q CAP_BPF "$T/err" || ! grep -q CAP_PERFMON "$T/err"; then
		fail "llminstr-trace $args as nobody does not say to run as root or with CAP_BPF+CAP_PERFMON: $(cat "$T/err")"
	else
		echo "ok ($rc) llminstr-trace $args as nobody: $(cat "$T/err")"
	fi
done

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "nonroot_tools: all passed"
