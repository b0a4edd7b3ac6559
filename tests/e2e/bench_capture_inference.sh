#!/usr/bin/env bash
# benchmarks/capture_inference runs end to end on a small model (no speed is
# asserted): --json holds {"benchmark", "env", "cases", "summary"} with its
# five cases (untraced, timing, capture_resid, capture_all, dump), each with
# tokens/s from every round and its ratio to the untraced median; the
# capture cases hold exactly the tensors their spec selects (names x steps),
# within the codec's bound, none dropped; the dump case one raw file per
# tensor; the figures are labelled CPU figures; it leaves nothing in --dir
# but what was there; bad options get one line and a non-zero exit.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin=build/bench/capture_inference py=/usr/bin/python3
need_bpf
for f in $bin build/bin/llminstr-trace build/bin/llm_decode build/lib/libllminstr.so; do
	[ -e $f ] || { echo "SKIP: $f not built"; exit 77; }
done
[ -x "$py" ] || { echo "SKIP: no $py"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# a sanitized tree: its runtime first, before the agent the tracer preloads
PRE="$(san_runtime)"	# only on our programs: python3 is not ours

out=$(LD_PRELOAD="$PRE" "$bin" --rounds 0 2>&1) && fail "--rounds 0 accepted"
[ "$(echo "$out" | wc -l)" = 1 ] || fail "--rounds 0: not one line: $out"
"$bin" --no-such 2>/dev/null && fail "an unknown option accepted"

# 2 layers, a prefill of 8 rows then 2 more tokens, twice: 6 steps
L=2 STEPS=6
mkdir "$tmp/dir"
echo keep >"$tmp/dir/other"
LD_PRELOAD="$PRE" timeout 600 "$bin" --rounds 2 --dir "$tmp/dir" --json "$tmp/ci.json" \
	--decode-args "--layers $L --hidden 64 --heads 4 --ffn 128 --vocab 256 --prefill 8 --tokens 3 --repeat 2" \
	>"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "run"; }
cat "$tmp/out"
[ "$(ls -A "$tmp/dir")" = other ] || fail "left behind or removed: $(ls -A "$tmp/dir")"
grep -q "CPU figures" "$tmp/out" || fail "the table does not say CPU figures"
"$py" - "$tmp/ci.json" $L $STEPS <<'EOF' || fail "json"
import json, sys
j = json.load(open(sys.argv[1])); L, S = int(sys.argv[2]), int(sys.argv[3])
assert set(j) == {"benchmark", "env", "cases", "summary"}, sorted(j)
assert j["benchmark"] == "capture_inference"
assert j["env"]["figures"].startswith("CPU figures"), j["env"]
c = {x["name"]: x for x in j["cases"]}
assert list(c) == ["untraced", "timing", "capture_resid", "capture_all", "dump"], list(c)
for n, x in c.items():
    assert len(x["tokens_per_s_rounds"]) == 2 and all(t > 0 for t in x["tokens_per_s_rounds"]), x
    assert abs(x["ratio"] * c["untraced"]["tokens_per_s"] - x["tokens_per_s"]) < 1e-6 * x["tokens_per_s"], x
want = {"capture_resid": (L + 1) * S, "capture_all": (3 * L + 1) * S, "dump": (3 * L + 1) * S}
for n, t in want.items():
    assert c[n]["tensors"] == t, (n, c[n]["tensors"], t)
# prefill rows 8 at each sequence's first step, 1 after; logits [1, 256]
rows = 2 * (8 + 1 + 1)
assert c["dump"]["raw_bytes"] == 4 * (rows * 64 * 3 * L + 2 * 3 * 256), c["dump"]
assert c["capture_all"]["raw_bytes"] == c["dump"]["raw_bytes"], c["capture_all"]
assert c["capture_resid"]["raw_bytes"] == 4 * (rows * 64 * L + 2 * 3 * 256), c["capture_resid"]
for n in ("capture_resid", "capture_all"):
    x = c[n]
    assert x["dropped"] == 0 and x["unfinished"] == 0, x
    assert 0 < x["max_nmse"] <= 1e-3 * (1 + 1e-9), x
    assert x["stored_bytes"] < x["raw_bytes"], x
s = j["summary"]
for k in ("untraced_tokens_per_s", "timing_ratio", "capture_resid_ratio", "capture_all_ratio",
          "dump_ratio", "capture_resid_raw_gbps", "capture_all_raw_gbps"):
    assert isinstance(s[k], (int, float)) and s[k] > 0, (k, s)
print("ok: 5 cases, tensors as selected:", {n: c[n]["tensors"] for n in want})
EOF
echo PASS
