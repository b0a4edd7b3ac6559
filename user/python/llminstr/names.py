# SPDX-License-Identifier: MIT
"""TransformerLens-style hook names for the usual Hugging Face decoder layouts.

Researchers name activations as TransformerLens does (blocks.3.hook_resid_post,
blocks.3.mlp.hook_post, hook_embed); Hugging Face models name modules by path
(model.layers.3, transformer.h.3.mlp.c_proj). names(model) maps the first onto
the second for Llama/Qwen/Mistral, GPT-2 and GPT-NeoX layouts, found by the
modules a model has (its class is not looked at), so that hook() can place
either kind of name:

  hook_embed                  output of the token embedding
  blocks.L.hook_resid_pre     input of decoder layer L (the residual stream)
  blocks.L.hook_resid_post    output of decoder layer L
  blocks.L.hook_attn_out      output of its attention
  blocks.L.hook_mlp_out       output of its MLP
  blocks.L.attn.hook_z        input of the attention's output projection
                              (heads concatenated: [batch, pos, heads * d_head])
  blocks.L.mlp.hook_post      input of the MLP's down projection (after the
                              nonlinearity, and the gate where there is one)
"""
import re

# name, the layers' container, then inside a layer: attention, its output
# projection, MLP, its down projection; the embedding beside the container
_LAYOUTS = (
    ("llama", "layers", "self_attn", "self_attn.o_proj", "mlp", "mlp.down_proj", "embed_tokens"),
    ("gpt2", "h", "attn", "attn.c_proj", "mlp", "mlp.c_proj", "wte"),
    ("gpt-neox", "layers", "attention", "attention.dense", "mlp", "mlp.dense_4h_to_h", "embed_in"),
)


def layout(model):
    """(layout name, layers' path) of model, or None when none is recognised."""
    mods = dict(model.named_modules())
    for name, container, attn, o_proj, mlp, down, embed in _LAYOUTS:
        for path in sorted(mods, key=len):
            if path.rsplit(".", 1)[-1] != container or not path:
                continue
            first = path + ".0"
            if all(first + "." + sub in mods for sub in (attn, o_proj, mlp, down)):
                return name, path
    return None


def names(model):
    """[(TransformerLens name, module path, "output" or "input")] for model's
    layout, layer by layer; [] when the layout is not one of those above."""
    found = layout(model)
    if not found:
        return []
    name, path = found
    _, _, attn, o_proj, mlp, down, embed = next(x for x in _LAYOUTS if x[0] == name)
    mods = dict(model.named_modules())
    prefix = path.rsplit(".", 1)[0] + "." if "." in path else ""
    out = []
    if prefix + embed in mods:
        out.append(("hook_embed", prefix + embed, "output"))
    layers = sorted({int(m.group(1)) for p in mods
                     for m in [re.fullmatch(re.escape(path) + r"\.(\d+)", p)] if m})
    for n in layers:
        lp = "%s.%d" % (path, n)
        out += [("blocks.%d.hook_resid_pre" % n, lp, "input"),
                ("blocks.%d.attn.hook_z" % n, lp + "." + o_proj, "input"),
                ("blocks.%d.hook_attn_out" % n, lp + "." + attn, "output"),
                ("blocks.%d.mlp.hook_post" % n, lp + "." + down, "input"),
                ("blocks.%d.hook_mlp_out" % n, lp + "." + mlp, "output"),
                ("blocks.%d.hook_resid_post" % n, lp, "output")]
    return out
