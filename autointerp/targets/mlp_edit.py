"""Editing MLP neurons of a Hugging Face causal LM in place (the planted eval's copies).

Two layouts: gated `down(act(gate(x)) * up(x))` (Llama, SmolLM2, Mistral, Qwen2, Gemma: gelu, not
silu) and plain `proj(act(fc(x) + b))` (GPT-2's Conv1D, whose weight is [in, out], and GPT-NeoX's
Linear). x is the MLP's input: the residual stream after the pre-MLP norm, with the norm's own weight
(and Gemma's 1 + weight) already applied, which is what `mlp_in_name(layer)` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from autointerp.errors import TargetError

Layout = Literal["gated", "plain"]


@dataclass
class Mlp:
    """One block's MLP: `fc` is the gate (gated) or the input projection (plain); `up` only when gated."""

    module: nn.Module
    layout: Layout
    fc: nn.Module
    up: nn.Module | None
    out: nn.Module
    act: nn.Module


def _blocks(hf) -> list[nn.Module]:
    for path in ("model.layers", "transformer.h", "gpt_neox.layers"):
        obj = hf
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if obj is not None:
            return list(obj)
    raise TargetError(f"cannot plant neurons in a {type(hf).__name__}: only Llama-style, GPT-2 and GPT-NeoX "
                      "layouts are supported")


def mlps(hf) -> list[Mlp]:
    """Every block's MLP, in order."""
    out = []
    for block in _blocks(hf):
        m = block.mlp
        if all(hasattr(m, a) for a in ("gate_proj", "up_proj", "down_proj", "act_fn")):
            out.append(Mlp(m, "gated", m.gate_proj, m.up_proj, m.down_proj, m.act_fn))
        elif all(hasattr(m, a) for a in ("c_fc", "c_proj", "act")):
            out.append(Mlp(m, "plain", m.c_fc, None, m.c_proj, m.act))
        elif all(hasattr(m, a) for a in ("dense_h_to_4h", "dense_4h_to_h", "act")):
            out.append(Mlp(m, "plain", m.dense_h_to_4h, None, m.dense_4h_to_h, m.act))
        else:
            raise TargetError(f"cannot plant neurons in the MLP {type(m).__name__}: only gated (gate/up/down) "
                              "and GPT-2 / GPT-NeoX MLPs are supported")
    return out


def _is_conv1d(lin: nn.Module) -> bool:
    return type(lin).__name__ == "Conv1D"  # GPT-2: weight [in, out], y = x @ W + b


def _add_outputs(lin: nn.Module, k: int) -> None:
    """k more output units, all-zero weights and bias."""
    w = lin.weight.data
    if _is_conv1d(lin):
        lin.weight = nn.Parameter(torch.cat([w, w.new_zeros(w.shape[0], k)], dim=1))
        lin.nf += k
    else:
        lin.weight = nn.Parameter(torch.cat([w, w.new_zeros(k, w.shape[1])]))
        lin.out_features += k
    if getattr(lin, "bias", None) is not None:
        lin.bias = nn.Parameter(torch.cat([lin.bias.data, lin.bias.data.new_zeros(k)]))


def _add_inputs(lin: nn.Module, k: int) -> None:
    """k more input units with all-zero weights: they add nothing to the output."""
    w = lin.weight.data
    if _is_conv1d(lin):
        lin.weight = nn.Parameter(torch.cat([w, w.new_zeros(k, w.shape[1])]))
    else:
        lin.weight = nn.Parameter(torch.cat([w, w.new_zeros(w.shape[0], k)], dim=1))
        lin.in_features += k


def widen(hf, k: int) -> int:
    """Append k neurons to every MLP (so every layer keeps one width), all weights zero: act(0)·0 and a
    zero output column add nothing, so logits and every original neuron are unchanged. Returns the old width."""
    cfg = hf.config
    old = int(getattr(cfg, "intermediate_size", None) or getattr(cfg, "n_inner", None) or 4 * cfg.n_embd)
    for m in mlps(hf):
        _add_outputs(m.fc, k)
        if m.up is not None:
            _add_outputs(m.up, k)
        _add_inputs(m.out, k)
        if hasattr(m.module, "intermediate_size"):
            m.module.intermediate_size = old + k
    if hasattr(cfg, "intermediate_size"):
        cfg.intermediate_size = old + k
    else:
        cfg.n_inner = old + k
    return old


def input_has_bias(hf, layer: int) -> bool:
    """Whether the neuron's pre-activation can take a constant (GPT-2 and NeoX: yes; Llama-style: no)."""
    return getattr(mlps(hf)[layer].fc, "bias", None) is not None


def _set_row(lin: nn.Module, index: int, w: torch.Tensor, b: float) -> None:
    if _is_conv1d(lin):
        lin.weight.data[:, index] = w
    else:
        lin.weight.data[index] = w
    if getattr(lin, "bias", None) is not None:
        lin.bias.data[index] = b


@torch.no_grad()
def set_detector(hf, layer: int, index: int, w: torch.Tensor, b: float, alpha: float, beta: float) -> Layout:
    """Wire neuron `index` of `layer` to the score z = w·x + b of its MLP input x:
    gated: act(α z)·(β z) (gate row α w, up row β w; biases where the layout has them);
    plain: act(α z) (input row α w, bias α b). b must be 0 where the layout has no bias."""
    m = mlps(hf)[layer]
    if b and getattr(m.fc, "bias", None) is None:
        raise ValueError("this MLP has no input bias: the score must have b = 0")
    w = w.to(dtype=m.fc.weight.dtype)
    _set_row(m.fc, index, alpha * w, alpha * b)
    if m.up is not None:
        _set_row(m.up, index, beta * w, beta * b)
    return m.layout


@torch.no_grad()
def neuron_activations(hf, layer: int, index: int, x: torch.Tensor) -> torch.Tensor:
    """[n] the neuron's activation for MLP inputs x [n, d_model], with the MLP's own modules."""
    m = mlps(hf)[layer]
    pre = m.fc(x)[..., index]
    if m.up is None:
        return m.act(pre)
    return m.act(pre) * m.up(x)[..., index]
