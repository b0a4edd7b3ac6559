#!/usr/bin/env bash
# Records whose checksums hold but whose contents are impossible, as a
# buggy or hostile writer makes them: closed, indexed files crafted byte by
# byte (a small container writer below, CRC32C included), each with one bad
# record among good ones. For each, every reader agrees and says which
# record, and nothing counts what it could not check:
# - verify exits 1 naming the record and what is wrong with it;
# - info exits 1 with the damage in "errors", without the bad record's counts;
# - ls exits 1; perfetto exits 1 naming the damaged record, still writes the
#   readable rest, and never says "no event records" of a file that has some.
# Cases: an event count of 2^60, an event size of 0, a string length past
# its payload, a tensor shape that does not make its raw size, a coded blob
# made with another bound than its tensor says. Also an events record with a
# flipped bit under a valid index (info used to read its header unchecked),
# and events of a later layout version (version 3: 80 bytes, one kind
# versions 1 and 2 do not have): drawn from the 64 bytes this build knows, exactly as the same
# events of version 1.
# LLMI_DUMP=path runs another llminstr-dump build.
set -uo pipefail
cd "$(dirname "$0")/../.."
D=${LLMI_DUMP:-build/bin/llminstr-dump}
PY=/usr/bin/python3
[ -x "$D" ] || { echo "FAIL: $D not built (run make)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# A real tensor record payload to put in crafted files: pack makes it.
head -c 8192 /dev/urandom | tr '\377' '\077' >"$T/t.raw"	# bf16, no NaN or Inf
$D pack --dtype bf16 --shape 64x64 --codec quant:nmse=1e-3 --name blk.0.out "$T/t.raw" -o "$T/t.llmi" >/dev/null ||
	{ echo "FAIL: pack"; exit 1; }

$PY - "$T" <<'PY' || { echo "FAIL: crafting the files"; exit 1; }
import struct, sys
d = sys.argv[1]

def table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t
TAB = table()
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c = TAB[(c ^ x) & 0xff] ^ (c >> 8)
    return c ^ 0xffffffff
assert crc32c(b"123456789") == 0xe3069283

def payloads(path):
    """(type, payload) of each record of a file made by the real writer."""
    b = open(path, 'rb').read(); off = 4096; out = []
    while off + 32 <= len(b):
        magic, typ, fl, ln = struct.unpack_from('<IHHQ', b, off)
        if magic != 0x4345524c: break
        out.append((typ, b[off + 32:off + 32 + ln])); off += (32 + ln + 7) // 8 * 8
    return out

def container(records):
    """A closed file as user/io/writer.c lays it out: header block, records,
    summary, index, pad, trailer ending on a 4096-byte boundary."""
    h = bytearray(256)
    h[0:8] = b"LLMI\r\n\x1a\n"
    struct.pack_into('<HHIII', h, 8, 1, 0, 4096, 1 << 20, 0)
    struct.pack_into('<QQqI', h, 24, 1700000000 * 10**9, 10**9, 0, 4242)
    h[56:60] = b"host"; h[120:133] = b"dump_contents"
    struct.pack_into('<I', h, 252, crc32c(bytes(h[:252])))
    out = bytearray(bytes(h) + bytes(4096 - 256))
    seq = 0; index = []; tot = dict(records=0, tensors=0, batches=0, events=0, raw=0, stored=0, payload=0)
    mx = [0.0, 0.0, 0.0]
    def put(typ, p):
        nonlocal seq
        off = len(out)
        head = struct.pack('<IHHQQ', 0x4345524c, typ, 0, len(p), seq)
        out.extend(head + struct.pack('<II', crc32c(head), crc32c(p)) + p)
        out.extend(bytes((-len(out)) % 8))
        seq += 1
        if typ not in (0, 6, 7):
            index.append(struct.pack('<QQHHI', off, len(p), typ, 0, crc32c(p)))
        return off
    for typ, p in records:
        put(typ, p)
        tot['records'] += 1; tot['payload'] += len(p)
        if typ == 1:
            raw, stored = struct.unpack_from('<QQ', p, 120)
            mse, nmse, mae = struct.unpack_from('<ddd', p, 136)
            tot['tensors'] += 1; tot['raw'] += raw; tot['stored'] += stored
            mx = [max(mx[0], mse), max(mx[1], nmse), max(mx[2], mae)]
        if typ == 2:
            tot['batches'] += 1; tot['events'] += struct.unpack_from('<Q', p, 8)[0]
    soff = put(5, struct.pack('<8Q3d5Q', tot['records'], tot['tensors'], tot['batches'], tot['events'],
                              tot['raw'], tot['stored'], tot['payload'], 1700000001 * 10**9, *mx, 0, 0, 0, 0, 0))
    ioff = put(6, struct.pack('<QQ', len(index), 0) + b''.join(index))
    span = 4096 - (len(out) + 64) % 4096
    if span != 4096:
        if span < 32: span += 4096
        put(0, bytes(span - 32))
    put(7, b"LLMIEND\n" + struct.pack('<QQQ', ioff, soff, len(index)))
    assert len(out) % 4096 == 0
    return bytes(out)

def strings(kind, names, bad_len=None):
    p = struct.pack('<IIQ', kind, 0, len(names))
    for i, (sid, s) in enumerate(names):
        b = s.encode()
        n = bad_len if bad_len is not None and i == len(names) - 1 else len(b)
        p += struct.pack('<QII', sid, n, 0) + b + bytes((-len(b)) % 8)
    return p

def event(ts, kind, name_id=0, api=1, extra=0):
    # ts, dur, pid, tid, stream, obj, arg0, arg1, name_id, api, kind, flags
    return struct.pack('<QQIIQQQQIHBB', ts, 500, 4242, 4243, 7, 0x1000 + ts, 64, 128,
                       name_id, api, kind, 0) + bytes(extra)

def events(evs, version=1, size=64, count=None):
    n = len(evs) if count is None else count
    first = struct.unpack_from('<Q', evs[0])[0] if evs else 0
    last = struct.unpack_from('<Q', evs[-1])[0] if evs else 0
    return struct.pack('<IIQQQQII', size, version, n, first, last, 0, 4242, 0) + b''.join(evs)

tensor = [p for t, p in payloads(f"{d}/t.llmi") if t == 1][0]
api = strings(2, [(1, "cudaLaunchKernel"), (2, "cudaMemcpy"), (3, "cudaStreamSynchronize")])
kern = strings(1, [(1, "gemm_kernel"), (2, "rmsnorm_kernel")])
kinds = [1, 3, 1, 4, 6]
v1 = events([event(10**9 + 1000 * i, k, name_id=1 + i % 2) for i, k in enumerate(kinds)])
v2 = events([event(10**9 + 1000 * i, k, name_id=1 + i % 2, extra=16) for i, k in enumerate(kinds)],
            version=3, size=80)
v2k = bytearray(v2); v2k[48 + 80 * 4 + 62] = 9        # a kind version 3 added
stats = b'{"mode":"events"}'

def save(name, recs):
    open(f"{d}/{name}.llmi", 'wb').write(container(recs))

save("good", [(3, api), (3, kern), (2, v1), (1, tensor), (4, stats)])
save("v2", [(3, api), (3, kern), (2, v2), (1, tensor), (4, stats)])
save("v2kind", [(3, api), (3, kern), (2, bytes(v2k)), (1, tensor), (4, stats)])
bad_count = bytearray(v1); struct.pack_into('<Q', bad_count, 8, 1 << 60)
save("count", [(3, api), (3, kern), (2, bytes(bad_count)), (1, tensor), (4, stats)])
bad_size = bytearray(v1); struct.pack_into('<I', bad_size, 0, 0)
save("size0", [(3, api), (3, kern), (2, bytes(bad_size)), (1, tensor), (4, stats)])
save("strlen", [(3, api), (3, strings(1, [(1, "gemm_kernel"), (2, "rmsnorm_kernel")], bad_len=900)),
                (2, v1), (1, tensor), (4, stats)])
bad_shape = bytearray(tensor); struct.pack_into('<Q', bad_shape, 8, 65)        # shape 65x64, raw 8192
save("shape", [(3, api), (3, kern), (2, v1), (1, bytes(bad_shape)), (4, stats)])
bad_bound = bytearray(tensor); struct.pack_into('<d', bad_bound, 176, 0.5)     # the blob says 1e-3
save("bound", [(3, api), (3, kern), (2, v1), (1, bytes(bad_bound)), (4, stats)])
# A flipped bit in the events payload of a closed file: its checksum fails,
# the index still lists it.
b = bytearray(open(f"{d}/good.llmi", 'rb').read())
off = 4096
while True:
    magic, typ, fl, ln = struct.unpack_from('<IHHQ', b, off)
    if typ == 2: break
    off += (32 + ln + 7) // 8 * 8
b[off + 32 + 8] ^= 0x02        # the event count
open(f"{d}/flip.llmi", 'wb').write(bytes(b))
open(f"{d}/flip.off", 'w').write(str(off))
PY

# run RC DESC CMD...: exit RC; stdout in $T/out, stderr in $T/err.
run() {
	local want=$1 desc=$2; shift 2
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc -ne "$want" ]; then
		fail "$desc: exit $rc, expected $want: $(head -c 400 "$T/err")"; return 1
	fi
	echo "ok ($rc) $desc${1:+: $(head -n 1 "$T/err")}"
}
# events_in JSON: slices drawn ("ph": "X").
slices() { $PY -c 'import json,sys; print(sum(e["ph"] == "X" for e in json.load(open(sys.argv[1]))["traceEvents"]))' "$1"; }
info_json() {	# FILE EVENTS TENSORS ERRORS(0/1)
	$D info --json "$T/$1.llmi" >"$T/j" 2>/dev/null
	$PY - "$T/j" "$2" "$3" "$4" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); ev, tn, errs = map(int, sys.argv[2:])
assert j["events"]["count"] == ev, ("events", j["events"])
assert j["tensors"]["count"] == tn, ("tensors", j["tensors"])
assert bool(j["errors"]) == bool(errs), ("errors", j["errors"])
PY
}

# --- The good file and its version-2 twin.
run 0 "verify good" $D verify "$T/good.llmi"
run 0 "info good" $D info "$T/good.llmi"
info_json good 5 1 0 || fail "info --json good"
run 0 "perfetto good" $D perfetto "$T/good.llmi" -o "$T/good.json" &&
	{ [ "$(slices "$T/good.json")" = 5 ] || fail "perfetto good: $(slices "$T/good.json") slices, expected 5"; }
run 0 "verify v3 (80-byte events)" $D verify "$T/v2.llmi"
info_json v2 5 1 0 || fail "info --json v2"
run 0 "perfetto v2" $D perfetto "$T/v2.llmi" -o "$T/v2.json" &&
	{ cmp -s "$T/good.json" "$T/v2.json" || fail "perfetto of version-2 events differs from the same events of version 1"; }
run 0 "perfetto v2, a kind this build does not know" $D perfetto "$T/v2kind.llmi" -o "$T/v2k.json" &&
	{ grep -q "1 events of kinds this build does not know" "$T/err" || fail "perfetto v2kind: not said: $(cat "$T/err")"
	  [ "$(slices "$T/v2k.json")" = 4 ] || fail "perfetto v2kind: $(slices "$T/v2k.json") slices, expected 4"; }

# --- Impossible contents behind valid checksums.
# case FILE WHAT EVENTS_LEFT TENSORS_LEFT
check_case() {
	local f=$1 what=$2 ev=$3 tn=$4
	run 1 "verify $f" $D verify "$T/$f.llmi" &&
		{ grep -q "damaged: record [0-9]* (.*) at offset [0-9]*: .*$what" "$T/err" ||
			fail "verify $f does not name the record and '$what': $(cat "$T/err")"; }
	run 1 "info $f" $D info "$T/$f.llmi" &&
		{ grep -q "impossible contents" "$T/err" || fail "info $f: $(cat "$T/err")"; }
	info_json "$f" "$ev" "$tn" 1 || fail "info --json $f counts what it could not check, or shows no error"
	run 1 "ls $f" $D ls "$T/$f.llmi"
	if [ "$tn" = 0 ]; then
		grep -q blk.0.out "$T/out" && fail "ls $f lists the damaged tensor"
		run 1 "export $f" $D export "$T/$f.llmi" --tensor 0 -o "$T/$f.npy" || true
		[ -e "$T/$f.npy" ] && fail "export $f left $f.npy"
	fi
	run 1 "perfetto $f" $D perfetto "$T/$f.llmi" -o "$T/$f.json" &&
		{ grep -q "no event records" "$T/out" && [ "$ev" = 0 ] && [ "$f" != strlen ] &&
			fail "perfetto $f says 'no event records' of a file that has a damaged one: $(cat "$T/out")"
		  grep -Eq "offset [0-9]+: .*$what" "$T/err" || fail "perfetto $f does not say which record: $(cat "$T/err")"
		  [ "$(slices "$T/$f.json")" = "$ev" ] || fail "perfetto $f: $(slices "$T/$f.json") slices, expected $ev"; }
}
check_case count "event count 1152921504606846976" 0 1
check_case size0 "event size 0" 0 1
check_case strlen "string length 900 runs past the payload" 5 1
check_case shape "shape 65x64 .* does not make its raw size of 8192 bytes" 5 0
check_case bound "made with quant:nmse=0.001, not the codec its header names" 5 0

# --- A flipped bit in an events record of an indexed file.
off=$(cat "$T/flip.off")
run 1 "info, a damaged events record under a valid index" $D info "$T/flip.llmi" &&
	{ grep -q "damaged: 1 record(s) with a bad payload checksum skipped, first at offset $off" "$T/err" ||
		fail "info flip: $(cat "$T/err")"; }
info_json flip 0 1 1 || fail "info --json flip: shows the damaged header's counts or no error"
run 1 "perfetto, the same" $D perfetto "$T/flip.llmi" -o "$T/flip.json" &&
	{ grep -q "damaged: 1 event record(s) skipped, the first at offset $off: payload checksum mismatch" "$T/err" ||
		fail "perfetto flip: $(cat "$T/err")"
	  grep -q "no event records" "$T/out" && fail "perfetto flip says 'no event records': $(cat "$T/out")"; }
run 1 "verify, the same" $D verify "$T/flip.llmi"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "dump_contents: all passed"
