"""`--corpus` on every command that reads the cache: explain and batch (real CLI, real SmolLM2) read a
small .jsonl corpus, never the default one; eval commands take the option and pass it on."""

from __future__ import annotations

import json
import random

import pytest

from autointerp.errors import InputError
from autointerp.store import open_store
from autointerp.tools.show import neuron_examples
from autointerp.workbench import Workbench
from tests.conftest import linked_home
from tests.test_cli import run

LAYER = 3
# Made-up words: a window of the default (Wikipedia / news) corpus would not be made of them.
WORDS = ["zorblax", "quintessa", "marmot", "teapot", "glacier", "vexillum", "pumice", "okapi", "saffron", "lute",
         "brindle", "fjord", "kumquat", "zither", "obsidian", "nimbus"]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    """About 150 windows of 64 tokens, one document per line as {"text": ...}."""
    rng = random.Random(7)
    path = tmp_path_factory.mktemp("corpus") / "tiny.jsonl"
    docs = [" ".join(" ".join(rng.choice(WORDS) for _ in range(8)).capitalize() + "." for _ in range(20))
            for _ in range(40)]
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    return path


def corpus_dirs(settings) -> list[str]:
    """The corpus folders of the data dir's layer caches (the default corpus' is `embedded`)."""
    return sorted(p.name for p in (settings.data_dir / "cache").glob("*/*") if p.is_dir())


def flat(text: str) -> str:
    return " ".join(text.split()).lower()


def check_from_corpus(settings, smol, corpus, record: dict) -> None:
    """The record's shown and scored windows are top / random windows of `corpus`' cache, whose text
    is that corpus' text, and its top tokens are that corpus' words."""
    wb = Workbench(smol, settings, str(corpus))
    ex = neuron_examples(wb, record["neuron"])
    assert ex.corpus == str(corpus.resolve())
    text = flat(" ".join(json.loads(line)["text"] for line in corpus.read_text().splitlines()))
    for r in ex.top[:20] + ex.random[:20]:
        assert flat("".join(r.tokens[int(r.has_bos):])) in text
    split = record["scores"][0]["split"]
    assert set(split["score_top_windows"]) | set(split["explain_windows"]) <= {r.window for r in ex.top}
    assert set(split["score_random_windows"]) <= {r.window for r in ex.random}
    assert max(split["score_random_windows"]) < ex.n_tokens // (ex.window - 1) + 1  # ~150 windows, not 2048
    for t in record["evidence"]["top_tokens"]:
        assert flat(t["token"]) in text, t


@pytest.mark.integration
def test_explain_reads_the_given_corpus(home, smol, tiny_corpus, tmp_path):
    settings = linked_home(home, tmp_path / "home")
    r = run(settings, "explain", f"L{LAYER}.N5", "--heuristic", "--json", "--no-store", "--corpus", str(tiny_corpus))
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert [d.startswith("tiny-") for d in corpus_dirs(settings)] == [True]  # one cache: the tiny corpus'
    check_from_corpus(settings, smol, tiny_corpus, record)


@pytest.mark.integration
def test_batch_reads_the_given_corpus(home, smol, tiny_corpus, tmp_path):
    settings = linked_home(home, tmp_path / "home")
    r = run(settings, "batch", "--layers", str(LAYER), "--neurons", "0:3", "--heuristic", "--corpus",
            str(tiny_corpus))
    assert r.returncode == 0, r.stderr
    assert "3 explained, 0 failed" in r.stderr.replace("\n", " "), r.stderr
    assert [d.startswith("tiny-") for d in corpus_dirs(settings)] == [True]
    records = open_store(settings).list(model="smollm2-135m", layer=LAYER)
    assert sorted(e.neuron for e in records) == [f"L{LAYER}.N{i}" for i in range(3)]
    for e in records:
        check_from_corpus(settings, smol, tiny_corpus, json.loads(e.model_dump_json()))


def test_batch_refuses_a_workbench_of_another_corpus(smol, settings, tiny_corpus):
    from autointerp.batch import BatchOptions, run_batch

    opts = BatchOptions(layers=[LAYER], neurons="0:1", method="heuristic", corpus=str(tiny_corpus))
    with pytest.raises(InputError, match="the batch is for corpus .*tiny.jsonl but the workbench reads the default"):
        run_batch(opts, wb=Workbench(smol, settings))


def test_eval_commands_take_corpus(home, tmp_path, tiny_corpus):
    """Each eval command accepts --corpus, checks it before loading anything, and binds it in the
    settings every workbench and cache of the eval opens."""
    from autointerp.cli.evals import _prepare
    from autointerp.config import get_settings

    settings = linked_home(home, tmp_path / "home")
    missing = tmp_path / "missing.jsonl"
    for command in (["planted"], ["real", "--layers", "3"], ["output", "--layers", "3"]):
        r = run(settings, "eval", *command, "--explainers", "heuristic", "--corpus", str(missing),
                "--out", str(tmp_path / "out"))
        assert r.returncode == 2, r.stderr
        assert f"error: corpus file {missing} does not exist" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (settings.data_dir / "cache").exists()
    got, _ = _prepare(1, None, None, tmp_path / "out", str(tiny_corpus))
    assert got.corpus == str(tiny_corpus)
    got, _ = _prepare(1, None, None, tmp_path / "out")
    assert got.corpus == get_settings().corpus  # no --corpus: the settings' own
