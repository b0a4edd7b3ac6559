#!/usr/bin/env bash
# llminstr-dump export --format hf-arrow, end to end, read back with Apache
# Arrow's official JavaScript reader (npm apache-arrow, installed by
# scripts/install-deps.sh): a capture of capture_host (3 steps x 4 names of
# [64 x 512], f32, bf16, f16 and f32, with token ids) becomes a row per
# token: each name a fixed-size list column whose values equal the memmap
# export of the same run (bf16 widened exactly, or its bits with
# --bf16-raw), token_ids the ids the program handed over, step the step,
# rank the program's (RANK), or -1 where not known,
# whether steps are gathered into batches or each streamed as its own;
# dataset_info.json and state.json say what datasets.load_from_disk needs.
# Shards split at --shard-size; two files of a run make one dataset; a file
# without ids gives null ids; safetensors --tokens-per-file writes the same
# rows as files of whole steps; names whose rows disagree are refused before
# DIR is made; a damaged record's step is skipped and said (exit 1); an
# existing DIR is refused without --force.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=build/tests/progs/capture_host
capture_setup $P
NODE_PATH=${LLMINSTR_NODE_PATH:-/usr/local/lib/llminstr-node/node_modules}
export NODE_PATH
command -v node >/dev/null && [ -d "$NODE_PATH/apache-arrow" ] ||
	{ echo "SKIP: node or the apache-arrow module ($NODE_PATH) is missing: run scripts/install-deps.sh"; exit 77; }
R="node tests/e2e/progs/read_arrow.js"

RANK=1 WORLD_SIZE=2 CAPTURE_HOST_TOKENS=5000 LD_PRELOAD="$PRE" timeout 120 $T --capture all -o "$tmp/a.llmi" -- $P 3 \
	>"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "capture"; exit 1; }
$D export "$tmp/a.llmi" --format memmap -o "$tmp/mm" >/dev/null 2>&1 &&
	$D export "$tmp/a.llmi" --format memmap --bf16-raw -o "$tmp/mr" >/dev/null 2>&1 ||
	fail "memmap exports (the reference)"

# check DIR OUT MEMMAPDIR ROWS SHARDS TOKENS(yes|no) RANK NAMES...: what the reader read in OUT
check() {
	$PY - "$@" <<'PY'
import json, os, sys, numpy as np
d, out, mm, rows, shards, tokens, rank = sys.argv[1:8]
names = sys.argv[8:]
rows, shards = int(rows), int(shards)
r = json.load(open(f"{out}/read.json"))
info = json.load(open(f"{d}/dataset_info.json"))
state = json.load(open(f"{d}/state.json"))
ok = True
def bad(msg):
    global ok
    print("WRONG:", msg); ok = False
files = [f"data-{i:05d}-of-{shards:05d}.arrow" for i in range(shards)]
if [f["filename"] for f in state["_data_files"]] != files: bad(f"state.json shards {state['_data_files']}")
if sorted(os.listdir(d)) != sorted(files + ["dataset_info.json", "state.json"]): bad(f"files {os.listdir(d)}")
if state["_split"] is not None or state["_format_type"] is not None or not state["_fingerprint"]: bad("state.json")
if sum(s["rows"] for s in r["shards"]) != rows: bad(f"rows {r['shards']}")
cols = {c["name"]: c for c in r["columns"]}
if [c["name"] for c in r["columns"]] != names + ["token_ids", "step", "rank"]: bad(f"columns {list(cols)}")
feats = info["features"]
for n in names:
    m = json.load(open(f"{mm}/{n}.json"))
    arrow_t = {"float32": "Float32", "float16": "Float16", "uint16": "Uint16"}[m["dtype"]]
    c = cols[n]
    want = f"FixedSizeList[512]<{arrow_t}>"
    if c["type"] != want or c["child"] != ["item:" + arrow_t] or not c["nullable"]: bad(f"{n}: {c}")
    if c["metadata"].get("llminstr.captured_dtype") != m["captured_dtype"]: bad(f"{n} metadata {c['metadata']}")
    if feats[n] != {"feature": {"dtype": m["dtype"], "_type": "Value"}, "length": 512, "_type": "Sequence"}:
        bad(f"{n} feature {feats[n]}")
    got = open(f"{out}/{n}.bin", "rb").read()
    if got != open(f"{mm}/{m['file']}", "rb").read(): bad(f"{n}: values differ from the memmap export")
for k, t in (("token_ids", "int64"), ("step", "int64"), ("rank", "int32")):
    if cols[k]["type"] != t.capitalize() or feats[k] != {"dtype": t, "_type": "Value"}: bad(f"{k}: {cols[k]} {feats[k]}")
ranks = np.fromfile(f"{out}/rank.bin", np.int64)
if len(ranks) != rows or not (ranks == int(rank)).all(): bad(f"ranks {set(ranks.tolist())}, not {rank}")
ids = np.fromfile(f"{out}/token_ids.bin", np.int64)
steps = np.fromfile(f"{out}/step.bin", np.int64)
per = rows // len(set(steps.tolist())) if rows else 0
if tokens == "yes":
    want = np.concatenate([5000 + s * 1000 + np.arange(64) for s in steps[::64]])
    if r["nulls"]["token_ids"] != 0 or not np.array_equal(ids, want): bad(f"token ids {ids[:5]} ... {ids[-3:]}")
elif r["nulls"]["token_ids"] != rows or not (ids == -1).all(): bad(f"ids without tokens: {r['nulls']}")
if not np.array_equal(steps, np.repeat(steps[::64], 64)) or list(steps[::64]) != sorted(steps[::64]): bad(f"steps {steps[::64]}")
print("ok" if ok else "WRONG", rows, "rows,", len(r["shards"]), "shard(s),", sum(s["batches"] for s in r["shards"]), "batch(es)")
sys.exit(0 if ok else 1)
PY
}

NAMES="layer.0.out layer.1.out layer.2.out logits"
echo "== hf-arrow: a row per token, values as the memmap export, token ids, steps"
$D export "$tmp/a.llmi" --format hf-arrow -o "$tmp/hf" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "hf-arrow export"; }
grep -q "exported 12 of 12 tensors to $tmp/hf: 3 hf-arrow files" "$tmp/out" || { cat "$tmp/out"; fail "summary"; }
mkdir "$tmp/o1" && $R "$tmp/hf" "$tmp/o1" >"$tmp/o1/read.json" || fail "the Arrow reader"
check "$tmp/hf" "$tmp/o1" "$tmp/mm" 192 1 yes 1 $NAMES || fail "hf-arrow contents"

echo "== --bf16-raw: bf16 as its uint16 bits"
$D export "$tmp/a.llmi" --format hf-arrow --bf16-raw -o "$tmp/hr" >/dev/null 2>&1 || fail "--bf16-raw export"
mkdir "$tmp/o2" && $R "$tmp/hr" "$tmp/o2" >"$tmp/o2/read.json" || fail "the Arrow reader (bf16 raw)"
check "$tmp/hr" "$tmp/o2" "$tmp/mr" 192 1 yes 1 $NAMES || fail "--bf16-raw contents"

echo "== --shard-size: a shard per step here, or two batches in one shard; the same rows in order"
$D export "$tmp/a.llmi" --format hf-arrow --shard-size 300k -o "$tmp/hs" >/dev/null 2>&1 || fail "sharded export"
mkdir "$tmp/o3" && $R "$tmp/hs" "$tmp/o3" >"$tmp/o3/read.json" || fail "the Arrow reader (shards)"
check "$tmp/hs" "$tmp/o3" "$tmp/mm" 192 3 yes 1 $NAMES || fail "sharded contents"

$D export "$tmp/a.llmi" --format hf-arrow --shard-size 2M -o "$tmp/hb" >/dev/null 2>&1 || fail "2M shards"
mkdir "$tmp/ob" && $R "$tmp/hb" "$tmp/ob" >"$tmp/ob/read.json" || fail "the Arrow reader (batches)"
check "$tmp/hb" "$tmp/ob" "$tmp/mm" 192 1 yes 1 $NAMES >"$tmp/out" || { cat "$tmp/out"; fail "batches"; }
grep -q "192 rows, 1 shard(s), 2 batch(es)" "$tmp/out" || { cat "$tmp/out"; fail "a shard of two batches"; }

echo "== two files of a run: one dataset, the files in order within a step"
mkdir "$tmp/run"; cp "$tmp/a.llmi" "$tmp/run/rank-0.llmi"; cp "$tmp/a.llmi" "$tmp/run/rank-1.llmi"
$D export "$tmp"/run/rank-*.llmi --format hf-arrow --tensor logits -o "$tmp/hrun" >/dev/null 2>&1 &&
	$D export "$tmp"/run/rank-*.llmi --format memmap --tensor logits -o "$tmp/mrun" >/dev/null 2>&1 ||
	fail "export of a run"
mkdir "$tmp/o4" && $R "$tmp/hrun" "$tmp/o4" >"$tmp/o4/read.json" || fail "the Arrow reader (run)"
check "$tmp/hrun" "$tmp/o4" "$tmp/mrun" 384 1 yes 1 logits || fail "the run's dataset"

echo "== a capture without token ids: token_ids null"
env -u RANK -u WORLD_SIZE -u LOCAL_RANK LD_PRELOAD="$PRE" timeout 120 $T --capture 'name=logits' -o "$tmp/n.llmi" -- $P 2 >"$tmp/out" 2>&1 &&
	$D export "$tmp/n.llmi" --format hf-arrow -o "$tmp/hn" >/dev/null 2>&1 &&
	$D export "$tmp/n.llmi" --format memmap -o "$tmp/mn" >/dev/null 2>&1 || { cat "$tmp/out"; fail "no-token capture and export"; }
mkdir "$tmp/o5" && $R "$tmp/hn" "$tmp/o5" >"$tmp/o5/read.json" || fail "the Arrow reader (no ids)"
check "$tmp/hn" "$tmp/o5" "$tmp/mn" 128 1 no -1 logits || fail "null token ids"
# steps larger than a batch go out one tensor at a time: the same, nulls included
$D export "$tmp/n.llmi" --format hf-arrow --shard-size 100k -o "$tmp/hn2" >/dev/null 2>&1 || fail "streamed steps"
mkdir "$tmp/o7" && $R "$tmp/hn2" "$tmp/o7" >"$tmp/o7/read.json" || fail "the Arrow reader (streamed)"
check "$tmp/hn2" "$tmp/o7" "$tmp/mn" 128 2 no -1 logits || fail "streamed steps with null ids"

echo "== safetensors --tokens-per-file: files of whole steps, a [rows, d] tensor a name, ids, steps, ranks"
$D export "$tmp/a.llmi" --format safetensors --tokens-per-file 150 -o "$tmp/sp" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "safetensors by tokens"; }
$PY - "$tmp" <<'PY' || fail "safetensors by tokens: contents"
import json, os, struct, sys, numpy as np
t = sys.argv[1]
files = sorted(os.listdir(f"{t}/sp"))
ok = files == ["part-00000-of-00002.safetensors", "part-00001-of-00002.safetensors"]
got = {}
for f in files:
    b = open(f"{t}/sp/{f}", "rb").read()
    (n,) = struct.unpack_from("<Q", b, 0); h = json.loads(b[8:8 + n]); h.pop("__metadata__")
    ok &= (8 + n) % 8 == 0 and max(e["data_offsets"][1] for e in h.values()) == len(b) - 8 - n
    for k, e in h.items():
        dt = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64, "I32": np.int32}[e["dtype"]]
        a, z = e["data_offsets"]
        got.setdefault(k, []).append((e["dtype"], np.frombuffer(b[8 + n + a:8 + n + z], dt).reshape(e["shape"])))
rows = [x.shape[0] for _, x in got["step"]]
ok &= rows == [128, 64]
for name in ("layer.0.out", "layer.1.out", "layer.2.out", "logits"):
    m = json.load(open(f"{t}/mm/{name}.json"))
    ref = np.fromfile(f"{t}/mm/{m['file']}", m["dtype"]).reshape(-1, 512)
    dts = {d for d, _ in got[name]}
    x = np.concatenate([x for _, x in got[name]])
    if dts == {"BF16"}:
        x = (x.astype(np.uint32) << 16).view(np.float32)
    want = {"layer.0.out": "F32", "layer.1.out": "BF16", "layer.2.out": "F16", "logits": "F32"}[name]
    good = dts == {want} and x.shape == (192, 512) and np.array_equal(x, ref)
    if not good:
        print(name, dts, x.shape)
    ok &= good
steps = np.concatenate([x for _, x in got["step"]])
ids = np.concatenate([x for _, x in got["token_ids"]])
ranks = np.concatenate([x for _, x in got["rank"]])
ok &= np.array_equal(steps, np.repeat([0, 1, 2], 64)) and (ranks == 1).all() and \
    np.array_equal(ids, 5000 + steps * 1000 + np.tile(np.arange(64), 3))
print("safetensors by tokens:", files, rows, "ok" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY
$D export "$tmp/a.llmi" --format memmap --tokens-per-file 10 -o "$tmp/x" >/dev/null 2>"$tmp/err"; st=$?
[ $st = 2 ] && [ ! -e "$tmp/x" ] || fail "--tokens-per-file without safetensors: exit $st"

echo "== names whose rows disagree: refused, DIR not made"
head -c $((32 * 512 * 4)) /dev/urandom >"$tmp/x.raw"
$D pack --dtype f32 --shape 32x512 --codec quant:nmse=1e-3 "$tmp/x.raw" -o "$tmp/p.llmi" >/dev/null 2>&1 || fail "pack"
$D export "$tmp/a.llmi" "$tmp/p.llmi" --format hf-arrow -o "$tmp/hm" >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 2 ] && [ ! -e "$tmp/hm" ] && grep -q "a row per token needs every name with the same rows" "$tmp/err" &&
	[ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err"; fail "rows that disagree: exit $st"; }

echo "== an existing DIR: refused without --force"
$D export "$tmp/a.llmi" --format hf-arrow -o "$tmp/hf" >/dev/null 2>"$tmp/err"; st=$?
[ $st = 3 ] && grep -q "exists: give --force" "$tmp/err" || { cat "$tmp/err"; fail "existing DIR: exit $st"; }
$D export "$tmp/a.llmi" --format hf-arrow --force -o "$tmp/hf" >/dev/null 2>&1 || fail "--force into DIR"
$D export "$tmp/a.llmi" --format memmap --shard-size 1M -o "$tmp/x" >/dev/null 2>"$tmp/err"; st=$?
[ $st = 2 ] && [ ! -e "$tmp/x" ] || fail "--shard-size without hf-arrow: exit $st"

echo "== a damaged tensor record: its step skipped and said, the rest exported, exit 1"
damage_tensor "$tmp/a.llmi" "$tmp/d.llmi"
$D export "$tmp/d.llmi" --format hf-arrow -o "$tmp/hd" >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 1 ] && grep -q "1 damaged tensor record(s) skipped" "$tmp/err" && grep -q "skipped: .* (a damaged record)" "$tmp/err" &&
	grep -q "exported 8 of 11 tensors" "$tmp/out" || { cat "$tmp/out" "$tmp/err"; fail "damaged record: exit $st"; }
mkdir "$tmp/o6" && $R "$tmp/hd" "$tmp/o6" >"$tmp/o6/read.json" &&
	[ "$(json "$tmp/o6/read.json" 'sum(s["rows"] for s in d["shards"])')" = 128 ] || fail "the damaged run's rows"
exit $rc
