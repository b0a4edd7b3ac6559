#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu-check.sh [--sim] [--only STEPS] [OUTDIR]: the checks that need an NVIDIA GPU and its
# driver, in one run of a few minutes (as root, from a built tree):
#   a  environment: GPU, driver, kernel, BTF, where libcuda / libcudart are
#   b  tests/e2e/gpu_codec.sh: the CUDA quantiser equals the CPU's codes
#   c  llminstr-trace on build/bin/llm_decode_cuda (NVIDIA's libcudart and
#      libcuda.so.1) against its --truth: events, -T, --graphs, -p attach
#   e  llminstr-trace -p on gpu/workload/torch_decode.py against
#      torch.profiler (CUPTI): the whole run (events, -T; names must match),
#      then the timed tokens after a late attach (events)
#   f  benchmarks/probe_overhead with --decode-bin llm_decode_cuda and
#      torch_decode.py: uprobe floor, -T, events, traced tokens/s ratios
#   g  tensor capture: tests/e2e/capture_decode.sh on llm_decode_cuda, -p
#      capture of it, benchmarks/capture_inference and optimized_streaming
#      (device tensors) on the GPU, torch_decode.py --capture (the Python
#      module) with -- CMD and -p: tokens/s kept, tensors exact, raw GB/s
# Every step has its own timeout and the run never stops at a failure. OUTDIR
# (default build/gpu-check) gets gpu-check.log (everything), summary.json
# (one verdict per step) and a few JSON files. Exit 0 when no step failed.
# --sim runs c, f and g on the CPU stand-in (build/bin/llm_decode; g's
# torch_decode.py with --device cpu) and the comparison of e on llm_decode,
# so the script itself is tested without a GPU.
# --only e,f-probe_overhead_torch runs only the steps whose names start so.
# PY (default python3) is the interpreter with torch on the GPU host;
# GC_BUDGET the run's seconds (540), GC_DECODE_REPS f's runs per mode (2).
# shellcheck disable=SC2086 # option strings ($WARGS, $topt...) split on purpose
set -u
cd "$(dirname "$0")/.." || exit 2
SIM=0 OUT= ONLY= next=
for a in "$@"; do
	if [ -n "$next" ]; then ONLY=$a next=; continue; fi
	case $a in
	--sim) SIM=1 ;;
	--only) next=1 ;;
	-h | --help) sed -n '3,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "gpu-check.sh: unknown option '$a' (--help lists them)" >&2; exit 2 ;;
	*) OUT=$a ;;
	esac
done
OUT=${OUT:-build/gpu-check}
PY=${PY:-python3}
BUDGET=${GC_BUDGET:-540}	# seconds for the whole run; later steps skip past it
T=build/bin/llminstr-trace
W=build/bin/llm_decode_cuda
[ $SIM = 1 ] && W=build/bin/llm_decode
TD=gpu/workload/torch_decode.py
mkdir -p "$OUT" || { echo "gpu-check.sh: cannot create $OUT" >&2; exit 2; }
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/gpu-check.log
: >"$LOG"
tmp=$(mktemp -d /tmp/gpu-check.XXXXXX)
bg=()
trap 'for p in "${bg[@]}"; do kill -KILL "$p" 2>/dev/null; done; sleep 0.2; rm -rf "$tmp"' EXIT
exec > >(tee -a "$LOG") 2>&1

names=() verdicts=() reasons=()
result() {	# step verdict reason
	names+=("$1") verdicts+=("$2") reasons+=("$3")
	echo "-> $1: $2 ${3:+($3)}"
	write_summary
}
write_summary() {
	local i
	{
		for i in "${!names[@]}"; do
			printf '%s\t%s\t%s\n' "${names[$i]}" "${verdicts[$i]}" "${reasons[$i]}"
		done
	} >"$tmp/results.tsv"
	$PY - "$tmp/results.tsv" "$OUT/summary.json" "$SIM" "$SECONDS" <<'PY' 2>/dev/null
import json, sys
steps = []
for line in open(sys.argv[1]):
    n, v, r = (line.rstrip("\n").split("\t") + ["", ""])[:3]
    steps.append({"step": n, "verdict": v, "reason": r})
ok = not any(s["verdict"] == "FAIL" for s in steps)
json.dump({"sim": sys.argv[3] == "1", "elapsed_s": int(sys.argv[4]), "ok": ok, "steps": steps},
          open(sys.argv[2], "w"), indent=1)
PY
}
left() { echo $((BUDGET - SECONDS)); }
# --only PREFIX[,PREFIX...]: the steps whose names start so (a always runs)
wanted() {	# step
	local p
	[ -z "$ONLY" ] && return 0
	for p in ${ONLY//,/ }; do case $1 in "$p"*) return 0 ;; esac; done
	return 1
}
have_time() {	# step seconds-needed
	if ! wanted "$1"; then
		result "$1" SKIP "not asked for (--only $ONLY)"
		return 1
	fi
	if [ "$(left)" -lt "$2" ]; then
		result "$1" SKIP "out of time: $(left) s of the ${BUDGET} s budget left, needs $2"
		return 1
	fi
}
banner() { printf '\n==== %s  [%d s]\n' "$*" "$SECONDS"; }

# the tracer's JSON against a --truth (trace_decode.sh's check): h2d exact or >=
check_truth() {	# trace.json truth.json h2d_exact
	$PY scripts/trace_vs_truth.py "$@"
}

# the tracer's JSON against torch.profiler's kernel counts: totals exact,
# names (normalised: no return type, no argument list, no spaces) where the
# tracer has them. Exit 0 equal, 1 totals differ, 3 totals equal, names not.
check_profile() {	# trace.json profile.json
	$PY - "$@" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
def norm(n):
    n = n.strip()
    if n.endswith(")"):	# drop the trailing, balanced argument list
        depth = 0
        for i in range(len(n) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(n[i], 0)
            if depth == 0:
                n = n[:i]; break
    # drop a return type: up to the last space outside <...> and (...)
    # ("void k<int>", "std::enable_if<!(false), void>::type k<...>")
    depth, cut = 0, 0
    for i, c in enumerate(n):
        if c in "<(": depth += 1
        elif c in ">)": depth -= 1
        elif c == " " and depth == 0: cut = i + 1
    return "".join(n[cut:].split())
prof = {}
for n, c in p["kernels"].items(): prof[norm(n)] = prof.get(norm(n), 0) + c
named, unnamed = {}, 0
for k in t["kernels"]:
    if k.get("unnamed"): unnamed += k["launches"]
    else: named[norm(k["name"])] = named.get(norm(k["name"]), 0) + k["launches"]
tot_ok = t["launches"] == p["launches"]
print(f"tracer {t['launches']} launches ({t['driver_launches']} driver, {unnamed} unnamed, "
      f"{len(named)} names), profiler {p['launches']} kernels ({len(prof)} names); "
      f"lost {t['events']['lost']}")
api = p.get("api", {})
if api:
    tl = {k: v["calls"] for k, v in t["api"].items() if "aunch" in k}
    pl = {k: v for k, v in api.items() if "aunch" in k}
    print(f"launch calls: tracer {tl}; CUPTI {pl}")
mis = []
for n, c in named.items():
    if prof.get(n, 0) != c: mis.append((abs(prof.get(n, 0) - c), n, c, prof.get(n, 0)))
only_prof = sum(c for n, c in prof.items() if n not in named)
for d, n, c, pc in sorted(mis, reverse=True)[:10]:
    print(f"  name mismatch: tracer {c} profiler {pc}  {n[:110]}")
print(f"profiler launches under names the tracer lacks: {only_prof} (tracer unnamed: {unnamed})")
if t["events"]["lost"]: tot_ok = False; print("events lost")
# copies: CUPTI's memcpy records against the tracer's copy calls (runtime and
# driver API, each counted once)
pc = p.get("categories", {}).get("gpu_memcpy")
if pc is not None:
    tc = sum(v["calls"] for v in t["memcpy"].values())
    dirs = ", ".join("%s %d" % (k, v["calls"]) for k, v in t["memcpy"].items() if v["calls"])
    print(f"copies: tracer {tc} ({dirs}), CUPTI {pc}")
    if tc != pc: tot_ok = False
sys.exit(0 if tot_ok and not mis else 1 if not tot_ok else 3)
PY
}

# a process' libs are mapped: pid pattern... (basename glob on /proc/PID/maps)
wait_maps() {	# pid seconds pattern...
	local pid=$1 n=$(($2 * 10)) p ok
	shift 2
	while [ $n -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		ok=1
		for p in "$@"; do grep -q "/$p" "/proc/$pid/maps" 2>/dev/null || ok=0; done
		[ $ok = 1 ] && return 0
		sleep 0.1; n=$((n - 1))
	done
	return 1
}
# a process that sits in its --wait-file poll: its CPU time (all threads)
# stops growing. On a GPU, context creation and the weight upload take a
# while, and an attach before they end would count set-up copies.
wait_idle() {	# pid seconds
	local n=$(($2 * 4)) prev=-1 cur still=0
	while [ $n -gt 0 ] && kill -0 "$1" 2>/dev/null; do
		cur=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo -1)
		if [ "$prev" -ge 0 ] && [ $((cur - prev)) -le 1 ]; then
			still=$((still + 1)); [ $still -ge 2 ] && return 0
		else
			still=0
		fi
		prev=$cur; sleep 0.25; n=$((n - 1))
	done
	return 1
}
# the exit status of a background child, killed after seconds (status 124)
reap_within() {	# pid seconds
	local n=$(($2 * 10))
	while [ $n -gt 0 ] && kill -0 "$1" 2>/dev/null; do
		# a zombie counts as ended: wait reaps it below
		[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && break
		sleep 0.1; n=$((n - 1))
	done
	if [ $n = 0 ]; then kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 124; fi
	wait "$1"
}
wait_grep() {	# file seconds regex [pid: give up when it has ended]
	local n=$(($2 * 10))
	while [ $n -gt 0 ]; do
		grep -q "$3" "$1" 2>/dev/null && return 0
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.1; n=$((n - 1))
	done
	return 1
}

echo "gpu-check.sh: $(date -u +%FT%TZ) on $(hostname), sim=$SIM, out $OUT, PY=$PY, budget ${BUDGET} s"
[ "$(id -u)" = 0 ] || echo "warning: not root: the tracer steps will fail (BPF needs root)"

# ---- a: environment ----
banner "a environment"
{
	echo "uname -r: $(uname -r)"
	echo "cpus: $(nproc)"
	[ -r /sys/kernel/btf/vmlinux ] && echo "BTF: /sys/kernel/btf/vmlinux present" || echo "BTF: /sys/kernel/btf/vmlinux MISSING"
	echo "nvidia-smi -L:"; timeout 20 nvidia-smi -L 2>&1 | sed 's/^/  /'
	echo "driver: $(timeout 20 nvidia-smi --query-gpu=driver_version,name,memory.total --format=csv,noheader 2>&1 | head -n2 | tr '\n' ' ')"
	echo "nvcc: $(timeout 10 /usr/local/cuda/bin/nvcc --version 2>&1 | tail -n2 | tr '\n' ' ')"
	echo "ldconfig -p (cuda, cudart):"; ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libcudart\.so' | sed 's/^/  /'
	echo "/usr/local/cuda/lib64:"; find /usr/local/cuda/lib64/ -maxdepth 1 -name "libcudart.so*" 2>&1 | sed 's/^/  /'
	echo "python: $(command -v "$PY") $($PY --version 2>&1)"
	tf=$(timeout 60 $PY -c 'import torch; print(torch.__file__); print(torch.__version__, torch.version.cuda, torch.cuda.is_available())' 2>&1)
	echo "torch: $tf" | tr '\n' ' '; echo
	sp=$(dirname "$(dirname "$(echo "$tf" | head -n1)")")
	[ -d "$sp/nvidia" ] && { echo "pip NVIDIA libs:"; find "$sp/nvidia" -name 'libcudart.so*' -o -name 'libcublas*.so*' -o -name 'libcupti.so*' 2>/dev/null | sed 's/^/  /'; }
	for b in $T build/bench/probe_overhead $W; do echo "$b: $(file -b "$b" 2>&1 | cut -c1-90)"; done
	echo "ldd $W:"; ldd $W 2>&1 | grep -E 'cuda|not found' | sed 's/^/  /'
} 2>&1
env_bad=
[ -r /sys/kernel/btf/vmlinux ] || env_bad="no /sys/kernel/btf/vmlinux"
[ -x $T ] || env_bad="$env_bad${env_bad:+; }$T not built"
if [ $SIM = 0 ] && ! timeout 20 nvidia-smi -L >/dev/null 2>&1; then env_bad="$env_bad${env_bad:+; }nvidia-smi finds no GPU"; fi
if [ -z "$env_bad" ]; then result a-environment PASS "$(uname -r), $(nproc) cpus"; else result a-environment FAIL "$env_bad"; fi

# libcudart.so.13 for llm_decode_cuda: the loader's, else the toolkit's, else torch's pip copy
if [ $SIM = 0 ] && ldd $W 2>/dev/null | grep -q 'libcudart.*not found'; then
	for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(dirname "$(find "${sp:-/nonexistent}/nvidia" -name 'libcudart.so.13' 2>/dev/null | head -n1)" 2>/dev/null); do
		[ -e "$d/libcudart.so.13" ] && { export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; break; }
	done
	echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
fi

# ---- b: the GPU quantiser ----
banner "b tests/e2e/gpu_codec.sh"
if [ $SIM = 1 ]; then
	result b-gpu-codec SKIP "--sim: needs a GPU"
elif have_time b-gpu-codec 60; then
	timeout 90 tests/e2e/gpu_codec.sh >"$tmp/b.out" 2>&1; st=$?
	tail -n 20 "$tmp/b.out"
	case $st in
	0) result b-gpu-codec PASS "$(tail -n1 "$tmp/b.out" | cut -c1-100)" ;;
	77) result b-gpu-codec SKIP "$(tail -n1 "$tmp/b.out" | cut -c1-100)" ;;
	*) result b-gpu-codec FAIL "exit $st: $(tail -n1 "$tmp/b.out" | cut -c1-100)" ;;
	esac
fi

# ---- c: llm_decode_cuda against its --truth ----
WARGS="-q --tokens 64 --layers 4"
banner "c $W"
if have_time c-untraced 20; then
	timeout 60 $W $WARGS --truth "$tmp/c0.json" >"$tmp/c0.out" 2>&1; st=$?
	cat "$tmp/c0.out"
	if [ $st = 0 ]; then result c-untraced PASS "$(tail -n1 "$tmp/c0.out" | cut -c1-100)"
	else result c-untraced FAIL "exit $st: $(tail -n1 "$tmp/c0.out" | cut -c1-100)"; fi
fi
for mode in events -T --graphs "-T --graphs"; do
	topt='' wopt=''
	case $mode in *-T*) topt=-T ;; esac
	case $mode in *--graphs*) wopt=--graphs ;; esac
	name="c-trace ${mode}"
	have_time "$name" 20 || continue
	echo "== llminstr-trace $topt -- $W $WARGS $wopt"
	rm -f "$tmp/ct.json" "$tmp/cw.json"
	timeout 60 $T $topt --json "$tmp/ct.json" -- $W $WARGS $wopt --truth "$tmp/cw.json" >"$tmp/ct.out" 2>&1; st=$?
	tail -n 30 "$tmp/ct.out"
	if [ $st != 0 ]; then result "$name" FAIL "tracer exit $st: $(tail -n1 "$tmp/ct.out" | cut -c1-100)"; continue; fi
	if [ ! -s "$tmp/cw.json" ]; then
		result "$name" FAIL "no --truth from the workload: $(grep -m1 -iE 'error|fail|llm_decode' "$tmp/ct.out" | cut -c1-90)"
		continue
	fi
	check_truth "$tmp/ct.json" "$tmp/cw.json" 0 >"$tmp/cc.out" 2>&1; st=$?
	cat "$tmp/cc.out"
	[ "$mode" = events ] && cp "$tmp/ct.json" "$OUT/decode_trace.json"
	if [ $st = 0 ]; then result "$name" PASS "$(head -n1 "$tmp/cc.out" | cut -c1-100)"
	else result "$name" FAIL "$(tail -n1 "$tmp/cc.out" | cut -c1-100)"; fi
done
# -p attach before the first timed launch (--wait-file): copies exact too
name="c-attach -p"
if have_time "$name" 30; then
	rm -f "$tmp/go" "$tmp/aw.json" "$tmp/at.json"
	# started directly (no timeout wrapper): $! must be the workload's own pid
	$W $WARGS --wait-file "$tmp/go" --truth "$tmp/aw.json" >"$tmp/aw.out" 2>&1 & wp=$!
	bg+=("$wp")
	if ! wait_maps $wp 30 'libcudart.so*' 'libcuda.so*'; then
		cat "$tmp/aw.out"
		if kill -0 $wp 2>/dev/null; then result "$name" FAIL "$W did not map libcudart and libcuda in 30 s"
		else result "$name" FAIL "$W exited: $(tail -n1 "$tmp/aw.out" | cut -c1-90)"; fi
	else
		wait_idle $wp 30 || echo "($W still busy after 30 s: attaching anyway)"
		timeout 60 $T -p $wp --json "$tmp/at.json" >"$tmp/at.out" 2>&1 & tp=$!
		bg+=("$tp")
		wait_grep "$tmp/at.out" 30 tracing $tp || echo "(no 'tracing' line from the tracer in 30 s)"
		touch "$tmp/go"
		reap_within $wp 60; wst=$?
		reap_within $tp 30; st=$?
		tail -n 30 "$tmp/at.out"
		if [ $st != 0 ] || [ $wst != 0 ]; then
			result "$name" FAIL "tracer exit $st, workload exit $wst: $(tail -n1 "$tmp/at.out" | cut -c1-60) / $(tail -n1 "$tmp/aw.out" | cut -c1-60)"
		else
			check_truth "$tmp/at.json" "$tmp/aw.json" 1 >"$tmp/cc.out" 2>&1; st=$?
			cat "$tmp/cc.out"
			cp "$tmp/at.json" "$OUT/decode_attach.json"
			if [ $st = 0 ]; then result "$name" PASS "$(head -n1 "$tmp/cc.out" | cut -c1-100)"
			else result "$name" FAIL "$(tail -n1 "$tmp/cc.out" | cut -c1-100)"; fi
		fi
	fi
fi

# ---- e: tracer vs torch.profiler on torch_decode.py ----
# whole: the profiler covers the whole run, and the tracer attaches with -p
# right after "import torch" (torch_decode prints "ready" and waits on
# --wait-file before its first CUDA call): both see every launch, and the
# tracer every kernel's first launch, so totals and names must be equal.
# warm: the tracer attaches after the warm-up token and the profiler wraps
# the timed tokens only; totals must be equal, names are compared where the
# tracer has one (handles obtained before the attach stay unnamed).
TARGS="-q --layers 4 --hidden 1024 --heads 8 --ffn 2816 --vocab 8192 --tokens 64"
banner "e tracer vs torch.profiler"
torch_ok=0
if timeout 60 $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
	torch_ok=1
fi
for emode in "whole events" "whole -T" "warm events"; do
	topt=${emode#* }; [ "$topt" = events ] && topt=
	scope=${emode% *}
	pall=; [ $scope = whole ] && pall=--profile-all
	name="e-torch-profiler $emode"
	if [ $SIM = 1 ]; then
		# the comparison itself, on llm_decode's attach run, with the truth
		# written as CUPTI names them (return type, argument list)
		if [ ! -s "$tmp/at.json" ]; then result "$name" SKIP "--sim: no attach run from c"; continue; fi
		$PY - "$tmp/aw.json" "$tmp/ap.json" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))
k = {f"void {n}(float*, int)": c for n, c in w["kernels"].items()}
json.dump({"kernels": k, "launches": w["launches"]}, open(sys.argv[2], "w"))
PY
		check_profile "$tmp/at.json" "$tmp/ap.json" >"$tmp/ep.out" 2>&1; st=$?
		cat "$tmp/ep.out"
		case $st in
		0) result "$name" PASS "--sim, comparator on llm_decode: $(head -n1 "$tmp/ep.out" | cut -c1-70)" ;;
		*) result "$name" FAIL "--sim comparator: $(tail -n1 "$tmp/ep.out" | cut -c1-90)" ;;
		esac
		continue
	fi
	[ $torch_ok = 1 ] || { result "$name" SKIP "$PY has no torch with CUDA"; continue; }
	have_time "$name" 60 || continue
	rm -f "$tmp/go" "$tmp/et.json" "$tmp/ew.json" "$tmp/ep.json"
	"$PY" $TD $TARGS --wait-file "$tmp/go" --truth "$tmp/ew.json" --profile "$tmp/ep.json" $pall \
		>"$tmp/ew.out" 2>&1 & wp=$!
	bg+=("$wp")
	if ! wait_grep "$tmp/ew.out" 90 "ready" $wp; then
		cat "$tmp/ew.out"; result "$name" FAIL "torch_decode not ready in 90 s: $(tail -n1 "$tmp/ew.out" | cut -c1-80)"
		kill $wp 2>/dev/null; continue
	fi
	grep -E "^(  )?/.*(libcudart|libcuda\.so|libcublas)" "/proc/$wp/maps" 2>/dev/null | awk '{print $6}' | sort -u | sed 's/^/  mapped: /'
	timeout 100 $T $topt -p $wp --json "$tmp/et.json" >"$tmp/et.out" 2>&1 & tp=$!
	bg+=("$tp")
	wait_grep "$tmp/et.out" 40 tracing $tp || echo "(no 'tracing' line from the tracer in 40 s)"
	touch "$tmp/go"
	reap_within $wp 90; wst=$?
	reap_within $tp 30; st=$?
	cat "$tmp/ew.out"; tail -n 30 "$tmp/et.out"
	if [ $st != 0 ] || [ $wst != 0 ]; then
		result "$name" FAIL "tracer exit $st, torch_decode exit $wst: $(tail -n1 "$tmp/et.out" | cut -c1-60) / $(tail -n1 "$tmp/ew.out" | cut -c1-60)"
		continue
	fi
	if [ "$emode" = "whole events" ]; then cp "$tmp/et.json" "$OUT/torch_trace.json"; cp "$tmp/ep.json" "$OUT/torch_profile.json"; fi
	check_profile "$tmp/et.json" "$tmp/ep.json" >"$tmp/ep.out" 2>&1; st=$?
	cat "$tmp/ep.out"
	# whole run: every name must match too
	[ $st = 3 ] && [ $scope = whole ] && st=1
	case $st in
	0) result "$name" PASS "$(head -n1 "$tmp/ep.out" | cut -c1-100)" ;;
	3) result "$name" WARN "totals equal, names differ: $(head -n1 "$tmp/ep.out" | cut -c1-80)" ;;
	*) result "$name" FAIL "$(head -n1 "$tmp/ep.out" | cut -c1-100)" ;;
	esac
done

# ---- f: probe_overhead on this host, decode traced and not ----
po_summary() {	# json
	$PY - "$1" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); s = j["summary"]
d = [c for c in j["cases"] if c["name"] == "llm_decode"][0]
f = lambda v, p=3: "-" if v is None else f"{v:.{p}f}"
print(f"floor {f(s['floor_ns_per_call'], 0)} ns, -T x{f(s['timing_only_ratio'])}, events x{f(s['events_ratio'])}; "
      f"decode {f(s['llm_decode_tokens_per_s'], 1)} tok/s, -T {f(s['llm_decode_timing_only_ratio'])}, "
      f"events {f(s['llm_decode_events_ratio'])}")
if d["status"] != "ok": print("decode: " + d["status"]); sys.exit(1)
PY
}
if [ $SIM = 1 ]; then
	DARGS="--layers 4 --hidden 512 --heads 8 --ffn 1376 --vocab 4096 --tokens 128"
else
	DARGS="--layers 8 --hidden 2048 --heads 16 --ffn 5632 --vocab 16384 --tokens 256"
fi
reps=${GC_DECODE_REPS:-2}
runs=("probe_overhead_gpu|$W|$DARGS|--decode-reps $reps|$((50 + 20 * reps))"
      "probe_overhead_torch|$TD|--layers 8 --hidden 1024 --heads 8 --ffn 2816 --vocab 8192 --tokens 160|--decode-reps $reps|$((60 + 45 * reps))")
for r in "${runs[@]}"; do
	IFS='|' read -r jn bin dargs reps lim <<<"$r"
	name="f-$jn"
	banner "$name: $bin"
	if [ "$bin" = $TD ] && [ $torch_ok = 0 ]; then result "$name" SKIP "$PY has no torch with CUDA"; continue; fi
	have_time "$name" "$lim" || continue
	# torch_decode.py runs by its #!/usr/bin/env python3: put $PY's directory first
	PATH=$(dirname "$(command -v "$PY")"):$PATH \
		timeout "$lim" build/bench/probe_overhead --quick --no-bpftrace $reps --json "$OUT/$jn.json" \
		--decode-bin "$bin" --decode-args "$dargs" >"$tmp/f.out" 2>&1; st=$?
	cat "$tmp/f.out"
	if [ $st != 0 ]; then result "$name" FAIL "exit $st: $(tail -n1 "$tmp/f.out" | cut -c1-100)"; continue; fi
	po_summary "$OUT/$jn.json" >"$tmp/fs.out" 2>&1; st=$?
	cat "$tmp/fs.out"
	if [ $st = 0 ]; then result "$name" PASS "$(head -n1 "$tmp/fs.out" | cut -c1-110)"
	else result "$name" FAIL "$(tail -n1 "$tmp/fs.out" | cut -c1-110)"; fi
done

# ---- g: tensor capture ----
# g-capture-decode: tests/e2e/capture_decode.sh on $W (every tensor once,
#   names x steps, within its bound against --reference-dir copied on the
#   device, producers named, name= and every=, tokens unchanged)
# g-capture-attach: -p on $W with the agent preloaded, --on-full block:
#   every tensor of the decode after the attach, the file verifies
# g-capture_inference, g-optimized_streaming: the benchmarks, JSON in OUT
# g-torch-capture: torch_decode.py untraced and --capture under
#   llminstr-trace --capture name=blk.*.resid --capture name=logits, rounds
#   interleaved: tokens/s kept, tensors exact, raw GB/s (torch_capture.json)
# g-torch-capture-attach: the same with -p after torch_decode's warm-up
# --sim: the same on the stand-in, torch_decode.py with --device cpu.
capt_n() {	# tracer.json: "tensors dropped unfinished raw_bytes stored_bytes max_nmse"
	$PY -c 'import json,sys; c=json.load(open(sys.argv[1]))["capture"]; print(c["tensors"], c["dropped"], c["unfinished"], c["raw_bytes"], c["stored_bytes"], c["max_nmse"])' "$1"
}
tps_of() {	# stderr file: the tokens/s and seconds of its "N tokens in S s" line
	sed -n 's/.*: \([0-9]*\) tokens in \([0-9.]*\) s, \([0-9.]*\) tokens\/s.*/\3 \2/p' "$1" | tail -n1
}
banner "g tensor capture"
if have_time g-capture-decode 60; then
	LLMI_DECODE=$W LLMI_PY=$PY timeout 300 tests/e2e/capture_decode.sh >"$tmp/g1.out" 2>&1; st=$?
	tail -n 30 "$tmp/g1.out"
	case $st in
	0) result g-capture-decode PASS "every tensor once, within bound, producers named ($W)" ;;
	77) result g-capture-decode SKIP "$(tail -n1 "$tmp/g1.out" | cut -c1-100)" ;;
	*) result g-capture-decode FAIL "exit $st: $(grep -m1 FAIL "$tmp/g1.out" | cut -c1-100)" ;;
	esac
fi
name=g-capture-attach
if have_time $name 60; then
	rm -f "$tmp/go" "$tmp/ga.llmi" "$tmp/ga.json"
	GL=2 GN=8
	# the agent in the target's environment, as a service would have it
	LD_PRELOAD=$PWD/build/lib/libllminstr.so $W -q --layers $GL --hidden 256 --heads 4 --ffn 688 \
		--vocab 2048 --prefill 16 --tokens $GN --wait-file "$tmp/go" >"$tmp/gw.out" 2>&1 &
	wp=$!
	bg+=("$wp")
	if ! wait_grep "$tmp/gw.out" 60 "waiting for" $wp; then
		result $name FAIL "$W not waiting in 60 s: $(tail -n1 "$tmp/gw.out" | cut -c1-80)"
	else
		timeout 120 $T -p $wp --capture all --on-full block -o "$tmp/ga.llmi" --json "$tmp/ga.json" \
			>"$tmp/ga.out" 2>&1 &
		tp=$!
		bg+=("$tp")
		wait_grep "$tmp/ga.out" 30 "capturing tensors of pid" $tp || echo "(no 'capturing tensors' line in 30 s)"
		touch "$tmp/go"
		reap_within $wp 120; wst=$?
		reap_within $tp 60; st=$?
		tail -n 12 "$tmp/ga.out"; tail -n 3 "$tmp/gw.out"
		want=$(((3 * GL + 1) * GN))
		read -r n dr un _ _ nm <<<"$(capt_n "$tmp/ga.json" 2>/dev/null)"
		if [ $st != 0 ] || [ $wst != 0 ]; then
			result $name FAIL "tracer exit $st, workload exit $wst"
		elif ! build/bin/llminstr-dump verify "$tmp/ga.llmi" >/dev/null 2>&1; then
			result $name FAIL "the file does not verify"
		elif [ "${n:-x}" != "$want" ]; then
			result $name FAIL "${n:-no} tensors of $want (dropped ${dr:-?}, unfinished ${un:-?})"
		else
			result $name PASS "$n tensors of $want, max nmse $nm"
		fi
	fi
fi
if [ $SIM = 1 ]; then
	CI_ARGS=(--rounds 1) OS_ARGS=(--seconds 2 --rows 64 --hidden 1024 --layers 8)
else
	CI_ARGS=(--rounds 3 --decode-args "--layers 8 --hidden 2048 --heads 16 --ffn 5632 --vocab 16384 --prefill 512 --tokens 1 --repeat 40")
	OS_ARGS=(--seconds 10)
fi
if have_time g-capture_inference 150; then
	timeout 300 build/bench/capture_inference --decode-bin $W "${CI_ARGS[@]}" --dir "$tmp" \
		--json "$OUT/capture_inference.json" >"$tmp/gi.out" 2>&1; st=$?
	tail -n 12 "$tmp/gi.out"
	if [ $st = 0 ]; then
		result g-capture_inference PASS "$($PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print("untraced %.1f tok/s; kept: timing %.3f, resid+logits %.3f, all %.3f, raw dump %.3f" % (s["untraced_tokens_per_s"], s["timing_ratio"], s["capture_resid_ratio"], s["capture_all_ratio"], s["dump_ratio"]))' "$OUT/capture_inference.json" 2>&1 | cut -c1-110)"
	else
		result g-capture_inference FAIL "exit $st: $(tail -n1 "$tmp/gi.out" | cut -c1-100)"
	fi
fi
if have_time g-optimized_streaming 60; then
	mkdir -p build/bench/tmp
	timeout 300 build/bench/optimized_streaming --tensors both "${OS_ARGS[@]}" --dir build/bench/tmp \
		--json "$OUT/optimized_streaming.json" >"$tmp/go.out" 2>&1; st=$?
	tail -n 12 "$tmp/go.out"
	if [ $st = 0 ]; then
		result g-optimized_streaming PASS "$($PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print("raw GB/s host %.2f, device %.2f (x%.2f, x%.2f the baseline); disk %.2f" % (s["raw_gbps"], s["device_raw_gbps"], s["speedup_vs_baseline"], s["device_speedup_vs_baseline"], s["disk_limit_gbps"]))' "$OUT/optimized_streaming.json" 2>&1 | cut -c1-110)"
	else
		result g-optimized_streaming FAIL "exit $st: $(tail -n1 "$tmp/go.out" | cut -c1-100)"
	fi
fi
# torch_decode.py through the Python module
if [ $SIM = 1 ]; then
	TL=2 TN=16 TCARGS="--device cpu --layers 2 --hidden 64 --heads 4 --ffn 128 --vocab 256 --tokens 16"
	timeout 60 $PY -c 'import torch, numpy' >/dev/null 2>&1 && tc_ok=1 || tc_ok=0
else
	TL=8 TN=128 TCARGS="--layers 8 --hidden 2048 --heads 16 --ffn 5632 --vocab 16384 --tokens 128"
	tc_ok=$torch_ok
fi
TSPEC=(--capture 'name=blk.*.resid' --capture name=logits)
name=g-torch-capture
if [ $tc_ok = 0 ]; then
	result $name SKIP "$PY has no torch$([ $SIM = 0 ] && echo " with CUDA")"
elif have_time $name 120; then
	: >"$tmp/tu.tps"; : >"$tmp/tc.tps"; bad=
	for r in 1 2 3; do
		timeout 120 $PY $TD -q $TCARGS 2>"$tmp/tu.err" >/dev/null || { bad="untraced exit $?: $(tail -n1 "$tmp/tu.err" | cut -c1-80)"; break; }
		tps_of "$tmp/tu.err" >>"$tmp/tu.tps"
		rm -f "$tmp/tc.llmi" "$tmp/tc.json"
		timeout 180 $T "${TSPEC[@]}" -o "$tmp/tc.llmi" --json "$tmp/tc.json" -- $PY $TD -q $TCARGS --capture \
			>"$tmp/tc.out" 2>"$tmp/tc.err" || { bad="traced exit $?: $(tail -n1 "$tmp/tc.err" | cut -c1-80)"; break; }
		tps_of "$tmp/tc.err" >>"$tmp/tc.tps"
		cp "$tmp/tc.json" "$tmp/tc.last.json"
	done
	tail -n 3 "$tmp/tc.err"; grep -A4 '^Capture' "$tmp/tc.out"
	if [ -n "$bad" ]; then
		result $name FAIL "$bad"
	else
		$PY - "$tmp/tu.tps" "$tmp/tc.tps" "$tmp/tc.last.json" "$OUT/torch_capture.json" $SIM $((TL + 1)) $TN "$TCARGS" <<'PY' >"$tmp/tcs.out" 2>&1; st=$?
import json, statistics as st, sys
u = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
c = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
cap = json.load(open(sys.argv[3]))["capture"]
sim, per, steps = sys.argv[5] == "1", int(sys.argv[6]), int(sys.argv[7])
mu, mc = st.median(x[0] for x in u), st.median(x[0] for x in c)
secs = st.median(x[1] for x in c)
want = per * steps
res = {"figures": "CPU figures (--sim: torch on the CPU)" if sim else "GPU figures",
       "command": "llminstr-trace --capture name=blk.*.resid --capture name=logits -- torch_decode.py --capture " + sys.argv[8],
       "untraced_tokens_per_s": [x[0] for x in u], "capture_tokens_per_s": [x[0] for x in c],
       "ratio": mc / mu, "tensors": cap["tensors"], "expected": want, "dropped": cap["dropped"],
       "unfinished": cap["unfinished"], "raw_bytes": cap["raw_bytes"], "stored_bytes": cap["stored_bytes"],
       "raw_gbps_over_decode": cap["raw_bytes"] / secs / 1e9, "max_nmse": cap["max_nmse"]}
json.dump(res, open(sys.argv[4], "w"), indent=1)
print("untraced %.1f tok/s, capturing %.1f (x%.3f); %d tensors of %d, %.3f GB/s raw" %
      (mu, mc, mc / mu, cap["tensors"], want, res["raw_gbps_over_decode"]))
sys.exit(0 if cap["tensors"] == want else 1)
PY
		cat "$tmp/tcs.out"
		if [ $st = 0 ]; then result $name PASS "$(tail -n1 "$tmp/tcs.out" | cut -c1-110)"
		else result $name FAIL "$(tail -n1 "$tmp/tcs.out" | cut -c1-110)"; fi
	fi
fi
name=g-torch-capture-attach
if [ $tc_ok = 0 ]; then
	result $name SKIP "$PY has no torch$([ $SIM = 0 ] && echo " with CUDA")"
elif have_time $name 90; then
	rm -f "$tmp/go" "$tmp/ta.llmi" "$tmp/ta.json"
	$PY $TD -q $TCARGS --capture --wait-file "$tmp/go" >"$tmp/tw.out" 2>&1 &
	wp=$!
	bg+=("$wp")
	if ! wait_grep "$tmp/tw.out" 90 "ready" $wp; then
		result $name FAIL "torch_decode not ready in 90 s: $(tail -n1 "$tmp/tw.out" | cut -c1-80)"
	else
		timeout 180 $T -p $wp "${TSPEC[@]}" --on-full block -o "$tmp/ta.llmi" --json "$tmp/ta.json" \
			>"$tmp/ta.out" 2>&1 &
		tp=$!
		bg+=("$tp")
		wait_grep "$tmp/ta.out" 40 "capturing tensors of pid" $tp || echo "(no 'capturing tensors' line in 40 s)"
		touch "$tmp/go"
		reap_within $wp 150; wst=$?
		reap_within $tp 60; st=$?
		tail -n 3 "$tmp/tw.out"; grep -A4 '^Capture' "$tmp/ta.out"
		want=$(((TL + 1) * TN))
		read -r n dr un _ _ nm <<<"$(capt_n "$tmp/ta.json" 2>/dev/null)"
		if [ $st != 0 ] || [ $wst != 0 ]; then
			result $name FAIL "tracer exit $st, torch_decode exit $wst: $(tail -n1 "$tmp/ta.out" | cut -c1-60)"
		elif [ "${n:-x}" != "$want" ]; then
			result $name FAIL "${n:-no} tensors of $want (dropped ${dr:-?}, unfinished ${un:-?})"
		else
			result $name PASS "$n tensors of $want, max nmse $nm"
		fi
	fi
fi

# ---- the verdicts ----
banner "summary"
rc=0
printf '%-28s %-5s %s\n' step verdict reason
for i in "${!names[@]}"; do
	printf '%-28s %-5s %s\n' "${names[$i]}" "${verdicts[$i]}" "${reasons[$i]}"
	[ "${verdicts[$i]}" = FAIL ] && rc=1
done
echo "gpu-check.sh: $([ $rc = 0 ] && echo "no step failed" || echo "some steps FAILED") in $SECONDS s; log $LOG, summary $OUT/summary.json"
exit $rc
