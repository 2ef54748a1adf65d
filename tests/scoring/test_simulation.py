"""Simulation scoring on real neurons of the embedded model."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from autointerp.cache.build import build_cache
from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.records import ActivationRecord
from autointerp.scoring.simulation import defined, discretise, is_defined, pearson, score_records, simulation_score
from autointerp.scoring.simulators import get_simulator
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


def ref_pearson(x: list[float], y: list[float]) -> float | None:
    """Textbook Pearson from sums, written apart from the library's; None for a constant side."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def _rec(window: int, words: list[str], acts: list[float]) -> ActivationRecord:
    i = max(range(len(acts)), key=lambda k: acts[k])
    return ActivationRecord(window=window, tokens=["<s>", *words], token_ids=list(range(len(words) + 1)),
                            activations=[99.0, *acts], max_index=i + 1, max_token=words[i], max_activation=acts[i],
                            has_bos=True)


def test_discretise_and_pearson():
    assert discretise([-1.0, 0.0, 0.55, 1.0, 2.0], 1.0) == [0, 0, 5, 10, 10]
    assert discretise([1.0], 0.0) == [0]
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([-1, 0, 1], [0, 10, 10]) == pytest.approx(math.sqrt(3) / 2)  # worked by hand
    assert pearson([1, 1, 1], [1, 2, 3]) is None and pearson([1, 2, 3], [0, 0, 0]) is None
    assert pearson([5], [5]) is None


def test_default_rule_is_openais_raw_pearson_on_fixed_arrays():
    """Raw activations, negatives included, pooled over windows (BOS never scored); a window of
    zeros and a window with constant predictions are undefined (None) alone but count in the pool."""
    trig = ["a", "an"]
    recs = [_rec(3, [" a", " cat", " an", " owl", " sat"], [1.5, -0.3, 0.8, -0.1, -0.25]),
            _rec(8, [" the", " a", " dog"], [0.0, 0.0, 0.0]),  # the neuron silent: true side constant
            _rec(9, [" the", " big", " dog"], [0.4, -0.2, 0.1])]  # no trigger: predictions constant
    pred = [[10, 0, 10, 0, 0], [0, 10, 0], [0, 0, 0]]
    true = [[1.5, -0.3, 0.8, -0.1, -0.25], [0.0, 0.0, 0.0], [0.4, -0.2, 0.1]]
    sim = score_records("articles", trig, recs, 1.5, "lexical")
    assert [w.predicted for w in sim.windows] == pred and [w.true for w in sim.windows] == true
    assert sim.value == pytest.approx(ref_pearson(sum(pred, []), sum(true, [])), abs=1e-12)
    assert sim.per_window[0] == pytest.approx(ref_pearson(pred[0], true[0]), abs=1e-12)
    assert sim.per_window[1:] == [None, None] and sim.n_tokens == 11
    assert [w.window for w in sim.windows] == [3, 8, 9] and sim.windows[0].tokens[0] == " a"
    # the old rule: min(10, floor(10 * relu(x) / max)) with max 1.5
    old = score_records("articles", trig, recs, 1.5, "lexical", rule="discretised")
    assert [w.true for w in old.windows] == [[10, 0, 5, 0, 0], [0, 0, 0], [2, 0, 0]]
    assert old.value == pytest.approx(ref_pearson(sum(pred, []), [10, 0, 5, 0, 0, 0, 0, 0, 2, 0, 0]), abs=1e-12)
    # constant predictions everywhere: undefined, never 0
    none = score_records("articles", ["zebra"], recs, 1.5, "lexical")
    assert none.value is None and none.per_window == [None, None, None]


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
    sim = score_records("smoothness", ["Smooth", "was smooth"], [rec], 5.0, "lexical")
    assert sim.n_tokens == 6 and sim.value > 0.8 and sim.usage.calls == 0
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


def test_score_json_recomputes_its_value(real_settings, real_wb):
    """`score --json` lists every scored window with the raw activations and the predictions it
    correlated: the Pearson of those pooled equals its value, and each window's its per-window one."""
    import json
    import subprocess
    import sys

    from tests.conftest import env_for

    def run(*args):
        r = subprocess.run([sys.executable, "-m", "autointerp.cli", "score", "L29.N720", "the articles a and an",
                            "--json", *args], env=env_for(real_settings, AUTOINTERP_TOKENS="4096"),
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    obj = run("--simulator", "lexical", "--triggers", "a,an")
    assert obj["rule"] == "raw" and len(obj["windows"]) == obj["n_examples"] == 10
    pred = [v for w in obj["windows"] for v in w["predicted"]]
    true = [v for w in obj["windows"] for v in w["true"]]
    assert len(true) == obj["n_tokens"] and min(true) < 0  # raw: negatives kept
    assert obj["value"] == pytest.approx(ref_pearson(pred, true), abs=1e-5)
    for w, c in zip(obj["windows"], obj["per_example"]):
        ref = ref_pearson(w["predicted"], w["true"])
        assert (c is None and ref is None) or c == pytest.approx(ref, abs=1e-5)
    split = obj["split"]
    assert [w["window"] for w in obj["windows"]] == split["score_top_windows"] + split["score_random_windows"]
    layer = real_wb.layer(29)
    cached = {r.window: r for r in layer.top(720) + layer.random(720)}
    for w in obj["windows"]:  # the very activations of the cache, BOS left out
        assert w["true"] == cached[w["window"]].activations[1:] and w["tokens"] == cached[w["window"]].tokens[1:]
    old = run("--simulator", "lexical", "--triggers", "a,an", "--rule", "discretised")
    assert old["rule"] == "discretised" and {v for w in old["windows"] for v in w["true"]} <= set(range(11))
    assert old["value"] == pytest.approx(ref_pearson(pred, [v for w in old["windows"] for v in w["true"]]), abs=1e-5)


def test_embedding_simulator_matches_a_phrase_item_on_its_last_word():
    """A two-word item ("in order") is met exactly by the token's word with the one word before it:
    "order" after "in" is predicted above "order" after "the", and above "in" itself."""
    rec = _rec(0, ["He", " worked", " in", " order", " to", " pay", ".", " The", " order", " came"],
               [0, 0, 0, 9, 0, 0, 0, 0, 0, 0])
    [pred] = get_simulator("embedding").predict('the phrase "in order"', ["in order"], [rec])
    assert pred[4] == max(pred) and pred[4] > pred[9] + 1 and pred[4] > pred[3] + 1


def test_undefined_scores_are_left_out_never_averaged():
    assert defined([0.1, None, float("nan"), -0.2]) == [0.1, -0.2]
    assert not is_defined(None) and not is_defined(float("nan")) and is_defined(0.0)
