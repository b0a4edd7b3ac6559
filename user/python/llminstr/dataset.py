# SPDX-License-Identifier: MIT
"""ActivationDataset: captured activations as a torch IterableDataset, what
a sparse autoencoder or probe training loop consumes.

    ds = llminstr.ActivationDataset("run/*.llmi", "blocks.6.hook_resid_post",
                                    batch_tokens=4096, shuffle_buffer=65536, seed=0)
    for acts, ids in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=4):
        ...   # acts [batch, d] (the captured dtype; bf16 stays bf16), ids [batch] int64

Every tensor of the hook, in every file of the run, gives its rows (all
dimensions but the last flattened: [tokens, d] or [batch, pos, d]), each
with the token id it was computed from (llminstr_tokens, the hook's
input_ids; -1 where the file has none). The tensors are dealt out across
DataLoader workers and across ranks (rank and world_size, else RANK and
WORLD_SIZE from the environment) so that no row is read twice; shuffling
goes through a buffer of at most shuffle_buffer rows (0: file order), seeded.
Each tensor is decoded in C on threads threads (default: the CPUs, divided
among the DataLoader's workers, at most 8).
len() is the number of rows (tokens) of the whole run. A tensor that does not
decode (damage) is skipped with a warning, never yielded in part.
"""
import os
import warnings

import numpy as np
import torch

from .read import Run, _paths


class ActivationDataset(torch.utils.data.IterableDataset):
    def __init__(self, paths, hook, batch_tokens=4096, shuffle_buffer=0, seed=0, rank=None,
                 world_size=None, drop_last=False, threads=None):
        super().__init__()
        if batch_tokens < 1 or shuffle_buffer < 0:
            raise ValueError("llminstr: batch_tokens >= 1 and shuffle_buffer >= 0")
        if threads is not None and not 1 <= threads <= 64:
            raise ValueError("llminstr: threads: 1 to 64, not %r" % (threads,))
        self.threads = threads
        self.paths = _paths(paths)
        self.hook, self.batch_tokens, self.shuffle_buffer = hook, batch_tokens, shuffle_buffer
        self.seed, self.drop_last = seed, drop_last
        self.rank = int(os.environ.get("RANK", 0)) if rank is None else rank
        self.world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError("llminstr: rank %d of world_size %d" % (self.rank, self.world_size))
        with Run(self.paths, check=False) as run:
            self.items = [(t.file, t.id) for t in run.tensors() if t.name == hook]
            if not self.items:
                raise ValueError("llminstr: no tensor named %r in %s; names: %s" %
                                 (hook, ", ".join(self.paths), ", ".join(run.names()) or "(none)"))
            ts = [t for t in run.tensors() if t.name == hook]
            self.d = ts[0].shape[-1] if ts[0].shape else 1
            bad = [t for t in ts if (t.shape[-1] if t.shape else 1) != self.d or t.dtype != ts[0].dtype]
            if bad:
                raise ValueError("llminstr: %r changes shape or dtype across steps (%s then %s)" %
                                 (hook, (ts[0].shape, ts[0].dtype), (bad[0].shape, bad[0].dtype)))
            self.dtype = ts[0].dtype
            self.rows = [int(np.prod(t.shape[:-1])) if len(t.shape) > 1 else 1 for t in ts]

    def __len__(self):
        return sum(self.rows)

    def _mine(self):
        """Indices of the tensors this worker of this rank reads."""
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        shard, nshards = self.rank * nw + wid, self.world_size * nw
        return [i for i in range(len(self.items)) if i % nshards == shard], shard

    def _rows(self, run, order):
        """(activations [rows, d], token ids [rows]) of each tensor, whole."""
        by_key = {(t.file, t.id): t for t in run.tensors()}
        for i in order:
            t = by_key[self.items[i]]
            try:
                x = run.read(t, torch=True)
            except OSError as e:
                warnings.warn("llminstr: %s: %r step %d skipped: %s" % (t.file, t.name, t.step, e))
                continue
            x = x.reshape(-1, self.d)
            ids = run.tokens(t)
            if ids is None or len(ids) != x.shape[0]:
                ids = np.full(x.shape[0], -1, np.int64)
            yield x, torch.from_numpy(ids)

    def __iter__(self):
        mine, shard = self._mine()
        rng = np.random.default_rng([self.seed, shard])
        if self.shuffle_buffer:
            mine = [mine[k] for k in rng.permutation(len(mine))]
        threads = self.threads
        if threads is None:     # the CPUs, shared among the DataLoader's workers
            info = torch.utils.data.get_worker_info()
            threads = max(1, min(8, (os.cpu_count() or 1) // (info.num_workers if info else 1)))
        with Run(self.paths, check=False, threads=threads) as run:
            if not self.shuffle_buffer:
                yield from self._sequential(run, mine)
            else:
                yield from self._shuffled(run, mine, rng)

    def _sequential(self, run, mine):
        xs, ids, have = [], [], 0
        for x, i in self._rows(run, mine):
            xs.append(x)
            ids.append(i)
            have += x.shape[0]
            while have >= self.batch_tokens:
                X, I = torch.cat(xs), torch.cat(ids)
                yield X[:self.batch_tokens], I[:self.batch_tokens]
                xs, ids, have = [X[self.batch_tokens:]], [I[self.batch_tokens:]], have - self.batch_tokens
        if have and not self.drop_last:
            yield torch.cat(xs), torch.cat(ids)

    def _shuffled(self, run, mine, rng):
        # a pool of at most shuffle_buffer rows (or one tensor's, if larger):
        # a batch is drawn at random from it once it is full
        X = I = None
        for x, i in self._rows(run, mine):
            X = x if X is None else torch.cat([X, x])
            I = i if I is None else torch.cat([I, i])
            while X.shape[0] >= max(self.shuffle_buffer, self.batch_tokens):
                pick = torch.from_numpy(rng.permutation(X.shape[0]))
                take, keep = pick[:self.batch_tokens], pick[self.batch_tokens:]
                yield X[take], I[take]
                X, I = X[keep], I[keep]
        while X is not None and X.shape[0]:
            if X.shape[0] < self.batch_tokens and self.drop_last:
                break
            pick = torch.from_numpy(rng.permutation(X.shape[0]))
            take, keep = pick[:self.batch_tokens], pick[self.batch_tokens:]
            yield X[take], I[take]
            X, I = X[keep], I[keep]
