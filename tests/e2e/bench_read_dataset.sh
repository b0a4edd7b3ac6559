#!/usr/bin/env bash
# benchmarks/read_dataset runs end to end on a small run (no speed is
# asserted): both ways of reading return every byte of the activations
# (raw and decoded sizes agree), the .llmi shards are smaller than the raw
# file, --json holds {"benchmark", "env", "cases", "summary"} with warm
# (and, as root, cold) cases of both readers and the two exports, and it
# leaves nothing in --dir. A bad option gets a non-zero exit.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin=build/bench/read_dataset py=/usr/bin/python3
for f in $bin build/bin/llminstr-dump build/lib/libllminstr_read.so; do
	[ -e $f ] || { echo "SKIP: $f not built"; exit 77; }
done
$py -c "import torch, numpy" 2>/dev/null || { echo "SKIP: python3-torch or python3-numpy missing"; exit 77; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0	# python's own leaks are not ours
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

LD_PRELOAD="$(san_runtime)" "$bin" --no-such >/dev/null 2>&1 && fail "an unknown option accepted"
for dt in f32 bf16; do
	LD_PRELOAD="$(san_runtime)" "$bin" --dir "$tmp/d" --shards 3 --rows 64 --hidden 256 --dtype $dt \
		--json "$tmp/r.json" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "read_dataset --dtype $dt"; }
	cat "$tmp/out"
	[ ! -e "$tmp/d" ] || fail "--dir left behind"
	$py - "$tmp/r.json" "$dt" <<'PY' || fail "JSON of --dtype $dt"
import json, sys
d = json.load(open(sys.argv[1])); s = d["summary"]; es = 4 if sys.argv[2] == "f32" else 2
raw = 3 * 64 * 256 * es
caches = {"warm"} | ({"cold"} if s["cold_cache"] else set())
reads = [c for c in d["cases"] if not c["case"].startswith("export") and "threads" not in c["case"]]
par = [c for c in d["cases"] if "C threads" in c["case"]]
ok = d["benchmark"] == "read_dataset" and d["env"]["dtype"] == sys.argv[2] and \
    s["raw_bytes"] == raw and 0 < s["stored_bytes"] < raw and \
    sorted((c["case"][:3], c["into"], c["cache"]) for c in reads) == \
    sorted((k, i, c) for k in ("raw", "llm") for i in ("new arrays", "a reused buffer") for c in caches) and \
    all(c["decoded_bytes"] == raw and c["gbps"] > 0 for c in d["cases"]) and \
    {c["case"] for c in d["cases"]} >= {"export memmap", "export safetensors", "export hf-arrow"} and \
    sorted(c["cache"] for c in par) == sorted(caches) and all(c["case"] == "llminstr, 2 C threads" for c in par)
sys.exit(0 if ok else 1)
PY
done
exit 0
