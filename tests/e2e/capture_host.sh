#!/usr/bin/env bash
# Tensor capture of host memory, end to end: a program linked with the agent
# (tests/e2e/progs/capture_host.c) hands over f32, bf16 and f16 tensors
# at several steps; llminstr-trace --capture writes them into its -o file.
# Every tensor is there exactly once (names x steps), decodes within the
# codec's bound against the copy the program wrote, and name=/every=/steps=
# select exactly what they say; llminstr_tokens ties each step's tensors
# to its token ids. Without a tracer the program runs the same.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=build/tests/progs/capture_host
capture_setup $P

echo "== without a tracer: nothing taken, the program unharmed"
out=$($P 3 | tail -1) || fail "capture_host failed without a tracer"
[ "$out" = "capture_host: 0 taken, 12 skipped, 0 dropped, 0 refused" ] || fail "without a tracer: '$out'"

echo "== --capture all: 3 steps x 4 tensors"
mkdir "$tmp/ref"
if ! LD_PRELOAD="$PRE" timeout 120 $T --capture all -o "$tmp/a.llmi" --json "$tmp/a.json" -- $P 3 "$tmp/ref" \
	>"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "the traced program or the tracer failed"
fi
grep -q "capture_host: 12 taken, 0 skipped, 0 dropped, 0 refused" "$tmp/out" || { cat "$tmp/out"; fail "not every tensor taken"; }
grep -q "^Capture: 12 tensors" "$tmp/out" || { cat "$tmp/out"; fail "the summary does not count 12 tensors"; }
$D verify "$tmp/a.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify of the capture file"; }
for f in "$tmp"/ref/*.raw; do
	b=${f##*/}; b=${b%.raw}; name=${b%.*}; step=${b##*.}
	if ! $D export "$tmp/a.llmi" --tensor "$name" --step "$step" -o "$tmp/x.npy" --force \
		>"$tmp/e" 2>&1; then
		cat "$tmp/e"; fail "export $name step $step"; continue
	fi
	$PY - "$f" "$tmp/x.npy" "$name" <<'PY' || fail "$name step $step out of bound"
import sys, numpy as np
ref, got, name = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
raw = open(ref, "rb").read()
if name == "layer.1.out":	# bf16 bits; export gives float32 exactly
	x = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
elif name == "layer.2.out":
	x = np.frombuffer(raw, np.float16)
else:
	x = np.frombuffer(raw, np.float32)
x = x.astype(np.float64).reshape(64, 512); y = got.astype(np.float64)
nmse = ((x - y) ** 2).mean() / x.var()
ok = y.shape == (64, 512) and nmse <= 1e-3 * (1 + 1e-9)
print(f"{name}: shape {y.shape}, nmse {nmse:.3g}" + ("" if ok else "  <-- over 1e-3"))
sys.exit(0 if ok else 1)
PY
done
n=$(ls "$tmp"/ref/*.raw | wc -l)
[ "$n" = 12 ] || fail "$n reference tensors, want 12"

echo "== llminstr_tokens: each step's token ids in the file, every tensor of the step tied to them"
if ! CAPTURE_HOST_TOKENS=0 LD_PRELOAD="$PRE" timeout 120 $T --capture all -o "$tmp/t.llmi" \
	--json "$tmp/t.json" -- $P 3 >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "capture with tokens"
fi
grep -q "capture_host: tokens of 3 steps taken" "$tmp/out" && grep -q "tokens: 192 ids of 3 steps" "$tmp/out" ||
	{ cat "$tmp/out"; fail "tokens not taken or not in the summary"; }
[ "$(json "$tmp/t.json" 'd["capture"]["tokens"] == 192 and d["capture"]["token_steps"] == 3 and d["capture"]["tensors"] == 12')" = True ] ||
	fail "tokens in the JSON: $(json "$tmp/t.json" 'd["capture"]')"
$D verify "$tmp/t.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify of the file with tokens"; }
# python's own leaks are not ours
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 LD_PRELOAD="$PRE" PYTHONPATH=user/python \
	$PY - "$tmp/t.llmi" <<'PY' || fail "tokens of the tensors"
import sys, numpy as np, llminstr
run = llminstr.open(sys.argv[1])
ok = len(run.tensors()) == 12
for t in run.tensors():
    ids = run.tokens(t)
    good = t.tokens == (64 * t.step, 64) and t.pid and \
        np.array_equal(ids, 1000 * t.step + np.arange(64, dtype=np.int64))
    if not good:
        print(t.name, t.step, t.tokens, ids[:4] if ids is not None else None)
    ok &= bool(good)
print("tokens:", "each tensor's rows tied to its step's ids" if ok else "WRONG")
sys.exit(0 if ok else 1)
PY
$D ls --json "$tmp/t.llmi" | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(x["tokens"] == [64 * x["step"], 64] for x in d) else 1)' ||
	fail "ls --json: tokens"
$D export "$tmp/t.llmi" --format safetensors --step 2 -o "$tmp/tst" >/dev/null || fail "safetensors with tokens"
$D export "$tmp/t.llmi" --format memmap --tensor logits -o "$tmp/tmm" >/dev/null || fail "memmap with tokens"
$PY - "$tmp/tst/step-00000002.safetensors" "$tmp/tmm/logits.json" <<'PY' || fail "token ranges in the exports"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); (n,) = struct.unpack_from("<Q", b, 0)
meta = json.loads(b[8:8 + n])["__metadata__"]
m = json.load(open(sys.argv[2]))
sys.exit(0 if meta["logits.tokens"] == "128,64" and meta["logits.pid"].isdigit() and
         m["tokens"] == [[0, 64], [64, 64], [128, 64]] else 1)
PY
# not selected steps: no tokens taken for them
if ! CAPTURE_HOST_TOKENS=0 LD_PRELOAD="$PRE" timeout 120 $T --capture steps=1-1 -o "$tmp/t1.llmi" \
	-- $P 3 >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "tokens with steps=1-1"
fi
grep -q "capture_host: tokens of 1 steps taken" "$tmp/out" || { cat "$tmp/out"; fail "tokens of an unselected step taken"; }

echo "== a command's descendant with the agent and no CUDA is followed and captured"
if ! CAPTURE_HOST_WAIT=1 LD_PRELOAD="$PRE" timeout 120 $T --capture all -o "$tmp/s.llmi" \
	--json "$tmp/s.json" -- sh -c "$P 3; true" >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "the command through sh"
fi
grep -q "following pid [0-9]* (tensor capture only)" "$tmp/out" || { cat "$tmp/out"; fail "sh's child not followed"; }
grep -q "capture_host: 12 taken, 0 skipped" "$tmp/out" || { cat "$tmp/out"; fail "sh's child: not every tensor taken"; }
[ "$(json "$tmp/s.json" 'd["capture"]["tensors"] == 12 and d["capture"]["agents"] == 2')" = True ] ||
	fail "through sh: $(json "$tmp/s.json" 'd["capture"]')"
$D verify "$tmp/s.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify of the file through sh"; }
$PY - "$tmp/a.json" <<'PY' || fail "the JSON capture block"
import json, sys
c = json.load(open(sys.argv[1]))["capture"]
ok = c["tensors"] == 12 and c["dropped"] == 0 and c["max_nmse"] <= 1e-3 and \
     {g["pattern"]: g["tensors"] for g in c["names"]} == {"layer.*.out": 9, "logits": 3}
print("capture:", {k: c[k] for k in ("tensors", "raw_bytes", "stored_bytes", "ratio", "max_nmse")})
sys.exit(0 if ok else 1)
PY

echo "== name=layer.1.* every=2 over 5 steps: steps 0, 2, 4 of layer.1.out"
if ! LD_PRELOAD="$PRE" timeout 120 $T --capture 'name=layer.1.*' --capture every=2 -o "$tmp/b.llmi" \
	--json "$tmp/b.json" -- $P 5 >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "selected capture"
fi
grep -q "capture_host: 3 taken, 17 skipped" "$tmp/out" || { cat "$tmp/out"; fail "selection in the program"; }
$D ls "$tmp/b.llmi" >"$tmp/ls" || fail "ls"
# coders finish in any order: the file holds each tensor, not steps in order
got=$(awk '$0 ~ /layer.1.out/ {print $3}' "$tmp/ls" | sort -n | tr '\n' ' ')
[ "$got" = "0 2 4 " ] || { cat "$tmp/ls"; fail "steps of layer.1.out: '$got', want '0 2 4 '"; }

echo "== steps=1-2, name=logits and name=layer.0.*: 2 names x 2 steps"
if ! LD_PRELOAD="$PRE" timeout 120 $T --capture name=logits --capture 'name=layer.0.*' --capture steps=1-2 \
	-o "$tmp/c.llmi" -- $P 4 >"$tmp/out" 2>&1; then
	cat "$tmp/out"; fail "steps capture"
fi
grep -q "capture_host: 4 taken, 12 skipped" "$tmp/out" || { cat "$tmp/out"; fail "steps=1-2 selection"; }

echo "== no -o: the default name llminstr-<pid>-<time>.llmi, in the current directory"
mkdir "$tmp/cwd"
if ! (cd "$tmp/cwd" && LD_PRELOAD="$PRE" timeout 120 "$OLDPWD/$T" --capture name=logits -- "$OLDPWD/$P" 1 >"$tmp/out" 2>&1); then
	cat "$tmp/out"; fail "default output"
fi
ls "$tmp/cwd" | grep -Eq '^llminstr-[0-9]+-[0-9]{8}-[0-9]{6}\.llmi$' || { ls -l "$tmp/cwd"; fail "no default file"; }
exit $rc
