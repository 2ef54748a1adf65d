"""`eval real --dictionary` samples only that dictionary's live latents; `eval compare` puts neurons and
latents of one layer in one table. End to end on the embedded model with the heuristic explainer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from autointerp.dictionaries import add_dictionary
from autointerp.errors import InputError
from autointerp.evals.compare import compare, render
from autointerp.evals.latent_planting import write_saelens
from autointerp.evals.real import sample_latents
from autointerp.evals.records import ExplainerRun, RealResult, RunInfo
from autointerp.paths import DataLayout
from tests.conftest import linked_home
from tests.test_cli import run

DEAD = list(range(0, 16, 2))  # latents whose bias keeps them below 0 on every token


def test_sample_latents_skips_dead_ones_and_counts_them():
    maxes = np.array([0.0, 1.0, 0.0, 2.0, 3.0, -1.0, 0.5])
    picked, skipped = sample_latents(3, maxes, seed=0, name="d")
    assert len(set(picked)) == 3 and all(maxes[i] > 0 for i in picked) and 0 <= skipped <= 3
    assert sample_latents(3, maxes, 0, "d") == (picked, skipped)  # seeded
    everything, dead = sample_latents(4, maxes, 0, "d")
    assert sorted(everything) == [1, 3, 4, 6] and dead <= 3
    with pytest.raises(InputError, match="4 latents that fire .* fewer than --n 5"):
        sample_latents(5, maxes, 0, "d")


def _result(units: list[str], scores: list[float], dictionary: str | None) -> RealResult:
    info = RunInfo(eval="real", command="autointerp eval real", model="m", llm=None, simulator="embedding",
                   explainers=["heuristic"], max_steps=4, seed=0)
    runs = [ExplainerRun(neuron=u, method="heuristic", text="x", score=s) for u, s in zip(units, scores)]
    return RealResult(info=info, neurons=units, summary=[], paired={}, runs=runs, dictionary=dictionary,
                      skipped_dead=1 if dictionary else 0, dead_latents=5 if dictionary else None)


def test_the_compare_table_renders_means_intervals_and_the_difference():
    neurons = _result(["L6.N1", "L6.N7", "L6.N9"], [0.1, 0.2, 0.3], None)
    latents = _result(["6-res4k/3", "6-res4k/40", "6-res4k/41"], [0.3, 0.4, 0.5], "res4k")
    res = compare(neurons, latents, seed=0)
    (row,) = res.rows
    assert (res.layer, row.neurons.mean, row.latents.mean, row.difference.mean) == (6, 0.2, 0.4, 0.2)
    assert row.difference.low <= 0.2 <= row.difference.high
    md = render(res)
    print(md)
    assert "| heuristic | +0.200 [" in md and "| +0.200 [" in md and "latents − neurons" in md
    assert "1 dead skipped, 5 dead in all" in md
    with pytest.raises(InputError, match="layers"):
        compare(_result(["L5.N1"], [0.1], None), latents, 0)


@pytest.fixture(scope="module")
def mixed_home(home, smol, tmp_path_factory):
    """A home with `mixed`: 16 random latents at layer 3's MLP input, the even ones dead."""
    s = linked_home(home, tmp_path_factory.mktemp("mixed-home") / "home", tokens=4096)
    g = torch.Generator().manual_seed(0)
    w_enc = torch.randn(16, smol.d_model, generator=g) / smol.d_model ** 0.5
    b_enc = torch.full((16,), 0.1)
    b_enc[DEAD] = -1e4
    folder = tmp_path_factory.mktemp("mixed")
    write_saelens(folder, w_enc, b_enc, torch.randn(16, smol.d_model, generator=g), 3, smol.name)
    add_dictionary(smol, DataLayout(s.data_dir), folder, "mixed")
    return s


@pytest.mark.integration
def test_eval_real_on_a_dictionary_samples_only_its_live_latents(mixed_home, tmp_path):
    r = run(mixed_home, "eval", "real", "--dictionary", "mixed", "--n", "3", "--explainers", "heuristic",
            "--llm-simulator", "none", "--json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["dictionary"] == "mixed" and res["dead_latents"] == len(DEAD) and 0 <= res["skipped_dead"] <= 8
    assert len(res["neurons"]) == 3 and all(u.startswith("3-mixed/") for u in res["neurons"])
    assert not {int(u.split("/")[1]) for u in res["neurons"]} & set(DEAD)
    assert {x["neuron"] for x in res["runs"]} == set(res["neurons"])
    assert (tmp_path / "real.md").read_text().startswith("## Latents of `mixed` (3 sampled)")

    bad = run(mixed_home, "eval", "real", "--dictionary", "mixed", "--n", "9", "--explainers", "heuristic",
              "--llm-simulator", "none", "--out", str(tmp_path / "bad"))
    lines = [x for x in bad.stderr.splitlines() if x.strip()]
    assert bad.returncode == 2 and len(lines) == 1 and "8 latents that fire" in lines[0], bad.stderr


@pytest.mark.integration
def test_eval_compare_prints_one_table_of_neurons_and_latents(mixed_home, tmp_path):
    r = run(mixed_home, "eval", "compare", "--dictionary", "mixed", "--layer", "3", "--n", "2",
            "--explainers", "heuristic", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "## Neurons vs latents (layer 3, dictionary `mixed`)" in r.stdout and "| heuristic | " in r.stdout
    res = json.loads((tmp_path / "compare.json").read_text())
    assert [n.startswith("L3.N") for n in res["neurons"]["neurons"]] == [True, True]
    assert all(u.startswith("3-mixed/") for u in res["latents"]["neurons"])
    (row,) = res["rows"]
    assert row["neurons"]["n"] == row["latents"]["n"] == 2
    assert (tmp_path / "compare-neurons.json").is_file() and (tmp_path / "compare-latents.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["eval", "real", "--dictionary", "Bad_Name", "--explainers", "heuristic"], "malformed dictionary name"),
    (["eval", "compare", "--dictionary", "nope", "--n", "0"], "n must be >= 1"),
    (["eval", "compare", "--dictionary", "nope", "--explainers", "heuristic"], "no dictionary named 'nope'"),
])
def test_bad_dictionary_input_is_one_error_line_exit_2(fresh_settings, smol, args, message):
    r = run(fresh_settings, *args)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.stderr
