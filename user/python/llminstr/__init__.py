# SPDX-License-Identifier: MIT
"""llminstr from Python: hand a model's activations to llminstr-trace.

A thin ctypes layer over the agent, libllminstr.so (user/agent/llminstr.h):
no compiled extension. With no tracer attached every call returns at once;
`llminstr-trace --capture SPEC -- python3 script.py` preloads the agent,
and `llminstr-trace -p PID` finds it in a process that imported this module.

    import llminstr
    h = llminstr.hook(model, "model.layers.*.mlp")   # forward hooks
    model(input_ids)                                 # one step per forward
    h.remove()

Tensors are named by their module's path in model.named_modules(); CUDA
tensors are taken on the current stream (the agent snapshots them on the
GPU, the stream never waits for the host), CPU tensors are copied at once.

Reading files back (llminstr.open, llminstr.export) lives in read.py.
"""
import ctypes
import errno
import fnmatch
import os

from ._lib import load as _load_lib, package_libs as _package_libs

__all__ = ["capture", "step", "tokens", "set_rank", "rank", "selected", "attached", "hook",
           "Hook", "library_path", "layout", "names", "open", "ActivationDataset", "export", "Run", "Tensor"]

_DTYPES = {"float32": 1, "bfloat16": 2, "float16": 3}
_MAX_DIMS = 8
_lib = None
_manual_steps = False      # the caller marks steps: hooks do not


def _candidates():
    env = os.environ.get("LLMINSTR_LIB")
    if env:
        yield env
    # the agent already in the process (preloaded by llminstr-trace -- CMD)
    for pre in os.environ.get("LD_PRELOAD", "").replace(":", " ").split():
        if os.path.basename(pre).startswith("libllminstr.so"):
            yield pre
    # installed beside the package, or a checkout's build/lib
    yield from _package_libs("libllminstr.so")
    yield "libllminstr.so"


def _setup(lib, path):
    lib.llminstr_capture.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int,
                                     ctypes.c_int, ctypes.POINTER(ctypes.c_int64),
                                     ctypes.c_void_p]
    lib.llminstr_capture.restype = ctypes.c_int
    lib.llminstr_step.argtypes = [ctypes.c_uint64]
    lib.llminstr_step.restype = None
    lib.llminstr_selected.argtypes = [ctypes.c_char_p]
    lib.llminstr_selected.restype = ctypes.c_int
    lib.llminstr_attached.argtypes = []
    lib.llminstr_attached.restype = ctypes.c_int
    lib.llminstr_tokens.argtypes = [ctypes.c_void_p, ctypes.c_int64]
    lib.llminstr_tokens.restype = ctypes.c_int
    if hasattr(lib, "llminstr_set_rank"):      # an older agent lacks it: set_rank says so
        lib.llminstr_set_rank.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.llminstr_set_rank.restype = ctypes.c_int
        lib.llminstr_rank.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
        lib.llminstr_rank.restype = ctypes.c_int
    lib._llminstr_path = path
    return None


def _load():
    global _lib
    if _lib is None:
        _lib = _load_lib(_candidates(), _setup, "libllminstr.so", "LLMINSTR_LIB")
    return _lib


def library_path():
    """The agent library this module uses."""
    return _load()._llminstr_path


def attached():
    """True while a tracer is attached with a capture spec."""
    return bool(_load().llminstr_attached())


def step(n):
    """Marks the start of step n; tensors captured after it carry n.
    Once called, hooks stop numbering forwards as steps."""
    global _manual_steps
    _manual_steps = True
    _load().llminstr_step(int(n))


def set_rank(rank, world_size=None, local_rank=None):
    """This process's rank in a tensor- or pipeline-parallel run (None: not
    known): the tensors captured from now on carry it. Overrides what the
    agent took from RANK, WORLD_SIZE and LOCAL_RANK at load."""
    lib = _load()
    if not hasattr(lib, "llminstr_set_rank"):
        raise OSError("llminstr: %s has no llminstr_set_rank (an older build)" % lib._llminstr_path)
    vals = [-1 if v is None else int(v) for v in (rank, world_size, local_rank)]
    if lib.llminstr_set_rank(*vals):
        raise ValueError("llminstr: set_rank(%r, %r, %r): ranks are >= 0 and under world_size > 0"
                         % (rank, world_size, local_rank))


def rank():
    """(rank, world_size, local_rank) in effect; None where not known."""
    lib = _load()
    if not hasattr(lib, "llminstr_rank"):
        return (None, None, None)
    w, l = ctypes.c_int(), ctypes.c_int()
    r = lib.llminstr_rank(ctypes.byref(w), ctypes.byref(l))
    return tuple(None if v < 0 else v for v in (r, w.value, l.value))


def selected(name):
    """True if a capture of name would be taken now."""
    return bool(_load().llminstr_selected(name.encode()))


def _stream_of(t):
    if t.device.type != "cuda":
        return None
    import torch
    return torch.cuda.current_stream(t.device).cuda_stream


def capture(name, tensor, stream=None):
    """Hands a torch tensor (or numpy array) to the agent.

    Returns 1 taken, 0 skipped (no tracer, or not selected), or a negative
    errno (see llminstr.h): the program is never harmed. A non-contiguous
    tensor is made contiguous first, only when it is selected.
    """
    lib = _load()
    bname = name.encode()
    if not lib.llminstr_selected(bname):
        return 0
    if hasattr(tensor, "data_ptr"):            # torch
        dt = _DTYPES.get(str(tensor.dtype).replace("torch.", ""))
        if dt is None:
            return -errno.ENOTSUP
        if not tensor.is_contiguous():
            tensor = tensor.contiguous()
        ptr, shape = tensor.data_ptr(), tuple(tensor.shape)
        if stream is None:
            stream = _stream_of(tensor)
    else:                                      # numpy
        import numpy as np
        a = np.ascontiguousarray(tensor)
        dt = _DTYPES.get(str(a.dtype))
        if dt is None:
            return -errno.ENOTSUP
        tensor, ptr, shape = a, a.ctypes.data, a.shape
    if len(shape) > _MAX_DIMS:
        return -errno.EINVAL
    dims = (ctypes.c_int64 * max(len(shape), 1))(*shape)
    # tensor stays referenced until the agent returned: host tensors are
    # copied in the call, device ones snapshotted on the stream
    rc = lib.llminstr_capture(bname, ctypes.c_void_p(ptr), dt, len(shape), dims,
                              ctypes.c_void_p(stream) if stream else None)
    del tensor
    return rc


def tokens(ids):
    """Hands the current step's input token ids (a torch tensor or numpy
    array of integers, any shape: flattened in row order) to the agent, so
    that the step's tensors captured after it are tied to them. hook() does
    it itself with the model's first input. Returns as capture() does; costs
    nothing without a tracer (CUDA ids are copied to the host only then)."""
    lib = _load()
    if not lib.llminstr_attached():
        return 0
    if hasattr(ids, "data_ptr"):               # torch
        if ids.is_floating_point() or ids.is_complex():
            return -errno.EINVAL
        import torch
        a = ids.detach().reshape(-1).to("cpu", torch.int64).contiguous()
        ptr, n = a.data_ptr(), a.numel()
    else:                                      # numpy
        import numpy as np
        a = np.ascontiguousarray(ids).reshape(-1)
        if a.dtype.kind not in "iu":
            return -errno.EINVAL
        a = a.astype(np.int64, copy=False)
        ptr, n = a.ctypes.data, a.size
    rc = lib.llminstr_tokens(ctypes.c_void_p(ptr), n)
    del a
    return rc


def _first_tensor(out):
    if hasattr(out, "data_ptr"):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            if hasattr(o, "data_ptr"):
                return o
    if isinstance(out, dict):
        for o in out.values():
            if hasattr(o, "data_ptr"):
                return o
    return None


class Hook:
    """Forward hooks placed by hook(); remove() takes them all out."""

    def __init__(self, handles, names):
        self._handles = handles
        self.names = names          # the module paths hooked, in model order
        self.results = {}           # name -> the last return of capture()

    def remove(self):
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def hook(model, *patterns, steps=True, input_ids=True):
    """Captures the output of every module of model whose path in
    model.named_modules() matches one of patterns (fnmatch: "blocks.*.mlp",
    "model.layers.*"; none: every module with no children), and the
    TransformerLens-style hooks that match ("blocks.*.hook_resid_post",
    "blocks.3.mlp.hook_post", "hook_embed": see names(model)), named so.

    steps=True: each forward of model is one step, numbered from 0, unless
    the caller marks steps with llminstr.step(n) (then those are used).
    input_ids=True: the model's first input, when it holds integers (token
    ids), is handed over as the step's tokens (tokens()).
    A module's output that is a tuple or dict gives its first tensor; an
    input hook (hook_resid_pre, attn.hook_z, mlp.hook_post) its first
    positional input. A pattern that matches nothing is an error naming
    what exists.
    """
    _load()
    names_, handles = [], []
    h = Hook(handles, names_)
    tl = names(model)
    mods = dict(model.named_modules())

    def out_hook(name):
        def fwd(_m, _inp, out):
            t = _first_tensor(out)
            if t is not None:
                h.results[name] = capture(name, t.detach())
        return fwd

    def in_hook(name):
        def pre(_m, inp):
            t = _first_tensor(tuple(inp))
            if t is not None:
                h.results[name] = capture(name, t.detach())
        return pre

    unmatched = []
    for pat in patterns:
        if not any(fnmatch.fnmatchcase(n, pat) for n, _, _ in tl) and \
                not any(p and fnmatch.fnmatchcase(p, pat) for p in mods):
            unmatched.append(pat)
    if unmatched:
        have = [p for p in mods if p][:20]
        raise ValueError("llminstr.hook: no module matches %s; modules: %s%s%s" %
                         (", ".join(unmatched), ", ".join(have), " ..." if len(have) == 20 else "",
                          "; hook names: %s ..." % ", ".join(n for n, _, _ in tl[:8])
                          if tl else "; hook names: none (layout not recognised)"))
    for path, mod in mods.items():
        if not path:
            continue
        if patterns:
            if not any(fnmatch.fnmatchcase(path, p) for p in patterns):
                continue
        elif any(True for _ in mod.children()):
            continue
        handles.append(mod.register_forward_hook(out_hook(path)))
        names_.append(path)
    for name, path, where in tl:
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        mod = mods[path]
        handles.append(mod.register_forward_pre_hook(in_hook(name)) if where == "input"
                       else mod.register_forward_hook(out_hook(name)))
        names_.append(name)
    if not names_:
        raise ValueError("llminstr.hook: the model has no modules to hook")
    if steps or input_ids:
        count = [0]

        def pre(_m, inp):
            if steps and not _manual_steps:
                _lib.llminstr_step(count[0])
            count[0] += 1
            ids = _first_tensor(tuple(inp)) if input_ids else None
            if ids is not None and not ids.is_floating_point():
                h.results["tokens"] = tokens(ids)

        handles.append(model.register_forward_pre_hook(pre))
    return h


from .names import layout, names  # noqa: E402
from .read import Run, Tensor, export, open  # noqa: E402  (shadows open() here on purpose)


def __getattr__(name):
    # torch is imported only by those who use the dataset
    if name == "ActivationDataset":
        from .dataset import ActivationDataset
        return ActivationDataset
    raise AttributeError("module 'llminstr' has no attribute %r" % name)
