#!/usr/bin/env bash
# make bench: runs every benchmark in build/bench/ once, prints each one's
# table, and keeps its --json object in build/bench/results/NAME.json for
# scripts/generate_reports.sh. A benchmark that cannot run here (exit 77:
# not root, no BPF, no GPU) is reported as skipped with its reason.
#
#   scripts/run_benchmarks.sh [NAME...]     only these benchmarks
#
# What runs (every executable in build/bench/; helpers/ and tmp/ are not):
#   probe_overhead        a probe's cost per CUDA call (root, BPF)
#   compression_analysis  the codec against zstd, lz4, blosc, block packing
#   io_writer             the container writer's throughput and commit cost;
#                         writes 6 cases x 5 rounds x 256 MiB in build/bench/tmp
#   trace_record          the tracer's consumer cost per record: capture's producer
#                         table, -o, --perfetto
#   baseline_dump         activations dumped as users do today (a sync D2H copy
#                         and a write(2) per tensor, fsync at the end) against
#                         the disk's O_DIRECT speed; writes for >= 10 s (GBs)
#                         in build/bench/tmp and removes it
#   agent_calls           what the agent costs a call with no tracer attached
#   optimized_streaming   capture's sustained GB/s (host and device tensors) against
#                         a raw dump and the disk (root)
#   memory_profiling      tracer and target peak RSS against --buffer-size (root)
#   capture_inference     llm_decode --prefill tokens/s untraced, timed, capturing and
#                         dumping raw per tensor (root)
#   read_dataset          activations read back into torch per core (llminstr.open)
#                         against a raw numpy.memmap, cold cache as root; export speed
set -uo pipefail
cd "$(dirname "$0")/.."
res=build/bench/results
mkdir -p "$res"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for b in build/bench/*; do
		[ -f "$b" ] && [ -x "$b" ] && names+=("$(basename "$b")")
	done
fi

rc=0
for n in "${names[@]}"; do
	b=build/bench/$n
	[ -x "$b" ] || { echo "run_benchmarks: $b is not built (make)" >&2; rc=1; continue; }
	echo "=== $n"
	args=()
	# pack_e2e: pack vs zstd -1 end to end; cold runs drop the page cache
	# (root only, said otherwise). PACK_E2E_ARGS, e.g. "--size 1024 --reps 3".
	[ "$n" = pack_e2e ] && read -ra args <<<"${PACK_E2E_ARGS:-}"
	# baseline_dump: BASELINE_DUMP_ARGS, e.g. "--seconds 30" or llm_decode's
	# shapes "--layers 4 --rows 64 --hidden 256"
	[ "$n" = baseline_dump ] && read -ra args <<<"${BASELINE_DUMP_ARGS:-}"
	"$b" --json "$res/$n.json" "${args[@]}"
	r=$?
	case $r in
	0) echo "    (json: $res/$n.json)" ;;
	77) echo "    skipped" ;;
	*) echo "    FAILED (exit $r)"; rc=1 ;;
	esac
	echo
done
exit $rc
