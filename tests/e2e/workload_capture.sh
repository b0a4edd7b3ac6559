#!/usr/bin/env bash
# llm_decode's capture calls, checked with a recording stand-in for the
# agent (tests/e2e/fixtures/fake_agent.c, LD_PRELOADed) on the CPU stand-in:
#  - without an agent the tokens are those the decode loop gave before
#    tensors could be captured (recorded from it below), eager and --graphs,
#    nothing about capture is printed and --truth has no "captures";
#  - with the agent: the same tokens; each step is announced once
#    (llminstr_step 0, 1, ...) before its tensors; per step exactly
#    blk.L.attn_out, blk.L.mlp_out, blk.L.resid for each layer L in order,
#    then logits, all f32, ndim 2, [1, hidden] ([1, vocab]) at a decode step
#    and [N, hidden] at a --prefill N step, all on one non-null stream;
#  - what the agent was handed equals the --reference-dir copy byte for byte;
#  - refusals (a negative errno) and a dormant agent (0) are counted and
#    reported in one line, and change nothing else;
#  - with --graphs the steps are still marked and no tensor is offered.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin=build/bin/llm_decode
fake=build/tests/fixtures/libfake_agent.so
py=/usr/bin/python3
[ -x "$bin" ] || { echo "SKIP: $bin not built (needs the CUDA toolkit headers)"; exit 77; }
[ -f "$fake" ] || { echo "SKIP: $fake not built"; exit 77; }
[ -x "$py" ] || { echo "SKIP: no $py"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# a sanitized tree's runtime must come first in the preload list
preload="$(san_runtime) $PWD/$fake"
agent() { LD_PRELOAD="$preload" "$@"; }

L=3 H=128 V=1000 T=40 P=7 T2=5
model=(--layers $L --hidden $H --heads 4 --ffn 320 --vocab $V --seed 7)
args=("${model[@]}" --tokens $T)
# These arguments' tokens from llm_decode as it was before it could capture.
golden="555 482 572 69 502 212 763 656 20 610 425 4 298 970 530 849 656 20 573 798 52 329 277 882 371 192 836 750 208 648 129 803 799 657 286 902 186 148 96 933"

"$bin" "${args[@]}" --truth "$tmp/plain.json" >"$tmp/plain.tok" 2>"$tmp/plain.err" ||
	fail "no agent: $(cat "$tmp/plain.err")"
"$bin" "${args[@]}" --graphs >"$tmp/graphs.tok" 2>/dev/null || fail "no agent, --graphs"
[ "$(cat "$tmp/plain.tok")" = "$golden" ] || fail "no agent: tokens changed: $(cat "$tmp/plain.tok")"
[ "$(cat "$tmp/graphs.tok")" = "$golden" ] || fail "no agent, --graphs: tokens changed"
has_line "$tmp/plain.err" "llminstr|offered" && fail "no agent, yet: $(cat "$tmp/plain.err")"
grep -q '"captures"' "$tmp/plain.json" && fail "no agent, yet --truth has captures"
echo "ok: without the agent, the tokens of before"

# check_log DIR STEPS PREFILL_ROWS: the calls the fake agent recorded
check_log() {
	"$py" - "$1/log" "$2" "$3" $L $H $V <<'EOF'
import sys
log, steps, rows0, L, H, V = sys.argv[1], *map(int, sys.argv[2:])
lines = open(log).read().splitlines()
errors = [l for l in lines if l.startswith("error")]
assert not errors, errors[:3]
want, streams = [], set()
for s in range(steps):
    want.append(f"step {s}")
    rows = rows0 if s == 0 else 1
    for l in range(L):
        for k in ("attn_out", "mlp_out", "resid"):
            want.append(f"capture blk.{l}.{k} {s} 1 2 {rows} {H}")
    want.append(f"capture logits {s} 1 2 1 {V}")
got = []
for l in lines:
    if l.startswith("capture"):
        l, stream = l.rsplit(" ", 1)
        streams.add(stream)
    got.append(l)
for i, (g, w) in enumerate(zip(got, want)):
    assert g == w, f"call {i}: '{g}', expected '{w}'"
assert len(got) == len(want), f"{len(got)} calls, expected {len(want)}"
assert len(streams) == 1 and streams != {"(nil)"}, f"streams {streams}"
print(f"ok: {len(want)} calls in order, shapes right, one stream {streams.pop()}")
EOF
}

# the agent attached, every tensor taken
mkdir "$tmp/a1"
FAKE_AGENT_OUT=$tmp/a1 agent "$bin" "${args[@]}" --truth "$tmp/a1.json" >"$tmp/a1.tok" 2>"$tmp/a1.err" ||
	fail "with the agent: $(cat "$tmp/a1.err")"
cmp -s "$tmp/a1.tok" "$tmp/plain.tok" || fail "the agent changed the tokens: $(cat "$tmp/a1.tok")"
check_log "$tmp/a1" $T 1 || fail "agent calls"
n=$(((3 * L + 1) * T))
has_line "$tmp/a1.err" "llminstr: $n tensors offered, $n taken, 0 skipped, 0 refused$" ||
	fail "no capture summary: $(cat "$tmp/a1.err")"
"$py" - "$tmp/a1.json" "$tmp/plain.json" $L $T <<'EOF' || fail "truth with the agent"
import json, sys
a, p, L, T = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4])
assert a["captures"] == {"blk.*.attn_out": L * T, "blk.*.mlp_out": L * T, "blk.*.resid": L * T,
                         "logits": T}, a["captures"]
# the agent's own reads are not the workload's: nothing else in the truth moves
for k in ("kernels", "launches", "memcpy", "memset", "graphs", "tokens"):
    assert a[k] == p[k], (k, a[k], p[k])
EOF

# a prefill: [N, hidden] at step 0; what the agent got = the reference copy
mkdir "$tmp/a2" "$tmp/ref"
FAKE_AGENT_OUT=$tmp/a2 agent "$bin" "${model[@]}" --tokens $T2 --prefill $P --reference-dir "$tmp/ref" \
	>"$tmp/a2.tok" 2>"$tmp/a2.err" || fail "agent + --prefill: $(cat "$tmp/a2.err")"
"$bin" "${model[@]}" --tokens $T2 --prefill $P >"$tmp/p.tok" 2>/dev/null || fail "--prefill, no agent"
cmp -s "$tmp/a2.tok" "$tmp/p.tok" || fail "the agent changed the tokens of a prefill"
check_log "$tmp/a2" $T2 $P || fail "agent calls with --prefill"
nref=$(ls "$tmp/ref" | wc -l)
[ "$nref" -eq $(((3 * L + 1) * T2)) ] || fail "$nref reference files"
for f in "$tmp"/ref/*.f32; do
	b=$(basename "$f" .f32)
	cmp -s "$f" "$tmp/a2/$b.bin" || fail "$b: what the agent was handed differs from the reference"
done
echo "ok: $nref tensors handed to the agent equal their --reference-dir copies"

# refused (-ENOBUFS) and dormant (0): counted, reported, nothing else changes
mkdir "$tmp/a3"
FAKE_AGENT_OUT=$tmp/a3 FAKE_AGENT_RC=-105 agent "$bin" "${args[@]}" >"$tmp/a3.tok" 2>"$tmp/a3.err" ||
	fail "refused captures ended the run: $(cat "$tmp/a3.err")"
cmp -s "$tmp/a3.tok" "$tmp/plain.tok" || fail "refusals changed the tokens"
has_line "$tmp/a3.err" "$n tensors offered, 0 taken, 0 skipped, $n refused \(first: blk.0.attn_out: " ||
	fail "refusals not reported: $(cat "$tmp/a3.err")"
agent "$bin" "${args[@]}" >"$tmp/a4.tok" 2>"$tmp/a4.err" || fail "dormant agent: $(cat "$tmp/a4.err")"
cmp -s "$tmp/a4.tok" "$tmp/plain.tok" || fail "a dormant agent changed the tokens"
has_line "$tmp/a4.err" "$n tensors offered, 0 taken, $n skipped, 0 refused$" ||
	fail "skips not reported: $(cat "$tmp/a4.err")"

# --graphs: steps marked, no tensor offered, said once
mkdir "$tmp/a5"
FAKE_AGENT_OUT=$tmp/a5 agent "$bin" "${args[@]}" --graphs >"$tmp/a5.tok" 2>"$tmp/a5.err" ||
	fail "agent + --graphs: $(cat "$tmp/a5.err")"
cmp -s "$tmp/a5.tok" "$tmp/plain.tok" || fail "agent + --graphs changed the tokens"
[ "$(cat "$tmp/a5/log")" = "$(seq 0 $((T - 1)) | sed 's/^/step /')" ] ||
	fail "--graphs: expected step lines only: $(head -n 3 "$tmp/a5/log")"
[ "$(grep -c "no tensors are offered" "$tmp/a5.err")" -eq 1 ] || fail "--graphs: not said once"
echo "PASS"
