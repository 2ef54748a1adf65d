"""Planting on every MLP layout: gated (Llama: silu, Gemma: tanh-gelu and a 1 + weight RMSNorm) and plain
(GPT-2: Conv1D and tanh-gelu, NeoX: Linear and erf-gelu), on tiny random models saved as HF directories.

The reference is the HF model's own forward, read with torch hooks (the MLP module's input and the
input of its output projection, i.e. the activations), and activation functions written out here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from autointerp.evals.concepts import load_concepts
from autointerp.evals.planting import auroc, marked_activations, plant
from autointerp.targets import hook_name, load_target, mlp_in_name
from autointerp.targets.embedded import converted_dir
from autointerp.targets.mlp_edit import set_detector, widen
from tests.tiny_models import ARCHITECTURES, save_tiny


def silu(u):
    return u / (1 + torch.exp(-u))


def gelu_tanh(u):
    return 0.5 * u * (1 + torch.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))


def gelu_erf(u):
    return 0.5 * u * (1 + torch.erf(u / math.sqrt(2)))


# arch -> (gated, activation, pre-MLP norm module name, MLP module path, output projection name)
SPEC = {"llama": (True, silu, "post_attention_layernorm", "model.layers", "down_proj"),
        "gemma": (True, gelu_tanh, "post_attention_layernorm", "model.layers", "down_proj"),
        "gpt2": (False, gelu_tanh, "ln_2", "transformer.h", "c_proj"),
        "neox": (False, gelu_erf, "post_attention_layernorm", "gpt_neox.layers", "dense_4h_to_h")}
TEXT = "The bank of the river was wide, and the bank downtown lent money."


@pytest.fixture(scope="module")
def tiny_dirs(settings, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-models")
    return {a: save_tiny(a, folder, converted_dir(settings.data_dir)) for a in ARCHITECTURES}


def _blocks(hf, arch):
    obj = hf
    for part in SPEC[arch][3].split("."):
        obj = getattr(obj, part)
    return obj


def _read(hf, arch, layer, ids):
    """(MLP input x [T, d], activations [T, d_mlp], logits) of the HF forward, via hooks on the modules."""
    got = {}
    block = _blocks(hf, arch)[layer]
    out_proj = getattr(block.mlp, SPEC[arch][4])
    h1 = block.mlp.register_forward_pre_hook(lambda m, a: got.__setitem__("x", a[0][0].clone()))
    h2 = out_proj.register_forward_pre_hook(lambda m, a: got.__setitem__("act", a[0][0].clone()))
    try:
        with torch.no_grad():
            logits = hf(torch.tensor([ids])).logits[0]
    finally:
        h1.remove()
        h2.remove()
    return got["x"], got["act"], logits


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_a_planted_neuron_computes_the_intended_formula_on_every_layout(arch, tiny_dirs, settings):
    gated, act, _, _, _ = SPEC[arch]
    path = tiny_dirs[arch]
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    target = load_target(str(path), settings)
    tok_ids = [target.bos_id] + target.encode(TEXT)
    _, before, logits_before = _read(hf, arch, 1, tok_ids)
    d_mlp = widen(hf, 2)
    assert d_mlp == before.shape[-1]
    g = torch.Generator().manual_seed(1)
    w = torch.randn(64, generator=g)
    b = 0.0 if gated else 0.7  # Llama-style MLPs have no input bias
    alpha, beta = 1.7, 0.3
    set_detector(hf, 1, d_mlp + 1, w, b, alpha, beta)
    x, after, logits_after = _read(hf, arch, 1, tok_ids)
    z = x @ w + b
    want = act(alpha * z) * (beta * z) if gated else act(alpha * z)
    assert torch.allclose(after[:, d_mlp + 1], want, atol=1e-5), (after[:, d_mlp + 1], want)
    assert after[:, d_mlp + 1].abs().max() > 0.05  # the check is not vacuous
    assert torch.equal(after[:, d_mlp], torch.zeros(len(tok_ids)))  # the unset extra neuron
    assert torch.allclose(after[:, :d_mlp], before, atol=1e-6)
    assert torch.allclose(logits_after, logits_before, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_the_target_reads_what_the_hf_mlp_sees(arch, tiny_dirs, settings):
    """Planting fits on `mlp_in_name(layer)`: it must be the MLP's real input, the norm's weight applied
    (Gemma's 1 + weight, GPT-2's LayerNorm bias), and `hook_name` the real activations."""
    path = tiny_dirs[arch]
    target = load_target(str(path), settings)
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = [target.bos_id] + target.encode(TEXT)
    x, act, _ = _read(hf, arch, 1, ids)
    out = target.run(torch.tensor([ids]), read=[mlp_in_name(1), hook_name(1)])
    assert torch.allclose(out.reads[mlp_in_name(1)][0], x, atol=1e-4), (out.reads[mlp_in_name(1)][0] - x).abs().max()
    assert torch.allclose(out.reads[hook_name(1)][0], act, atol=1e-4)


def _context_concepts(tmp_path):
    pos = [f"On day {k} we walked along the river [[bank]] and fished." for k in range(9)]
    neg = [f"On day {k} she paid the loan at the [[bank]] downtown." for k in range(9)]
    items = [{"name": "river bank", "description": "bank as the side of a river", "positive": pos, "negative": neg},
             {"name": "money bank", "description": "bank as a financial institution", "positive": neg, "negative": pos},
             {"name": "animals", "description": "names of animals",
              "words": ["dog", "cat", "horse", "cow", "sheep", "goat"]}]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(items))
    return load_concepts(path)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_plant_on_a_local_model_reports_the_auroc_of_its_real_forward(arch, tiny_dirs, fresh_settings, tmp_path):
    """plant() on a model directory: the manifest's held-out AUROC is the planted copy's own activations'."""
    concepts = _context_concepts(tmp_path)
    planted = plant(concepts, 1, fresh_settings, model=str(tiny_dirs[arch]))
    assert planted.layout == ("gated" if SPEC[arch][0] else "plain")
    target = load_target(planted.name, fresh_settings)
    assert target.d_mlp == planted.base_d_mlp + 3
    for c in concepts[:2]:
        n = planted.neuron_of(c.name)
        pos = marked_activations(target, 1, n.index, c.sentences("positive", held_out=True))
        neg = marked_activations(target, 1, n.index, c.sentences("negative", held_out=True))
        assert n.held_out == (len(pos), len(neg)) == (3, 3)
        assert n.auroc == pytest.approx(auroc(np.array(pos), np.array(neg)), abs=1e-4)
        assert n.plantable == (n.auroc >= planted.min_auroc)
        train = marked_activations(target, 1, n.index, c.sentences("positive", held_out=False))
        assert np.mean(train) > 4  # scaled to about GAIN = 8 at the mean training positive
