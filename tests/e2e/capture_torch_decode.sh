#!/usr/bin/env bash
# gpu/workload/torch_decode.py --capture on the CPU (--device cpu, Debian's
# python3-torch): the tensors go through the Python module
# (user/python/llminstr) to the agent. Without a tracer nothing is taken and
# the tokens are those of the run without --capture; under
# `llminstr-trace --capture name=blk.*.resid --capture name=logits -- python3
# torch_decode.py --capture` the file holds exactly blk.L.resid and logits
# for each timed token (names x steps, bf16, [hidden] and [vocab]), each
# within the codec's bound against --reference-dir, and the tokens are
# unchanged; --reference-dir without --capture is refused in one line.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
TD=gpu/workload/torch_decode.py
capture_setup
$PY -c "import torch, numpy" 2>/dev/null || { echo "SKIP: python3-torch or python3-numpy missing"; exit 77; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0	# python's own leaks are not ours
L=2 N=5
ARGS="--device cpu --layers $L --hidden 64 --heads 4 --ffn 128 --vocab 256 --tokens $N"

$PY $TD $ARGS >"$tmp/plain.tok" 2>"$tmp/plain.err" || { cat "$tmp/plain.err"; fail "torch_decode alone"; }

echo "== --reference-dir without --capture: refused"
$PY $TD $ARGS --reference-dir "$tmp" >/dev/null 2>"$tmp/e" && fail "accepted"
grep -q "reference-dir needs --capture" "$tmp/e" || fail "not said: $(cat "$tmp/e")"

echo "== --capture, no tracer: nothing taken, the same tokens"
LD_PRELOAD="$PRE" $PY $TD $ARGS --capture >"$tmp/n.tok" 2>"$tmp/n.err" || { cat "$tmp/n.err"; fail "no tracer"; }
cmp -s "$tmp/n.tok" "$tmp/plain.tok" || fail "--capture changed the tokens"
n=$(((3 * L + 1) * N))
grep -q "torch_decode: llminstr: $n tensors offered, 0 taken, $n skipped, 0 refused" "$tmp/n.err" ||
	fail "no tracer: $(cat "$tmp/n.err")"

echo "== llminstr-trace --capture name=blk.*.resid --capture name=logits"
mkdir "$tmp/ref"
if ! LD_PRELOAD="$PRE" timeout 300 $T --capture 'name=blk.*.resid' --capture name=logits \
	-o "$tmp/a.llmi" --json "$tmp/a.json" -- $PY $TD $ARGS --capture --reference-dir "$tmp/ref" \
	>"$tmp/a.tok" 2>"$tmp/a.err"; then
	cat "$tmp/a.err"; fail "traced torch_decode"
fi
head -c "$(wc -c <"$tmp/plain.tok")" "$tmp/a.tok" | cmp -s - "$tmp/plain.tok" || fail "the tokens differ under capture"
k=$(((L + 1) * N))
grep -q "torch_decode: llminstr: $n tensors offered, $k taken, $((n - k)) skipped, 0 refused" "$tmp/a.err" ||
	fail "traced: $(cat "$tmp/a.err")"
$D verify "$tmp/a.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify"; }
$D ls --json "$tmp/a.llmi" >"$tmp/ls.json" || fail "ls --json"
$PY - "$tmp/ls.json" $L $N <<'PY' || fail "names x steps"
import json, sys
t = json.load(open(sys.argv[1])); L, N = int(sys.argv[2]), int(sys.argv[3])
got = sorted((x["name"], x["step"]) for x in t)
want = sorted((n, s) for n in ["blk.%d.resid" % l for l in range(L)] + ["logits"] for s in range(N))
bad = [x for x in t if x["dtype"] != "bf16" or x["shape"] != ([256] if x["name"] == "logits" else [64])]
print("tensors:", len(t), "names x steps as expected" if got == want else got, bad[:2])
sys.exit(0 if got == want and not bad else 1)
PY
for name in $(seq 0 $((L - 1)) | sed 's/^/blk./; s/$/.resid/') logits; do
	for step in $(seq 0 $((N - 1))); do
		$D export "$tmp/a.llmi" --tensor "$name" --step "$step" -o "$tmp/x.npy" --force >/dev/null 2>"$tmp/e" ||
			{ cat "$tmp/e"; fail "export $name $step"; continue; }
		$PY - "$tmp/ref/$name.$step.f32" "$tmp/x.npy" <<'PY' || fail "$name step $step out of bound"
import sys, numpy as np
x = np.fromfile(sys.argv[1], np.float32).astype(np.float64)
y = np.load(sys.argv[2]).astype(np.float64).ravel()
v = x.var()
nmse = ((x - y) ** 2).mean() / v if v > 0 else ((x - y) ** 2).mean()
sys.exit(0 if x.shape == y.shape and nmse <= 1e-3 * (1 + 1e-9) else 1)
PY
	done
done
[ "$(ls "$tmp"/ref/*.f32 | wc -l)" = $n ] || fail "reference files: $(ls "$tmp"/ref | wc -l), expected $n"
exit $rc
