# SPDX-License-Identifier: MIT
"""Tiny randomly initialised decoders with the module paths of Hugging Face's
Llama (model.layers.L.self_attn.o_proj, mlp.down_proj), GPT-2
(transformer.h.L.attn.c_proj, mlp.c_proj) and GPT-NeoX
(gpt_neox.layers.L.attention.dense, mlp.dense_4h_to_h) layouts, for the
TransformerLens-style names of llminstr.hook (no downloads, no transformers
package).

usage: hf_layouts.py check
         prints what llminstr.names() maps for each layout, and checks it
       hf_layouts.py run LAYOUT FORWARDS REFDIR PATTERN...
         hooks PATTERNs on LAYOUT's model, runs FORWARDS forwards and saves
         what each hooked name saw as REFDIR/NAME.STEP.f32 (taken by a
         plain torch hook of its own on the same module), and the input ids
         of each forward as REFDIR/tokens.STEP.i64; HF_LAYOUTS_IDS_SEED=N
         draws other input ids (the weights stay)"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "user", "python"))
import llminstr  # noqa: E402

D, H, V, LAYERS = 32, 4, 128, 2
nn = torch.nn


def attend(q, k, v):
    b, s, _ = q.shape
    q, k, v = (x.view(b, s, H, D // H).transpose(1, 2) for x in (q, k, v))
    a = (q @ k.transpose(-1, -2)) / (D // H) ** 0.5
    a = a.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
    z = a @ v
    return z.transpose(1, 2).reshape(b, s, D)


class LlamaAttn(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(D, D, bias=False)
                                                              for _ in range(4))

    def forward(self, x):
        return (self.o_proj(attend(self.q_proj(x), self.k_proj(x), self.v_proj(x))), None)


class LlamaMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(D, 2 * D, bias=False), nn.Linear(D, 2 * D, bias=False)
        self.down_proj = nn.Linear(2 * D, D, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = nn.LayerNorm(D), nn.LayerNorm(D)
        self.self_attn, self.mlp = LlamaAttn(), LlamaMLP()

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))[0]
        return (x + self.mlp(self.post_attention_layernorm(x)),)


class LlamaModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, D)
        self.layers = nn.ModuleList(LlamaLayer() for _ in range(LAYERS))

    def forward(self, ids):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x)[0]
        return x


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.model, self.lm_head = LlamaModel(), nn.Linear(D, V, bias=False)

    def forward(self, ids):
        return self.lm_head(self.model(ids))


class GPT2Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(D, 3 * D), nn.Linear(D, D)

    def forward(self, x):
        return (self.c_proj(attend(*self.c_attn(x).split(D, dim=-1))), None)


class GPT2MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc, self.act, self.c_proj = nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D)

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2, self.mlp = nn.LayerNorm(D), GPT2Attn(), nn.LayerNorm(D), GPT2MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))[0]
        return (x + self.mlp(self.ln_2(x)),)


class GPT2Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(64, D)
        self.h = nn.ModuleList(GPT2Block() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(D)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for b in self.h:
            x = b(x)[0]
        return self.ln_f(x)


class GPT2(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer, self.lm_head = GPT2Inner(), nn.Linear(D, V, bias=False)

    def forward(self, ids):
        return self.lm_head(self.transformer(ids))


class NeoXAttn(nn.Module):
    def __init__(self):
        super().__init__()
        self.query_key_value, self.dense = nn.Linear(D, 3 * D), nn.Linear(D, D)

    def forward(self, x):
        return (self.dense(attend(*self.query_key_value(x).split(D, dim=-1))), None)


class NeoXMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_h_to_4h, self.act, self.dense_4h_to_h = nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D)

    def forward(self, x):
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


class NeoXLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attention, self.mlp = NeoXAttn(), NeoXMLP()

    def forward(self, x):      # parallel residual, as GPT-NeoX
        return (x + self.attention(self.input_layernorm(x))[0] + self.mlp(self.post_attention_layernorm(x)),)


class NeoXInner(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_in = nn.Embedding(V, D)
        self.layers = nn.ModuleList(NeoXLayer() for _ in range(LAYERS))

    def forward(self, ids):
        x = self.embed_in(ids)
        for layer in self.layers:
            x = layer(x)[0]
        return x


class NeoX(nn.Module):
    def __init__(self):
        super().__init__()
        self.gpt_neox, self.embed_out = NeoXInner(), nn.Linear(D, V, bias=False)

    def forward(self, ids):
        return self.embed_out(self.gpt_neox(ids))


MODELS = {"llama": Llama, "gpt2": GPT2, "gpt-neox": NeoX}
WANT = {   # a few names of each layout and the module each must be
    "llama": [("hook_embed", "model.embed_tokens", "output"),
              ("blocks.1.hook_resid_post", "model.layers.1", "output"),
              ("blocks.0.hook_resid_pre", "model.layers.0", "input"),
              ("blocks.0.attn.hook_z", "model.layers.0.self_attn.o_proj", "input"),
              ("blocks.1.mlp.hook_post", "model.layers.1.mlp.down_proj", "input"),
              ("blocks.0.hook_mlp_out", "model.layers.0.mlp", "output")],
    "gpt2": [("hook_embed", "transformer.wte", "output"),
             ("blocks.1.hook_resid_post", "transformer.h.1", "output"),
             ("blocks.0.attn.hook_z", "transformer.h.0.attn.c_proj", "input"),
             ("blocks.1.mlp.hook_post", "transformer.h.1.mlp.c_proj", "input"),
             ("blocks.0.hook_attn_out", "transformer.h.0.attn", "output")],
    "gpt-neox": [("hook_embed", "gpt_neox.embed_in", "output"),
                 ("blocks.0.hook_resid_post", "gpt_neox.layers.0", "output"),
                 ("blocks.1.attn.hook_z", "gpt_neox.layers.1.attention.dense", "input"),
                 ("blocks.0.mlp.hook_post", "gpt_neox.layers.0.mlp.dense_4h_to_h", "input")],
}


def check():
    ok = True
    for name, cls in MODELS.items():
        got = llminstr.names(cls())
        lay = llminstr.layout(cls())
        good = lay and lay[0] == name and all(w in got for w in WANT[name]) and \
            len(got) == 1 + 6 * LAYERS
        print("%s: %s, %d names%s" % (name, lay, len(got), "" if good else "  <-- WRONG"))
        ok &= bool(good)
    # the hook_model.py kind of model (no known layout): no names, module paths still work
    plain = nn.Sequential(nn.Linear(4, 4))
    ok &= llminstr.names(plain) == []
    try:
        llminstr.hook(Llama(), "blocks.*.hook_resid_postt")
        ok = False
        print("a pattern matching nothing was accepted  <-- WRONG")
    except ValueError as e:
        said = "blocks.*.hook_resid_postt" in str(e) and "hook_resid_post" in str(e) and \
            "model.layers" in str(e)
        print("nothing matches:", e)
        ok &= said
    h = llminstr.hook(Llama(), "blocks.*.hook_resid_post", "model.layers.0.mlp")
    want = ["model.layers.0.mlp", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    print("hooked:", h.names)
    ok &= h.names == want
    h.remove()
    return ok


def run(layout, forwards, ref, patterns):
    torch.manual_seed(1)
    model = MODELS[layout]().eval()
    where = {n: (p, w) for n, p, w in llminstr.names(model)}
    mods = dict(model.named_modules())
    saved, refs = {}, []
    h = llminstr.hook(model, *patterns)
    for name in h.names:
        path, w = where.get(name, (name, "output"))

        def keep(name=name, w=w):
            def f(_m, inp, out=None):
                t = inp[0] if w == "input" else (out[0] if isinstance(out, tuple) else out)
                saved[name] = t.detach().clone()
            return f
        refs.append(mods[path].register_forward_pre_hook(keep()) if w == "input"
                    else mods[path].register_forward_hook(keep()))
    taken = 0
    if os.environ.get("HF_LAYOUTS_IDS_SEED"):    # other input ids, the same weights
        torch.manual_seed(int(os.environ["HF_LAYOUTS_IDS_SEED"]))
    with torch.no_grad():
        for s in range(forwards):
            ids = torch.randint(0, V, (2, 12))
            ids.numpy().astype("int64").tofile(os.path.join(ref, "tokens.%d.i64" % s))
            model(ids)
            for name in h.names:
                if h.results.get(name) == 1:
                    taken += 1
                    saved[name].float().numpy().tofile(os.path.join(ref, "%s.%d.f32" % (name, s)))
    h.remove()
    for r in refs:
        r.remove()
    print("hf_layouts: %d taken, hooked %s" % (taken, " ".join(h.names)))


if sys.argv[1] == "check":
    sys.exit(0 if check() else 1)
run(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
