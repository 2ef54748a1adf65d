"""The CLI end to end in subprocesses: bad input gives one error line, exit 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import env_for


def run(settings, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "autointerp.cli", *args], env=env_for(settings),
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["show", "L2.N0", "--model", "tiny-random"], "layers are 0..1"),
    (["show", "L0.N99999", "--model", "tiny-random"], "neurons are 0..127"),
    (["show", "L6-74"], "malformed unit id"),
    (["cache", "--layers", "0", "--model", "tiny-random", "--tokens", "0"], "must be a positive"),
    (["cache", "--layers", "x", "--model", "tiny-random"], "malformed --layers"),
    (["cache", "--layers", "0", "--model", "no-such-model-anywhere"], "smollm2-135m"),
    (["cache", "--layers", "0", "--model", "tiny-random", "--corpus", "/nonexistent/corpus.txt"], "does not exist"),
    (["explain", "L0.N1", "--model", "tiny-random", "--max-steps", "0"], "bad agent limits: max_steps"),
    (["explain", "L0.N1", "--model", "tiny-random", "--one-shot", "--heuristic"], "choose one of"),
    (["explain", "L0.N1", "--model", "tiny-random", "--llm", "martian:x"], "unknown LLM 'martian:x'"),
    (["transcript", "L0.N1", "--model", "tiny-random"], "no transcript"),
    (["batch", "--layers", "0", "--model", "tiny-random", "--workers", "0"], "bad --workers"),
    (["batch", "--layers", "0", "--model", "tiny-random", "--top", "5"], "--top needs --triage-first"),
    (["batch", "--layers", "0", "--model", "tiny-random", "--neurons", "0:9999", "--heuristic"], "out of range"),
    (["batch", "--layers", "0", "--model", "tiny-random", "--neurons", "5-2", "--heuristic"], "empty --neurons"),
    (["triage", "--layer", "0", "--model", "tiny-random", "--neurons", "0:x"], "malformed --neurons"),
    (["report", "--layer", "0", "--model", "tiny-random"], "nothing stored"),
])
def test_bad_input_one_line_nonzero_nothing_written(fresh_settings, tiny, args, message):
    r = run(fresh_settings, *args)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.stderr
    assert not (fresh_settings.home / "cache").exists()


def test_empty_corpus_file(fresh_settings, tiny, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    r = run(fresh_settings, "cache", "--layers", "0", "--model", "tiny-random", "--corpus", str(empty))
    assert r.returncode == 2 and "holds no text" in r.stderr
    assert not (fresh_settings.home / "cache").exists()


def test_show_builds_missing_cache_and_prints_json(fresh_settings, tiny, small_corpus, tmp_path):
    page = tmp_path / "n.html"
    r = run(fresh_settings, "show", "0/5", "--model", "tiny-random", "--corpus", str(small_corpus), "--json",
            "--html", str(page))
    assert r.returncode == 0, r.stderr
    assert "tokens" in r.stderr  # the progress bar of the automatic build
    obj = json.loads(r.stdout)
    assert obj["neuron"] == "L0.N5" and obj["model"] == "tiny-random"
    acts = [t["max_activation"] for t in obj["top"]]
    assert acts == sorted(acts, reverse=True) and obj["max_activation"] == acts[0]
    first = obj["top"][0]
    assert len(first["tokens"]) == len(first["activations"]) == 64
    assert first["max_token"] == first["tokens"][first["max_index"]]
    assert len(obj["random"]) == 100 and len(obj["quantiles"]) == 10
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "L0.N5" in html and html.count("<span") > 64 * 50


def test_cache_command_and_text_show(fresh_settings, tiny, small_corpus):
    r = run(fresh_settings, "cache", "--layers", "0,1", "--model", "tiny-random", "--tokens", "5000",
            "--corpus", str(small_corpus))
    assert r.returncode == 0, r.stderr
    r = run(fresh_settings, "show", "L1.N3", "--model", "tiny-random", "--corpus", str(small_corpus), "-n", "5")
    assert r.returncode == 0, r.stderr
    assert "L1.N3" in r.stdout and "unique top tokens" in r.stdout
    assert r.stdout.count("[") >= 5  # max tokens bracketed when output is not a terminal


# ---- usage errors: typer's usage message, exit 2, never a traceback (no model is loaded) ----

@pytest.mark.parametrize("args, message", [
    (["--bogus"], "No such option: --bogus"),
    (["show"], "Missing argument"),
    (["frobnicate"], "No such command"),
    (["synonyms", "smooth", "--source", "nope"], "'nope' is not one of"),
    (["context", "L0.N1", "--mode", "erase"], "'erase' is not one of"),
    (["explain", "L0.N1", "--simulator", "psychic"], "'psychic' is not one of"),
    (["score", "L0.N1", "x", "--method", "vibes"], "'vibes' is not one of"),
    (["score", "L0.N1", "x", "--split", "half"], "'half' is not one of"),
    (["export", "--format", "csv", "x.csv"], "'csv' is not one of"),
    (["eval", "real", "--explainers", "agent,oracle"], "comma-separated subset"),
    (["eval", "real", "--llm-simulator", "oracle"], "'oracle' is not one of"),
    (["eval", "planted", "--simulator", "lexical"], "'lexical' is not one of"),
    (["cache", "--layers"], "requires an argument"),  # typer shows this one without the usage line
])
def test_usage_errors_print_usage_and_exit_2(fresh_settings, args, message):
    r = run(fresh_settings, *args, timeout=120)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Error" in r.stderr, r.stderr
    assert "Usage: autointerp" in r.stderr or message == "requires an argument", r.stderr
    assert "Traceback" not in r.stderr + r.stdout and r.stdout == ""
    assert not (fresh_settings.home / "cache").exists()


def test_error_text_is_printed_literally_not_as_markup(fresh_settings):
    for bad in ("[/]", "[bold]L6[/bold]", "x\\"):
        r = run(fresh_settings, "show", bad, timeout=120)
        assert r.returncode == 2, r.stderr
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: malformed unit id") and repr(bad) in lines[0], r.stderr
        assert "Traceback" not in r.stderr


# ---- the one range grammar, for --layers and --neurons alike ----

def test_options_grammar_is_the_library_one():
    from autointerp.cli.options import indices
    from autointerp.errors import InputError

    assert indices("0-3", "--layers") == [0, 1, 2, 3]
    assert indices("0:3", "--neurons") == [0, 1, 2]
    assert indices("6", "--layers") == [6] and indices("6,7", "--layers") == [6, 7]
    assert indices("0-3,10:12", "--neurons") == [0, 1, 2, 3, 10, 11]
    for bad in ("x", "3-1", "7:7", "", "1,,2", "-1"):
        with pytest.raises(InputError, match="--layers"):
            indices(bad, "--layers")


def test_layers_and_neurons_reach_the_library_through_one_grammar(monkeypatch):
    """In process with typer's CliRunner: what `batch` and `triage` hand the library."""
    import autointerp.batch as batch_lib
    import autointerp.cli.batch as batch_cli
    import autointerp.cli.neurons as neurons_cli
    import autointerp.tools.triage as triage_lib
    from autointerp.batch import BatchSummary
    from autointerp.cli import app
    from autointerp.ranges import parse_indices
    from typer.testing import CliRunner

    seen = {}

    class Bench:
        model = "stub"

        def layer(self, layer, build=True):  # triage opens (or says it builds) the layer's cache first
            return None

    monkeypatch.setattr(batch_cli, "workbench", lambda model, corpus=None: Bench())
    monkeypatch.setattr(neurons_cli, "workbench", lambda model, corpus=None: Bench())
    monkeypatch.setattr(batch_lib, "check", lambda opts, wb: seen.setdefault("check", opts))
    monkeypatch.setattr(batch_lib, "check_free", lambda opts, wb: None)  # no other batch holds the layers

    def fake_run_batch(opts, **kw):
        seen["batch"], seen["executor"] = opts, kw["executor"]
        return BatchSummary(model="stub", explainer="none", prompt_version="v", planned=0, already_done=0,
                            skipped_failed=0, done=0, failed=0, stopped="complete", prompt_tokens=0,
                            completion_tokens=0, cost_usd=0.0, seconds=1.0)

    monkeypatch.setattr(batch_lib, "run_batch", fake_run_batch)

    def fake_triage(wb, layer, neurons, threshold=0.6, dictionary=None):
        seen["triage"] = (layer, list(neurons), threshold)
        return triage_lib.TriageResult(model="stub", layer=layer, threshold=threshold, examples=20, rows=[])

    monkeypatch.setattr(triage_lib, "triage", fake_triage)
    import signal

    monkeypatch.setattr(signal, "signal", lambda *a: None)  # the batch command's handlers stay out of pytest
    runner = CliRunner()
    r = runner.invoke(app, ["batch", "--layers", "0-3", "--neurons", "0:3", "--heuristic"])
    assert r.exit_code == 0, r.output
    assert seen["batch"].layers == [0, 1, 2, 3] and parse_indices(seen["batch"].neurons) == [0, 1, 2]
    assert seen["batch"].method == "heuristic" and type(seen["executor"]).__name__ == "ThreadExecutor"
    r = runner.invoke(app, ["batch", "--layers", "2:4", "--ray", "local", "--one-shot"])
    assert r.exit_code == 0, r.output
    assert seen["batch"].layers == [2, 3] and seen["batch"].neurons is None
    assert type(seen["executor"]).__name__ == "RayExecutor" and seen["executor"].address is None
    r = runner.invoke(app, ["triage", "--layer", "1", "--neurons", "0-3,8:10", "--json"])
    assert r.exit_code == 0, r.output
    assert seen["triage"] == (1, [0, 1, 2, 3, 8, 9], 0.6)


def test_choice_enums_match_the_library_literals():
    from typing import get_args

    from autointerp.agent.explainers import explainer_names
    from autointerp.cli import options
    from autointerp.records import ExportFormat, ScoreMethod, SimulatorName, SplitKind
    from autointerp.tools.context import Mode
    from autointerp.tools.synonyms import Source

    for enum, literal in ((options.Source, Source), (options.Mode, Mode), (options.Method, ScoreMethod),
                          (options.Split, SplitKind), (options.Simulator, SimulatorName),
                          (options.ExportFormat, ExportFormat)):
        assert {e.value for e in enum} == set(get_args(literal)), enum
    assert {e.value for e in options.EvalSimulator} <= set(get_args(SimulatorName))
    # --explainers takes the registry's names, cheapest first
    assert options.explainers(",".join(reversed(explainer_names()))) == explainer_names()


def test_nothing_below_the_cli_imports_it():
    from pathlib import Path

    import autointerp

    root = Path(autointerp.__file__).parent
    for path in root.rglob("*.py"):
        if root / "cli" in path.parents:
            continue
        text = path.read_text()
        assert "autointerp.cli" not in text and "from autointerp import cli" not in text, path
