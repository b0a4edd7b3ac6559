#!/usr/bin/env bash
# llminstr-dump pack -> export round trip checked by numpy: arrays made with
# numpy (f32, bf16, f16; 1-D to 3-D; one larger than a codec chunk; NaN and
# Inf in one) are packed with each codec mode, exported to .npy, loaded by
# numpy, and compared with the input: same shape and dtype, the bound held
# (nmse / mse / max abs error), lossless bit-exact. Inputs of several
# chunks check pack's reading in pieces: rows cut by piece boundaries under
# chanmean, a first element far from the mean, 1 and 3 coding threads.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=build/bin/llminstr-dump
PY=/usr/bin/python3
[ -x "$D" ] || { echo "FAIL: $D not built (run make)"; exit 1; }
$PY -c 'import numpy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no numpy (apt-get install python3-numpy)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

$PY - "$T" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(42)
def save(name, a, dt):
    if dt == 'bf16':
        u = a.astype(np.float32).view(np.uint32)
        # round to nearest even, as a framework would store bf16
        u = ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        u.tofile(f"{d}/{name}.raw")
    elif dt == 'f16':
        a.astype(np.float16).tofile(f"{d}/{name}.raw")
    else:
        a.astype(np.float32).tofile(f"{d}/{name}.raw")
save("v_f32", rng.laplace(0, 0.5, 1000), 'f32')
save("m_bf16", rng.standard_normal((128, 512)) * np.exp(rng.standard_normal(512))[None, :], 'bf16')
save("c_f16", rng.standard_normal((4, 16, 64)), 'f16')
big = rng.standard_t(5, (300, 1024)).astype(np.float32)      # 1.2 MB: two chunks
big[7, 11] = np.nan; big[9, 3] = np.inf; big[1, 2] = 5000.0
save("big_f32", big, 'f32')
# pack reads its input in pieces of whole 1 MiB chunks: rows of 1531
# channels are cut by the piece boundaries (chanmean sums them per row), and
# a first element far from the rest makes the variance be summed again.
wide = rng.standard_normal((900, 1531)) * np.exp(rng.standard_normal(1531) * 0.5)[None, :] + 0.2
save("wide_bf16", wide, 'bf16')
skew = 1000 + 0.01 * rng.standard_normal(400000); skew[0] = -1000
save("skew_f32", skew, 'f32')
PY

check() {	# name dtype shape codec npy [--bf16-raw]
	local name=$1 dt=$2 shape=$3 codec=$4 extra=${5:-}
	# --force: each input is packed with several codecs to the same names.
	$D pack --force --dtype "$dt" --shape "$shape" --codec "$codec" "$T/$name.raw" -o "$T/$name.llmi" >/dev/null
	$D verify "$T/$name.llmi" >/dev/null
	$D export --force "$T/$name.llmi" --tensor "$name.raw" -o "$T/$name.npy" $extra >/dev/null
	$D info --json "$T/$name.llmi" >"$T/$name.json"
	$PY - "$T" "$name" "$dt" "$shape" "$codec" "$extra" <<'PY'
import sys, numpy as np
d, name, dt, shape, codec, extra = sys.argv[1:]
shape = tuple(int(x) for x in shape.split('x'))
y = np.load(f"{d}/{name}.npy")
raw = np.fromfile(f"{d}/{name}.raw", {'f32': np.float32, 'bf16': np.uint16, 'f16': np.float16}[dt])
if dt == 'bf16' and extra == '--bf16-raw':
    assert y.dtype == np.uint16, y.dtype
    x = raw
    y = y.reshape(-1)
    xf = (x.astype(np.uint32) << 16).view(np.float32); yf = (y.astype(np.uint32) << 16).view(np.float32)
else:
    want = {'f32': np.float32, 'bf16': np.float32, 'f16': np.float16}[dt]
    assert y.dtype == want, (y.dtype, want)
    xf = (raw.astype(np.uint32) << 16).view(np.float32) if dt == 'bf16' else raw
    yf = y.reshape(-1)
assert y.size == np.prod(shape), (y.shape, shape)
if extra != '--bf16-raw':
    assert y.shape == shape, (y.shape, shape)
x64, y64 = xf.astype(np.float64), yf.astype(np.float64)
fin = np.isfinite(x64)
# NaN and Inf survive exactly
assert np.array_equal(np.isnan(x64), np.isnan(y64)) and np.array_equal(x64[np.isinf(x64)], y64[np.isinf(x64)])
err = x64[fin] - y64[fin]
mse = float(np.mean(err ** 2)) if err.size else 0.0
var = float(np.var(x64[fin])) if err.size else 0.0
mx = float(np.max(np.abs(err))) if err.size else 0.0
mode, _, b = codec.partition('=')
b = float(b.split(',')[0]) if b else 0.0
if codec == 'lossless':
    assert np.array_equal(xf.view(np.uint8), yf.astype(xf.dtype).view(np.uint8)), "lossless not bit-exact"
elif mode.endswith('nmse'):
    assert mse <= b * var * (1 + 1e-9), (mse / var, b)
elif mode.endswith('mse'):
    assert mse <= b * (1 + 1e-9), (mse, b)
elif mode.endswith('abs'):
    # the bound is on the decoded values in the tensor's own dtype
    assert mx <= b * (1 + 1e-6) + 1e-30, (mx, b)
# the errors stored with the tensor are the ones numpy measures
import json
st = json.load(open(f"{d}/{name}.json"))["tensors"]
def close(a, b): return abs(a - b) <= 1e-6 * max(abs(a), abs(b)) + 1e-12
assert close(st["max_mse"], mse), (st["max_mse"], mse)
assert close(st["max_abs_err"], mx), (st["max_abs_err"], mx)
if var: assert close(st["max_nmse"], mse / var), (st["max_nmse"], mse / var)
print(f"ok {name} {dt} {codec} {extra}: mse {mse:.3g} nmse {mse/var if var else 0:.3g} max {mx:.3g}")
PY
}

check v_f32 f32 1000 quant:nmse=1e-3
check v_f32 f32 1000 lossless
check m_bf16 bf16 128x512 quant:nmse=1e-3
check m_bf16 bf16 128x512 quant:mse=1e-3
check m_bf16 bf16 128x512 quant:nmse=1e-3,chanmean
check m_bf16 bf16 128x512 lossless --bf16-raw
check m_bf16 bf16 128x512 quant:abs=0.05 --bf16-raw
check c_f16 f16 4x16x64 quant:abs=0.01
check c_f16 f16 4x16x64 lossless
check big_f32 f32 300x1024 quant:nmse=1e-3
check big_f32 f32 300x1024 quant:abs=0.02
check big_f32 f32 300x1024 lossless
check wide_bf16 bf16 900x1531 quant:nmse=1e-3,chanmean
check wide_bf16 bf16 900x1531 quant:mse=1e-4
check skew_f32 f32 400000 quant:nmse=1e-4
check skew_f32 f32 400000 quant:mse=1e-6
# The same blob however many threads code it.
for th in 1 3; do
	$D pack --threads $th --dtype bf16 --shape 900x1531 --codec quant:nmse=1e-3,chanmean "$T/wide_bf16.raw" \
		-o "$T/w$th.llmi" >"$T/w$th.txt"
	$D export "$T/w$th.llmi" --tensor 0 -o "$T/w$th.npy" >/dev/null
done
cmp "$T/w1.npy" "$T/w3.npy" || { echo "FAIL: pack --threads 1 and 3 decode differently"; exit 1; }
diff <(sed 's/w1\.llmi/X/' "$T/w1.txt") <(sed 's/w3\.llmi/X/' "$T/w3.txt") ||
	{ echo "FAIL: pack --threads 1 and 3 report different sizes or errors"; exit 1; }
echo "ok pack --threads 1 and 3: the same tensor, the same figures"
echo "dump_roundtrip: all passed"
