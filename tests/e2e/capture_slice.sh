#!/usr/bin/env bash
# Capture-time slicing, end to end: --capture pos=last and pos=A:B keep only
# those token positions (the second-to-last dimension) of every tensor. The
# agent copies only them (a tensor of [64, 512] under pos=last stores 1/64
# of the bytes), the values are those positions of the whole tensor
# exactly (lossless codec), the record says which positions it holds
# (ls --json "positions"), and the token ids still line up with the rows
# kept: for one sequence ([S, H], tests/e2e/progs/capture_host.c) in the
# record's own token run, for a batch ([B, S, H], from Python) through
# Run.tokens() and in the hf-arrow export (read by apache-arrow's reader).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=build/tests/progs/capture_host
capture_setup $P
$PY -c "import numpy" 2>/dev/null || { echo "SKIP: python3-numpy missing"; exit 77; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0	# python's own leaks are not ours
export NODE_PATH=${LLMINSTR_NODE_PATH:-/usr/local/lib/llminstr-node/node_modules}
NODE_OK=; command -v node >/dev/null && [ -d "$NODE_PATH/apache-arrow" ] && NODE_OK=1
[ -n "$NODE_OK" ] || echo "note: node or apache-arrow missing: the hf-arrow check of a batch is left out"

echo "== the whole tensors, for the sizes"
if ! CAPTURE_HOST_TOKENS=0 LD_PRELOAD="$PRE" timeout 120 $T --capture all --codec lossless \
	-o "$tmp/all.llmi" -- $P 2 >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "capture of the whole tensors"
fi

for spec in last 8:24 60:99; do
	case $spec in last) first=63 kept=1 ;; 8:24) first=8 kept=16 ;; 60:99) first=60 kept=4 ;; esac
	echo "== pos=$spec: rows $first .. $((first + kept - 1)) of 64, tokens tied"
	f=$tmp/p${spec/:/-}.llmi
	rm -rf "$tmp/ref"; mkdir "$tmp/ref"
	if ! CAPTURE_HOST_TOKENS=0 LD_PRELOAD="$PRE" timeout 120 $T --capture all --capture "pos=$spec" \
		--codec lossless -o "$f" -- $P 2 "$tmp/ref" >"$tmp/out" 2>&1; then
		cat "$tmp/out"; fail "capture with pos=$spec"; continue
	fi
	grep -q "capture_host: 8 taken, 0 skipped" "$tmp/out" || { cat "$tmp/out"; fail "pos=$spec: not every tensor taken"; }
	$D verify "$f" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify with pos=$spec"; }
	$D ls --json "$f" >"$tmp/ls.json" || fail "ls --json with pos=$spec"
	[ "$(json "$tmp/ls.json" "len(d) == 8 and all(x['shape'] == [$kept, 512] and x['positions'] == {'dim': 0, 'first': $first, 'count': $kept, 'of': 64} and x['tokens'] == [64 * x['step'] + $first, $kept] for x in d)")" = True ] ||
		fail "pos=$spec: ls --json $(json "$tmp/ls.json" "[(x['shape'], x['positions'], x['tokens']) for x in d][:2]")"
	$D info --json "$f" >"$tmp/i.json" && $D info --json "$tmp/all.llmi" >"$tmp/ia.json" || fail "info --json"
	[ "$(json "$tmp/i.json" 'd["tensors"]["raw_bytes"]')" = "$(( $(json "$tmp/ia.json" 'd["tensors"]["raw_bytes"]') * kept / 64 ))" ] ||
		fail "pos=$spec: raw bytes $(json "$tmp/i.json" 'd["tensors"]["raw_bytes"]'), want $kept/64 of the whole"
	PYTHONPATH=user/python LD_PRELOAD="$PRE" $PY - "$f" "$tmp/ref" $first $kept <<'PY' || fail "pos=$spec: values or tokens"
import sys, numpy as np, llminstr
path, ref, first, kept = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
run, ok = llminstr.open(path), True
for t in run.tensors():
    raw = open("%s/%s.%d.raw" % (ref, t.name, t.step), "rb").read()
    dt = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16}[t.dtype]
    whole = np.frombuffer(raw, dt).reshape(64, 512)
    got = run.read(t, bf16="bits")
    ids = run.tokens(t)
    good = got.shape == (kept, 512) and np.array_equal(got, whole[first:first + kept]) and \
        t.positions == (0, first, kept, 64) and \
        np.array_equal(ids, 1000 * t.step + np.arange(first, first + kept))
    if not good:
        print(t.name, t.step, got.shape, t.positions, ids)
    ok &= good
print("values and tokens:", "the kept positions of the whole" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY
done

echo "== a batch [2, 16, 8] from python: pos=last and pos=4:6 of each sequence, tokens per sequence"
cat >"$tmp/b.py" <<'PY'
import numpy as np, llminstr
a = np.arange(2 * 16 * 8, dtype=np.float32).reshape(2, 16, 8)
llminstr.step(0)
llminstr.tokens(np.arange(32, dtype=np.int64) + 500)
ok = llminstr.capture("x", a) == 1
ok &= llminstr.capture("v", a[0, :, 0].copy()) == 1      # one dimension: kept whole
print("batch:", "taken" if ok else "WRONG")
raise SystemExit(0 if ok else 1)
PY
for spec in last 4:6; do
	case $spec in last) first=15 kept=1 ;; 4:6) first=4 kept=2 ;; esac
	f=$tmp/b${spec/:/-}.llmi
	if ! LD_PRELOAD="$PRE" PYTHONPATH=user/python timeout 120 $T --capture all --capture "pos=$spec" \
		--codec lossless -o "$f" -- $PY "$tmp/b.py" >"$tmp/out" 2>&1; then
		cat "$tmp/out"; fail "python batch with pos=$spec"; continue
	fi
	grep -q "batch: taken" "$tmp/out" || { cat "$tmp/out"; fail "python batch: not taken"; }
	PYTHONPATH=user/python LD_PRELOAD="$PRE" $PY - "$f" $first $kept <<'PY' || fail "batch pos=$spec"
import sys, numpy as np, llminstr
path, first, kept = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
run = llminstr.open(path)
a = np.arange(2 * 16 * 8, dtype=np.float32).reshape(2, 16, 8)
x, v = run.find("x"), run.find("v")
ids = run.tokens(x)
want = (np.arange(32).reshape(2, 16)[:, first:first + kept] + 500).reshape(-1)
ok = x.shape == (2, kept, 8) and np.array_equal(run.read(x), a[:, first:first + kept]) and \
    x.positions == (1, first, kept, 16) and x.tokens == (0, 32) and np.array_equal(ids, want) and \
    v.shape == (16,) and v.positions is None and np.array_equal(run.read(v), a[0, :, 0])
print("batch:", x.shape, x.positions, list(ids), "ok" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY
	# safetensors and memmap say which positions they hold
	rm -rf "$tmp/st" "$tmp/mm"
	$D export "$f" --format safetensors -o "$tmp/st" >/dev/null 2>&1 &&
		$D export "$f" --format memmap --tensor x -o "$tmp/mm" >/dev/null 2>&1 || fail "exports of pos=$spec"
	$PY - "$tmp" $first $kept <<'PY' || fail "positions in the exports of pos=$spec"
import sys, json, struct
t, first, kept = sys.argv[1], sys.argv[2], sys.argv[3]
b = open(t + "/st/step-00000000.safetensors", "rb").read()
(n,) = struct.unpack_from("<Q", b, 0); meta = json.loads(b[8:8 + n])["__metadata__"]
m = json.load(open(t + "/mm/x.json"))
ok = meta["x.positions"] == "1,%s,%s,16" % (first, kept) and "v.positions" not in meta and \
    m["positions"] == [[1, int(first), int(kept), 16]]
print("positions:", meta["x.positions"], m["positions"], "ok" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY
	# the hf-arrow export: a row per sequence and position kept, beside its id
	[ -n "$NODE_OK" ] || continue
	rm -rf "$tmp/hf" "$tmp/js"; mkdir "$tmp/js"
	$D export "$f" --format hf-arrow --tensor x -o "$tmp/hf" >/dev/null 2>"$tmp/err" &&
		node tests/e2e/progs/read_arrow.js "$tmp/hf" "$tmp/js" >"$tmp/js/read.json" ||
		{ cat "$tmp/err"; fail "hf-arrow export of the batch pos=$spec"; continue; }
	$PY - "$tmp/js" $first $kept <<'PY' || fail "hf-arrow of the batch pos=$spec"
import sys, json, numpy as np
js, first, kept = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = json.load(open(js + "/read.json"))
a = np.arange(2 * 16 * 8, dtype=np.float32).reshape(2, 16, 8)
x = np.fromfile(js + "/x.bin", np.float32).reshape(-1, 8)
ids = np.fromfile(js + "/token_ids.bin", np.int64)
want = (np.arange(32).reshape(2, 16)[:, first:first + kept] + 500).reshape(-1)
ok = np.array_equal(x, a[:, first:first + kept].reshape(-1, 8)) and np.array_equal(ids, want) and \
    r["nulls"]["token_ids"] == 0
print("hf-arrow:", x.shape, list(ids), "ok" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY
done
echo "== device tensors (llm_decode on the stand-in runtime): pos=last of the prefill's [8, 64]"
W=build/bin/llm_decode
if [ -x $W ]; then
	ARGS="--layers 2 --hidden 64 --heads 4 --ffn 128 --vocab 256 --prefill 8 --tokens 3"
	$W $ARGS >"$tmp/plain.tok" 2>"$tmp/plain.err" || { cat "$tmp/plain.err"; fail "llm_decode alone"; }
	mkdir "$tmp/dref"
	if ! LD_PRELOAD="$PRE" timeout 300 $T --capture all --capture pos=last --codec lossless \
		-o "$tmp/d.llmi" --json "$tmp/d.json" -- $W $ARGS --reference-dir "$tmp/dref" >"$tmp/d.tok" 2>"$tmp/d.err"; then
		cat "$tmp/d.err"; fail "traced llm_decode with pos=last"
	fi
	head -c "$(wc -c <"$tmp/plain.tok")" "$tmp/d.tok" | cmp -s - "$tmp/plain.tok" || fail "llm_decode's tokens differ under pos=last"
	$D verify "$tmp/d.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify of llm_decode with pos=last"; }
	[ "$(json "$tmp/d.json" 'd["capture"]["tensors"] > 0 and d["capture"]["dropped"] == 0')" = True ] ||
		fail "llm_decode with pos=last: $(json "$tmp/d.json" 'd["capture"]')"
	PYTHONPATH=user/python LD_PRELOAD="$PRE" $PY - "$tmp/d.llmi" "$tmp/dref" <<'PY' || fail "llm_decode: the last position"
import glob, os, sys, numpy as np, llminstr
run, ref = llminstr.open(sys.argv[1]), sys.argv[2]
ok, n, sliced = True, 0, 0
for f in sorted(glob.glob(ref + "/*.f32")):
    name, step = os.path.basename(f)[:-4].rsplit(".", 1)
    t = run.find(name, step=int(step))
    whole = np.fromfile(f, np.float32)
    got = run.read(t)
    rows = whole.size // got.shape[-1]
    whole = whole.reshape(rows, got.shape[-1])
    want = whole[-1:] if rows > 1 else whole
    good = got.shape == want.shape and np.array_equal(got, want) and \
        (t.positions == (0, rows - 1, 1, rows) if rows > 1 else t.positions is None)
    if not good:
        print(name, step, got.shape, whole.shape, t.positions)
    ok &= good
    n += 1
    sliced += rows > 1
print("llm_decode: %d tensors, %d of them cut to their last position" % (n, sliced))
sys.exit(0 if ok and n > 0 and sliced > 0 else 1)
PY
else
	echo "(llm_decode not built: no device-tensor check)"
fi
exit $rc
