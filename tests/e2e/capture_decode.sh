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
# The same under -T, where the kernel counts launches and streams none:
# every tensor still names its producer (the capture probe reads it from
# the launch probes' table) with the launch numbers of events mode (one
# process, no graphs: its launch count is the timeline's numbering), and
# the file holds no launch event.
# A program that exits while its device copies are still queued (a slow
# stand-in device) loses none of its tensors.
# LLMI_DECODE=path runs another llm_decode (llm_decode_cuda on a GPU), LLMI_PY
# another python3 with numpy (scripts/gpu-check.sh).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
W=${LLMI_DECODE:-build/bin/llm_decode}
capture_setup $W
PY=${LLMI_PY:-$PY}
ARGS="--layers 2 --hidden 64 --heads 4 --ffn 128 --vocab 256 --prefill 8 --tokens 4"

$W $ARGS >"$tmp/plain.tok" 2>"$tmp/plain.err" || { cat "$tmp/plain.err"; fail "llm_decode alone"; }

# capture_all NAME [TRACER OPTION...]: --capture all of llm_decode into
# $tmp/NAME.llmi (summary NAME.sum, tensors NAME.ls, references ref.NAME);
# checks tokens, file, tensors and producers; under -T also that the launch
# numbers are those of the events-mode run "a".
capture_all() {
	local n=$1
	shift
	mkdir "$tmp/ref.$n"
	if ! LD_PRELOAD="$PRE" timeout 300 $T "$@" --capture all -o "$tmp/$n.llmi" --json "$tmp/$n.sum" -- \
		$W $ARGS --reference-dir "$tmp/ref.$n" --truth "$tmp/$n.truth" >"$tmp/$n.tok" 2>"$tmp/$n.err"; then
		cat "$tmp/$n.err"; fail "traced llm_decode ($n)"
	fi
	# the tokens first on stdout, then the tracer's summary
	head -c "$(wc -c <"$tmp/plain.tok")" "$tmp/$n.tok" | cmp -s - "$tmp/plain.tok" || fail "the tokens differ under capture ($n)"
	$D verify "$tmp/$n.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify ($n)"; }
	$D ls --json "$tmp/$n.llmi" >"$tmp/$n.ls" || fail "ls --json ($n)"
	$D info --json "$tmp/$n.llmi" >"$tmp/$n.info" || fail "info --json ($n)"
	$PY - "$tmp/$n.ls" "$tmp/$n.sum" "$tmp/$n.info" "$tmp/a.ls" <<'PY' || fail "tensors ($n)"
import json, sys
t, tr, info = (json.load(open(f)) for f in sys.argv[1:4])
timing = tr["mode"] == "timing-only"
names = ["blk.%d.%s" % (l, n) for l in range(2) for n in ("attn_out", "mlp_out", "resid")] + ["logits"]
want = sorted((n, s) for n in names for s in range(4))
got = sorted((x["name"], x["step"]) for x in t)
bad = []
if got != want:
    bad.append("names x steps: %s" % got)
prod = {"resid": "residual_add_kernel", "logits": "lm_head_gemv"}
# -T: the launch numbers of events mode (the thread is another process's)
ev = {(x["name"], x["step"]): (x["producer"] or {}).get("launch_id")
      for x in (json.load(open(sys.argv[4])) if timing else [])}
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
    elif timing and p["launch_id"] != ev.get((x["name"], x["step"])):
        bad.append("%s step %d: launch %d, in events mode %s" % (x["name"], x["step"], p["launch_id"], ev.get((x["name"], x["step"]))))
print("%s: %d tensors; producers: %s" % (tr["mode"], len(t), sorted({(x["name"].rsplit(".", 1)[-1], (x["producer"] or {}).get("kernel")) for x in t})))
c = tr["capture"]
if c["tensors"] != 28 or c["dropped"] or c["no_producer"]:
    bad.append("capture block: %s" % c)
if timing and info["events"]["count"]:
    bad.append("-T wrote %d events" % info["events"]["count"])
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
	capture_check_refs "$tmp/$n.llmi" "$tmp/ref.$n" 28
	# the agent's snapshot copies are capture traffic, not llm_decode's copies
	$PY scripts/trace_vs_truth.py "$tmp/$n.sum" "$tmp/$n.truth" 0 >"$tmp/cmp" 2>&1 ||
		{ cat "$tmp/cmp"; fail "counts against --truth under capture ($n)"; }
}

echo "== --capture all"
capture_all a
echo "== -T --capture all"
capture_all t -T

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

echo "== a slow device: the program ends with its copies still queued; none is lost"
# the stand-in starts each host function 100 ms late: the side stream's
# copies lag the program by seconds when it exits (a real device's lag is
# shorter, the same race); the agent's exit waits for them
mkdir "$tmp/ref.s"
if ! LLMI_SIM_HOSTFN_DELAY_MS=100 LD_PRELOAD="$PRE" timeout 300 $T --capture all -o "$tmp/s.llmi" \
	--json "$tmp/s.sum" -- $W $ARGS --reference-dir "$tmp/ref.s" >/dev/null 2>"$tmp/s.err"; then
	cat "$tmp/s.err"; fail "capture on a slow device"
fi
$PY -c '
import json, sys
c = json.load(open(sys.argv[1]))["capture"]
print("%d tensors, %d unfinished" % (c["tensors"], c["unfinished"]))
sys.exit(0 if c["tensors"] == 28 and c["unfinished"] == 0 else 1)' "$tmp/s.sum" || fail "tensors lost at exit"
capture_check_refs "$tmp/s.llmi" "$tmp/ref.s" 28
exit $rc
