#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""llminstr-trace's --json against llm_decode's --truth: what it must have seen.

Usage: trace_vs_truth.py TRACE.json TRUTH.json H2D_EXACT(0|1)

Every kernel count and the launch total equal the truth, copies per
direction equal it (host-to-device at least the truth when H2D_EXACT is 0:
the weights' set-up uploads happen before the truth starts counting), memset
and graph launches equal it, a CUDA-graph run's replayed launches equal the
truth's launches, nothing was lost and nothing is unnamed. Prints a summary
line, then the differences or "counts equal the truth"; exit 1 on any.
Used by tests/e2e/trace_decode.sh and scripts/gpu-check.sh.
"""
import json
import sys


def main(argv):
    t = json.load(open(argv[1]))
    w = json.load(open(argv[2]))
    exact = argv[3] == "1"
    bad = []
    got = {k["name"]: k["launches"] for k in t["kernels"]}
    if got != w["kernels"]:
        bad.append(f"kernels {got} != {w['kernels']}")
    if t["launches"] != w["launches"]:
        bad.append(f"launches {t['launches']} != {w['launches']}")
    for d, v in w["memcpy"].items():
        g = {k: t["memcpy"][d][k] for k in ("calls", "bytes")}
        ok = g == v if (exact or d != "h2d") else g["calls"] >= v["calls"] and g["bytes"] >= v["bytes"]
        if not ok:
            bad.append(f"memcpy {d} {g} vs truth {v}")
    if "memset" in w and t["memset"] != w["memset"]:
        bad.append(f"memset {t['memset']} != {w['memset']}")
    g = w.get("graphs", {}).get("launches", 0)
    if t["graphs"]["launches"] != g:
        bad.append(f"graph launches {t['graphs']['launches']} != {g}")
    if g and t["graphs"]["replayed_launches"] != w["launches"]:
        bad.append("replayed launches differ")
    if t["events"]["lost"]:
        bad.append(f"{t['events']['lost']} events lost")
    if any(k.get("unnamed") for k in t["kernels"]):
        bad.append("unnamed kernels")
    print(f"{t['launches']} launches ({t['driver_launches']} driver), {len(got)} kernel names, "
          f"libs {t['targets'][0]['libs']}")
    print("; ".join(bad)[:400] if bad else "counts equal the truth")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print("usage: trace_vs_truth.py TRACE.json TRUTH.json H2D_EXACT(0|1)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv))
