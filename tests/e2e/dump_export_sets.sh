#!/usr/bin/env bash
# llminstr-dump export --format safetensors|memmap, end to end: a capture
# of capture_host (3 steps x f32, bf16, f16 and f32 tensors) exported both
# ways and read back by readers of the formats' own (the safetensors layout
# parsed in Python, numpy.memmap from the sidecar): every tensor there once,
# bf16 kept as BF16 bits, values equal to the one-tensor .npy export of the
# same tensor and within the codec's bound of what the program handed over;
# two shards of a run make one dataset; --tensor GLOB selects, an existing DIR is refused without --force, a
# damaged record is skipped and said (exit 1) while the rest is exported.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=build/tests/progs/capture_host
capture_setup $P

mkdir "$tmp/ref"
LD_PRELOAD="$PRE" timeout 120 $T --capture all -o "$tmp/a.llmi" -- $P 3 "$tmp/ref" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "capture"; exit 1; }
for n in layer.0.out layer.1.out layer.2.out logits; do
	for s in 0 1 2; do
		$D export "$tmp/a.llmi" --tensor $n --step $s -o "$tmp/$n.$s.npy" >/dev/null ||
			fail "npy export of $n step $s"
	done
done

echo "== safetensors: one file per step, bf16 as BF16, metadata, values as the .npy export"
$D export "$tmp/a.llmi" --format safetensors -o "$tmp/st" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "safetensors export"; }
grep -q "exported 12 of 12 tensors to $tmp/st: 3 safetensors files" "$tmp/out" || { cat "$tmp/out"; fail "safetensors summary"; }
$PY - "$tmp" <<'PY' || fail "safetensors contents"
import json, struct, sys, numpy as np
tmp = sys.argv[1]
dt = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
want = {"layer.0.out": ("F32", np.float32), "layer.1.out": ("BF16", np.uint16),
        "layer.2.out": ("F16", np.float16), "logits": ("F32", np.float32)}
ok = True
for s in range(3):
    b = open(f"{tmp}/st/step-{s:08d}.safetensors", "rb").read()
    (hl,) = struct.unpack_from("<Q", b, 0)
    h = json.loads(b[8:8 + hl]); data = b[8 + hl:]
    meta = h.pop("__metadata__")
    ok &= (8 + hl) % 8 == 0 and meta["llminstr.step"] == str(s) and set(h) == set(want)
    end = 0
    for name, (code, npdt) in want.items():
        e = h[name]; a, z = e["data_offsets"]
        x = np.frombuffer(data[a:z], npdt).reshape(e["shape"])
        end = max(end, z)
        ref = np.load(f"{tmp}/{name}.{s}.npy")	# bf16: float32, exactly the bits << 16
        got = (x.astype(np.uint32) << 16).view(np.float32) if code == "BF16" else x
        raw = open(f"{tmp}/ref/{name}.{s}.raw", "rb").read()
        orig = ((np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
                if code == "BF16" else np.frombuffer(raw, npdt)).astype(np.float64).reshape(64, 512)
        nmse = ((orig - got.astype(np.float64)) ** 2).mean() / orig.var()
        good = e["dtype"] == code and e["shape"] == [64, 512] and np.array_equal(got, ref) and \
            nmse <= 1e-3 * (1 + 1e-9) and float(meta[name + ".nmse"]) <= 1e-3 and \
            meta[name + ".codec"].startswith("quant") and name + ".producer" in meta
        if not good:
            print(f"step {s} {name}: {e} nmse {nmse:.3g} meta {meta.get(name + '.nmse')}")
        ok &= good
    ok &= end == len(data)
print("safetensors:", "ok" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY

echo "== memmap: one file per name, rows of the steps in order, a sidecar numpy reads"
$D export "$tmp/a.llmi" --format memmap -o "$tmp/mm" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "memmap export"; }
$D export "$tmp/a.llmi" --format memmap --bf16-raw --tensor 'layer.1.*' -o "$tmp/mr" >"$tmp/out2" 2>&1 ||
	{ cat "$tmp/out2"; fail "memmap --bf16-raw export"; }
grep -q "exported 3 of 3 tensors" "$tmp/out2" || { cat "$tmp/out2"; fail "--tensor GLOB selects one name's 3 steps"; }
$PY - "$tmp" <<'PY' || fail "memmap contents"
import json, sys, numpy as np
tmp = sys.argv[1]
ok = True
for name in ("layer.0.out", "layer.1.out", "layer.2.out", "logits"):
    m = json.load(open(f"{tmp}/mm/{name}.json"))
    x = np.memmap(f"{tmp}/mm/{m['file']}", dtype=m["dtype"], mode="r", shape=tuple(m["shape"]))
    good = m["shape"] == [192, 512] and m["steps"] == [0, 1, 2] and m["rows"] == [64] * 3 and \
        m["dtype"] == ("float16" if name == "layer.2.out" else "float32")
    for s in range(3):
        good &= np.array_equal(np.asarray(x[64 * s:64 * (s + 1)]), np.load(f"{tmp}/{name}.{s}.npy"))
    if not good:
        print(name, m)
    ok &= good
r = json.load(open(f"{tmp}/mr/layer.1.out.json"))
bits = np.memmap(f"{tmp}/mr/layer.1.out.bin", dtype=r["dtype"], mode="r", shape=tuple(r["shape"]))
wide = np.fromfile(f"{tmp}/mm/layer.1.out.bin", np.float32).reshape(192, 512)
ok &= r["dtype"] == "uint16" and r["captured_dtype"] == "bf16" and \
    np.array_equal((np.asarray(bits).astype(np.uint32) << 16).view(np.float32), wide)
import os
ok &= sorted(os.listdir(f"{tmp}/mr")) == ["layer.1.out.bin", "layer.1.out.json"]
print("memmap:", "ok" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY

echo "== a run of two shards: one dataset"
mkdir "$tmp/run"; cp "$tmp/a.llmi" "$tmp/run/rank-0.llmi"; cp "$tmp/a.llmi" "$tmp/run/rank-1.llmi"
$D export "$tmp"/run/rank-*.llmi --format memmap --tensor logits -o "$tmp/rm" >"$tmp/out" 2>&1 &&
	$D export "$tmp"/run/rank-*.llmi --format safetensors --step 1 -o "$tmp/rs" >>"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "export of a run"; }
$PY - "$tmp" <<'PY' || fail "the run's dataset"
import json, struct, sys, numpy as np
tmp = sys.argv[1]
m = json.load(open(f"{tmp}/rm/logits.json"))
x = np.memmap(f"{tmp}/rm/{m['file']}", dtype=m["dtype"], mode="r", shape=tuple(m["shape"]))
ok = m["shape"] == [384, 512] and m["steps"] == [0, 0, 1, 1, 2, 2] and \
    [f.split("/")[-1] for f in m["files"]] == ["rank-0.llmi", "rank-1.llmi"] * 3
for s in range(3):
    ref = np.load(f"{tmp}/logits.{s}.npy")
    ok &= np.array_equal(np.asarray(x[128 * s:128 * s + 64]), ref) and \
        np.array_equal(np.asarray(x[128 * s + 64:128 * (s + 1)]), ref)
b = open(f"{tmp}/rs/step-00000001.safetensors", "rb").read()
(n,) = struct.unpack_from("<Q", b, 0); h = json.loads(b[8:8 + n]); meta = h.pop("__metadata__")
names = {"layer.0.out", "layer.1.out", "layer.2.out", "logits"}
ok &= set(h) == names | {k + "@rank-1" for k in names} and \
    meta["logits@rank-1.file"].endswith("rank-1.llmi")
print("run:", "ok" if ok else "WRONG", m["shape"], sorted(h))
sys.exit(0 if ok else 1)
PY

echo "== an existing directory: refused without --force, written into with it"
$D export "$tmp/a.llmi" --format memmap -o "$tmp/mm" >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 3 ] && grep -q "exists: give --force" "$tmp/err" && [ "$(wc -l <"$tmp/err")" = 1 ] ||
	{ cat "$tmp/err"; fail "existing DIR: exit $st"; }
$D export "$tmp/a.llmi" --format memmap --force -o "$tmp/mm" >/dev/null 2>&1 || fail "--force into DIR"
$D export "$tmp/a.llmi" --format parquet -o "$tmp/x" >/dev/null 2>"$tmp/err"; st=$?
[ $st = 2 ] && grep -q "expected npy, safetensors, memmap or hf-arrow" "$tmp/err" || fail "unknown --format: exit $st"
$D export "$tmp/a.llmi" --format memmap --tensor 'nothing.*' -o "$tmp/none" >/dev/null 2>"$tmp/err"; st=$?
[ $st = 2 ] && [ ! -e "$tmp/none" ] || { cat "$tmp/err"; fail "a GLOB that selects nothing: exit $st"; }

echo "== a damaged tensor record: skipped and said, the rest exported, exit 1"
damage_tensor "$tmp/a.llmi" "$tmp/d.llmi"
$D export "$tmp/d.llmi" --format safetensors -o "$tmp/dst" >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 1 ] && grep -q "1 damaged tensor record(s) skipped" "$tmp/err" && grep -q "exported 11 of 11 tensors" "$tmp/out" ||
	{ cat "$tmp/out" "$tmp/err"; fail "damaged record: exit $st"; }
exit $rc
