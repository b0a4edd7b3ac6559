# SPDX-License-Identifier: MIT
"""Activations as a dataset, as a user of the Python package sees them: a
run captured from a small GPT-2-layout model (conftest.py) read back through
llminstr.open and llminstr.ActivationDataset, and exported to each format and
read back by that format's readers (Arrow through Apache Arrow's JavaScript
reader)."""
import glob
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
import torch

import llminstr
from conftest import FORWARDS, NAMES, ROOT, TOKENS


def ref(run_dir, t):
    """What the hooked module saw for tensor t (its shard's REF dir)."""
    rank = os.path.basename(t.file).split("-")[1].split(".")[0]
    return np.fromfile(str(run_dir / ("ref-%s" % rank) / ("%s.%d.f32" % (t.name, t.step))),
                       np.float32)


def ref_ids(run_dir, t):
    rank = os.path.basename(t.file).split("-")[1].split(".")[0]
    return np.fromfile(str(run_dir / ("ref-%s" % rank) / ("tokens.%d.i64" % t.step)), np.int64)


def nmse(x, y):
    x, y = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    return ((x - y) ** 2).mean() / x.var()


def test_open_lists_every_capture(run_dir):
    run = llminstr.open(str(run_dir / "*.llmi"))
    got = sorted((os.path.basename(t.file), t.name, t.step) for t in run.tensors())
    want = sorted(("rank-%d.llmi" % r, n, s) for r in (0, 1) for n in NAMES for s in range(FORWARDS))
    assert got == want
    for t in run.tensors():
        assert t.dtype == "f32" and t.shape[-1] in (32, 128) and t.tokens == (TOKENS * t.step, TOKENS)


def test_read_within_bound_and_tokens_aligned(run_dir):
    run = llminstr.open(str(run_dir))
    for t in run.tensors():
        x = run.read(t)
        assert x.shape == tuple(t.shape) and x.dtype == np.float32
        assert nmse(ref(run_dir, t), x) <= 1e-3 * (1 + 1e-9), t
        y = run.read(t, torch=True)
        assert isinstance(y, torch.Tensor) and np.array_equal(y.numpy(), x)
        assert np.array_equal(run.tokens(t), ref_ids(run_dir, t))


def rows_of(run, hook):
    """Every row of hook in the run, keyed by its bytes: (token id, row)."""
    out = {}
    for t in run.tensors(hook):
        x, ids = run.read(t).reshape(-1, t.shape[-1]), run.tokens(t)
        for r in range(x.shape[0]):
            out[x[r].tobytes()] = int(ids[r])
    return out


def drain(ds, **loader):
    it = torch.utils.data.DataLoader(ds, batch_size=None, **loader) if loader else ds
    rows = []
    for acts, ids in it:
        assert acts.ndim == 2 and acts.shape[0] == ids.shape[0] <= 10
        rows += [(a.numpy().tobytes(), int(i)) for a, i in zip(acts, ids)]
    return rows


@pytest.mark.parametrize("hook", ["blocks.1.hook_resid_post", "blocks.0.mlp.hook_post"])
def test_dataset_every_row_once_beside_its_token(run_dir, hook):
    run = llminstr.open(str(run_dir))
    want = rows_of(run, hook)
    assert len(want) == 2 * FORWARDS * TOKENS
    ds = llminstr.ActivationDataset(str(run_dir / "*.llmi"), hook, batch_tokens=10)
    assert len(ds) == len(want)
    for loader in ({}, {"num_workers": 2}):
        rows = drain(ds, **loader)
        assert sorted(rows) == sorted(want.items()), loader
    parts = [drain(llminstr.ActivationDataset(str(run_dir), hook, batch_tokens=10, rank=k,
                                              world_size=2, shuffle_buffer=50, seed=3))
             for k in range(2)]
    assert not {r for r, _ in parts[0]} & {r for r, _ in parts[1]}
    assert sorted(parts[0] + parts[1]) == sorted(want.items())


def test_dataset_shuffle_is_seeded(run_dir):
    def order(seed):
        ds = llminstr.ActivationDataset(str(run_dir), "blocks.0.hook_resid_post", batch_tokens=10,
                                        shuffle_buffer=64, seed=seed)
        return [i for _, i in drain(ds)]
    assert order(5) == order(5) and order(5) != order(6)
    assert sorted(order(5)) == sorted(order(6))


def test_a_hook_that_is_not_there_lists_the_names(run_dir):
    with pytest.raises(ValueError) as e:
        llminstr.ActivationDataset(str(run_dir), "blocks.7.hook_resid_post")
    for n in NAMES:
        assert n in str(e.value)


def test_export_safetensors(run_dir, tmp_path):
    run = llminstr.open(str(run_dir))
    llminstr.export(str(run_dir / "rank-0.llmi"), "safetensors", str(tmp_path / "st"))
    for s in range(FORWARDS):
        b = open(tmp_path / "st" / ("step-%08d.safetensors" % s), "rb").read()
        (n,) = struct.unpack_from("<Q", b, 0)
        h = json.loads(b[8:8 + n])
        meta = h.pop("__metadata__")
        assert sorted(h) == sorted(NAMES) and meta["llminstr.step"] == str(s)
        for name, e in h.items():
            a, z = e["data_offsets"]
            x = np.frombuffer(b[8 + n + a:8 + n + z], np.float32).reshape(e["shape"])
            t = [t for t in run.tensors(name) if t.step == s and t.file.endswith("rank-0.llmi")][0]
            assert e["dtype"] == "F32" and np.array_equal(x, run.read(t))
            assert meta[name + ".tokens"] == "%d,%d" % (TOKENS * s, TOKENS)
    with pytest.raises(OSError, match="--force"):
        llminstr.export(str(run_dir / "rank-0.llmi"), "safetensors", str(tmp_path / "st"))


def test_export_memmap_and_hf_arrow(run_dir, tmp_path):
    run = llminstr.open(str(run_dir))
    llminstr.export(str(run_dir / "*.llmi"), "memmap", str(tmp_path / "mm"))
    for name in NAMES:
        m = json.load(open(tmp_path / "mm" / (name + ".json")))
        x = np.memmap(str(tmp_path / "mm" / m["file"]), dtype=m["dtype"], mode="r",
                      shape=tuple(m["shape"]))
        pieces = sorted(run.tensors(name), key=lambda t: (t.step, t.file))
        assert np.array_equal(np.asarray(x), np.concatenate([run.read(t) for t in pieces]))
    # hf-arrow: a row per token; every name a column; read by Apache Arrow's own reader
    llminstr.export(str(run_dir / "*.llmi"), "hf-arrow", str(tmp_path / "hf"))
    info = json.load(open(tmp_path / "hf" / "dataset_info.json"))
    assert list(info["features"]) == sorted(NAMES) + ["token_ids", "step", "rank"]
    node_path = os.environ.get("LLMINSTR_NODE_PATH", "/usr/local/lib/llminstr-node/node_modules")
    if not shutil.which("node") or not os.path.isdir(os.path.join(node_path, "apache-arrow")):
        pytest.skip("node or apache-arrow missing (scripts/install-deps.sh installs them)")
    (tmp_path / "js").mkdir()
    p = subprocess.run(["node", os.path.join(ROOT, "tests", "e2e", "progs", "read_arrow.js"),
                        str(tmp_path / "hf"), str(tmp_path / "js")], env=dict(os.environ, NODE_PATH=node_path),
                       stdout=subprocess.PIPE, text=True, check=True)
    r = json.loads(p.stdout)
    assert sum(s["rows"] for s in r["shards"]) == 2 * FORWARDS * TOKENS and r["nulls"]["token_ids"] == 0
    ids = np.fromfile(str(tmp_path / "js" / "token_ids.bin"), np.int64)
    want_ids = np.concatenate([run.tokens(t) for t in sorted(run.tensors(NAMES[0]),
                                                             key=lambda t: (t.step, t.file))])
    assert np.array_equal(ids, want_ids)
    ranks = np.fromfile(str(tmp_path / "js" / "rank.bin"), np.int64)   # each shard's RANK
    assert np.array_equal(ranks, np.tile(np.repeat([0, 1], TOKENS), FORWARDS))
    for name in NAMES:
        m = json.load(open(tmp_path / "mm" / (name + ".json")))
        d = m["shape"][-1]
        got = np.fromfile(str(tmp_path / "js" / (name + ".bin")), np.float32).reshape(-1, d)
        want = np.fromfile(str(tmp_path / "mm" / m["file"]), np.float32).reshape(-1, d)
        assert np.array_equal(got, want), name


def test_threads_decode_the_same(tmp_path):
    """A 4 MiB tensor (four 1 MiB chunks) decoded on 1 and on 3 C threads."""
    from conftest import DUMP
    x = (np.random.default_rng(5).standard_normal((1024, 1024)) * 3).astype(np.float32)
    x.tofile(str(tmp_path / "x.f32"))
    subprocess.run([DUMP, "pack", "--dtype", "f32", "--shape", "1024x1024", "--codec",
                    "quant:nmse=1e-3", "--name", "big", str(tmp_path / "x.f32"), "-o",
                    str(tmp_path / "big.llmi")], check=True, stdout=subprocess.DEVNULL)
    one = llminstr.open(str(tmp_path / "big.llmi")).read("big")
    with llminstr.open(str(tmp_path / "big.llmi"), threads=3) as r:
        three = r.read("big")
        again = r.read("big", out=np.empty_like(x))
    assert np.array_equal(one, three) and np.array_equal(one, again)
    assert nmse(x, three) <= 1e-3 * (1 + 1e-9)
    with pytest.raises(ValueError, match="threads"):
        llminstr.open(str(tmp_path / "big.llmi"), threads=0)


def test_export_safetensors_by_tokens(run_dir, tmp_path):
    """Files of whole steps of about 48 tokens: every name a [rows, d] tensor, ids beside."""
    run = llminstr.open(str(run_dir))
    llminstr.export(str(run_dir / "*.llmi"), "safetensors", str(tmp_path / "sp"), tokens_per_file=48)
    parts = sorted(os.listdir(tmp_path / "sp"))
    # 2 ranks x 3 steps of 24 tokens, in step order: 48 tokens a file
    assert parts == ["part-%05d-of-00003.safetensors" % i for i in range(3)]
    cols = {}
    for p in parts:
        b = open(tmp_path / "sp" / p, "rb").read()
        (n,) = struct.unpack_from("<Q", b, 0)
        h = json.loads(b[8:8 + n])
        h.pop("__metadata__")
        for k, e in h.items():
            dt = {"F32": np.float32, "I64": np.int64, "I32": np.int32}[e["dtype"]]
            a, z = e["data_offsets"]
            cols.setdefault(k, []).append(np.frombuffer(b[8 + n + a:8 + n + z], dt).reshape(e["shape"]))
    order = lambda name: sorted(run.tensors(name), key=lambda t: (t.step, t.file))
    for name in NAMES:
        want = np.concatenate([run.read(t).reshape(TOKENS, -1) for t in order(name)])
        assert np.array_equal(np.concatenate(cols[name]), want), name
    assert np.array_equal(np.concatenate(cols["token_ids"]),
                          np.concatenate([run.tokens(t) for t in order(NAMES[0])]))
    with pytest.raises(ValueError, match="tokens per file"):
        llminstr.export(str(run_dir), "memmap", str(tmp_path / "x"), tokens_per_file=48)
