#!/usr/bin/env bash
# benchmarks/optimized_streaming's device case runs end to end on the
# stand-in (no speed is asserted): with --tensors device the producer's
# tensors live in device memory (the stand-in's libcuda.so.1, cuMemAlloc,
# its own stream) and go through the agent's device path; --json holds the
# capture_device case, labelled CPU figures of the stand-in, with tensors
# taken, within the codec's bound, none dropped, and the summary's device_*
# figures; --tensors with a wrong word gets one line and exit 2.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin=build/bench/optimized_streaming py=/usr/bin/python3
need_bpf
for f in $bin build/bench/baseline_dump build/bin/llminstr-trace build/lib/libllminstr.so build/sim/libcuda.so.1; do
	[ -e $f ] || { echo "SKIP: $f not built"; exit 77; }
done
[ -x "$py" ] || { echo "SKIP: no $py"; exit 77; }
# on the project's disk: the baseline's O_DIRECT needs a real filesystem
mkdir -p build/tests
tmp=$(mktemp -d "$PWD/build/tests/os_device.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PRE="$(san_runtime)"	# only on our programs: python3 is not ours

out=$("$bin" --tensors gpu 2>&1); st=$?
[ $st = 2 ] || fail "--tensors gpu: exit $st"
[ "$(echo "$out" | wc -l)" = 1 ] || fail "--tensors gpu: not one line: $out"

mkdir "$tmp/dir"
if ! LD_PRELOAD="$PRE" timeout 600 "$bin" --tensors device --seconds 1 --rows 16 --hidden 256 --layers 4 \
	--dir "$tmp/dir" --json "$tmp/os.json" >"$tmp/out" 2>"$tmp/err"; then
	grep -q "O_DIRECT" "$tmp/err" && { echo "SKIP: $(cat "$tmp/err")"; exit 77; }
	cat "$tmp/out" "$tmp/err"; fail "run"
fi
cat "$tmp/out"
"$py" - "$tmp/os.json" <<'PY' || fail "json"
import json, sys
j = json.load(open(sys.argv[1]))
assert set(j) == {"benchmark", "env", "cases", "summary"}, sorted(j)
c = {x["name"]: x for x in j["cases"]}
assert "capture_device" in c and "capture" in c, list(c)
d = c["capture_device"]
assert d["figures"].startswith("CPU figures") and d["libcuda"].endswith("/sim/libcuda.so.1"), d
assert d["tensors"] > 0 and d["dropped"] == 0, d
assert 0 < d["max_nmse"] <= 1e-3 * (1 + 1e-9), d
assert d["ratio"] > 1, d
s = j["summary"]
assert s["tensors"] == "device", s
for k in ("device_raw_gbps", "device_stored_gbps", "device_ratio", "device_speedup_vs_baseline"):
    assert s[k] > 0, (k, s)
print("ok: %d device tensors, ratio %.2f, max nmse %.3g, %d unfinished at exit"
      % (d["tensors"], d["ratio"], d["max_nmse"], d["unfinished"]))
PY
echo PASS
