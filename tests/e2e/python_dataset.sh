#!/usr/bin/env bash
# llminstr.ActivationDataset over a run of two captures (capture_host with
# token ids, tests/e2e/progs/capture_host.c): len() is the run's rows; every
# row comes out exactly once, in file order or shuffled through the buffer
# (the same order again for the same seed), whatever the DataLoader workers
# and ranks, each row beside the token it was computed from and equal to
# what llminstr.open reads of its tensor; bf16 stays bf16; a hook name that
# is not there is refused with the names that are.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
P=build/tests/progs/capture_host
capture_setup $P build/lib/libllminstr_read.so
$PY -c "import torch, numpy" 2>/dev/null || { echo "SKIP: python3-torch or python3-numpy missing"; exit 77; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0	# python's own leaks are not ours

mkdir "$tmp/run"
for r in 0 1; do	# shard r's tokens: r * 100000 + step * 1000 + row
	CAPTURE_HOST_TOKENS=$((r * 100000)) LD_PRELOAD="$PRE" timeout 120 $T --capture 'name=layer.[01].out' \
		-o "$tmp/run/rank-$r.llmi" -- $P 4 >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "capture of shard $r"; exit 1; }
done

LD_PRELOAD="$PRE" PYTHONPATH=user/python timeout 600 $PY - "$tmp/run" <<'PY' || fail "ActivationDataset"
import sys, numpy as np, torch, llminstr
run_dir = sys.argv[1]; ok = True
def check(what, cond):
    global ok
    print(("ok:    " if cond else "WRONG: ") + what); ok &= bool(cond)

run = llminstr.open(run_dir)
ref = {}   # token id -> its row, from llminstr.open
for t in run.tensors("layer.0.out"):
    x, ids = run.read(t), run.tokens(t)
    for r in range(x.shape[0]):
        ref[int(ids[r])] = x[r]
check("the reference has every row once: %d" % len(ref), len(ref) == 2 * 4 * 64)

def drain(ds, **dl):
    out = []
    it = torch.utils.data.DataLoader(ds, batch_size=None, **dl) if dl else ds
    for acts, ids in it:
        assert acts.shape[0] == ids.shape[0] and acts.shape[1] == 512
        out += [(int(i), a) for i, a in zip(ids, acts)]
    return out

def all_once_aligned(rows):
    ids = [i for i, _ in rows]
    return sorted(ids) == sorted(ref) and all(np.array_equal(a.numpy(), ref[i]) for i, a in rows)

ds = llminstr.ActivationDataset(run_dir + "/*.llmi", "layer.0.out", batch_tokens=100)
check("len is the run's rows", len(ds) == 512)
rows = drain(ds)
check("file order: every row once, beside its token", all_once_aligned(rows))
first = run.tensors("layer.0.out")[0]     # file order: coders finish in any order
check("file order: the first tensor of shard 0 first",
      [i for i, _ in rows[:64]] == [int(i) for i in run.tokens(first)])
check("two workers: every row once", all_once_aligned(drain(ds, num_workers=2)))
parts = [drain(llminstr.ActivationDataset(run_dir, "layer.0.out", batch_tokens=64, rank=k, world_size=2))
         for k in range(2)]
check("two ranks: disjoint, together every row", not ({i for i, _ in parts[0]} & {i for i, _ in parts[1]})
      and all_once_aligned(parts[0] + parts[1]))
sh = llminstr.ActivationDataset(run_dir, "layer.0.out", batch_tokens=50, shuffle_buffer=128, seed=3)
a, b = drain(sh), drain(sh)
check("shuffled: every row once, beside its token", all_once_aligned(a))
check("shuffled: not file order", [i for i, _ in a] != [i for i, _ in rows])
check("shuffled: the same order for the same seed", [i for i, _ in a] == [i for i, _ in b])
other = drain(llminstr.ActivationDataset(run_dir, "layer.0.out", batch_tokens=50, shuffle_buffer=128, seed=4))
check("another seed, another order", [i for i, _ in a] != [i for i, _ in other])
acts, _ = next(iter(llminstr.ActivationDataset(run_dir, "layer.1.out", batch_tokens=32)))
check("bf16 stays bf16", acts.dtype == torch.bfloat16 and tuple(acts.shape) == (32, 512))
try:
    llminstr.ActivationDataset(run_dir, "blocks.0.hook_resid_post"); check("unknown hook refused", False)
except ValueError as e:
    check("unknown hook names what exists: %s" % e, "layer.0.out" in str(e) and "layer.1.out" in str(e))
sys.exit(0 if ok else 1)
PY
exit $rc
