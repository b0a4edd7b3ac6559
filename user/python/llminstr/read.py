# SPDX-License-Identifier: MIT
"""Reading .llmi files from Python, through the project's own C reader.

ctypes over libllminstr_read.so (user/dump/llminstr_read.h): the same
record checks and decoder as llminstr-dump, no second implementation of
the format here.

    import llminstr
    with llminstr.open("run/*.llmi") as run:           # a file, or every shard
        for t in run.tensors():
            print(t.name, t.step, t.shape, t.dtype, t.producer)
        x = run.read("blk.3.resid", step=0)             # numpy, float32
        y = run.read("blk.3.resid", step=0, torch=True) # torch, bf16 kept

numpy has no bfloat16: reading a bf16 tensor into numpy needs a choice,
bf16="float32" (exact: a bf16 is the top half of a float32) or
bf16="bits" (the raw uint16); torch=True keeps torch.bfloat16.
"""
import ctypes
import glob as _glob
import os
from collections import namedtuple

from ._lib import load, package_libs

_DT = {1: "f32", 2: "bf16", 3: "f16"}
_lib = None


class _Tensor(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("step", ctypes.c_uint64),
                ("shape", ctypes.c_uint64 * 8), ("raw_bytes", ctypes.c_uint64),
                ("stored_bytes", ctypes.c_uint64), ("launch_id", ctypes.c_uint64),
                ("capture_ns", ctypes.c_uint64), ("mse", ctypes.c_double),
                ("nmse", ctypes.c_double), ("max_abs_err", ctypes.c_double),
                ("codec_bound", ctypes.c_double), ("layer", ctypes.c_int32),
                ("tid", ctypes.c_uint32), ("dtype", ctypes.c_uint32), ("ndim", ctypes.c_uint32),
                ("name", ctypes.c_char_p), ("kernel", ctypes.c_char_p),
                ("codec", ctypes.c_char_p), ("token_first", ctypes.c_uint64),
                ("token_count", ctypes.c_uint64), ("pid", ctypes.c_uint32),
                ("rank", ctypes.c_int32), ("pos_first", ctypes.c_uint64),
                ("pos_total", ctypes.c_uint64), ("pos_dim", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32)]


Tensor = namedtuple("Tensor", "file index id name step shape dtype layer producer codec "
                              "nmse max_abs_err raw_bytes stored_bytes pid tokens rank "
                              "positions")
Tensor.__doc__ = """One tensor of a file: producer is None when not known, else a dict
with launch_id (the producing launch in the file's timeline), kernel and tid;
tokens is (first, count) in its process's token stream (llminstr_tokens), or
None: Run.tokens(t) gives the ids its rows were computed from; rank is the
capturing process's rank in a parallel run (its RANK, llminstr.set_rank),
else the file's (llminstr-trace --rank, the target's RANK), else None;
positions is (dim, first, count, of) when the capture kept only some
positions of dimension dim (--capture pos=last, pos=A:B), else None."""

_ABI = 3


def _candidates():
    env = os.environ.get("LLMINSTR_READ_LIB")
    if env:
        yield env
    yield from package_libs("libllminstr_read.so")
    yield "libllminstr_read.so"


def _setup(lib, path):
    lib.llmi_read_abi.restype = ctypes.c_int
    if lib.llmi_read_abi() != _ABI:
        return "%s: ABI %d, this module needs %d" % (path, lib.llmi_read_abi(), _ABI)
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    lib.llmi_read_open.argtypes = [cp, ctypes.c_int, cp, sz]
    lib.llmi_read_open.restype = vp
    lib.llmi_read_close.argtypes = [vp]
    lib.llmi_read_count.argtypes = [vp]
    lib.llmi_read_count.restype = sz
    lib.llmi_read_skipped.argtypes = [vp, cp, sz]
    lib.llmi_read_skipped.restype = ctypes.c_uint64
    lib.llmi_read_info.argtypes = [vp, sz, ctypes.POINTER(_Tensor)]
    lib.llmi_read_decode.argtypes = [vp, sz, vp, sz, cp, sz]
    lib.llmi_read_tokens.argtypes = [vp, ctypes.c_uint32, ctypes.c_uint64, vp, sz]
    lib.llmi_read_tokens.restype = sz
    lib.llmi_read_threads.argtypes = [vp, ctypes.c_uint]
    ip = ctypes.POINTER(ctypes.c_int32)
    lib.llmi_read_rank.argtypes = [vp, ip, ip]
    lib.llmi_read_rank.restype = ctypes.c_int32
    lib.llmi_read_export.argtypes = [ctypes.POINTER(cp), sz, cp, cp, cp, ctypes.c_int64,
                                     ctypes.c_int, ctypes.c_int, ctypes.c_uint64,
                                     ctypes.c_uint64, cp, sz]
    return None


def _load():
    global _lib
    if _lib is None:
        _lib = load(_candidates(), _setup, "libllminstr_read.so", "LLMINSTR_READ_LIB")
    return _lib


def _bytes_of(out):
    """A writable uint8 numpy view of out (a C-contiguous numpy array or CPU torch tensor)."""
    import numpy as np
    if hasattr(out, "data_ptr"):
        import torch
        if out.device.type != "cpu" or not out.is_contiguous():
            raise ValueError("llminstr: out must be a contiguous CPU tensor")
        out = (out.view(torch.int16) if out.dtype == torch.bfloat16 else out).numpy()
    if not isinstance(out, np.ndarray) or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("llminstr: out must be a C-contiguous, writable numpy array or torch tensor")
    return out.reshape(-1).view(np.uint8)


class _File:
    def __init__(self, path, check=True):
        lib = _load()
        err = ctypes.create_string_buffer(512)
        self.path = path
        self._h = lib.llmi_read_open(os.fsencode(path), 1 if check else 0, err, len(err))
        if not self._h:
            raise OSError(err.value.decode(errors="replace"))
        what = ctypes.create_string_buffer(512)
        self.skipped = lib.llmi_read_skipped(self._h, what, len(what))
        self.loss = what.value.decode(errors="replace")
        w, l = ctypes.c_int32(), ctypes.c_int32()
        r = lib.llmi_read_rank(self._h, ctypes.byref(w), ctypes.byref(l))
        # the file header's: the shard's rank, as the tracer knew it
        self.rank, self.world_size, self.local_rank = (None if v < 0 else v
                                                       for v in (r, w.value, l.value))
        self.tensors = []
        t = _Tensor()
        for i in range(lib.llmi_read_count(self._h)):
            lib.llmi_read_info(self._h, i, ctypes.byref(t))
            prod = None
            if t.launch_id:
                prod = {"launch_id": t.launch_id, "tid": t.tid,
                        "kernel": t.kernel.decode(errors="replace") if t.kernel else None}
            self.tensors.append(Tensor(path, i, t.id, t.name.decode(errors="replace"), t.step,
                                       tuple(t.shape[:t.ndim]), _DT.get(t.dtype, "?"),
                                       t.layer if t.layer >= 0 else None, prod,
                                       t.codec.decode(), t.nmse, t.max_abs_err, t.raw_bytes,
                                       t.stored_bytes, t.pid or None,
                                       (t.token_first, t.token_count) if t.token_count else None,
                                       t.rank if t.rank >= 0 else self.rank,
                                       (t.pos_dim, t.pos_first, t.shape[t.pos_dim], t.pos_total)
                                       if t.pos_total else None))

    def decode(self, t, out=None):
        import numpy as np
        if out is None:
            buf = np.empty(max(t.raw_bytes, 1), np.uint8)
        else:
            buf = _bytes_of(out)
            if buf.nbytes < t.raw_bytes:
                raise ValueError("llminstr: out holds %d bytes, %r needs %d" %
                                 (buf.nbytes, t.name, t.raw_bytes))
        err = ctypes.create_string_buffer(512)
        if _lib.llmi_read_decode(self._h, t.index, buf.ctypes.data, buf.nbytes, err, len(err)):
            raise OSError(err.value.decode(errors="replace"))
        return buf[:t.raw_bytes]

    def close(self):
        if self._h:
            _lib.llmi_read_close(self._h)
            self._h = None


class Run:
    """Tensors of one file or of every shard of a run (open())."""

    def __init__(self, paths, check=True, threads=1):
        self.files = []
        if not 1 <= int(threads) <= 64:
            raise ValueError("llminstr: threads: 1 to 64, not %r" % (threads,))
        self.threads, self._busy = int(threads), None
        try:
            for p in paths:
                self.files.append(_File(p, check))
        except Exception:
            self.close()
            raise
        self.skipped = sum(f.skipped for f in self.files)

    def tensors(self, name=None):
        """Every tensor, file by file in file order (name: only those, fnmatch)."""
        import fnmatch
        out = [t for f in self.files for t in f.tensors]
        return [t for t in out if name is None or fnmatch.fnmatchcase(t.name, name)]

    def ranks(self):
        """The ranks of the run, sorted: of its tensors, and of its files' headers."""
        got = {t.rank for f in self.files for t in f.tensors} | {f.rank for f in self.files}
        return sorted(r for r in got if r is not None)

    def names(self):
        """The tensor names of the run, sorted."""
        return sorted({t.name for f in self.files for t in f.tensors})

    def find(self, name, step=None, file=None):
        """The one tensor called name (at step, in file); ValueError naming what exists."""
        hits = [t for t in self.tensors() if t.name == name and (step is None or t.step == step)
                and (file is None or t.file == file)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            if name not in self.names():
                raise ValueError("llminstr: no tensor named %r; names: %s" %
                                 (name, ", ".join(self.names()) or "(none)"))
            steps = sorted({t.step for t in self.tensors() if t.name == name})
            raise ValueError("llminstr: no tensor %r at step %s; its steps: %s" %
                             (name, step, ", ".join(map(str, steps))))
        raise ValueError("llminstr: %d tensors %r%s: give %s" %
                         (len(hits), name, "" if step is None else " at step %d" % step,
                          "step=" if step is None else "file= (%s)" %
                          ", ".join(sorted({t.file for t in hits}))))

    def read(self, name, step=None, file=None, torch=False, bf16=None, out=None):
        """One tensor, decoded: a numpy array, or with torch=True a torch
        tensor (bf16 kept as torch.bfloat16). A bf16 tensor into numpy
        needs bf16="float32" (exact) or bf16="bits" (uint16).

        out: a C-contiguous numpy array or CPU torch tensor of at least the
        tensor's bytes to decode into (a loader's reused buffer: no new
        memory per tensor); the result is a view of it. Not with
        bf16="float32", which widens into new memory."""
        t = name if isinstance(name, Tensor) else self.find(name, step, file)
        import numpy as np
        f = next(f for f in self.files if f.path == t.file)
        if t.dtype == "bf16" and not torch and bf16 not in ("float32", "bits"):
            raise ValueError("llminstr: %r is bf16, which numpy lacks: pass bf16='float32' "
                             "(exact) or bf16='bits' (the raw uint16), or torch=True" % t.name)
        if out is not None and t.dtype == "bf16" and not torch and bf16 == "float32":
            raise ValueError("llminstr: out= with bf16='float32': widening needs new memory; "
                             "use bf16='bits' or torch=True")
        if self.threads > 1 and self._busy is not f:
            # one file's decoder holds the threads at a time (a run may have
            # hundreds of shards): handed over when reading moves on
            if self._busy is not None and self._busy._h:
                _lib.llmi_read_threads(self._busy._h, 1)
            if _lib.llmi_read_threads(f._h, self.threads):
                raise OSError("llminstr: cannot start %d decoding threads" % self.threads)
            self._busy = f
        raw = f.decode(t, out)[:t.raw_bytes]
        if t.dtype == "bf16":
            bits = raw.view(np.uint16).reshape(t.shape)
            if torch:
                import torch as _torch
                return _torch.from_numpy(bits.view(np.int16)).view(_torch.bfloat16)
            if bf16 == "bits":
                return bits
            return (bits.astype(np.uint32) << 16).view(np.float32)
        a = raw.view(np.float16 if t.dtype == "f16" else np.float32).reshape(t.shape)
        if torch:
            import torch as _torch
            return _torch.from_numpy(a)
        return a

    def tokens(self, t):
        """The token ids (numpy int64) tensor t's rows were computed from, in
        row order: the step's llminstr_tokens(); None when not known."""
        import numpy as np
        if t.tokens is None:
            return None
        f = next(f for f in self.files if f.path == t.file)
        first, count = t.tokens
        ids = np.empty(count, np.int64)
        got = _lib.llmi_read_tokens(f._h, t.pid or 0, first, ids.ctypes.data, count)
        if got != count:
            raise OSError("llminstr: %s: %d of the %d tokens of %r are in the file" %
                          (t.file, got, count, t.name))
        if t.positions:
            # pos= kept some positions of each of several sequences: the
            # record names the step's whole run; keep the same positions
            dim, pf, kept, total = t.positions
            outer = 1
            for d in t.shape[:dim]:
                outer *= d
            if count == outer * total:
                ids = ids.reshape(outer, total)[:, pf:pf + kept].reshape(-1)
        return ids

    def close(self):
        for f in self.files:
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _paths(path):
    path = os.fspath(path)
    if os.path.isdir(path):
        paths = sorted(_glob.glob(os.path.join(path, "*.llmi")))
    elif any(c in path for c in "*?["):
        paths = sorted(_glob.glob(path))
    else:
        paths = [path]
    if not paths:
        raise FileNotFoundError("llminstr: no .llmi file matches %r" % path)
    return paths


def open(path, check=True, threads=1):
    """A file, a directory's *.llmi, or a glob ("run/*.llmi", "run/rank-*.llmi")
    as one run; its shards are read in sorted order. check: every record is
    checked first (the whole run is read once), so that damaged tensors are
    left out and counted in .skipped; check=False reads only the records'
    headers, and damage shows as an OSError when a tensor is read.
    threads: C threads that decode a tensor's chunks in parallel (1-64)."""
    return Run(_paths(path), check, threads)


def export(path, format, out, tensor=None, step=None, bf16_raw=False, force=False,
           shard_size=None, tokens_per_file=None):
    """llminstr-dump export --format FORMAT (safetensors, memmap, hf-arrow) of a
    file, a directory or a glob of shards (one dataset) into the directory
    out. shard_size (bytes): hf-arrow's most a shard holds (2 GB);
    tokens_per_file: safetensors as files of whole steps of about that many
    tokens (a [rows, d] tensor a name, token_ids, step, rank), not a file a
    step."""
    lib = _load()
    paths = _paths(path)
    err = ctypes.create_string_buffer(512)
    arr = (ctypes.c_char_p * len(paths))(*[os.fsencode(p) for p in paths])
    rc = lib.llmi_read_export(arr, len(paths), format.encode(), os.fsencode(out),
                              tensor.encode() if tensor else None,
                              -1 if step is None else int(step), int(bf16_raw), int(force),
                              int(shard_size or 0), int(tokens_per_file or 0), err, len(err))
    if rc:
        raise (ValueError if rc == 2 else OSError)("llminstr: export: " +
                                                   err.value.decode(errors="replace"))
