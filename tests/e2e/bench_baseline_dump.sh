#!/usr/bin/env bash
# benchmarks/baseline_dump runs end to end on small tensors (no speed is
# asserted): --json holds {"benchmark", "env", "cases", "summary"} with
# raw_gbps, stored_gbps, ratio 1 and disk_limit_gbps, the bytes it reports
# are steps x tensors x shape, it labels its figures as the stand-in's, it
# removes every file it wrote and nothing else, and bad options get one
# line and a non-zero exit.
set -u
cd "$(dirname "$0")/../.."
bin=build/bench/baseline_dump
py=/usr/bin/python3
[ -x "$bin" ] || { echo "SKIP: $bin not built (needs the CUDA toolkit headers)"; exit 77; }
[ -x "$py" ] || { echo "SKIP: no $py"; exit 77; }
# on the project's disk: O_DIRECT needs a real filesystem (not tmpfs)
mkdir -p build/tests
tmp=$(mktemp -d "$PWD/build/tests/baseline_dump.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir "$tmp/dir"
echo keep >"$tmp/dir/other"
if ! "$bin" --steps 3 --layers 4 --rows 16 --hidden 256 --disk-mib 8 --dir "$tmp/dir" \
	--json "$tmp/bd.json" >"$tmp/out" 2>"$tmp/err"; then
	grep -q "O_DIRECT" "$tmp/err" && { echo "SKIP: $(cat "$tmp/err")"; exit 77; }
	fail "run: $(cat "$tmp/err")"
fi
cat "$tmp/out"
[ "$(ls -A "$tmp/dir")" = other ] || fail "left behind or removed: $(ls -A "$tmp/dir")"
[ "$(cat "$tmp/dir/other")" = keep ] || fail "a file it did not write was changed"
grep -q "CPU figures" "$tmp/out" || fail "the table does not say CPU figures"
"$py" - "$tmp/bd.json" <<'EOF' || fail "json"
import json, sys
j = json.load(open(sys.argv[1]))
assert set(j) == {"benchmark", "env", "cases", "summary"}, sorted(j)
assert j["benchmark"] == "baseline_dump"
assert j["env"]["figures"].startswith("CPU figures"), j["env"]
assert j["env"]["tensor_shape"] == [16, 256] and j["env"]["tensor_bytes"] == 16 * 256 * 4
s = j["summary"]
for k in ("raw_gbps", "stored_gbps", "ratio", "disk_limit_gbps"):
    assert isinstance(s[k], (int, float)) and s[k] > 0, (k, s)
assert s["ratio"] == 1 and s["stored_gbps"] == s["raw_gbps"], s
base = [c for c in j["cases"] if c["name"] == "baseline"][0]
assert base["steps"] == 3 and base["tensors"] == 12, base
assert base["raw_bytes"] == 12 * 16 * 256 * 4, base
assert abs(base["raw_bytes"] / base["seconds"] / 1e9 - s["raw_gbps"]) <= 1e-9 * s["raw_gbps"] + 1e-12
disk = [c for c in j["cases"] if c["name"] == "disk O_DIRECT"][0]
assert s["disk_limit_gbps"] == max(disk["gbps_before"], disk["gbps_after"]), (disk, s)
print("ok: json complete and consistent")
EOF

for bad in "--layers 0" "--seconds abc" "--steps 3x" "--frobnicate" "--rows" "extra"; do
	# shellcheck disable=SC2086
	if "$bin" $bad --dir "$tmp/dir" >/dev/null 2>"$tmp/bad.err"; then fail "accepted: $bad"; fi
	[ "$(wc -l <"$tmp/bad.err")" -eq 1 ] || fail "not one line for '$bad': $(cat "$tmp/bad.err")"
done
echo "PASS"
