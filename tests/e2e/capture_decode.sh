#!/usr/bin/env bash
# Capture of build/bin/llm_decode through the real agent (-- CMD preloads
# it): with --prefill 8 and 4 tokens (steps 0..3), 2 layers, every tensor
# is in the file exactly once (names x steps), decodes within the codec's
# bound against --reference-dir, has the prefill's shape [8, hidden] at
# step 0 and [1, hidden] after, and names the launch that made it:
# blk.L.resid <- residual_add_kernel, blk.L.mlp_out and attn_out <- the
# GEMV/GEMM of that step, logits <- lm_head_gemv. name= and every= select
# exactly that. The tokens equal those of the run without the tracer, and
# the agent's own CUDA calls are kept out of the copy counts (--truth).
# LLMI_DECODE=path runs another llm_decode (llm_decode_cuda on a GPU), LLMI_PY
# another python3 with numpy (scripts/gpu-check.sh).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=build/bin/llminstr-trace D=build/bin/llminstr-dump W=${LLMI_DECODE:-build/bin/llm_decode} PY=${LLMI_PY:-/usr/bin/python3}
need_bpf
# a sanitized tree: the runtime first, before the agent the tracer preloads
PRE="$(san_runtime)"
for f in $T $D $W build/lib/libllminstr.so; do
	[ -e $f ] || { echo "SKIP: $f not built"; exit 77; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ARGS="--layers 2 --hidden 64 --heads 4 --ffn 128 --vocab 256 --prefill 8 --tokens 4"
rc=0
fail() { echo "FAIL: $*"; rc=1; }

$W $ARGS >"$tmp/plain.tok" 2>"$tmp/plain.err" || { cat "$tmp/plain.err"; fail "llm_decode alone"; }

echo "== --capture all"
mkdir "$tmp/ref"
if ! LD_PRELOAD="$PRE" timeout 300 $T --capture all -o "$tmp/a.llmi" --json "$tmp/a.json" -- \
	$W $ARGS --reference-dir "$tmp/ref" --truth "$tmp/w.json" >"$tmp/a.tok" 2>"$tmp/a.err"; then
	cat "$tmp/a.err"; fail "traced llm_decode"
fi
# the tokens first on stdout, then the tracer's summary
head -c "$(wc -c <"$tmp/plain.tok")" "$tmp/a.tok" | cmp -s - "$tmp/plain.tok" || fail "the tokens differ under capture"
$D verify "$tmp/a.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify"; }
$D ls --json "$tmp/a.llmi" >"$tmp/ls.json" || fail "ls --json"
$PY - "$tmp/ls.json" "$tmp/ref" "$tmp/a.json" <<'PY' || fail "tensors"
import json, os, sys
import numpy as np
t = json.load(open(sys.argv[1])); ref = sys.argv[2]; tr = json.load(open(sys.argv[3]))
names = ["blk.%d.%s" % (l, n) for l in range(2) for n in ("attn_out", "mlp_out", "resid")] + ["logits"]
want = sorted((n, s) for n in names for s in range(4))
got = sorted((x["name"], x["step"]) for x in t)
bad = []
if got != want:
    bad.append("names x steps: %s" % got)
prod = {"resid": "residual_add_kernel", "logits": "lm_head_gemv"}
for x in t:
    rows = 8 if x["step"] == 0 else 1
    cols = 256 if x["name"] == "logits" else 64
    if x["name"] == "logits":
        rows = 1
    if x["shape"] != [rows, cols]:
        bad.append("%s step %d: shape %s" % (x["name"], x["step"], x["shape"]))
    p = x["producer"]
    k = x["name"].rsplit(".", 1)[-1]
    exp = prod.get(k, "gemm_f32" if x["step"] == 0 else "gemv_f32")
    if not p or not p["kernel"] or not p["kernel"].startswith(exp):
        bad.append("%s step %d: producer %s, want %s" % (x["name"], x["step"], p, exp))
print("%d tensors; producers: %s" % (len(t), sorted({(x["name"].rsplit(".", 1)[-1], (x["producer"] or {}).get("kernel")) for x in t})))
c = tr["capture"]
if c["tensors"] != 28 or c["dropped"] or c["no_producer"]:
    bad.append("capture block: %s" % c)
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
for f in "$tmp"/ref/*.f32; do
	b=${f##*/}; b=${b%.f32}; name=${b%.*}; step=${b##*.}
	$D export "$tmp/a.llmi" --tensor "$name" --step "$step" -o "$tmp/x.npy" --force >/dev/null 2>"$tmp/e" ||
		{ cat "$tmp/e"; fail "export $name $step"; continue; }
	$PY - "$f" "$tmp/x.npy" <<'PY' || fail "$name step $step out of bound"
import sys, numpy as np
x = np.fromfile(sys.argv[1], np.float32).astype(np.float64)
y = np.load(sys.argv[2]).astype(np.float64).ravel()
v = x.var()
nmse = ((x - y) ** 2).mean() / v if v > 0 else ((x - y) ** 2).mean()
sys.exit(0 if x.shape == y.shape and nmse <= 1e-3 * (1 + 1e-9) else 1)
PY
done
[ "$(ls "$tmp"/ref/*.f32 | wc -l)" = 28 ] || fail "reference files: $(ls "$tmp"/ref | wc -l)"
# the agent's snapshot copies are capture traffic, not llm_decode's copies
$PY scripts/trace_vs_truth.py "$tmp/a.json" "$tmp/w.json" 0 >"$tmp/cmp" 2>&1 || { cat "$tmp/cmp"; fail "counts against --truth under capture"; }

echo "== name=blk.1.* and every=2: blk.1.{attn_out,mlp_out,resid} at steps 0 and 2"
if ! LD_PRELOAD="$PRE" timeout 300 $T --capture 'name=blk.1.*' --capture every=2 -o "$tmp/b.llmi" -- \
	$W $ARGS >/dev/null 2>"$tmp/b.err"; then
	cat "$tmp/b.err"; fail "selected capture"
fi
$D ls --json "$tmp/b.llmi" | $PY -c '
import json, sys
got = sorted((x["name"], x["step"]) for x in json.load(sys.stdin))
want = sorted(("blk.1." + n, s) for n in ("attn_out", "mlp_out", "resid") for s in (0, 2))
print(got if got != want else "as selected"); sys.exit(0 if got == want else 1)' || fail "name= every="
exit $rc
