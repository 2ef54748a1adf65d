"""Planted neurons: a copy of the embedded model with one extra MLP neuron per concept in one layer,
wired to detect that concept, so an explainer's answer can be checked against a known truth.

The copy appends k neurons to every MLP (intermediate size d_mlp + k; all-zero weights except the
planted ones), so every original neuron is kept. For the gated MLP `down(silu(gate(x)) * up(x))`,
x the MLP input after the pre-MLP RMSNorm, planted neuron n gets gate row α·d and up row β·d, where
d is the unit vector from the mean MLP input over every other word to the mean over the concept's
words (each word read at its last token, in short contexts). Its activation silu(α s)·β s with
s = d·x is large when s is well above zero (concept tokens) and stays under 0.5·β/α for negative s.
Its output column is zero, so the logits are exactly those of the original model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from autointerp.config import EMBEDDED_MODEL, Settings, get_settings
from autointerp.evals.concepts import Concept
from autointerp.targets import Target, load_target, mlp_in_name
from autointerp.targets.embedded import converted_dir
from autointerp.targets.local import PLANTED_PREFIX, planted_root
from autointerp.tools.probe import run_ids

PLANTING_VERSION = 1
MANIFEST = "planted.json"
# α·s at the mean concept token: activation silu(8) ≈ 8 there, at most 0.06 for any token with s < 0.
GAIN = 8.0
# Contexts for measuring directions; PROBE_TEMPLATES (different words) check and score the planting.
MEASURE_TEMPLATES = ("I saw the {w} there.", "We talked about {w} today.", "It is a {w}.", "The {w} was here.",
                     "{W} was mentioned.")
PROBE_TEMPLATES = ("Yesterday my friend wrote a long note about {w} and then left.",
                   "In the old book there was a chapter on {w} near the end.",
                   "She said that {w} mattered more than anything else.",
                   "According to the report, {w} came up again last week.")
# Ordinary words that belong to none of the concepts: the rest of the vocabulary a concept is set against.
BASELINE_WORDS = tuple(dict.fromkeys("""the of and to in is was for on that with as by at from it this be are or an not but which
have has had were his her their its they he she we you will would can could new first other more some time people
year way work government system city school number part law market house water book road car paper music idea table
run make take give find think know say go come see use help show play move live believe hold bring happen write
provide sit stand lose pay meet include continue set learn change lead understand watch follow stop create speak
read allow add spend grow open walk win offer remember consider appear buy wait serve die send expect build stay
fall cut reach kill remain suggest raise pass sell require report decide pull good small large long great little
own old right big high different early young important few public bad same able last next late hard major better
best free sure clear whole real full special easy certain personal private past""".split()))


class PlantedNeuron(BaseModel):
    concept: str
    index: int
    concept_projection: float  # mean d·x over the concept's measured tokens
    rest_projection: float  # mean d·x over every other measured word


class PlantedModel(BaseModel):
    """What a planted copy holds; written beside the weights as planted.json."""

    name: str
    base_model: str
    base_stamp: str
    layer: int
    gain: float
    version: int
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


def mlp_inputs(target: Target, layer: int, words: list[str], templates: tuple[str, ...]) -> torch.Tensor:
    """[len(words) * len(templates), d_model] MLP inputs (after the pre-MLP norm) at each word."""
    seqs = [_word_positions(target, t, w) for w in words for t in templates]
    name = mlp_in_name(layer)
    pad = target.tokenizer.pad_token_id or 0
    out = []
    for start in range(0, len(seqs), 64):
        chunk = seqs[start:start + 64]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (s, _) in enumerate(chunk):
            ids[row, : len(s)] = torch.tensor(s)
            mask[row, : len(s)] = 1
        acts = target.run(ids, mask, read=[name]).reads[name]
        out.append(torch.stack([acts[row, pos] for row, (_, pos) in enumerate(chunk)]))
    return torch.cat(out).float()


def planted_name(concepts: list[Concept], layer: int, base_stamp: str) -> str:
    key = json.dumps({"v": PLANTING_VERSION, "base": base_stamp, "layer": layer, "gain": GAIN,
                      "concepts": [c.model_dump() for c in concepts]}, sort_keys=True)
    return PLANTED_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:12]


def plant(concepts: list[Concept], layer: int = 3, settings: Settings | None = None) -> PlantedModel:
    """The planted copy for these concepts (built once, atomically: temp dir + rename; reused after)."""
    settings = settings or get_settings()
    base = load_target(EMBEDDED_MODEL, settings)
    base.check_layer(layer)
    source = converted_dir(settings.data_dir)
    stamp = (source / "autointerp-converted.json").read_text().strip()
    name = planted_name(concepts, layer, stamp)
    final = planted_root(settings.data_dir) / name
    if (final / MANIFEST).is_file():
        return PlantedModel.model_validate_json((final / MANIFEST).read_text())

    per_concept = [mlp_inputs(base, layer, c.words, MEASURE_TEMPLATES) for c in concepts]
    baseline = mlp_inputs(base, layer, [w for w in BASELINE_WORDS if not _in_any(w, concepts)], MEASURE_TEMPLATES)
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    _widen(hf, len(concepts))
    mlp = hf.model.layers[layer].mlp
    neurons = []
    with torch.no_grad():
        for i, concept in enumerate(concepts):
            rest = torch.cat([x for j, x in enumerate(per_concept) if j != i] + [baseline])
            d = per_concept[i].mean(0) - rest.mean(0)
            d = d / d.norm()
            s_in, s_rest = float((per_concept[i] @ d).mean()), float((rest @ d).mean())
            index = base.d_mlp + i
            mlp.gate_proj.weight[index] = (GAIN / s_in) * d
            mlp.up_proj.weight[index] = d / s_in
            neurons.append(PlantedNeuron(concept=concept.name, index=index, concept_projection=round(s_in, 5),
                                         rest_projection=round(s_rest, 5)))
    record = PlantedModel(name=name, base_model=EMBEDDED_MODEL, base_stamp=stamp, layer=layer, gain=GAIN,
                          version=PLANTING_VERSION, base_d_mlp=base.d_mlp, neurons=neurons)
    _save(hf, base.tokenizer, record, final)
    return record


def _widen(hf, k: int) -> None:
    """Append k all-zero neurons to every MLP: silu(0)·0 = 0 and a zero output column add nothing."""
    for block in hf.model.layers:
        mlp = block.mlp
        for lin in (mlp.gate_proj, mlp.up_proj):
            lin.weight = nn.Parameter(torch.cat([lin.weight.data, lin.weight.new_zeros(k, lin.in_features)]))
            lin.out_features += k
        down = mlp.down_proj
        down.weight = nn.Parameter(torch.cat([down.weight.data, down.weight.new_zeros(down.out_features, k)], dim=1))
        down.in_features += k
        mlp.intermediate_size = hf.config.intermediate_size + k
    hf.config.intermediate_size += k


def _in_any(word: str, concepts: list[Concept]) -> bool:
    return any(word.lower() == w.lower() for c in concepts for w in c.words)


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


def word_activations(target: Target, layer: int, index: int, words: list[str]) -> list[float]:
    """The neuron's activation at each word (its last token), averaged over the unseen probe contexts."""
    seqs = [_word_positions(target, t, w) for w in words for t in PROBE_TEMPLATES]
    acts = run_ids(target, [ids for ids, _ in seqs], layer)
    per = [float(a[pos, index]) for a, (_, pos) in zip(acts, seqs)]
    k = len(PROBE_TEMPLATES)
    return [float(np.mean(per[i:i + k])) for i in range(0, len(per), k)]
