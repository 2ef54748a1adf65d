"""Planted neurons: a copy of a model with one extra MLP neuron per concept in one layer, wired to
detect that concept, so an explainer's answer can be checked against a known truth.

The copy appends k neurons to every MLP (all-zero weights except the planted ones), so every original
neuron is kept; their output columns are zero, so the logits are exactly those of the original model.
Each planted neuron reads a linear score z = w·x (+ b where the MLP has input biases) of the MLP input
x (after the pre-MLP norm) and is wired (targets/mlp_edit.py) as act(α z)·β z in a gated MLP
(SmolLM2: silu) or act(α z) in a plain one (GPT-2, NeoX: gelu), with α = 8/z̄, β = 1/z̄ and z̄ the
mean score of the concept's training tokens: about 8 there, near 0 wherever z < 0.

- Word-list concept: w = the unit vector from the mean MLP input over every other word to the mean
  over the concept's words (each read at its last token in short contexts), b = 0.
- Contextual concept: w, b = a logistic regression on the marked tokens of the training sentences,
  positives against the negatives' marked tokens and every unmarked token of both sides. Every third
  sentence is held out; the planted neuron's AUROC on them (positives vs negatives) says whether the
  concept can be planted at this layer (AUROC >= MIN_AUROC).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel

from autointerp.config import EMBEDDED_MODEL, Settings, get_settings
from autointerp.errors import InputError
from autointerp.evals.concepts import AnyConcept, Concept, ContextConcept, Marked
from autointerp.targets import Target, UnitSource, load_target, mlp_in_name
from autointerp.targets.embedded import converted_dir
from autointerp.targets.local import PLANTED_PREFIX, local_dir, planted_root
from autointerp.targets.mlp_edit import Layout, input_has_bias, mlps, neuron_activations, set_detector, widen
from autointerp.tools.contrast import auroc
from autointerp.tools.probe import run_ids
from autointerp.tools.words import ORDINARY_WORDS

PLANTING_VERSION = 2
MANIFEST = "planted.json"
# α·z at the mean concept token: activation silu(8) ≈ 8 there, at most 0.06 for any token with z < 0.
GAIN = 8.0
MIN_AUROC = 0.8  # below it, a contextual concept cannot be planted at the chosen layer
# Logistic regression: inverse L2 strength, and the total weight of each group of training tokens.
LR_C = 0.3
# Contexts for measuring directions; PROBE_TEMPLATES (different words) check and score the planting.
MEASURE_TEMPLATES = ("I saw the {w} there.", "We talked about {w} today.", "It is a {w}.", "The {w} was here.",
                     "{W} was mentioned.")
PROBE_TEMPLATES = ("Yesterday my friend wrote a long note about {w} and then left.",
                   "In the old book there was a chapter on {w} near the end.",
                   "She said that {w} mattered more than anything else.",
                   "According to the report, {w} came up again last week.")
BASELINE_WORDS = ORDINARY_WORDS  # the rest of the vocabulary a concept is set against


class PlantedNeuron(BaseModel):
    concept: str
    index: int
    kind: Literal["words", "context"] = "words"
    concept_projection: float  # mean score z over the concept's (training) tokens
    rest_projection: float  # mean z over every other measured token (word lists) or the negatives' marked tokens
    auroc: float | None = None  # contextual: held-out positives vs negatives, the planted neuron's activation (0: the
    # fit left the mean training positive at z <= 0, so the neuron is not wired)
    train_auroc: float | None = None
    held_out: tuple[int, int] | None = None  # contextual: held-out marked tokens (positive, negative)
    plantable: bool = True  # False: AUROC < MIN_AUROC, the layer cannot tell this concept's contexts apart


class PlantedModel(BaseModel):
    """What a planted copy holds; written beside the weights as planted.json."""

    name: str
    base_model: str
    base_stamp: str
    layer: int
    gain: float
    version: int
    layout: Layout = "gated"
    min_auroc: float = MIN_AUROC
    base_d_mlp: int  # planted neurons are appended after the base model's
    neurons: list[PlantedNeuron]

    def neuron_of(self, concept: str) -> PlantedNeuron:
        return next(n for n in self.neurons if n.concept == concept)


def _word_positions(target: Target, template: str, word: str) -> tuple[list[int], int]:
    """Token ids with BOS, and the position of the word's last token (the text up to the word
    tokenizes to a prefix of the whole: the templates follow each word with a space or a full stop)."""
    filled = word[:1].upper() + word[1:] if "{W}" in template else word
    marker = "{W}" if "{W}" in template else "{w}"
    text = template.replace(marker, filled)
    prefix = [target.bos_id] if target.prepend_bos else []
    head = prefix + target.encode(text[: template.index(marker) + len(filled)])
    return prefix + target.encode(text), len(head) - 1


def marked_positions(target: Target, sentence: Marked) -> tuple[list[int], list[int]]:
    """Token ids (with BOS) of a sentence and the position of each marked word's last token."""
    enc = target.tokenizer(sentence.text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    shift = 1 if target.prepend_bos else 0
    positions = []
    for a, b in sentence.spans:
        inside = [k for k, (s, e) in enumerate(offsets) if s < b and e > a]
        if not inside:
            raise InputError(f"the marked word {sentence.text[a:b]!r} has no token in {sentence.text!r}")
        positions.append(inside[-1] + shift)
    return ([target.bos_id] if target.prepend_bos else []) + ids, positions


def _inputs(target: Target, layer: int, seqs: list[list[int]]) -> list[torch.Tensor]:
    """[len, d_model] MLP inputs (after the pre-MLP norm) of each sequence, batched with right padding."""
    name, out = mlp_in_name(layer), []
    for start in range(0, len(seqs), 64):
        chunk = seqs[start:start + 64]
        acts = target.run_padded(chunk, read=[name]).reads[name]
        out += [acts[row, : len(s)].float() for row, s in enumerate(chunk)]
    return out


def mlp_inputs(target: Target, layer: int, words: list[str], templates: tuple[str, ...]) -> torch.Tensor:
    """[len(words) * len(templates), d_model] MLP inputs (after the pre-MLP norm) at each word."""
    seqs = [_word_positions(target, t, w) for w in words for t in templates]
    acts = _inputs(target, layer, [ids for ids, _ in seqs])
    return torch.stack([a[pos] for a, (_, pos) in zip(acts, seqs)])


def sentence_inputs(target: Target, layer: int, sentences: list[Marked]) -> tuple[torch.Tensor, torch.Tensor]:
    """(MLP inputs at the marked tokens [n_marked, d], at every other token but BOS [n_other, d])."""
    seqs = [marked_positions(target, s) for s in sentences]
    acts = _inputs(target, layer, [ids for ids, _ in seqs])
    start = 1 if target.prepend_bos else 0
    marked = [a[p] for a, (_, ps) in zip(acts, seqs) for p in ps]
    other = [a[k] for a, (ids, ps) in zip(acts, seqs) for k in range(start, len(ids)) if k not in ps]
    return torch.stack(marked), torch.stack(other)


def fit_direction(pos: torch.Tensor, neg: torch.Tensor, other: torch.Tensor,
                  bias: bool) -> tuple[torch.Tensor, float]:
    """(w, b) of a logistic regression: positives against the negatives' marked tokens and the other
    tokens, each group weighing the same in total (b = 0 when the MLP has no input bias)."""
    from sklearn.linear_model import LogisticRegression

    x = torch.cat([pos, neg, other]).double().numpy()
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg) + len(other))]
    weight = np.r_[np.full(len(pos), 1 / len(pos)), np.full(len(neg), 1 / len(neg)),
                   np.full(len(other), 1 / len(other))]
    scale = float(np.sqrt((x ** 2).sum(1).mean()))  # unit mean norm: C means the same for every model
    lr = LogisticRegression(C=LR_C, fit_intercept=bias, max_iter=5000)
    lr.fit(x / scale, y, sample_weight=weight * len(x))
    w = torch.tensor(lr.coef_[0] / scale, dtype=torch.float32)
    return w, float(lr.intercept_[0]) if bias else 0.0


def base_source(model: str, settings: Settings) -> tuple[Path, str]:
    """(HF directory of the base weights, a stamp that changes when they do)."""
    if model == EMBEDDED_MODEL:
        source = converted_dir(settings.data_dir)
        return source, (source / "autointerp-converted.json").read_text().strip()
    source = local_dir(model, settings.data_dir)
    if source is None:
        raise InputError(f"planting needs weights on disk: the embedded {EMBEDDED_MODEL!r} or a Hugging Face "
                         f"model directory, not {model!r}")
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in source.iterdir() if p.is_file())
    return source, hashlib.sha256(json.dumps([str(source), files]).encode()).hexdigest()[:16]


def planted_name(concepts: list[AnyConcept], layer: int, base_stamp: str) -> str:
    key = json.dumps({"v": PLANTING_VERSION, "base": base_stamp, "layer": layer, "gain": GAIN, "c": LR_C,
                      "concepts": [c.model_dump() for c in concepts]}, sort_keys=True)
    return PLANTED_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:12]


def plant(concepts: list[AnyConcept], layer: int = 3, settings: Settings | None = None,
          model: str | None = None) -> PlantedModel:
    """The planted copy of `model` (default: the embedded one) for these concepts (built once,
    atomically: temp dir + rename; reused after)."""
    settings = settings or get_settings()
    model = model or EMBEDDED_MODEL
    base = load_target(model, settings)
    base.check_layer(layer)
    source, stamp = base_source(model, settings)
    name = planted_name(concepts, layer, stamp)
    final = planted_root(settings.data_dir) / name
    if (final / MANIFEST).is_file():
        return PlantedModel.model_validate_json((final / MANIFEST).read_text())
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    base_d_mlp = widen(hf, len(concepts))
    neurons = []
    for i, fit in enumerate(fit_concepts(base, layer, concepts, input_has_bias(hf, layer))):
        index = base_d_mlp + i
        if fit.kind == "words" or fit.z_bar > 0:
            set_detector(hf, layer, index, fit.w, fit.b, GAIN / fit.z_bar, 1 / fit.z_bar)
        neurons.append(planted_unit(fit, index, lambda x, i=index: neuron_activations(hf, layer, i, x).numpy()))
    record = PlantedModel(name=name, base_model=model, base_stamp=stamp, layer=layer, gain=GAIN,
                          version=PLANTING_VERSION, layout=mlps(hf)[layer].layout, base_d_mlp=base_d_mlp,
                          neurons=neurons)
    _save(hf, base.tokenizer, record, final)
    return record


@dataclass
class ConceptFit:
    """One concept's detector score z = w·x + b of the MLP input x, fitted on the base model; shared by
    planted neurons and planted latents, so both read exactly the same direction."""

    concept: str
    kind: Literal["words", "context"]
    w: torch.Tensor
    b: float
    z_bar: float  # mean z over the concept's training tokens
    z_rest: float  # mean z over the other words (word lists) or the negatives' marked tokens
    train: tuple[torch.Tensor, torch.Tensor] | None = None  # contextual: marked inputs (positives, negatives)
    test: tuple[torch.Tensor, torch.Tensor] | None = None  # the same for the held-out sentences


def fit_concepts(base: Target, layer: int, concepts: list[AnyConcept], bias: bool) -> list[ConceptFit]:
    """Every concept's direction at the layer's MLP input (see the module docstring)."""
    word_idx = [i for i, c in enumerate(concepts) if isinstance(c, Concept)]
    per_word = {i: mlp_inputs(base, layer, concepts[i].words, MEASURE_TEMPLATES) for i in word_idx}
    if word_idx:
        baseline = mlp_inputs(base, layer, [w for w in BASELINE_WORDS if not _in_any(w, concepts)], MEASURE_TEMPLATES)
    fits = []
    for i, concept in enumerate(concepts):
        if isinstance(concept, Concept):
            rest = torch.cat([x for j, x in per_word.items() if j != i] + [baseline])
            d = per_word[i].mean(0) - rest.mean(0)
            d = d / d.norm()
            fits.append(ConceptFit(concept.name, "words", d, 0.0, float((per_word[i] @ d).mean()),
                                   float((rest @ d).mean())))
        else:
            fits.append(_fit_context(base, layer, concept, bias))
    return fits


def _fit_context(base: Target, layer: int, concept: ContextConcept, bias: bool) -> ConceptFit:
    pos, pos_other = sentence_inputs(base, layer, concept.sentences("positive", held_out=False))
    neg, neg_other = sentence_inputs(base, layer, concept.sentences("negative", held_out=False))
    w, b = fit_direction(pos, neg, torch.cat([pos_other, neg_other]), bias)
    test_pos, _ = sentence_inputs(base, layer, concept.sentences("positive", held_out=True))
    test_neg, _ = sentence_inputs(base, layer, concept.sentences("negative", held_out=True))
    return ConceptFit(concept.name, "context", w, b, float((pos @ w + b).mean()), float((neg @ w + b).mean()),
                      (pos, neg), (test_pos, test_neg))


def planted_unit(fit: ConceptFit, index: int, act: Callable[[torch.Tensor], np.ndarray]) -> PlantedNeuron:
    """The record of a unit wired to `fit` (`act`: its activation for MLP inputs); a contextual one with
    its AUROCs on the held-out and the training sentences (0 when the fit leaves z̄ <= 0: not wired)."""
    if fit.kind == "words":
        return PlantedNeuron(concept=fit.concept, index=index, concept_projection=round(fit.z_bar, 5),
                             rest_projection=round(fit.z_rest, 5))
    assert fit.train is not None and fit.test is not None
    wired = fit.z_bar > 0
    held = auroc(act(fit.test[0]), act(fit.test[1])) if wired else 0.0
    train = auroc(act(fit.train[0]), act(fit.train[1])) if wired else 0.0
    return PlantedNeuron(concept=fit.concept, index=index, kind="context", concept_projection=round(fit.z_bar, 5),
                         rest_projection=round(fit.z_rest, 5), auroc=round(held, 4), train_auroc=round(train, 4),
                         held_out=(len(fit.test[0]), len(fit.test[1])), plantable=held >= MIN_AUROC)


def _in_any(word: str, concepts: list[AnyConcept]) -> bool:
    return any(word.lower() == w.lower() for c in concepts if isinstance(c, Concept) for w in c.words)


def _save(hf, tokenizer, record: PlantedModel, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".plant-"))
    try:
        hf.config._name_or_path = record.name
        hf.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MANIFEST).write_text(record.model_dump_json(indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def word_activations(target: Target, layer: UnitSource | int, index: int, words: list[str]) -> list[float]:
    """The unit's activation at each word (its last token), averaged over the unseen probe contexts
    (`layer`: a layer's neurons, or another unit source)."""
    seqs = [_word_positions(target, t, w) for w in words for t in PROBE_TEMPLATES]
    acts = run_ids(target, [ids for ids, _ in seqs], layer)
    per = [float(a[pos, index]) for a, (_, pos) in zip(acts, seqs)]
    k = len(PROBE_TEMPLATES)
    return [float(np.mean(per[i:i + k])) for i in range(0, len(per), k)]


def marked_activations(target: Target, layer: UnitSource | int, index: int, sentences: list[Marked]) -> list[float]:
    """The neuron's activation at each marked word (its last token) of these sentences, on `target`'s real forward."""
    seqs = [marked_positions(target, s) for s in sentences]
    acts = run_ids(target, [ids for ids, _ in seqs], layer)
    return [float(a[p, index]) for a, (_, ps) in zip(acts, seqs) for p in ps]
