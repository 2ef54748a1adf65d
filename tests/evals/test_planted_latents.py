"""Planted latents on the real embedded model: the dictionary written in SAELens's layout and read by
our own reader computes relu(w·x + b) of the MLP input the Hugging Face model really feeds its MLP;
each latent fires on its concept; the eval command writes its record."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from autointerp.dictionaries import list_dictionaries, open_dictionary
from autointerp.evals.concepts import DEFAULT_CONCEPTS, load_concepts
from autointerp.evals.latent_planting import plant_latents
from autointerp.evals.planting import (
    BASELINE_WORDS,
    PROBE_TEMPLATES,
    auroc,
    marked_activations,
    word_activations,
)
from autointerp.paths import DataLayout
from autointerp.targets import load_target
from autointerp.targets.embedded import converted_dir
from autointerp.tools.probe import run_ids
from tests.conftest import linked_home
from tests.test_cli import run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def latents_home(home, smol, tmp_path_factory, three_concepts):
    s = linked_home(home, tmp_path_factory.mktemp("latents-home") / "home", tokens=8192)
    return s, plant_latents(load_concepts(three_concepts), 3, s)


def test_planted_latent_is_relu_of_the_hf_mlp_input_and_fires_on_its_concept(latents_home, three_concepts):
    s, pd = latents_home
    target = load_target(None, s)
    folder = DataLayout(s.data_dir).dictionaries_dir(target.name) / pd.name
    cfg = json.loads((folder / "cfg.json").read_text())
    assert (cfg["architecture"], cfg["hook_name"], cfg["d_sae"]) == ("standard", "blocks.3.ln2.hook_normalized", 3)
    w = load_file(str(folder / "sae_weights.safetensors"))  # SAELens's orientation: W_enc [d_in, d_sae]
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(converted_dir(s.data_dir), dtype=torch.float32)
    seen = {}
    hook = hf.model.layers[3].mlp.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
    source = open_dictionary(target, pd.name)
    concepts = load_concepts(three_concepts)
    try:
        for i, concept in enumerate(concepts):
            others = [x for j, c in enumerate(concepts) if j != i for x in c.words[:4]] + list(BASELINE_WORDS[:8])
            for k, word in enumerate(concept.words[:4] + others[:4]):
                ids = [target.bos_id] + target.encode(PROBE_TEMPLATES[k % 4].replace("{w}", word))
                with torch.no_grad():
                    hf(torch.tensor([ids]))
                expected = torch.relu(seen["x"][0] @ w["W_enc"] + w["b_enc"])  # the MLP's real input, by hand
                ours = run_ids(target, [ids], source)[0]
                assert torch.allclose(ours, expected, atol=1e-4), float((ours - expected).abs().max())
            on = word_activations(target, source, i, concept.words)
            off = word_activations(target, source, i, others + list(BASELINE_WORDS[:40]))
            print(f"{concept.name}: concept mean {np.mean(on):.2f}, others mean {np.mean(off):.3f}")
            assert 4 < np.mean(on) < 16 and np.mean(on) > 20 * max(np.mean(off), 1e-3)
            assert pd.unit(i) == f"3-{pd.name}/{i}"
    finally:
        hook.remove()
    assert plant_latents(concepts, 3, s) == pd  # reused, not registered twice
    assert [d.name for d in list_dictionaries(DataLayout(s.data_dir), target.name)] == [pd.name]


def test_a_contextual_pair_is_planted_as_latents_and_told_apart(home, smol, tmp_path_factory, tmp_path):
    """party (politics) / party (celebration): each latent's held-out AUROC, measured through the
    registered dictionary, clears the floor as the planted neurons' do."""
    s = linked_home(home, tmp_path_factory.mktemp("latent-party") / "home")
    path = tmp_path / "pair.json"
    path.write_text(json.dumps([c for c in json.loads(DEFAULT_CONCEPTS.read_text()) if c["name"].startswith("party")]))
    concepts = load_concepts(path)
    pd = plant_latents(concepts, 3, s)
    source = open_dictionary(load_target(None, s), pd.name)
    for c, latent in zip(concepts, pd.latents):
        pos = marked_activations(smol, source, latent.index, c.sentences("positive", held_out=True))
        neg = marked_activations(smol, source, latent.index, c.sentences("negative", held_out=True))
        print(c.name, latent.auroc, np.round(pos, 2), np.round(neg, 2))
        assert latent.kind == "context" and latent.plantable and latent.auroc >= pd.min_auroc
        assert latent.auroc == round(auroc(np.array(pos), np.array(neg)), 4)


def test_eval_planted_latents_writes_its_record(latents_home, three_concepts, tmp_path):
    s, pd = latents_home
    r = run(s, "eval", "planted", "--latents", "--concepts", str(three_concepts), "--explainers", "heuristic",
            "--json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert (res["units"], res["dictionary"], res["planted_model"]) == ("latents", pd.name, "smollm2-135m")
    assert [o["neuron"] for o in res["concepts"]] == [pd.unit(i) for i in range(3)]
    (summary,) = res["summary"]
    print(summary, [o["runs"][0]["text"] for o in res["concepts"]])
    for o in res["concepts"]:
        assert o["concept_activation"] > 10 * max(o["distractor_activation"], 1e-3) and o["top_share"] > 0.5
    assert summary["recovered"] >= 2  # as the planted neurons' heuristic (test_cli_evals)
    md = (tmp_path / "planted-latents.md").read_text()
    assert md.startswith("## Planted latents") and "| latent |" in md
    assert json.loads((tmp_path / "planted-latents.json").read_text()) == res
