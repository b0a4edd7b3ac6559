#!/usr/bin/env bash
# The Python hooks (user/python/llminstr) on a small GPT-2-style torch model
# on the CPU (tests/e2e/progs/hook_model.py): llminstr.hook captures the
# outputs of the modules whose paths match, named by those paths, one step
# per forward (or the steps the script marks); what the tracer wrote equals
# the module outputs within the codec's bound; a pattern that matches no
# module is refused with the names that exist; without a tracer nothing is
# taken and the script runs the same. TransformerLens-style names
# (blocks.L.hook_resid_post, mlp.hook_post, attn.hook_z, hook_embed) map onto
# Llama, GPT-2 and GPT-NeoX module layouts (tests/e2e/progs/hf_layouts.py),
# and what is captured under them is what those modules saw, tied to the
# model's input ids, which the hook hands over as each step's tokens.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
capture_setup
$PY -c "import torch, numpy" 2>/dev/null || { echo "SKIP: python3-torch or python3-numpy missing"; exit 77; }
M=tests/e2e/progs/hook_model.py
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0	# python's own leaks are not ours

echo "== no tracer: nothing taken"
out=$(LD_PRELOAD="$PRE" $PY $M 2 "$tmp" 'blocks.*.mlp' 2>&1) || fail "hook_model without a tracer: $out"
case $out in "hook_model: 0 taken, attached False, hooked blocks.0.mlp blocks.1.mlp blocks.2.mlp") ;;
	*) fail "without a tracer: '$out'" ;; esac

echo "== a pattern that matches nothing: the names that exist"
out=$(LD_PRELOAD="$PRE" $PY $M 1 "$tmp" 'layers.*.mlp' 2>&1) && fail "no error for a pattern that matches nothing"
echo "$out" | grep -q "no module matches layers.\*.mlp; modules: embed, blocks" || fail "not said: $out"

echo "== --capture name=blocks.*.mlp, hooks on blocks.*.mlp and blocks.*.attn: 3 forwards"
mkdir "$tmp/ref"
if ! LD_PRELOAD="$PRE" timeout 300 $T --capture 'name=blocks.*.mlp' -o "$tmp/a.llmi" --json "$tmp/a.json" \
	-- $PY $M 3 "$tmp/ref" 'blocks.*.mlp' 'blocks.*.attn' >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "traced hook_model"
fi
grep -q "hook_model: 9 taken, attached True" "$tmp/out" || { cat "$tmp/out"; fail "not 9 taken"; }
$D verify "$tmp/a.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify"; }
$D ls --json "$tmp/a.llmi" >"$tmp/ls.json" || fail "ls --json"
$PY - "$tmp/ls.json" <<'PY' || fail "names and steps"
import json, sys
t = json.load(open(sys.argv[1]))
got = sorted((x["name"], x["step"]) for x in t)
want = sorted(("blocks.%d.mlp" % l, s) for l in range(3) for s in range(3))
ok = got == want and all(x["shape"] == [2, 16, 64] and x["dtype"] == "f32" for x in t)
print("tensors:", len(t), "names x steps as expected" if ok else got)
sys.exit(0 if ok else 1)
PY
for f in "$tmp"/ref/*.f32; do
	b=${f##*/}; b=${b%.f32}; name=${b%.*}; step=${b##*.}
	$D export "$tmp/a.llmi" --tensor "$name" --step "$step" -o "$tmp/x.npy" --force >/dev/null 2>"$tmp/e" ||
		{ cat "$tmp/e"; fail "export $name $step"; continue; }
	$PY - "$f" "$tmp/x.npy" <<'PY' || fail "$name step $step"
import sys, numpy as np
x = np.fromfile(sys.argv[1], np.float32).astype(np.float64)
y = np.load(sys.argv[2]).astype(np.float64).ravel()
nmse = ((x - y) ** 2).mean() / x.var()
print(f"{sys.argv[1].rsplit('/', 1)[1]}: nmse {nmse:.3g}")
sys.exit(0 if x.shape == y.shape and nmse <= 1e-3 * (1 + 1e-9) else 1)
PY
done

echo "== steps the script marks (10, 20): used instead of one per forward"
if ! LD_PRELOAD="$PRE" LLMINSTR_MANUAL_STEPS=1 timeout 300 $T --capture 'name=blocks.0.*' \
	-o "$tmp/b.llmi" -- $PY $M 2 "$tmp" 'blocks.0.mlp' >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "manual steps"
fi
$D ls --json "$tmp/b.llmi" | $PY -c '
import json, sys
s = sorted(x["step"] for x in json.load(sys.stdin))
print("steps:", s); sys.exit(0 if s == [10, 20] else 1)' || fail "manual steps"
echo "== TransformerLens names on Llama, GPT-2 and GPT-NeoX layouts: what they map to"
LD_PRELOAD="$PRE" $PY tests/e2e/progs/hf_layouts.py check >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "names of the layouts"; }

echo "== --capture of TransformerLens names on a Llama layout: values and names as the modules saw"
mkdir "$tmp/tl"
if ! LD_PRELOAD="$PRE" timeout 300 $T --capture 'name=blocks.*' --capture 'name=hook_embed' -o "$tmp/tl.llmi" \
	-- $PY tests/e2e/progs/hf_layouts.py run llama 2 "$tmp/tl" 'blocks.*.hook_resid_post' \
	'blocks.1.mlp.hook_post' 'blocks.0.attn.hook_z' 'hook_embed' >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "traced hf_layouts"
fi
grep -q "hf_layouts: 10 taken" "$tmp/out" || { cat "$tmp/out"; fail "not 10 taken"; }
LD_PRELOAD="$PRE" PYTHONPATH=user/python $PY - "$tmp/tl.llmi" "$tmp/tl" <<'PY' || fail "TransformerLens-named tensors"
import os, sys, numpy as np, llminstr
run = llminstr.open(sys.argv[1])
got = sorted((t.name, t.step) for t in run.tensors())
names = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "blocks.1.mlp.hook_post",
         "blocks.0.attn.hook_z", "hook_embed"]
ok = got == sorted((n, s) for n in names for s in range(2))
for n, s in got:
    x = np.fromfile(os.path.join(sys.argv[2], "%s.%d.f32" % (n, s)), np.float32).astype(np.float64)
    y = run.read(n, step=s).astype(np.float64).ravel()
    nmse = ((x - y) ** 2).mean() / x.var()
    t = run.find(n, s)
    ids = np.fromfile(os.path.join(sys.argv[2], "tokens.%d.i64" % s), np.int64)
    ok &= x.shape == y.shape and nmse <= 1e-3 * (1 + 1e-9) and \
        t.tokens == (24 * s, 24) and np.array_equal(run.tokens(t), ids)
    print(n, s, "nmse %.3g" % nmse, "tokens", t.tokens)
sys.exit(0 if ok else 1)
PY
exit $rc
