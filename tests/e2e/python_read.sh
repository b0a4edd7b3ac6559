#!/usr/bin/env bash
# Reading .llmi files from Python (user/python/llminstr/read.py over
# build/lib/libllminstr_read.so, the reader tool's own C code): files made
# with llminstr-dump pack (f32, bf16 and f16; a run of two shards), listed
# and read back through llminstr.open equal to what llminstr-dump export
# writes, bit for bit; bf16 into numpy only by an explicit choice, kept as
# bf16 in torch; a name that does not exist or is ambiguous says what
# does; llminstr.export writes the same safetensors as the tool; ls lists
# a run's shards (a table each, or one JSON array naming the file); a damaged
# file opens with its damaged tensor left out and counted; pip installs the
# module with both libraries beside it. Needs no BPF.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
D=build/bin/llminstr-dump PY=/usr/bin/python3
for f in $D build/lib/libllminstr_read.so; do [ -e "$f" ] || { echo "SKIP: $f not built"; exit 77; }; done
$PY -c "import torch, numpy" 2>/dev/null || { echo "SKIP: python3-torch or python3-numpy missing"; exit 77; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0	# python's own leaks are not ours
PRE="$(san_runtime)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
fail() { echo "FAIL: $*"; rc=1; }

$PY - "$tmp" <<'PY' || { echo "FAIL: inputs"; exit 1; }
import sys, numpy as np
t = sys.argv[1]; rng = np.random.default_rng(3)
x = (rng.standard_normal((32, 256)) * 2 + 0.5).astype(np.float32)
x.tofile(f"{t}/x.f32")
((x.view(np.uint32) + 0x7fff + ((x.view(np.uint32) >> 16) & 1)) >> 16).astype(np.uint16).tofile(f"{t}/x.bf16")
x.astype(np.float16).tofile(f"{t}/x.f16")
PY
mkdir "$tmp/run"
for r in 0 1; do
	$D pack --dtype f32 --shape 32x256 --codec quant:nmse=1e-3 --name blk.0.resid --step 7 "$tmp/x.f32" \
		-o "$tmp/run/rank-$r.llmi" >/dev/null || fail "pack rank $r"
done
$D pack --dtype bf16 --shape 32x256 --codec quant:nmse=1e-3 --name blk.1.mlp --step 2 "$tmp/x.bf16" \
	-o "$tmp/b.llmi" >/dev/null || fail "pack bf16"
$D pack --dtype f16 --shape 32x256 --codec lossless --name logits --step 2 "$tmp/x.f16" \
	-o "$tmp/h.llmi" >/dev/null || fail "pack f16"
$D export "$tmp/run/rank-1.llmi" --tensor blk.0.resid -o "$tmp/r.npy" >/dev/null || fail "export f32"
$D export "$tmp/b.llmi" --tensor blk.1.mlp -o "$tmp/b.npy" >/dev/null || fail "export bf16"
$D export "$tmp/b.llmi" --tensor blk.1.mlp --bf16-raw -o "$tmp/bb.npy" >/dev/null || fail "export bf16 bits"
$D export "$tmp/h.llmi" --tensor logits -o "$tmp/h.npy" >/dev/null || fail "export f16"
cp "$tmp/b.llmi" "$tmp/d.llmi"
# inside the coded blob of the only tensor: its payload checksum fails
printf '\xff\xff\xff\xff' | dd of="$tmp/d.llmi" bs=1 seek=$((4096 + 32 + 512)) conv=notrunc status=none

echo "== llminstr-dump ls of a run's shards"
$D ls "$tmp"/run/*.llmi >"$tmp/ls" || fail "ls of two shards"
[ "$(grep -c '^==> .*rank-[01].llmi <==$' "$tmp/ls")" = 2 ] && [ "$(grep -c ' blk.0.resid ' "$tmp/ls")" = 2 ] ||
	{ cat "$tmp/ls"; fail "ls of two shards: a table each"; }
$D ls --json "$tmp"/run/*.llmi >"$tmp/ls.json" || fail "ls --json of two shards"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if [x["file"].split("/")[-1] for x in d] == ["rank-0.llmi","rank-1.llmi"] else 1)' \
	"$tmp/ls.json" || fail "ls --json of two shards: one array, file in each"

echo "== open, tensors, read"
LD_PRELOAD="$PRE" PYTHONPATH=user/python $PY - "$tmp" <<'PY' || fail "python reading"
import sys, numpy as np, torch, llminstr
t = sys.argv[1]; ok = True
def check(what, cond):
    global ok
    if not cond:
        print("WRONG:", what); ok = False

run = llminstr.open(f"{t}/run/*.llmi")
ts = run.tensors()
check("two shards, one tensor each", [(x.file.split("/")[-1], x.name, x.step, x.shape, x.dtype)
      for x in ts] == [("rank-0.llmi", "blk.0.resid", 7, (32, 256), "f32"),
                       ("rank-1.llmi", "blk.0.resid", 7, (32, 256), "f32")])
check("codec and error", ts[0].codec == "quant:nmse=0.001" and 0 < ts[0].nmse <= 1e-3 and
      ts[0].producer is None)
try:
    run.read("blk.0.resid", step=7); check("ambiguous across shards refused", False)
except ValueError as e:
    check("ambiguous names the files: %s" % e, "file=" in str(e) and "rank-1.llmi" in str(e))
x = run.read("blk.0.resid", step=7, file=f"{t}/run/rank-1.llmi")
check("f32 equals the tool's export", x.dtype == np.float32 and np.array_equal(x, np.load(f"{t}/r.npy")))
try:
    run.read("blk.9.resid"); check("unknown name refused", False)
except ValueError as e:
    check("unknown name lists the names: %s" % e, "names: blk.0.resid" in str(e))
try:
    run.read("blk.0.resid", step=3, file=f"{t}/run/rank-0.llmi"); check("unknown step refused", False)
except ValueError as e:
    check("unknown step lists the steps: %s" % e, "its steps: 7" in str(e))
run.close()

with llminstr.open(f"{t}/b.llmi") as b:
    try:
        b.read("blk.1.mlp"); check("bf16 into numpy without a choice refused", False)
    except ValueError as e:
        check("bf16 choice said: %s" % e, "bf16='float32'" in str(e))
    f = b.read("blk.1.mlp", bf16="float32")
    bits = b.read("blk.1.mlp", bf16="bits")
    tt = b.read("blk.1.mlp", torch=True)
    check("bf16 as float32 equals the tool's", f.dtype == np.float32 and np.array_equal(f, np.load(f"{t}/b.npy")))
    check("bf16 bits equal the tool's", bits.dtype == np.uint16 and np.array_equal(bits, np.load(f"{t}/bb.npy")))
    check("torch keeps bf16", tt.dtype == torch.bfloat16 and tuple(tt.shape) == (32, 256) and
          np.array_equal(tt.view(torch.int16).numpy().view(np.uint16), bits))
    buf = torch.empty(32 * 256, dtype=torch.bfloat16)
    into = b.read("blk.1.mlp", torch=True, out=buf)
    check("out=: decoded into the caller's tensor", into.data_ptr() == buf.data_ptr() and
          torch.equal(into, tt))
    try:
        b.read("blk.1.mlp", bf16="bits", out=np.empty(100, np.uint16)); check("small out refused", False)
    except ValueError as e:
        check("small out said: %s" % e, "needs" in str(e))
with llminstr.open(f"{t}/h.llmi") as h:
    y = h.read("logits")
    ref = np.fromfile(f"{t}/x.f16", np.float16).reshape(32, 256)
    check("f16 lossless is exact", y.dtype == np.float16 and np.array_equal(y, ref) and
          np.array_equal(y, np.load(f"{t}/h.npy")))
    check("torch f16", h.read("logits", torch=True).dtype == torch.float16)
    o = np.zeros((64, 256), np.float16)
    check("out= numpy", np.array_equal(h.read("logits", out=o), ref) and np.array_equal(o[:32], ref))

d = llminstr.open(f"{t}/d.llmi")
check("a damaged tensor is left out and counted: %d %r" % (d.skipped, d.files[0].loss),
      d.tensors() == [] and d.skipped == 1)
try:
    llminstr.open(f"{t}/nothing-*.llmi"); check("an empty glob refused", False)
except FileNotFoundError:
    pass
try:
    llminstr.open(f"{t}/x.f32"); check("not a container refused", False)
except OSError as e:
    check("not a container said: %s" % e, "x.f32" in str(e))

llminstr.export(f"{t}/b.llmi", "safetensors", f"{t}/st")
try:
    llminstr.export(f"{t}/b.llmi", "safetensors", f"{t}/st"); check("existing dir refused", False)
except OSError as e:
    check("existing dir said: %s" % e, "--force" in str(e))
llminstr.export(f"{t}/b.llmi", "hf-arrow", f"{t}/hf")
import json, os
info = json.load(open(f"{t}/hf/dataset_info.json"))
check("hf-arrow from Python: %s %s" % (sorted(os.listdir(f"{t}/hf")), list(info["features"])),
      sorted(os.listdir(f"{t}/hf")) == ["data-00000-of-00001.arrow", "dataset_info.json", "state.json"]
      and list(info["features"]) == [x.name for x in llminstr.open(f"{t}/b.llmi").tensors()][:1] + ["token_ids", "step", "rank"])
print("python reading:", "ok" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY
echo "== pip install --no-build-isolation ./user/python: the module and both libraries, used from anywhere"
if $PY -c "import pip, setuptools" 2>/dev/null; then
	# from a copy: pip builds in the source directory, which is not ours to write
	cp -r user/python "$tmp/src"
	LLMINSTR_BUILD_LIB="$PWD/build/lib" $PY -m pip install -q --no-build-isolation --no-index \
		--target "$tmp/site" "$tmp/src" >"$tmp/pip" 2>&1 || { cat "$tmp/pip"; fail "pip install"; }
	(cd / && LD_PRELOAD="$PRE" PYTHONPATH="$tmp/site" $PY - "$tmp" <<'PY') || fail "the installed module"
import sys, llminstr
t = sys.argv[1]
r = llminstr.open(f"{t}/run")
ok = len(r.tensors()) == 2 and llminstr.library_path().startswith(f"{t}/site/llminstr/") and \
    llminstr.read._lib._name.startswith(f"{t}/site/llminstr/")
print("installed:", llminstr.library_path(), llminstr.read._lib._name)
sys.exit(0 if ok else 1)
PY
else
	echo "(pip or setuptools missing: the install is not checked)"
fi

$D export "$tmp/b.llmi" --format safetensors -o "$tmp/st2" >/dev/null || fail "tool safetensors"
$PY - "$tmp/st/step-00000002.safetensors" "$tmp/st2/step-00000002.safetensors" <<'PY' || fail "python export differs from the tool's"
import sys, json, struct
def body(p):
    b = open(p, "rb").read(); (n,) = struct.unpack_from("<Q", b, 0)
    h = json.loads(b[8:8 + n]); h["__metadata__"].pop("llminstr.source")
    return h, b[8 + n:]
sys.exit(0 if body(sys.argv[1]) == body(sys.argv[2]) else 1)
PY
exit $rc
