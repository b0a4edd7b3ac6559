#!/usr/bin/env bash
# llm_decode --prefill and --reference-dir on the CPU stand-in:
#  - a prompt prefilled as one batch, then decoded, gives exactly the tokens
#    of the same prompt fed one token per step (--prompt), with --graphs too,
#    and hidden states equal within a small tolerance, row for row and step
#    for step (read from --reference-dir);
#  - --reference-dir holds exactly (3 x layers + 1) names x steps files of
#    the right sizes ([N, hidden] at the prefill step, [1, hidden] after,
#    logits [1, vocab]), and what the names say: blk.L.resid is
#    blk.L-1.resid + blk.L.attn_out + blk.L.mlp_out, bit for bit in f32;
#  - --truth counts the prefill's GEMMs, copies and cache, and the tensors
#    offered ("captures");
#  - bad input (--prefill 0, both --prompt and --prefill, a missing
#    directory, one that holds .f32 files, --graphs with --reference-dir, a
#    prefill too wide) gets one line and a non-zero exit, and a .f32 file
#    already there is left as it was.
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

L=3 H=128 V=1000 P=9 T=12
args=(--layers $L --hidden $H --heads 4 --ffn 320 --vocab $V --tokens $T --seed 7)
mkdir "$tmp/serial" "$tmp/batch"
"$bin" "${args[@]}" --prompt $P --reference-dir "$tmp/serial" --truth "$tmp/serial.json" \
	>"$tmp/serial.tok" 2>"$tmp/serial.err" || fail "--prompt $P: $(cat "$tmp/serial.err")"
"$bin" "${args[@]}" --prefill $P --reference-dir "$tmp/batch" --truth "$tmp/batch.json" \
	>"$tmp/batch.tok" 2>"$tmp/batch.err" || fail "--prefill $P: $(cat "$tmp/batch.err")"
"$bin" "${args[@]}" --prefill $P --graphs >"$tmp/graphs.tok" 2>"$tmp/graphs.err" ||
	fail "--prefill $P --graphs: $(cat "$tmp/graphs.err")"
"$bin" "${args[@]}" --prefill $P >"$tmp/plain.tok" 2>/dev/null || fail "--prefill $P alone"
"$bin" "${args[@]}" >"$tmp/noprompt.tok" 2>/dev/null || fail "no prompt"

[ "$(wc -w <"$tmp/batch.tok")" -eq $T ] || fail "--prefill: expected $T tokens, got: $(cat "$tmp/batch.tok")"
cmp -s "$tmp/serial.tok" "$tmp/batch.tok" ||
	fail "prefill tokens differ from token by token: $(cat "$tmp/batch.tok") vs $(cat "$tmp/serial.tok")"
cmp -s "$tmp/batch.tok" "$tmp/graphs.tok" || fail "--graphs changed the tokens after a prefill"
cmp -s "$tmp/batch.tok" "$tmp/plain.tok" || fail "--reference-dir changed the tokens"
cmp -s "$tmp/batch.tok" "$tmp/noprompt.tok" && fail "the prompt made no difference to the tokens"
echo "ok: prefill of $P then decode = the prompt token by token: $(cat "$tmp/batch.tok")"

"$py" - "$tmp" $L $H $V $P $T <<'EOF' || fail "reference tensors"
import array, json, os, struct, sys
tmp, L, H, V, P, T = sys.argv[1], *map(int, sys.argv[2:])
names = [f"blk.{l}.{k}" for l in range(L) for k in ("attn_out", "mlp_out", "resid")] + ["logits"]

def load(d, name, step, rows, cols):
    path = f"{tmp}/{d}/{name}.{step}.f32"
    size = os.path.getsize(path)
    assert size == rows * cols * 4, f"{path}: {size} bytes, expected [{rows}, {cols}] f32"
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return [a[r * cols:(r + 1) * cols] for r in range(rows)]

def cols(name):
    return V if name == "logits" else H

# exactly names x steps files: --tokens steps with --prefill, P + T - 1 without
for d, steps in (("batch", T), ("serial", P + T - 1)):
    want = {f"{n}.{s}.f32" for n in names for s in range(steps)}
    got = set(os.listdir(f"{tmp}/{d}"))
    assert got == want, f"{d}: extra {sorted(got - want)[:5]}, missing {sorted(want - got)[:5]}"

worst = 0.0
def close(a, b, what):
    global worst
    for x, y in zip(a, b):
        d = abs(x - y)
        worst = max(worst, d)
        assert d <= 1e-4 * max(1.0, abs(x)), f"{what}: {x} vs {y}"

for n in names:
    c = cols(n)
    rows = 1 if n == "logits" else P
    pre = load("batch", n, 0, rows, c)
    # the prefill step's rows are the prompt's steps 0..P-1 (logits: the last)
    first = P - 1 if n == "logits" else 0
    for r in range(rows):
        close(pre[r], load("serial", n, first + r, 1, c)[0], f"{n} prefill row {first + r}")
    for s in range(1, T):
        close(load("batch", n, s, 1, c)[0], load("serial", n, P - 1 + s, 1, c)[0],
              f"{n} decode step {s}")

# the names say what they hold: resid(l) = resid(l-1) + attn_out(l) + mlp_out(l), two f32 adds
f32 = lambda v: struct.unpack("f", struct.pack("f", v))[0]
for d, steps, rows0 in (("batch", T, P), ("serial", P + T - 1, 1)):
    for s in range(steps):
        rows = rows0 if s == 0 else 1
        for l in range(1, L):
            prev, a, m, res = (load(d, f"blk.{ll}.{k}", s, rows, H) for ll, k in
                               ((l - 1, "resid"), (l, "attn_out"), (l, "mlp_out"), (l, "resid")))
            for r in range(rows):
                for i in range(H):
                    want = f32(f32(prev[r][i] + a[r][i]) + m[r][i])
                    assert res[r][i] == want, f"{d} step {s} blk.{l}.resid[{r}][{i}] {res[r][i]} != {want}"

def truth(d):
    return json.load(open(f"{tmp}/{d}.json"))
b, s = truth("batch"), truth("serial")
k = b["kernels"]
assert k["gemm_f32"] == 4 * L and k["gemv_f32"] == 4 * L * (T - 1), k
assert "gemm_f32" not in s["kernels"], s["kernels"]
assert k["lm_head_gemv"] == T and k["argmax_kernel"] == T and b["tokens"] == T, b
assert b["launches"] == sum(k.values())
assert b["memcpy"]["d2d"]["calls"] == P + T - 1, b["memcpy"]
assert b["memset"]["bytes"] == 2 * L * (P + T - 1) * H * 4, b["memset"]
per_step = 3 * L + 1
assert b["captures"] == {"blk.*.attn_out": L * T, "blk.*.mlp_out": L * T,
                         "blk.*.resid": L * T, "logits": T}, b["captures"]
# every reference read-back is a device-to-host copy the truth counts
ref = sum(os.path.getsize(f"{tmp}/batch/{f}") for f in os.listdir(f"{tmp}/batch"))
assert b["memcpy"]["d2h"] == {"calls": T + per_step * T, "bytes": 4 * T + ref}, b["memcpy"]
assert s["tokens"] == T and s["memcpy"]["d2h"]["calls"] == (P + T - 1) * (1 + per_step), s
print(f"ok: {len(names)} names x {T} / {P + T - 1} steps, sizes, sums and truth right; "
      f"largest difference prefill vs token by token {worst:.3g}")
EOF

# bad input: one line, non-zero exit; an existing .f32 is never replaced
mkdir "$tmp/full"
echo keep >"$tmp/full/blk.0.resid.0.f32"
for bad in "--prefill 0" "--prefill 4 --prompt 4" "--reference-dir $tmp/none" \
	   "--reference-dir $tmp/full" "--graphs --reference-dir $tmp/batch2" \
	   "--prefill 1048576 --hidden 65536 --heads 64" "--prefill" "--reference-dir"; do
	mkdir -p "$tmp/batch2"
	# shellcheck disable=SC2086
	if "$bin" --tokens 4 $bad >/dev/null 2>"$tmp/bad.err"; then fail "accepted: $bad"; fi
	[ "$(wc -l <"$tmp/bad.err")" -eq 1 ] || fail "not one line for '$bad': $(cat "$tmp/bad.err")"
done
[ "$(cat "$tmp/full/blk.0.resid.0.f32")" = keep ] || fail "an existing .f32 file was changed"
[ -z "$(ls "$tmp/batch2")" ] || fail "--graphs --reference-dir wrote files"
"$bin" --help | grep -q -- "--prefill" || fail "--help does not name --prefill"
echo "PASS"
