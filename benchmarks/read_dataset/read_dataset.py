#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""read_dataset: reading captured activations back into torch, per core.

The same activations (--shards tensors of [--rows x --hidden], f32 or bf16,
activation-like: Laplace bulk, lognormal channel scales, seeded) stored two
ways in --dir:

  raw     one little-endian file read through numpy.memmap, what users
          keep today (torch.save'd or np.save'd activations, a
          dictionary_learning-style cache);
  llmi    a run of .llmi shards (llminstr-dump pack, quant:nmse=1e-3),
          read with llminstr.open(...).read(..., torch=True): the project's
          C reader and decoder through libllminstr_read.so.

Each is read whole into torch tensors, one thread (the .llmi run also with
--threads C decoding threads, 2 by default), with the page cache
dropped before (root: /proc/sys/vm/drop_caches; otherwise the figures are
warm-cache ones, and say so) and then again warm. Figures: GB/s of decoded
activations into torch, and the disk bytes each way. Then the export
speed: llminstr.export(run, FORMAT) for memmap, safetensors and hf-arrow,
the run's shards as one dataset, GB/s of decoded activations written.

    read_dataset [--dir DIR] [--shards N] [--rows N] [--hidden N]
                 [--dtype f32|bf16] [--json FILE|-]

Targets (issue 9): >= 1 GB/s per core decoded, and faster than the raw
memmap once the disk is the limit (cold cache).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = HERE
while ROOT != "/" and not os.path.isdir(os.path.join(ROOT, "user", "python", "llminstr")):
    ROOT = os.path.dirname(ROOT)
sys.path.insert(0, os.path.join(ROOT, "user", "python"))


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def throttle(path, mbps):
    """Reads of this process (and its threads) from the disk under path limited to
    mbps MB/s through the cgroup blkio (v1) or io (v2) controller: a disk of
    that speed, whatever this machine's is. A message why not, or None."""
    st = os.stat(path)
    dev = "%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
    sysdev = os.path.realpath("/sys/dev/block/" + dev)
    if not os.path.exists(sysdev):
        return "%s is on no block device (%s)" % (path, dev)
    if os.path.exists(os.path.join(sysdev, "partition")):   # the rule goes on the disk
        with open(os.path.join(os.path.dirname(sysdev), "dev")) as f:
            dev = f.read().strip()
    bps = int(mbps * 1e6)
    try:
        if os.path.isdir("/sys/fs/cgroup/blkio"):
            cg = "/sys/fs/cgroup/blkio/llminstr-read-dataset"
            os.makedirs(cg, exist_ok=True)
            with open(cg + "/blkio.throttle.read_bps_device", "w") as f:
                f.write("%s %d\n" % (dev, bps))
        elif os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            cg = "/sys/fs/cgroup/llminstr-read-dataset"
            with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
                f.write("+io\n")
            os.makedirs(cg, exist_ok=True)
            with open(cg + "/io.max", "w") as f:
                f.write("%s rbps=%d\n" % (dev, bps))
        else:
            return "no cgroup blkio or io controller"
        with open(cg + "/cgroup.procs", "w") as f:
            f.write("%d\n" % os.getpid())
    except OSError as e:
        return "cgroup: %s" % e
    return None


def unthrottle():
    """This process back in its parent cgroup, and throttle()'s removed."""
    for cg in ("/sys/fs/cgroup/blkio/llminstr-read-dataset", "/sys/fs/cgroup/llminstr-read-dataset"):
        if os.path.isdir(cg):
            try:
                with open(os.path.dirname(cg) + "/cgroup.procs", "w") as f:
                    f.write("%d\n" % os.getpid())
                os.rmdir(cg)
            except OSError:
                pass


def make(args, np):
    """The activations, raw and as .llmi shards; returns (raw path, run dir, raw bytes)."""
    rng = np.random.default_rng(42)
    scale = np.exp(rng.normal(0, 0.7, args.hidden)).astype(np.float32)
    raw = os.path.join(args.dir, "acts.bin")
    run = os.path.join(args.dir, "run")
    os.makedirs(run)
    dump = os.path.join(ROOT, "build", "bin", "llminstr-dump")
    with open(raw, "wb") as f:
        for s in range(args.shards):
            x = (rng.laplace(0, 1, (args.rows, args.hidden)) * scale).astype(np.float32)
            if args.dtype == "bf16":
                b = x.view(np.uint32)
                x = ((b + 0x7fff + ((b >> 16) & 1)) >> 16).astype(np.uint16)
            x.tofile(f)
            part = os.path.join(args.dir, "part.raw")
            x.tofile(part)
            subprocess.run([dump, "pack", "--dtype", args.dtype, "--shape",
                            "%dx%d" % (args.rows, args.hidden), "--codec", "quant:nmse=1e-3",
                            "--name", "blk.0.resid", "--step", str(s), part, "-o",
                            os.path.join(run, "shard-%04d.llmi" % s)],
                           check=True, stdout=subprocess.DEVNULL)
            os.unlink(part)
    es = 4 if args.dtype == "f32" else 2
    return raw, run, args.shards * args.rows * args.hidden * es


def read_raw(raw, args, np, torch, buf):
    dt = np.float32 if args.dtype == "f32" else np.uint16
    mm = np.memmap(raw, dtype=dt, mode="r", shape=(args.shards * args.rows, args.hidden))
    n = 0
    for s in range(args.shards):
        a = buf if buf is not None else np.empty((args.rows, args.hidden), dt)
        a[...] = mm[s * args.rows:(s + 1) * args.rows]          # read off the disk
        t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16) if args.dtype == "bf16" \
            else torch.from_numpy(a)
        n += t.numel() * t.element_size()
    del mm
    return n


def read_llmi(run, llminstr, buf, threads=1):
    n = 0
    with llminstr.open(run, threads=threads) as r:
        for t in r.tensors():
            x = r.read(t, torch=True, out=buf)
            n += x.numel() * x.element_size()
    return n


def timed(fn):
    t0 = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=os.path.join(ROOT, "build", "bench", "tmp", "read_dataset"))
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--dtype", choices=("f32", "bf16"), default="f32")
    ap.add_argument("--threads", type=int, default=2,
                    help="also read the .llmi run decoding on this many C threads "
                         "(into a reused buffer; 1: only the one-thread cases)")
    ap.add_argument("--disk-mbps", type=float,
                    help="reads from the disk limited to this many MB/s (cgroup; root): "
                         "the cold cases as on a disk of that speed")
    ap.add_argument("--json")
    args = ap.parse_args()
    try:
        import numpy as np
        import torch
        import llminstr
        llminstr.read._load()
    except (ImportError, OSError) as e:
        print("read_dataset: cannot run: %s" % e, file=sys.stderr)
        return 77
    torch.set_num_threads(1)
    if os.path.exists(args.dir):
        shutil.rmtree(args.dir)
    os.makedirs(args.dir)
    try:
        raw, run, total = make(args, np)
        stored = sum(os.path.getsize(os.path.join(run, f)) for f in os.listdir(run))
        cold = drop_caches()
        if args.disk_mbps:
            why = throttle(args.dir, args.disk_mbps) if cold else "the page cache cannot be dropped"
            if why:
                print("read_dataset: cannot limit the disk to %g MB/s: %s" % (args.disk_mbps, why),
                      file=sys.stderr)
                return 1
        cases = []
        # a new array per tensor, as a script does; then one reused buffer, as
        # a data loader does (no page faults on fresh memory per tensor)
        dt = np.float32 if args.dtype == "f32" else np.uint16
        reuse = np.empty((args.rows, args.hidden), dt)
        for cache in ("cold", "warm"):
            if cache == "cold" and not cold:
                continue
            for buf in (None, reuse):
                into = "new arrays" if buf is None else "a reused buffer"
                for name, fn in (("raw numpy.memmap", lambda: read_raw(raw, args, np, torch, buf)),
                                 ("llminstr read(torch=True)", lambda: read_llmi(run, llminstr, buf))):
                    if cache == "cold":
                        drop_caches()
                    else:
                        fn()        # warm the page cache
                    n, s = timed(fn)
                    assert n == total, (n, total)
                    cases.append({"case": name, "into": into, "cache": cache, "decoded_bytes": n,
                                  "seconds": s, "gbps": n / s / 1e9,
                                  "disk_bytes": total if name.startswith("raw") else stored})
            if args.threads > 1:    # the C decoder's threads (ActivationDataset's default)
                if cache == "cold":
                    drop_caches()
                else:
                    read_llmi(run, llminstr, reuse, args.threads)
                n, s = timed(lambda: read_llmi(run, llminstr, reuse, args.threads))
                cases.append({"case": "llminstr, %d C threads" % args.threads,
                              "into": "a reused buffer", "cache": cache, "decoded_bytes": n,
                              "seconds": s, "gbps": n / s / 1e9, "disk_bytes": stored})
        ex = []
        for fmt in ("memmap", "safetensors", "hf-arrow"):
            out = os.path.join(args.dir, "export-" + fmt)
            t0 = time.perf_counter()
            llminstr.export(run, fmt, out)      # the run's shards: one dataset
            s = time.perf_counter() - t0
            ex.append({"case": "export " + fmt, "cache": "warm", "decoded_bytes": total,
                       "seconds": s, "gbps": total / s / 1e9})
    finally:
        if args.disk_mbps:
            unthrottle()
        shutil.rmtree(args.dir, ignore_errors=True)

    label = "" if cold else " (warm cache only: not root, the page cache could not be dropped)"
    if args.disk_mbps:
        label += ", disk reads limited to %g MB/s (cgroup)" % args.disk_mbps
    print("read_dataset: %d x [%d x %d] %s, %.1f MiB raw, %.1f MiB as .llmi (%.2fx), "
          "one thread%s" % (args.shards, args.rows, args.hidden, args.dtype, total / 2**20,
                            stored / 2**20, total / stored, label))
    print("%-28s %-16s %6s %8s %10s" % ("case", "into", "cache", "GB/s", "disk MiB"))
    for c in cases:
        print("%-28s %-16s %6s %8.3f %10.1f" % (c["case"], c["into"], c["cache"], c["gbps"],
                                               c["disk_bytes"] / 2**20))
    for c in ex:
        print("%-28s %-16s %6s %8.3f %10s" % (c["case"], "files", c["cache"], c["gbps"], "-"))
    # the figures a loader sees: into a reused buffer
    get = {(c["case"][:3], c["cache"]): c["gbps"] for c in cases
           if c["into"] != "new arrays" and "threads" not in c["case"]}
    par = {c["cache"]: c["gbps"] for c in cases if "threads" in c["case"]}
    summary = {"raw_bytes": total, "stored_bytes": stored, "ratio": total / stored,
               "cold_cache": cold,
               "llmi_gbps_per_core_warm": get[("llm", "warm")],
               "raw_gbps_warm": get[("raw", "warm")]}
    for cache, v in par.items():
        summary["llmi_gbps_%d_threads_%s" % (args.threads, cache)] = v
    if cold:
        summary["llmi_gbps_per_core_cold"] = get[("llm", "cold")]
        summary["raw_gbps_cold"] = get[("raw", "cold")]
    print("targets:")
    best = summary["llmi_gbps_per_core_warm"]
    print("  %s decoded >= 1 GB/s per core (%.2f warm)" % ("PASS" if best >= 1 else "MISS", best))
    if cold:
        print("  %s faster than the raw memmap with a cold cache (%.2f against %.2f GB/s)" %
              ("PASS" if summary["llmi_gbps_per_core_cold"] > summary["raw_gbps_cold"] else "MISS",
               summary["llmi_gbps_per_core_cold"], summary["raw_gbps_cold"]))
    if args.json:
        doc = {"benchmark": "read_dataset",
               "env": {"kernel": platform.release(), "machine": platform.machine(),
                       "cpus_online": os.cpu_count(), "python": platform.python_version(),
                       "torch": torch.__version__, "numpy": np.__version__,
                       "dtype": args.dtype, "shards": args.shards, "rows": args.rows,
                       "hidden": args.hidden, "disk_mbps": args.disk_mbps},
               "cases": cases + ex, "summary": summary}
        if args.json == "-":
            json.dump(doc, sys.stdout, indent=1)
            print()
        else:
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
