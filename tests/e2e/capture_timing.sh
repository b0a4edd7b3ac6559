#!/usr/bin/env bash
# -T --capture on build/bin/llm_decode: the kernel counts launches and
# streams none, yet every tensor still names the launch that made it (the
# capture probe reads it from the launch probes' per-thread, per-stream
# table). With --prefill 8 and 4 tokens, 2 layers: every tensor is in the
# file once (names x steps), within the codec's bound against
# --reference-dir, with the producers of events mode (blk.L.resid <-
# residual_add_kernel, logits <- lm_head_gemv, attn_out and mlp_out <- the
# GEMM at step 0 and the GEMV after), and the same launch numbers as the
# events-mode run (one process, no graphs: its launch count is the
# timeline's numbering), although the file holds no launch event. The
# tokens equal those of the run without the tracer.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
W=build/bin/llm_decode
capture_setup $W
ARGS="--layers 2 --hidden 64 --heads 4 --ffn 128 --vocab 256 --prefill 8 --tokens 4"

$W $ARGS >"$tmp/plain.tok" 2>"$tmp/plain.err" || { cat "$tmp/plain.err"; fail "llm_decode alone"; }

echo "== events mode, for the launch numbers"
LD_PRELOAD="$PRE" timeout 300 $T --capture all -o "$tmp/e.llmi" -- $W $ARGS >/dev/null 2>"$tmp/e.err" ||
	{ cat "$tmp/e.err"; fail "llm_decode traced in events mode"; }
$D ls --json "$tmp/e.llmi" >"$tmp/e.json" || fail "ls --json, events mode"

echo "== -T --capture all"
mkdir "$tmp/ref"
if ! LD_PRELOAD="$PRE" timeout 300 $T -T --capture all -o "$tmp/t.llmi" --json "$tmp/t.sum" -- \
	$W $ARGS --reference-dir "$tmp/ref" >"$tmp/t.tok" 2>"$tmp/t.err"; then
	cat "$tmp/t.err"; fail "llm_decode traced with -T --capture"
fi
head -c "$(wc -c <"$tmp/plain.tok")" "$tmp/t.tok" | cmp -s - "$tmp/plain.tok" || fail "the tokens differ under -T capture"
$D verify "$tmp/t.llmi" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "verify"; }
$D ls --json "$tmp/t.llmi" >"$tmp/t.json" || fail "ls --json"
$D info --json "$tmp/t.llmi" >"$tmp/t.info" || fail "info --json"
$PY - "$tmp/t.json" "$tmp/e.json" "$tmp/t.sum" "$tmp/t.info" <<'PY' || fail "tensors and producers"
import json, sys
t, e, tr, info = (json.load(open(f)) for f in sys.argv[1:5])
names = ["blk.%d.%s" % (l, n) for l in range(2) for n in ("attn_out", "mlp_out", "resid")] + ["logits"]
want = sorted((n, s) for n in names for s in range(4))
bad = []
if sorted((x["name"], x["step"]) for x in t) != want:
    bad.append("names x steps: %s" % sorted((x["name"], x["step"]) for x in t))
prod = {"resid": "residual_add_kernel", "logits": "lm_head_gemv"}
# the launch and its kernel; the thread is another process's in the other run
ev = {(x["name"], x["step"]): (x["producer"] or {}).get("launch_id") for x in e}
for x in t:
    p = x["producer"]
    k = x["name"].rsplit(".", 1)[-1]
    exp = prod.get(k, "gemm_f32" if x["step"] == 0 else "gemv_f32")
    if not p or not p["kernel"] or not p["kernel"].startswith(exp):
        bad.append("%s step %d: producer %s, want %s" % (x["name"], x["step"], p, exp))
    elif p["launch_id"] != ev.get((x["name"], x["step"])):
        bad.append("%s step %d: launch %d, events mode %s" % (x["name"], x["step"], p["launch_id"], ev.get((x["name"], x["step"]))))
print("%d tensors; launches %s" % (len(t), [x["producer"]["launch_id"] for x in t if x["producer"]]))
if tr["mode"] != "timing-only":
    bad.append("mode %s" % tr["mode"])
c = tr["capture"]
if c["tensors"] != 28 or c["dropped"] or c["no_producer"]:
    bad.append("capture block: %s" % c)
if info["events"]["count"] != 0:
    bad.append("-T wrote %d events" % info["events"]["count"])
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
capture_check_refs "$tmp/t.llmi" "$tmp/ref" 28
exit $rc
