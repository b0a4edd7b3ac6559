# benchmarks/: one folder per benchmark (DESIGN.md), each with its own
# build.mk that appends its binaries (build/bench/NAME) to BENCH_BINS.
# Every benchmark prints its figures, and with --json one object:
# {"benchmark": NAME, "env": {...}, "cases": [...], "summary": {...}}.
include $(wildcard benchmarks/*/build.mk)
