#!/usr/bin/env bash
# llminstr-dump on good and damaged containers, and its exit status, which
# tells a writer that died from corruption:
# - a good file: verify exits 0;
# - truncated (at record boundaries, inside records, without the index):
#   what a writer that died leaves. verify exits 0 and says "incomplete: N
#   records intact, writer did not close" with N the complete data records
#   before the cut; the complete records are still listed and exported;
# - bit-flipped: verify exits 1 (damaged) with one line naming the offset;
# - not a container (empty, random, a raw array, a directory, missing):
#   every subcommand exits 3 with one line.
# Never a crash.
set -uo pipefail
cd "$(dirname "$0")/../.."
D=build/bin/llminstr-dump
PY=/usr/bin/python3
[ -x "$D" ] || { echo "FAIL: $D not built (run make)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# A 1.2 MB f32 tensor, so the container has a record spanning extents.
head -c 1228800 /dev/urandom >"$T/a.raw"	# any bit pattern, NaNs included: lossless keeps them
$D pack --dtype f32 --shape 300x1024 --codec lossless "$T/a.raw" -o "$T/good.llmi" >/dev/null ||
	{ echo "FAIL: pack"; exit 1; }
$D export "$T/good.llmi" --tensor 0 -o "$T/good.npy" >/dev/null || { echo "FAIL: export"; exit 1; }
out=$($D verify "$T/good.llmi") || fail "verify of a good file: $out"
echo "$out"
size=$(stat -c %s "$T/good.llmi")

# one_line [RC] DESC CMD...: exit RC (default: non-zero), no signal, one stderr line.
one_line() {
	local want=
	[[ $1 =~ ^[0-9]+$ ]] && { want=$1; shift; }
	local desc=$1; shift
	"$@" >"$T/out" 2>"$T/err"
	local rc=$? n
	n=$(wc -l <"$T/err")
	if [ $rc -eq 0 ]; then fail "$desc: exit 0"; return; fi
	if [ $rc -ge 128 ]; then fail "$desc: killed by signal $((rc - 128))"; return; fi
	if [ -n "$want" ] && [ $rc -ne "$want" ]; then fail "$desc: exit $rc, expected $want: $(cat "$T/err")"; return; fi
	if [ "$n" -ne 1 ]; then fail "$desc: $n lines on stderr"; cat "$T/err"; return; fi
	echo "ok ($rc) $desc: $(cat "$T/err")"
}

# Records (offset, type, length) from the file itself (header block is 4096 bytes).
recs=$($PY - "$T/good.llmi" <<'PY'
import sys, struct
b = open(sys.argv[1], 'rb').read(); off = 4096
while off + 32 <= len(b):
    magic, typ, fl, ln = struct.unpack_from('<IHHQ', b, off)
    if magic != 0x4345524c: break
    print(off, typ, ln); off += (32 + ln + 7) // 8 * 8
PY
)
offs=$(echo "$recs" | awk '{ print $1 }' | tr '\n' ' ')
echo "record offsets: $offs"
[ -n "$offs" ] || fail "no records found in the good file"
# complete CUT: data records (not pad 0, index 6, trailer 7) wholly before CUT.
complete() {
	echo "$recs" | awk -v cut="$1" '$2 != 0 && $2 != 6 && $2 != 7 &&
		$1 + int((32 + $3 + 7) / 8) * 8 <= cut { n++ } END { print n + 0 }'
}
for o in $offs; do
	for cut in $o $((o + 1)) $((o + 32)) $((o + 100)); do
		[ $cut -lt $size ] || continue
		head -c $cut "$T/good.llmi" >"$T/cut.llmi"
		$D verify "$T/cut.llmi" >"$T/out" 2>"$T/err"
		rc=$?
		n=$(complete $cut)
		if [ $rc -ne 0 ] || [ -s "$T/err" ]; then
			fail "verify cut at $cut: exit $rc: $(cat "$T/err")"
		elif ! grep -q "incomplete: $n records intact, writer did not close" "$T/out"; then
			fail "verify cut at $cut (expected $n records): $(cat "$T/out")"
		else
			echo "ok (0) verify cut at $cut: $(cat "$T/out")"
		fi
		for cmd in info ls; do
			$D $cmd "$T/cut.llmi" >/dev/null 2>&1
			rc=$?
			[ $rc -lt 128 ] || fail "$cmd on cut at $cut: signal"
		done
	done
done
# Without the trailer: the tensor is still there and exports.
head -c $((size - 64)) "$T/good.llmi" >"$T/noidx.llmi"
$D verify "$T/noidx.llmi" >"$T/out" 2>"$T/err" || fail "verify without index: exit $?: $(cat "$T/err")"
grep -q "incomplete: 2 records intact, writer did not close" "$T/out" ||
	fail "verify without index does not say incomplete: $(cat "$T/out")"
$D export "$T/noidx.llmi" --tensor 0 -o "$T/x.npy" >/dev/null || fail "export from a file without index"
$D ls "$T/noidx.llmi" | grep -q a.raw || fail "ls of a file without index lists nothing"

# Bit flips: verify names the first bad record and its offset.
for at in 100 300 4100 4200 5000 300000 1100000 $((size - 200)) $((size - 10)); do
	cp "$T/good.llmi" "$T/flip.llmi"
	$PY -c '
import sys
p, at = sys.argv[1], int(sys.argv[2])
f = open(p, "r+b"); f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x04]))' "$T/flip.llmi" $at
	one_line 1 "verify flip at $at" $D verify "$T/flip.llmi"
	if [ $at -ge 4096 ]; then
		grep -Eq 'offset [0-9]+' "$T/err" || fail "flip at $at: message names no offset"
	fi
	# Export either fails with one line, or the flip missed the tensor and
	# its data is exactly the good file's.
	rm -f "$T/f.npy"
	if $D export "$T/flip.llmi" --tensor 0 -o "$T/f.npy" >/dev/null 2>"$T/err"; then
		cmp -s "$T/f.npy" "$T/good.npy" || fail "export flip at $at: exit 0 with different data"
		echo "ok (0) export flip at $at: outside the tensor record, data intact"
	else
		one_line "export flip at $at" $D export "$T/flip.llmi" --tensor 0 -o "$T/f.npy"
	fi
	for cmd in info ls; do
		$D $cmd "$T/flip.llmi" >/dev/null 2>&1
		[ $? -lt 128 ] || fail "$cmd on flip at $at: signal"
	done
done

# Not a container.
: >"$T/empty.llmi"
head -c 10000 /dev/urandom >"$T/random.llmi"
for f in "$T/empty.llmi" "$T/random.llmi" "$T/a.raw" "$T" /nonexistent.llmi; do
	for cmd in info ls verify; do
		one_line 3 "$cmd $(basename "$f")" $D $cmd "$f"
	done
done

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "dump_damage: all passed"
