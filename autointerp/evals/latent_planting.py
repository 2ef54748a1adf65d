"""Planted latents: the planted-neuron eval's ground truth as a dictionary, on the unmodified model.

One latent per concept reads the same score z = w·x + b of the MLP input x (after the pre-MLP norm)
as the planted neuron (`planting.fit_concepts`, the same fits), scaled as the neuron is at a typical
concept token: latent i is relu((8/z̄) z), about 8 there and 0 wherever z < 0 (linear above 0, where
the neuron's silu(αz)·βz grows as z²). It is written in
SAELens's on-disk layout (cfg.json + sae_weights.safetensors, `standard` ReLU architecture) as a
transcoder reading `blocks.L.ln2.hook_normalized` (our reader maps it to the MLP input) and writing
`blocks.L.hook_mlp_out` with unit decoder rows w/|w|, then registered with `add_dictionary` under a
name derived from the concepts' hash, so our own reader and unit source are what the eval tests.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import torch
from pydantic import BaseModel
from safetensors.torch import save_file

from autointerp.config import EMBEDDED_MODEL, Settings, get_settings
from autointerp.dictionaries import DictionaryLatents, add_dictionary, open_dictionary
from autointerp.errors import InputError
from autointerp.evals.concepts import AnyConcept
from autointerp.evals.planting import (
    GAIN,
    LR_C,
    MIN_AUROC,
    PlantedNeuron,
    base_source,
    fit_concepts,
    planted_unit,
)
from autointerp.fileio import atomic_write_text
from autointerp.paths import DataLayout
from autointerp.targets import load_target
from autointerp.targets.mlp_edit import input_has_bias

LATENTS_VERSION = 1
MANIFEST = "planted.json"  # beside the registered dictionary's files


class PlantedDictionary(BaseModel):
    """What a planted dictionary holds; `latents[i].index` is latent i, the concept's."""

    name: str  # the registered dictionary
    base_model: str
    base_stamp: str
    layer: int
    gain: float
    version: int
    min_auroc: float = MIN_AUROC
    latents: list[PlantedNeuron]

    def unit(self, i: int) -> str:
        return f"{self.layer}-{self.name}/{self.latents[i].index}"


def _stamp(model: str, settings: Settings) -> str:
    """The base weights' stamp where they are on disk, else the model name (a hub model is what it is)."""
    try:
        return base_source(model, settings)[1]
    except (InputError, OSError):
        return model


def dictionary_name(concepts: list[AnyConcept], layer: int, stamp: str) -> str:
    key = json.dumps({"v": LATENTS_VERSION, "base": stamp, "layer": layer, "gain": GAIN, "c": LR_C,
                      "concepts": [c.model_dump() for c in concepts]}, sort_keys=True)
    return "planted-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def write_saelens(folder: Path, w_enc: torch.Tensor, b_enc: torch.Tensor, w_dec: torch.Tensor, layer: int,
                  model: str) -> None:
    """A SAELens `standard` transcoder folder: W_enc is [d_in, d_sae] on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"W_enc": w_enc.T.contiguous(), "b_enc": b_enc.contiguous(), "W_dec": w_dec.contiguous(),
               "b_dec": torch.zeros(w_dec.shape[1])}, str(folder / "sae_weights.safetensors"))
    cfg = {"architecture": "standard", "d_in": int(w_enc.shape[1]), "d_sae": int(w_enc.shape[0]),
           "hook_name": f"blocks.{layer}.ln2.hook_normalized", "hook_name_out": f"blocks.{layer}.hook_mlp_out",
           "apply_b_dec_to_input": False, "normalize_activations": "none", "dtype": "float32", "model_name": model}
    (folder / "cfg.json").write_text(json.dumps(cfg, indent=2))


def plant_latents(concepts: list[AnyConcept], layer: int = 3, settings: Settings | None = None,
                  model: str | None = None) -> PlantedDictionary:
    """The planted dictionary of `model` (default: the embedded one) for these concepts: built and
    registered once, reused after (a registration left without its manifest is redone)."""
    settings = settings or get_settings()
    target = load_target(model or EMBEDDED_MODEL, settings)
    target.check_layer(layer)
    stamp = _stamp(model or EMBEDDED_MODEL, settings)
    name = dictionary_name(concepts, layer, stamp)
    folder = DataLayout(settings.data_dir).dictionaries_dir(target.name) / name
    if (folder / MANIFEST).is_file():
        return PlantedDictionary.model_validate_json((folder / MANIFEST).read_text())
    shutil.rmtree(folder, ignore_errors=True)
    fits = fit_concepts(target, layer, concepts, input_has_bias(target.bridge.original_model, layer))
    rows, biases, dec = [], [], []
    for f in fits:
        alpha = GAIN / f.z_bar if f.kind == "words" or f.z_bar > 0 else 0.0  # not wired: a dead latent
        rows.append(alpha * f.w)
        biases.append(alpha * f.b)
        dec.append(f.w / f.w.norm().clamp_min(1e-12))
    with tempfile.TemporaryDirectory(prefix=".planted-latents-") as tmp:
        write_saelens(Path(tmp), torch.stack(rows).float(), torch.tensor(biases, dtype=torch.float32),
                      torch.stack(dec).float(), layer, target.name)
        add_dictionary(target, DataLayout(settings.data_dir), Path(tmp), name)
    source = open_dictionary(target, name)
    latents = [planted_unit(f, i, lambda x, i=i: latent_activations(source, i, x).numpy())
               for i, f in enumerate(fits)]
    record = PlantedDictionary(name=name, base_model=target.name, base_stamp=stamp, layer=layer,
                               gain=GAIN, version=LATENTS_VERSION, latents=latents)
    atomic_write_text(folder / MANIFEST, record.model_dump_json(indent=2))
    return record


def latent_activations(source: DictionaryLatents, index: int, x: torch.Tensor) -> torch.Tensor:
    """[n] latent `index` for MLP inputs x [n, d_model], through our own dictionary reader's encoder."""
    return source.encode(x)[:, index]

