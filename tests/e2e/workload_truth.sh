#!/usr/bin/env bash
# llm_decode on the CPU stand-in: --truth is complete and consistent (eager and
# --graphs), counts follow the model's shape, kernel names are the symbols a
# tracer will find, the same seed gives the same tokens (graphs or not),
# --wait-file holds the decode back, SIGTERM still writes the truth, and bad
# options fail with one line. The runs that are signalled are signalled on
# what the workload printed (set up, decoding), never after a set time.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin=build/bin/llm_decode
py=/usr/bin/python3
[ -x "$bin" ] || { echo "SKIP: $bin not built (needs the CUDA toolkit headers)"; exit 77; }
[ -x "$py" ] || { echo "SKIP: no $py"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

L=3 T=40
args=(--layers $L --hidden 128 --heads 4 --ffn 320 --vocab 1000 --tokens $T --seed 7)
"$bin" "${args[@]}" --truth "$tmp/eager.json" >"$tmp/eager.tok" 2>"$tmp/eager.err" ||
	fail "eager run: $(cat "$tmp/eager.err")"
"$bin" "${args[@]}" --graphs --truth "$tmp/graph.json" >"$tmp/graph.tok" 2>"$tmp/graph.err" ||
	fail "graphs run: $(cat "$tmp/graph.err")"
"$bin" "${args[@]}" -q --truth "$tmp/again.json" >/dev/null 2>&1 || fail "third run"
"$bin" "${args[@]}" >"$tmp/again.tok" 2>/dev/null || fail "fourth run"
"$bin" "${args[@]/#7/8}" >"$tmp/seed8.tok" 2>/dev/null || fail "seed 8 run"
grep -q "tokens/s" "$tmp/eager.err" || fail "no tokens/s on stderr"
cmp -s "$tmp/eager.tok" "$tmp/again.tok" || fail "same seed, different tokens"
cmp -s "$tmp/eager.tok" "$tmp/graph.tok" || fail "--graphs changed the tokens"
cmp -s "$tmp/eager.tok" "$tmp/seed8.tok" && fail "seeds 7 and 8 gave the same tokens"
[ "$(wc -w <"$tmp/eager.tok")" -eq $T ] || fail "expected $T tokens on stdout"

nm -C "$bin" >"$tmp/nm.txt" || fail "nm"
strings "$bin" | grep '^_Z' | c++filt >"$tmp/strings.txt"

for mode in eager graph; do
	"$py" - "$tmp/$mode.json" "$mode" $L $T "$tmp/nm.txt" "$tmp/strings.txt" <<'EOF' || fail "$mode truth"
import json, sys
path, mode, L, T, nm, strs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
t = json.load(open(path))
want = {"kernels", "launches", "memcpy", "memset", "graphs", "tokens", "tokens_per_s"}
assert set(t) == want, f"keys {sorted(t)}"
assert set(t["memcpy"]) == {"h2d", "d2h", "d2d"}, t["memcpy"]
k = t["kernels"]
assert t["launches"] == sum(k.values()), "launches != sum of kernels"
assert t["tokens"] == T and t["tokens_per_s"] > 0
per_token = {"rmsnorm_kernel": 2 * L + 1, "rope_kernel": L, "kv_append_kernel": L,
             "attention_kernel": L, "silu_mul_kernel": L, "argmax_kernel": 1,
             "residual_add_kernel": 2 * L, "gemv_f32": 4 * L, "lm_head_gemv": 1}
assert k == {n: c * T for n, c in per_token.items()}, k
m = t["memcpy"]
assert m["d2h"]["calls"] == T and m["d2h"]["bytes"] == 4 * T, m
assert m["h2d"]["calls"] == T and m["d2d"]["calls"] == T, m
assert m["d2d"]["bytes"] == T * 128 * 4, m
assert t["memset"]["calls"] == 1 and t["memset"]["bytes"] == 2 * L * T * 128 * 4
g = t["graphs"]
if mode == "graph":
    assert g["launches"] == T and g["kernels_per_launch"] * T == t["launches"], g
else:
    assert g == {"launches": 0, "kernels_per_launch": 0}, g
# every name is what a tracer resolves: a runtime kernel's host stub symbol
# (nm -C minus the arguments), a driver kernel's looked-up device symbol
syms = {l.split(" ", 2)[2].split("(")[0] for l in open(nm) if l.count(" ") >= 2}
devs = {l.split("(")[0].strip() for l in open(strs)}
for name in k:
    assert name in syms or name in devs, f"{name} is no symbol of the binary"
EOF
done

# --wait-file: set-up done, no decode until the file exists. Stopped while
# it waits (SIGTERM ends the wait and the decode), it has decoded nothing;
# released by the file, it decodes everything.
"$bin" "${args[@]}" -q --wait-file "$tmp/never" --truth "$tmp/held.json" 2>"$tmp/held.err" &
pid=$!
wait_line "$tmp/held.err" "waiting for $tmp/never" $pid || fail "--wait-file: no set-up line"
kill -TERM $pid
wait $pid || fail "--wait-file: SIGTERM while waiting gave a non-zero exit"
has_line "$tmp/held.err" "decoding" && fail "--wait-file: decoded before the file existed"
"$py" -c "import json,sys; t=json.load(open(sys.argv[1])); assert t['tokens']==0 and t['launches']==0, t" \
	"$tmp/held.json" || fail "--wait-file: decoded before the file existed"
"$bin" "${args[@]}" -q --wait-file "$tmp/go" --truth "$tmp/wait.json" 2>"$tmp/wait.err" &
pid=$!
wait_line "$tmp/wait.err" "waiting for" $pid || fail "--wait-file: no set-up line"
touch "$tmp/go"
wait $pid || fail "--wait-file run failed"
"$py" -c "import json,sys; t=json.load(open(sys.argv[1])); assert t['tokens']==$T" "$tmp/wait.json" ||
	fail "--wait-file truth"

# SIGTERM mid-decode: clean exit, truth of what was done
"$bin" --tokens 64 --repeat 100000 -q --truth "$tmp/term.json" 2>"$tmp/term.err" &
pid=$!
wait_line "$tmp/term.err" "decoding" $pid || fail "SIGTERM: no decoding line"
kill -TERM $pid
wait $pid || fail "SIGTERM: non-zero exit"
"$py" - "$tmp/term.json" <<'EOF' || fail "SIGTERM truth"
import json, sys
t = json.load(open(sys.argv[1]))
assert 0 < t["tokens"] < 6400000, t["tokens"]
assert t["memset"]["calls"] == (t["tokens"] + 63) // 64, t["memset"]
assert t["memcpy"]["d2h"]["calls"] == t["tokens"]
assert t["launches"] == sum(t["kernels"].values())
EOF

# bad input: one line, non-zero exit
for bad in "--tokens abc" "--tokens 12ms" "--layers 0" "--frobnicate" "--hidden 130 --heads 4" "--truth"; do
	# shellcheck disable=SC2086
	if "$bin" $bad >/dev/null 2>"$tmp/bad.err"; then fail "accepted: $bad"; fi
	[ "$(wc -l <"$tmp/bad.err")" -eq 1 ] || fail "not one line for '$bad': $(cat "$tmp/bad.err")"
done
"$bin" --help | grep -q -- "--graphs" || fail "--help"
echo "PASS"
