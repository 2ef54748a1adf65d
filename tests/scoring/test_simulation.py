"""Simulation scoring on real neurons of the embedded model."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from autointerp.cache.build import build_cache
from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.records import ActivationRecord
from autointerp.scoring.simulation import discretise, pearson, score_records, simulation_score
from autointerp.scoring.split import held_out
from autointerp.workbench import Workbench
from tests.conftest import linked_home

LAYER = 6
NEURONS = sorted(np.random.default_rng(0).choice(1536, 10, replace=False).tolist())  # fixed, not picked


@pytest.fixture(scope="module")
def scoring_settings(home, smol, tmp_path_factory) -> Settings:
    s = linked_home(home, tmp_path_factory.mktemp("scoring-home"), tokens=65_536)
    build_cache([LAYER], settings=s, progress=False)
    return s


@pytest.fixture(scope="module")
def scoring_wb(scoring_settings) -> Workbench:
    return Workbench.open("smollm2-135m", settings=scoring_settings, progress=False)


def _own_explanation(layer, index: int) -> str:
    explain, _, _ = held_out(layer, index)
    tokens = [t.strip() for t, _ in Counter(r.max_token for r in explain).most_common(8) if t.strip()]
    return "the tokens " + ", ".join(tokens)


def test_discretise_and_pearson():
    assert discretise([-1.0, 0.0, 0.55, 1.0, 2.0], 1.0) == [0, 0, 5, 10, 10]
    assert discretise([1.0], 0.0) == [0]
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None


def test_split_never_scores_what_the_explainer_saw(scoring_wb):
    layer = scoring_wb.layer(LAYER)
    explain, scored, split = held_out(layer, NEURONS[0])
    assert len(split.score_top_windows) == 5 and len(split.score_random_windows) == 5
    assert not {r.window for r in explain} & {r.window for r in scored}
    assert held_out(layer, NEURONS[0])[2] == split  # deterministic
    _, only_random, split_r = held_out(layer, NEURONS[0], kind="random-only")
    assert split_r.score_top_windows == [] and len(only_random) == 5


@pytest.mark.integration
def test_own_top_tokens_beat_another_neurons(scoring_wb):
    """The issue's bar: for >= 8 of 10 neurons, an explanation from its own top tokens scores
    higher under the embedding simulator than the next neuron's explanation."""
    layer = scoring_wb.layer(LAYER)
    expl = {n: _own_explanation(layer, n) for n in NEURONS}
    wins = 0
    for i, n in enumerate(NEURONS):
        other = NEURONS[(i + 1) % len(NEURONS)]
        own = simulation_score(scoring_wb, f"L{LAYER}.N{n}", expl[n])
        rival = simulation_score(scoring_wb, f"L{LAYER}.N{n}", expl[other])
        wins += own.value > rival.value
        print(f"L{LAYER}.N{n}: own {own.value:+.3f} vs L{LAYER}.N{other}'s {rival.value:+.3f}  ({expl[n][:60]})")
        assert own.n_examples == 10 and own.n_tokens == 10 * 63
    print(f"own explanation wins for {wins} of {len(NEURONS)} neurons")
    assert wins >= 8


def test_bad_scoring_inputs_in_library_terms(scoring_wb):
    n = f"L{LAYER}.N{NEURONS[0]}"
    with pytest.raises(InputError, match="explanation is empty"):
        simulation_score(scoring_wb, n, "  ")
    with pytest.raises(InputError, match="^top and random must be >= 0 and not both 0$"):
        simulation_score(scoring_wb, n, "x", top=0, random=0)
    with pytest.raises(InputError, match="layers are 0..29"):
        simulation_score(scoring_wb, "L30.N1", "x")
    s = simulation_score(scoring_wb, n, "numbers", "lexical", triggers=("1", "2"), split="random-only", random=8)
    assert s.split.kind == "random-only" and s.n_examples == 8 and s.split.score_top_windows == []


def test_lexical_simulator_matches_triggers():
    rec = ActivationRecord(window=0, tokens=["<s>", "The", " smooth", " road", " was", " smooth", "ly"],
                           token_ids=list(range(7)), activations=[9, 0, 5, 0, 0, 4, 1], max_index=2,
                           max_token=" smooth", max_activation=5, has_bos=True)
    value, per, n, usage = score_records("smoothness", ["Smooth", "was smooth"], [rec], 5.0, "lexical")
    assert n == 6 and value > 0.8 and usage.calls == 0
    with pytest.raises(InputError, match="needs trigger"):
        score_records("x", [], [rec], 5.0, "lexical")
    with pytest.raises(InputError, match="needs an LLM"):
        score_records("x", ["a"], [rec], 5.0, "llm")
    with pytest.raises(InputError, match="unknown simulator"):
        score_records("x", ["a"], [rec], 5.0, "nope")  # type: ignore[arg-type]


def test_score_cli(scoring_settings):
    import json
    import subprocess
    import sys

    from tests.conftest import env_for

    def run(*args):
        return subprocess.run([sys.executable, "-m", "autointerp.cli", "score", *args],
                              env=env_for(scoring_settings, AUTOINTERP_TOKENS="65536"),
                              capture_output=True, text=True, timeout=600)

    r = run(f"L{LAYER}.N{NEURONS[0]}", "fires on numbers", "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["method"] == "simulation" and obj["simulator"] == "embedding" and obj["n_examples"] == 10
    assert -1 <= obj["value"] <= 1 and obj["split"]["kind"] == "top-and-random"
    r = run(f"L{LAYER}.N{NEURONS[0]}", "numbers", "--simulator", "lexical", "--triggers", "1,2,3", "--split",
            "random-only", "--random", "8")
    assert r.returncode == 0 and "simulator lexical" in r.stdout and "8 held-out windows" in r.stdout
    for args, message in ((["L6.N1", ""], "explanation is empty"), (["L6.N1", "x", "--simulator", "nope"], "'nope' is not one of"),
                          (["L6.N1", "x", "--method", "vibes"], "'vibes' is not one of")):
        r = run(*args)
        assert r.returncode == 2 and message in r.stderr, r.stderr
