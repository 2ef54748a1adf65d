"""Planting on the real embedded model: the rewired neuron detects its concept, nothing else changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autointerp.errors import TargetError
from autointerp.evals.concepts import load_concepts
from autointerp.evals.planting import BASELINE_WORDS, word_activations
from autointerp.targets import load_target

pytestmark = pytest.mark.integration


def test_planted_neuron_fires_on_its_concept_far_more_than_on_other_words(planted_home, planted_wb, three_concepts):
    _, planted = planted_home
    target = planted_wb.target
    concepts = load_concepts(three_concepts)
    for i, concept in enumerate(concepts):
        n = planted.neuron_of(concept.name)
        others = [w for j, c in enumerate(concepts) if j != i for w in c.words] + list(BASELINE_WORDS[:60])
        on = word_activations(target, planted.layer, n.index, concept.words)
        off = word_activations(target, planted.layer, n.index, others)
        print(f"{concept.name}: concept mean {np.mean(on):.2f} (min {min(on):.2f}), others mean {np.mean(off):.3f} "
              f"(max {max(off):.2f})")
        assert np.mean(on) > 20 * max(np.mean(off), 1e-3)
        assert min(on) > np.percentile(off, 90)


def test_zeroed_output_weights_leave_the_logits_unchanged(planted_home, planted_wb, smol):
    """The planted neurons are appended (every original neuron kept) with zero output columns."""
    _, planted = planted_home
    target = planted_wb.target
    assert target.d_mlp == smol.d_mlp + len(planted.neurons) == planted.base_d_mlp + 3
    ids = torch.tensor([[smol.bos_id] + smol.encode("In January my dog and I drove from France to Spain.")])
    base = smol.run(ids, logits=True).logits
    mine = target.run(ids, logits=True).logits
    assert torch.allclose(base, mine, atol=1e-4), float((base - mine).abs().max())
    before, after = smol.layer_activations(ids, planted.layer), target.layer_activations(ids, planted.layer)
    assert torch.allclose(before, after[..., : smol.d_mlp], atol=1e-5)
    assert after[..., smol.d_mlp:].abs().max() > 1.0
    other = target.layer_activations(ids, planted.layer + 1)
    assert other[..., smol.d_mlp:].abs().max() == 0


def test_planted_model_loads_by_name_and_by_path_and_is_reused(planted_home, three_concepts):
    from autointerp.evals.planting import plant
    from autointerp.targets.local import planted_root

    settings, planted = planted_home
    path = planted_root(settings.data_dir) / planted.name
    by_path = load_target(str(path), settings)
    assert by_path.d_mlp == 1539 and by_path.n_layers == 30
    stamp = path.stat().st_mtime_ns
    assert plant(load_concepts(three_concepts), 3, settings) == planted
    assert path.stat().st_mtime_ns == stamp
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".plant-")]


def test_unknown_planted_name_is_one_clear_error(settings):
    with pytest.raises(TargetError, match="no planted model 'planted-000000000000'"):
        load_target("planted-000000000000", settings)


def test_a_planted_neuron_has_no_output_effects(planted_home, planted_wb):
    """Zero output weights: no token is promoted or lost, so no explanation may claim a prediction."""
    from autointerp.tools.effects import effects

    _, planted = planted_home
    n = planted.neurons[0]
    res = effects(planted_wb, f"L{planted.layer}.N{n.index}", k=10, contexts=4)
    assert (res.promoted, res.suppressed, res.ablation_lost, res.ablation_gained) == ([], [], [], [])


@pytest.fixture(scope="module")
def party_pair(home, smol, tmp_path_factory):
    """(settings, planted record, concepts): the shipped "party" pair planted in layer 3 of the real model."""
    import json

    from autointerp.evals.concepts import DEFAULT_CONCEPTS
    from autointerp.evals.planting import plant
    from tests.conftest import linked_home

    s = linked_home(home, tmp_path_factory.mktemp("party-home") / "home")
    path = tmp_path_factory.mktemp("party") / "party.json"
    path.write_text(json.dumps([c for c in json.loads(DEFAULT_CONCEPTS.read_text()) if c["name"].startswith("party")]))
    concepts = load_concepts(path)
    return s, plant(concepts, 3, s), concepts


def test_a_contextual_pair_is_planted_on_the_real_model_and_told_apart(party_pair):
    """The same word in two senses: each neuron fires on its sense's held-out sentences, not the other's."""
    from autointerp.evals.planting import marked_activations

    s, planted, concepts = party_pair
    target = load_target(planted.name, s)
    for c in concepts:
        n = planted.neuron_of(c.name)
        assert n.kind == "context" and n.plantable and n.auroc >= planted.min_auroc, n
        pos = marked_activations(target, 3, n.index, c.sentences("positive", held_out=True))
        neg = marked_activations(target, 3, n.index, c.sentences("negative", held_out=True))
        print(c.name, n.auroc, np.round(pos, 2), np.round(neg, 2))
        assert np.mean(pos) > 5 * max(np.mean(neg), 0.05)
        plain = marked_activations(target, 3, n.index, [_marked("I saw the dog near the [[house]] today.")])
        assert plain[0] < 0.5  # silent on an unrelated word


def _marked(text: str):
    from autointerp.evals.concepts import parse_marked

    return parse_marked(text)
