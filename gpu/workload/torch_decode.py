#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""torch_decode: llm_decode's transformer decode loop in PyTorch (eager, bf16).

The GPU check (scripts/gpu-check.sh) and benchmarks/probe_overhead
(--decode-bin) run it as a real framework target: PyTorch's own kernels go
through libcudart's cudaLaunchKernel, cuBLAS's GEMMs through libcuda's
cuLaunchKernel, so it exercises both halves of the tracer on NVIDIA's
libraries. It takes llm_decode's flags that those tools pass (-q, --truth,
--wait-file) and writes the same --truth keys for tokens and tokens/s.

Each token: embedding row, then per layer RMSNorm, QKV linear, RoPE, K/V
appended to a preallocated cache, attention over the cache (matmul +
softmax), output projection, residual, RMSNorm, gated SiLU MLP, residual;
final norm, lm_head, argmax, and the token comes to the host with .item()
as a real decoder's sampling step does (one D2H copy and a sync per token).

--profile counts the CUDA kernels of the timed tokens with torch.profiler
(CUPTI): kernel activity records only (Memcpy / Memset records are not
kernels). What the profiler sees and what a tracer sees differ in scope:
  - the profiler covers only the timed tokens, a tracer started with the
    process sees the whole process (weight set-up, warm-up). Compare a tracer
    attached with -p after --wait-file's handshake: between the handshake and
    the end of the process only the timed tokens launch kernels (profiler
    start/stop and its export launch none, writing --truth launches none).
  - CUPTI records kernels that ran, a tracer sees launch calls: they are the
    same set for eager PyTorch, where no launch fails. (No CUDA graphs here:
    the attention length changes every token; llm_decode_cuda --graphs
    checks graph replays.)
  - names: CUPTI gives demangled names with the argument list
    ("void at::native::...<...>(...)"), the tracer without return type and
    arguments; the check normalises both.
A tracer attached late may not name kernels whose handles were obtained
before it attached (warm-up): compare totals exactly, names where known.

--capture hands tensors to llminstr through its Python module
(user/python/llminstr, ctypes over build/lib/libllminstr.so), named as
llm_decode names them so that the same --capture specs select them: per
layer L blk.L.attn_out (attention output projection), blk.L.mlp_out (MLP
down projection), blk.L.resid (the residual stream after the layer), then
logits; bf16, shape [hidden] ([vocab]); llminstr.step(i) marks timed token
i (the warm-up token is not offered). On the GPU they are taken on the
current stream (the agent snapshots them there, the stream never waits for
the host). Under `llminstr-trace --capture SPEC -- python3 torch_decode.py
--capture` the selected ones are captured; without a tracer each offer
costs a flag read and nothing is taken. Without --capture the module is not
imported and the loop is the one the profiler comparisons count.
--reference-dir DIR also writes every offered tensor as raw f32
(DIR/NAME.STEP.f32, a synchronous copy), the copy captures are checked
against.
--profile-all instead profiles the whole run, from before the first CUDA
call to the end, and --wait-file then waits right after "import torch"
(libcudart and libcuda mapped, no CUDA call made yet): a tracer attached
there sees the same launches as the profiler, set-up and warm-up included,
and every kernel's first launch, so names compare too.
"""
import argparse
import json
import math
import os
import sys
import time

PROG = "torch_decode"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Greedy decode with a random-weight transformer in PyTorch "
        "on CUDA (eager, bf16). Prints tokens/s on stderr.")
    p.add_argument("--layers", type=int, default=8, help="transformer layers (default 8)")
    p.add_argument("--hidden", type=int, default=1024, help="hidden size (default 1024)")
    p.add_argument("--heads", type=int, default=8, help="attention heads (default 8)")
    p.add_argument("--ffn", type=int, default=2816, help="MLP inner size (default 2816)")
    p.add_argument("--vocab", type=int, default=8192, help="vocabulary size (default 8192)")
    p.add_argument("--tokens", type=int, default=128, help="timed tokens (default 128)")
    p.add_argument("--seed", type=int, default=1, help="weight seed (default 1)")
    p.add_argument("--wait-file", metavar="P",
                   help="after CUDA set-up and one warm-up token, wait until P exists")
    p.add_argument("--truth", metavar="FILE", help='write {"tokens": N, "tokens_per_s": X}')
    p.add_argument("--profile", metavar="FILE",
                   help="count the timed tokens' CUDA kernels with torch.profiler, "
                   'write {"kernels": {NAME: launches}, "launches": N}')
    p.add_argument("--profile-all", action="store_true",
                   help="--profile covers the whole run (set-up and warm-up too)")
    p.add_argument("--device", default="cuda",
                   help="torch device (default cuda; cpu runs the loop without a GPU, "
                   "for testing this script)")
    p.add_argument("--capture", action="store_true",
                   help="offer blk.L.{attn_out,mlp_out,resid} and logits to llminstr "
                   "(user/python/llminstr) at each timed token")
    p.add_argument("--reference-dir", metavar="DIR",
                   help="with --capture: also write each offered tensor to DIR/NAME.STEP.f32 "
                   "(raw f32); DIR must exist")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the tokens")
    a = p.parse_args(argv)
    if a.reference_dir and not a.capture:
        p.error("--reference-dir needs --capture")
    if a.reference_dir and not os.path.isdir(a.reference_dir):
        p.error(f"--reference-dir {a.reference_dir}: not a directory")
    if a.profile_all and not a.profile:
        p.error("--profile-all needs --profile FILE")
    for name, lo, hi in (("layers", 1, 256), ("hidden", 2, 65536), ("heads", 1, 1024),
                         ("ffn", 1, 262144), ("vocab", 2, 1 << 22), ("tokens", 1, 1 << 20),
                         ("seed", 0, 2**63 - 1)):
        v = getattr(a, name)
        if not lo <= v <= hi:
            p.error(f"--{name} needs an integer in [{lo}, {hi}], got {v}")
    if a.hidden % (2 * a.heads):
        p.error(f"--hidden {a.hidden} is not a multiple of 2 * --heads {a.heads}")
    return a


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


class Offer:
    """--capture: tensors to llminstr, counted; --reference-dir copies."""

    def __init__(self, ref_dir):
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(here, "..", "..", "user", "python"))
        try:
            import llminstr
            llminstr.library_path()          # loads the agent now: a clear error early
        except (ImportError, OSError) as e:
            die(f"--capture: cannot use the llminstr module: {e}")
        self.llminstr, self.ref_dir = llminstr, ref_dir
        self.step_no = 0
        self.offered = self.taken = self.skipped = self.refused = 0
        self.first_refusal = None

    def step(self, n):
        self.step_no = n
        self.llminstr.step(n)

    def __call__(self, name, t):
        self.offered += 1
        rc = self.llminstr.capture(name, t)
        if rc == 1:
            self.taken += 1
        elif rc == 0:
            self.skipped += 1
        else:
            self.refused += 1
            if self.first_refusal is None:
                self.first_refusal = f"{name}: {os.strerror(-rc)}"
        if self.ref_dir:
            path = os.path.join(self.ref_dir, f"{name}.{self.step_no}.f32")
            t.float().cpu().numpy().tofile(path)

    def summary(self):
        s = (f"{PROG}: llminstr: {self.offered} tensors offered, {self.taken} taken, "
             f"{self.skipped} skipped, {self.refused} refused")
        return s + (f" (first: {self.first_refusal})" if self.first_refusal else "")


class Model:
    """Weights and the KV cache, all allocated once on the device."""

    def __init__(self, torch, a, max_seq):
        dev, dt = a.device, torch.bfloat16
        g = torch.Generator(device=dev)
        g.manual_seed(a.seed)
        h, f = a.hidden, a.ffn

        def w(*shape):
            return (torch.randn(*shape, generator=g, device=dev, dtype=torch.float32)
                    / math.sqrt(shape[-1])).to(dt)

        self.torch, self.a = torch, a
        self.hd = h // a.heads
        self.emb = w(a.vocab, h)
        self.attn_norm = [torch.ones(h, device=dev, dtype=dt) for _ in range(a.layers)]
        self.mlp_norm = [torch.ones(h, device=dev, dtype=dt) for _ in range(a.layers)]
        self.wqkv = [w(3 * h, h) for _ in range(a.layers)]
        self.wo = [w(h, h) for _ in range(a.layers)]
        self.wgu = [w(2 * f, h) for _ in range(a.layers)]
        self.wdown = [w(h, f) for _ in range(a.layers)]
        self.final_norm = torch.ones(h, device=dev, dtype=dt)
        self.lm_head = w(a.vocab, h)
        # [layers][heads][max_seq][head_dim]
        self.kc = torch.zeros(a.layers, a.heads, max_seq, self.hd, device=dev, dtype=dt)
        self.vc = torch.zeros_like(self.kc)
        inv = 1.0 / (10000.0 ** (torch.arange(0, self.hd, 2, device=dev,
                                              dtype=torch.float32) / self.hd))
        ang = torch.arange(max_seq, device=dev, dtype=torch.float32)[:, None] * inv[None, :]
        self.cos, self.sin = ang.cos().to(dt), ang.sin().to(dt)
        self.scale = 1.0 / math.sqrt(self.hd)

    def rmsnorm(self, x, wt):
        xf = x.float()
        return (xf * self.torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * wt

    def rope(self, t, pos):
        # t: [heads, head_dim], rotate pairs (even, odd)
        c, s = self.cos[pos], self.sin[pos]
        t2 = t.view(self.a.heads, self.hd // 2, 2)
        e, o = t2[..., 0], t2[..., 1]
        return self.torch.stack((e * c - o * s, e * s + o * c), dim=-1).view(self.a.heads, self.hd)

    def step(self, tok, pos, offer=None):
        """One token: tok is a 1-element device tensor, pos a host int. Returns the argmax.
        offer (--capture): called with each layer's tensors and the logits."""
        torch, a, F = self.torch, self.a, self.torch.nn.functional
        x = self.emb[tok].view(-1)
        n = pos + 1
        for li in range(a.layers):
            hn = self.rmsnorm(x, self.attn_norm[li])
            qkv = F.linear(hn, self.wqkv[li])
            q, k, v = qkv.view(3, a.heads, self.hd).unbind(0)
            q, k = self.rope(q, pos), self.rope(k, pos)
            self.kc[li, :, pos].copy_(k)
            self.vc[li, :, pos].copy_(v)
            kk, vv = self.kc[li, :, :n], self.vc[li, :, :n]           # [heads, n, hd]
            sc = torch.matmul(kk, q.unsqueeze(-1)).squeeze(-1) * self.scale   # [heads, n]
            p = torch.softmax(sc.float(), dim=-1).to(x.dtype)
            att = torch.matmul(p.unsqueeze(1), vv).view(-1)           # [hidden]
            if offer is None:
                x = x + F.linear(att, self.wo[li])
                hn = self.rmsnorm(x, self.mlp_norm[li])
                gu = F.linear(hn, self.wgu[li])
                g, u = gu.chunk(2)
                x = x + F.linear(F.silu(g) * u, self.wdown[li])
                continue
            # the same operations, their outputs named for capture
            ao = F.linear(att, self.wo[li])
            offer(f"blk.{li}.attn_out", ao)
            x = x + ao
            hn = self.rmsnorm(x, self.mlp_norm[li])
            gu = F.linear(hn, self.wgu[li])
            g, u = gu.chunk(2)
            mo = F.linear(F.silu(g) * u, self.wdown[li])
            offer(f"blk.{li}.mlp_out", mo)
            x = x + mo
            offer(f"blk.{li}.resid", x)
        logits = F.linear(self.rmsnorm(x, self.final_norm), self.lm_head)
        if offer is not None:
            offer("logits", logits)
        return torch.argmax(logits).view(1)


def main(argv):
    a = parse_args(argv)
    try:
        import torch
    except ImportError as e:
        die(f"no CUDA device: PyTorch is not installed for {sys.executable} ({e})")
    cuda = a.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        die(f"no CUDA device: torch {torch.__version__} sees none "
            "(nvidia-smi -L lists the GPUs the driver knows)")
    torch.set_grad_enabled(False)
    prof = None
    if a.profile_all:
        if a.wait_file:
            if cuda:
                # libcudart is mapped by the import, libcuda.so.1 only at the
                # first CUDA call: load it now (no call made) so that a
                # tracer attached during the wait finds the driver too
                import ctypes
                try:
                    ctypes.CDLL("libcuda.so.1", mode=ctypes.RTLD_GLOBAL)
                except OSError as e:
                    die(f"no CUDA device: cannot load libcuda.so.1 ({e})")
            wait_for(a.wait_file)
        prof = profiler_start(torch, cuda)
    if cuda:
        torch.cuda.init()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    max_seq = a.tokens + 2
    m = Model(torch, a, max_seq)
    offer = Offer(a.reference_dir) if a.capture else None

    # warm-up token at position 0: cuBLAS handles, kernel loading, allocator
    tok = m.step(torch.zeros(1, dtype=torch.long, device=a.device), 0)
    first = tok.item()
    sync()

    if a.wait_file and not a.profile_all:
        wait_for(a.wait_file)

    if a.profile and not prof:
        prof = profiler_start(torch, cuda)
    out = []
    cur = first
    t0 = time.perf_counter()
    for i in range(a.tokens):
        if offer is not None:
            offer.step(i)
        tok = m.step(torch.tensor([cur], device=a.device), i + 1, offer)
        cur = tok.item()
        out.append(cur)
    sync()
    secs = time.perf_counter() - t0
    if prof is not None:
        prof.__exit__(None, None, None)
        write_profile(a.profile, prof)

    tps = a.tokens / secs if secs > 0 else 0.0
    if a.truth:
        write_json(a.truth, {"tokens": a.tokens, "tokens_per_s": tps, "seconds": secs,
                             "torch": torch.__version__})
    if not a.quiet:
        print(" ".join(map(str, out)), flush=True)
    if offer is not None:
        print(offer.summary(), file=sys.stderr)
    print(f"{PROG}: {a.tokens} tokens in {secs:.3f} s, {tps:.1f} tokens/s ({a.layers} layers, "
          f"hidden {a.hidden}, ffn {a.ffn}, vocab {a.vocab}, bf16, torch {torch.__version__})",
          file=sys.stderr)
    return 0


def wait_for(path):
    # the GPU check attaches its tracer on this line: nothing launches before it ends
    print(f"{PROG}: ready, waiting for {path}", file=sys.stderr, flush=True)
    while not os.path.exists(path):
        time.sleep(0.01)


def profiler_start(torch, cuda):
    """torch.profiler with CUPTI's activities (CPU's where there is no GPU, for tests)."""
    from torch.profiler import profile, ProfilerActivity
    prof = profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU])
    prof.__enter__()
    return prof


def write_json(path, obj):
    try:
        with open(path, "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
    except OSError as e:
        die(f"cannot write {path}: {e.strerror}")


def write_profile(path, prof):
    """Kernel launches per name from CUPTI's activity records.

    Read from the exported trace, whose "cat" says what each record is:
    "kernel" (counted), "gpu_memcpy", "gpu_memset", "cuda_runtime",
    "cuda_driver", "cuda_sync"... The runtime and driver calls CUPTI saw are
    written too ("api"), to set beside the tracer's API counts.
    """
    import tempfile
    kernels, api, cats = {}, {}, {}
    fd, tmp = tempfile.mkstemp(prefix="torch_decode.", suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(tmp)
        with open(tmp) as f:
            trace = json.load(f)
    finally:
        os.unlink(tmp)
    evs = trace["traceEvents"] if isinstance(trace, dict) else trace
    for ev in evs:
        cat = str(ev.get("cat", "")).lower()
        if ev.get("ph") != "X" or not cat:
            continue
        cats[cat] = cats.get(cat, 0) + 1
        name = ev.get("name", "")
        if cat == "kernel":
            kernels[name] = kernels.get(name, 0) + 1
        elif cat in ("cuda_runtime", "cuda_driver"):
            api[name] = api.get(name, 0) + 1
    # the same count through the profiler's event list, should a PyTorch
    # build's exported trace name its categories otherwise
    alt = {}
    try:
        from torch.autograd import DeviceType
        for e in prof.events():
            if e.device_type == DeviceType.CUDA and not e.name.startswith(("Memcpy", "Memset")):
                alt[e.name] = alt.get(e.name, 0) + 1
    except Exception as e:  # an older or newer profiler: the trace's count stands
        print(f"{PROG}: profiler event list unreadable ({e})", file=sys.stderr)
    source = "trace"
    if not kernels and alt:
        kernels, source = alt, "events"
    write_json(path, {"kernels": kernels, "launches": sum(kernels.values()), "source": source,
                      "launches_event_list": sum(alt.values()), "api": api, "categories": cats})


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
