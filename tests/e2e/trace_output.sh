#!/usr/bin/env bash
# llminstr-trace -o FILE on build/bin/llm_decode (CPU stand-in runtime): the
# container verifies, info --json shows the events, processes and kernel
# names, llminstr-dump perfetto redraws exactly the tracer's --perfetto
# timeline, the launches counted from the file equal the workload's --truth
# (graph replays included), the stats record is the --json summary; -T -o
# keeps the summary only; SIGTERM mid-trace leaves a valid file; the file
# belongs to the sudo caller; a symbolic link is refused with one line.
# (Faults, a full disk among them: trace_faults.sh.)
set -u
cd "$(dirname "$0")/../.."
T=build/bin/llminstr-trace D=build/bin/llminstr-dump W=build/bin/llm_decode PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for BPF"; exit 77; }
for b in $T $D $W; do [ -x $b ] || { echo "SKIP: $b not built"; exit 77; }; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# The records of a .llmi file (FORMAT.md): type and payload, for the stats record.
cat >"$tmp/records.py" <<'PY'
import struct, sys
def records(path):
    b = open(path, "rb").read()
    off = struct.unpack_from("<I", b, 12)[0]
    while off + 32 <= len(b):
        magic, typ, flags, length = struct.unpack_from("<IHHQ", b, off)
        if magic != 0x4345524c:
            break
        yield typ, b[off + 32:off + 32 + length]
        off += (32 + length + 7) & ~7
PY

check_run() {	# label file perfetto truth summary-json
	local f=$2 p=$3 w=$4 s=$5
	$D verify "$f" >"$tmp/v" 2>&1 || { cat "$tmp/v"; fail "$1: verify"; }
	$D info --json "$f" >"$tmp/info.json" || fail "$1: info --json"
	# --force: each run redraws into the same d.json.
	$D perfetto --force "$f" -o "$tmp/d.json" >"$tmp/dp" || { cat "$tmp/dp"; fail "$1: dump perfetto"; }
	if cmp -s "$p" "$tmp/d.json"; then
		echo "ok: $1: llminstr-dump perfetto output is byte-identical to --perfetto"
	else
		echo "note: $1: outputs differ in bytes; comparing event by event"
	fi
	$PY - "$p" "$tmp/d.json" "$w" "$tmp/info.json" "$f" "$s" "$tmp/records.py" <<'PY' || fail "$1"
import json, sys
exec(open(sys.argv[7]).read())
tp = json.load(open(sys.argv[1]))["traceEvents"]
dp = json.load(open(sys.argv[2]))["traceEvents"]
w = json.load(open(sys.argv[3])); info = json.load(open(sys.argv[4]))
bad = []
if tp != dp:
    n = next((i for i, (a, b) in enumerate(zip(tp, dp)) if a != b), min(len(tp), len(dp)))
    bad.append(f"timelines differ at event {n} of {len(tp)}/{len(dp)}: "
               f"{tp[n] if n < len(tp) else None} vs {dp[n] if n < len(dp) else None}")
launch = [e for e in dp if e["cat"] in ("launch", "launch,replay")]
if len(launch) != w["launches"]:
    bad.append(f"{len(launch)} launches in the file, truth {w['launches']}")
per = {}
for e in launch:
    k = e["name"].split("(")[0]
    per[k] = per.get(k, 0) + 1
if per != w["kernels"]:
    bad.append(f"per kernel {per} != truth {w['kernels']}")
graphs = w.get("graphs", {}).get("launches", 0)
rep = sum(1 for e in dp if e["cat"] == "launch,replay" and e["args"].get("replay"))
if rep != (w["launches"] if graphs else 0):
    bad.append(f"{rep} replayed launches in the file")
if sum(1 for e in dp if e["cat"] == "graph") != graphs:
    bad.append("graph launch count differs")
ev = info["events"]
if ev["count"] < len(dp) or ev["count"] == 0 or ev["batches"] == 0:
    bad.append(f"info events {ev}")
if ev["kernel_names"] != len(w["kernels"]):
    bad.append(f"info kernel_names {ev['kernel_names']}, truth has {len(w['kernels'])} kernels")
if ev["api_names"] == 0 or len(ev["pids"]) != 1 or ev["lost"] != 0 or ev["span_s"] <= 0:
    bad.append(f"info events {ev}")
stats = [p for t, p in records(sys.argv[5]) if t == 4]
if len(stats) != 1 or stats[0] != open(sys.argv[6], "rb").read():
    bad.append("the stats record is not the --json summary")
elif json.loads(stats[0])["output"]["events"] != ev["count"]:
    bad.append("summary's output.events differs from the file's")
print("\n".join(bad) or f"{len(dp)} events, {len(launch)} launches ({rep} replayed) equal the truth; "
      f"{ev['kernel_names']} kernel names, stats record = --json")
sys.exit(1 if bad else 0)
PY
}

for wopt in "" "--graphs"; do
	echo "== llminstr-trace -o --perfetto -- llm_decode $wopt"
	rm -f "$tmp/t.llmi"
	if ! timeout 60 $T --force -o "$tmp/t.llmi" --perfetto "$tmp/p.json" --json "$tmp/sum.json" -- \
		$W -q --tokens 48 --layers 3 $wopt --truth "$tmp/w.json" >"$tmp/out" 2>&1; then
		cat "$tmp/out"; fail "tracer exited non-zero"; continue
	fi
	grep -q "^Output: $tmp/t.llmi: [1-9][0-9]* events" "$tmp/out" || { cat "$tmp/out"; fail "no Output line"; }
	check_run "llm_decode $wopt" "$tmp/t.llmi" "$tmp/p.json" "$tmp/w.json" "$tmp/sum.json"
done

echo "== -T -o: the summary only"
rm -f "$tmp/t.llmi"
if timeout 60 $T --force -T -o "$tmp/t.llmi" --json "$tmp/sum.json" -- $W -q --tokens 16 --layers 2 \
	>"$tmp/out" 2>&1 && $D verify "$tmp/t.llmi" >/dev/null && $D info --json "$tmp/t.llmi" >"$tmp/info.json"; then
	$PY - "$tmp/info.json" "$tmp/t.llmi" "$tmp/sum.json" "$tmp/records.py" <<'PY' || fail "-T -o"
import json, sys
exec(open(sys.argv[4]).read())
info = json.load(open(sys.argv[1]))
stats = [p for t, p in records(sys.argv[2]) if t == 4]
ok = info["events"]["count"] == 0 and len(stats) == 1 and stats[0] == open(sys.argv[3], "rb").read() \
     and json.loads(stats[0])["mode"] == "timing-only"
print("ok: -T -o: no events, stats record = --json" if ok else f"-T -o: {info['events']}, {len(stats)} stats")
sys.exit(0 if ok else 1)
PY
else
	cat "$tmp/out"; fail "-T -o run"
fi

echo "== SIGTERM mid-trace, file owned by the sudo caller"
rm -f "$tmp/t.llmi"
SUDO_UID=65534 SUDO_GID=65534 timeout 60 $T -o "$tmp/t.llmi" -- $W -q --tokens 200 --repeat 1000 --layers 2 \
	>"$tmp/out" 2>&1 & tp=$!
for _ in $(seq 50); do [ -s "$tmp/t.llmi" ] && break; sleep 0.1; done
sleep 1.5
kill -TERM $tp; wait $tp; st=$?
[ $st = 0 ] || { cat "$tmp/out"; fail "tracer exit $st after SIGTERM"; }
if $D verify "$tmp/t.llmi" >"$tmp/v" 2>&1 && $D info --json "$tmp/t.llmi" >"$tmp/info.json"; then
	n=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"]["count"])' "$tmp/info.json")
	[ "$n" -gt 0 ] && echo "ok: SIGTERM: valid file, $n events" || fail "SIGTERM: no events in the file"
else
	cat "$tmp/v"; fail "SIGTERM: file not valid"
fi
owner=$(stat -c %u:%g "$tmp/t.llmi")
[ "$owner" = 65534:65534 ] && echo "ok: owned by SUDO_UID:SUDO_GID" || fail "owner $owner, want 65534:65534"

echo "== -o to a symbolic link"
echo keep >"$tmp/victim"; ln -s "$tmp/victim" "$tmp/link"
timeout 30 $T -o "$tmp/link" -- $W -q --tokens 4 >"$tmp/o" 2>"$tmp/e"; st=$?
if [ $st = 0 ] || [ "$(wc -l <"$tmp/e")" != 1 ] || ! grep -q "symbolic link" "$tmp/e" ||
   [ "$(cat "$tmp/victim")" != keep ] || [ ! -L "$tmp/link" ]; then
	cat "$tmp/e"; fail "symlink: exit $st"
else
	echo "ok: symlink refused: $(cat "$tmp/e")"
fi

exit $rc
