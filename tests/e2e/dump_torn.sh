#!/usr/bin/env bash
# llminstr-dump on a file whose writer died (a torn tail) and on one damaged
# in the middle, as FORMAT.md "Torn tail or damage" says:
# - torn (cut inside a record): info and ls show what is readable, exit 0,
#   one stderr line "torn tail at offset X: N bytes ... ignored", and info
#   says how much was recovered; verify exits 0 too ("incomplete: N records
#   intact, writer did not close", naming where they end): a writer that
#   died is not corruption.
# - damaged (bad payload checksum on a complete record; a bad record header,
#   skipped by resynchronising on the next record): info and ls exit 1 with
#   one line saying so, still showing the records after the damage.
# Also: ls fits 80 columns (long names end in "...", --wide shows them
# whole), and perfetto on a file without events says "no event records",
# writes valid JSON and exits 0.
set -uo pipefail
cd "$(dirname "$0")/../.."
D=build/bin/llminstr-dump
PY=/usr/bin/python3
[ -x "$D" ] || { echo "FAIL: $D not built (run make)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run EXPECTED_RC DESC CMD...: exit status as expected, no signal; leaves
# stdout in $T/out and stderr in $T/err.
run() {
	local want=$1 desc=$2; shift 2
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc -ne "$want" ]; then
		fail "$desc: exit $rc, expected $want"; sed 's/^/    /' "$T/err"; return 1
	fi
	echo "ok ($rc) $desc${1:+: $(head -n 1 "$T/err")}"
}
stderr_lines() { wc -l <"$T/err"; }

name=model.layers.31.self_attn.o_proj.output_activations
head -c 2457600 /dev/urandom >"$T/$name"
$D pack --dtype f32 --shape 600x1024 --codec lossless "$T/$name" -o "$T/good.llmi" >/dev/null ||
	{ echo "FAIL: pack"; exit 1; }
size=$(stat -c %s "$T/good.llmi")
# Record offsets, types and lengths from the file itself.
recs=$($PY - "$T/good.llmi" <<'PY'
import sys, struct
b = open(sys.argv[1], 'rb').read(); off = 4096
while off + 32 <= len(b):
    magic, typ, fl, ln = struct.unpack_from('<IHHQ', b, off)
    if magic != 0x4345524c: break
    print(off, typ, ln); off += (32 + ln + 7) // 8 * 8
PY
)
echo "records (offset type length):"; echo "$recs" | sed 's/^/  /'
toff=$(echo "$recs" | awk '$2 == 1 { print $1; exit }')		# the tensor
tlen=$(echo "$recs" | awk '$2 == 1 { print $3; exit }')
soff=$(echo "$recs" | awk '$2 == 5 { print $1; exit }')		# the summary
[ -n "$toff" ] && [ -n "$soff" ] || { echo "FAIL: no tensor or summary record"; exit 1; }

# --- Torn tails: cut inside the tensor record (header and payload) and
# inside the summary record after it.
for cut in $((toff + 20)) $((toff + 32 + 1000)) 1048576 $((soff + 40)); do
	head -c $cut "$T/good.llmi" >"$T/torn.llmi"
	at=$toff; [ $cut -gt $soff ] && at=$soff
	lost=$((cut - at))
	for cmd in info ls; do
		run 0 "$cmd, torn at $cut" $D $cmd "$T/torn.llmi" || continue
		[ "$(stderr_lines)" -eq 1 ] || fail "$cmd torn at $cut: $(stderr_lines) stderr lines"
		grep -q "torn tail at offset $at: $lost bytes of an incomplete record ignored; the index was rebuilt by scanning" "$T/err" ||
			fail "$cmd torn at $cut: stderr does not say what was lost: $(cat "$T/err")"
	done
	$D info --json "$T/torn.llmi" >"$T/j" 2>/dev/null || fail "info --json torn at $cut: non-zero"
	$PY - "$T/j" $at $lost $([ $cut -gt $soff ] && echo 1 || echo 0) <<'PY' || fail "info --json torn at $cut"
import sys, json
j = json.load(open(sys.argv[1])); at, lost, n = map(int, sys.argv[2:])
assert j["errors"] == [], j["errors"]
assert j["torn_tail"]["offset"] == at and j["torn_tail"]["bytes"] == lost, j["torn_tail"]
assert j["tensors"]["count"] == n, j["tensors"]
assert j["indexed"] is False and j["recovered"] == {"records": n, "bytes": at}, j.get("recovered")
PY
	$D info "$T/torn.llmi" 2>/dev/null | grep -q "^recovered  $([ $cut -gt $soff ] && echo 1 || echo 0) records, $at of $cut bytes" ||
		fail "info torn at $cut does not say what was recovered"
	if [ $cut -gt $soff ]; then
		# The tensor lies before the cut: listed and exported whole.
		$D ls "$T/torn.llmi" 2>/dev/null | grep -q "model.layers" || fail "ls torn at $cut: tensor not listed"
		$D export "$T/torn.llmi" --tensor 0 -o "$T/t.npy" >/dev/null 2>&1 || fail "export torn at $cut"
		cmp -s <(tail -c 2457600 "$T/t.npy") "$T/$name" || fail "export torn at $cut: data differs"
	fi
	n=$([ $cut -gt $soff ] && echo 1 || echo 0)
	run 0 "verify, torn at $cut" $D verify "$T/torn.llmi" &&
		{ grep -q "incomplete: $n records intact, writer did not close (they end at offset $at; the $lost bytes after them are an incomplete record)" "$T/out" ||
			fail "verify torn at $cut does not say what is intact: $(cat "$T/out")"; }
done

# --- Damage in the middle of a file without its index (trailer cut off, so
# the reader scans): a payload checksum mismatch on the complete tensor.
head -c $((size - 64)) "$T/good.llmi" >"$T/noidx.llmi"
run 0 "info without index (closed up to the trailer)" $D info "$T/noidx.llmi"
cp "$T/noidx.llmi" "$T/crc.llmi"
printf '\x5a' | dd of="$T/crc.llmi" bs=1 seek=$((toff + 32 + tlen / 2)) conv=notrunc status=none
for cmd in info ls; do
	run 1 "$cmd, payload checksum mismatch" $D $cmd "$T/crc.llmi" || continue
	[ "$(stderr_lines)" -eq 1 ] || fail "$cmd crc: $(stderr_lines) stderr lines"
	grep -q "damaged: 1 record(s) with a bad payload checksum skipped, first at offset $toff" "$T/err" ||
		fail "$cmd crc: $(cat "$T/err")"
done
{ $D info "$T/crc.llmi" 2>/dev/null; true; } | grep -q "records    summary 1" || fail "info crc: the summary after the damage is not shown"

# A damaged tensor record header: the scan resynchronises on the summary.
cp "$T/noidx.llmi" "$T/hdr.llmi"
printf '\xff' | dd of="$T/hdr.llmi" bs=1 seek=$((toff + 9)) conv=notrunc status=none
for cmd in info ls; do
	run 1 "$cmd, damaged record header" $D $cmd "$T/hdr.llmi" || continue
	grep -q "damaged: 1 damaged stretch(es) skipped, first at offset $toff: $((soff - toff)) bytes, 1 record(s) lost" "$T/err" ||
		fail "$cmd hdr: $(cat "$T/err")"
done
{ $D info "$T/hdr.llmi" 2>/dev/null; true; } | grep -q "records    summary 1" || fail "info hdr: no resynchronisation to the summary"
run 1 "verify, damaged record header" $D verify "$T/hdr.llmi" &&
	{ grep -q "record 0" "$T/err" || fail "verify hdr names no record: $(cat "$T/err")"; }

# --- ls within 80 columns; --wide shows the whole name.
head -c 524288 /dev/urandom | tr '\377' '\077' >"$T/b.raw"	# bf16 with no NaN or Inf
$D pack --dtype bf16 --shape 64x4096 --codec quant:nmse=1e-3,chanmean --name "$name.bf16" --step 12345 \
	--layer 31 "$T/b.raw" -o "$T/b.llmi" >/dev/null || fail "pack bf16"
for f in good b; do
	run 0 "ls $f" $D ls "$T/$f.llmi" || continue
	cat "$T/out"
	w=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$T/out")
	[ "$w" -le 80 ] || fail "ls $f: $w columns"
	grep -q "model\.layers\.31[^ ]*\.\.\. " "$T/out" || fail "ls $f: long name not shortened with ..."
	$D ls --wide "$T/$f.llmi" | grep -q " $name" || fail "ls --wide $f: name not whole"
done
grep -q "nmse=0.001+m" "$T/out" || fail "ls: codec column"
grep -q " 12345  *31 " "$T/out" || fail "ls: step and layer"
$D ls --wide "$T/b.llmi" | grep -q "quant:nmse=0.001,chanmean.*524.3kB" || fail "ls --wide: codec spec or raw size"

# --- perfetto on a file without events.
run 0 "perfetto without events" $D perfetto "$T/good.llmi" -o "$T/p.json" &&
	{ grep -q "no event records; $T/p.json holds only its 1 tensor capture(s)" "$T/out" ||
		fail "perfetto message: $(cat "$T/out")"; [ -s "$T/err" ] && fail "perfetto: stderr $(cat "$T/err")"; }
$PY -c 'import json,sys; e = json.load(open(sys.argv[1]))["traceEvents"]; assert len(e) == 1, e' "$T/p.json" ||
	fail "perfetto JSON"
run 1 "perfetto on a damaged file" $D perfetto "$T/crc.llmi" -o "$T/p2.json"
$PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/p2.json" || fail "perfetto JSON of a damaged file"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "dump_torn: all passed"
