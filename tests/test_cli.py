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
    (["show", "L6-74"], "malformed neuron id"),
    (["cache", "--layers", "0", "--model", "tiny-random", "--tokens", "0"], "--tokens must be a positive"),
    (["cache", "--layers", "x", "--model", "tiny-random"], "malformed --layers"),
    (["cache", "--layers", "0", "--model", "no-such-model-anywhere"], "smollm2-135m"),
    (["cache", "--layers", "0", "--model", "tiny-random", "--corpus", "/nonexistent/corpus.txt"], "does not exist"),
    (["explain", "L0.N1", "--model", "tiny-random", "--max-steps", "0"], "bad agent limits: max_steps"),
    (["explain", "L0.N1", "--model", "tiny-random", "--one-shot", "--heuristic"], "choose one of"),
    (["explain", "L0.N1", "--model", "tiny-random", "--simulator", "psychic"], "unknown --simulator"),
    (["explain", "L0.N1", "--model", "tiny-random", "--llm", "martian:x"], "unknown --llm"),
    (["transcript", "L0.N1", "--model", "tiny-random"], "no transcript"),
    (["batch", "--layers", "0", "--model", "tiny-random", "--workers", "0"], "bad --workers"),
    (["batch", "--layers", "0", "--model", "tiny-random", "--top", "5"], "--top needs --triage-first"),
    (["batch", "--layers", "0", "--model", "tiny-random", "--neurons", "0:9999", "--heuristic"], "out of range"),
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
