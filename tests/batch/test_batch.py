"""Batch labelling for real: kill -9 and resume, budgets, failures, Ray, and the HTML report in Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autointerp.batch import BatchOptions, run_batch
from autointerp.store import open_store
from tests.conftest import env_for, linked_home

LAYER = 3


@pytest.fixture()
def batch_settings(home, real_settings, tmp_path):
    """Its own store, sharing the real layer-3 cache (4,096 tokens) of the session."""
    s = linked_home(home, tmp_path / "home", tokens=4096)
    (s.home / "cache").symlink_to(real_settings.home / "cache")
    return s


def _stored(settings) -> list[str]:
    return [r.neuron for r in open_store(settings).list(model="smollm2-135m", layer=LAYER)]


def _start(settings, *args):
    return subprocess.Popen([sys.executable, "-m", "autointerp.cli", "batch", "--layers", str(LAYER), *args],
                            env=env_for(settings, AUTOINTERP_TOKENS="4096"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _transcripts(settings) -> int:
    return len(list((settings.home / "transcripts").rglob("*.jsonl")))


@pytest.mark.integration
def test_kill_9_then_resume_loses_and_duplicates_nothing(batch_settings):
    args = ("--neurons", "0:10", "--heuristic", "--workers", "2")
    for after in (2, 5):  # kill twice, at different points of the run
        proc = _start(batch_settings, *args)
        deadline = time.time() + 300
        while _transcripts(batch_settings) < after and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
    partial = _stored(batch_settings)
    assert len(partial) == len(set(partial)) < 10
    proc = _start(batch_settings, *args)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert f"{len(partial)} already stored" in stderr.replace("\n", " ")
    final = _stored(batch_settings)
    failed = {p.name: p.read_text() for p in (batch_settings.data_dir / "batch").rglob("failed/*.json")}
    assert sorted(final) == sorted(f"L{LAYER}.N{i}" for i in range(10)), (stderr, failed)
    assert open_store(batch_settings).count() == 10


def test_budget_failures_and_retry(batch_settings, openai_server):
    llm = f"openai-compatible:m@{openai_server.url}"
    opts = BatchOptions(layers=[LAYER], neurons="0:6", llm=llm, method="one-shot", budget_tokens=1)
    s = run_batch(opts, batch_settings)
    assert s.stopped == "budget" and s.done == 1 and s.prompt_tokens > 0, s
    openai_server.replies = [(400, "bad request")]
    s = run_batch(opts.model_copy(update={"neurons": "1:3", "budget_tokens": None}), batch_settings)
    assert (s.done, s.failed, s.already_done) == (1, 1, 0)
    failed_dir = next((batch_settings.home / "batch").rglob("failed"))
    reasons = [p.read_text() for p in failed_dir.glob("*.json")]
    assert len(reasons) == 1 and "LLMError" in reasons[0] and "bad request" in reasons[0]
    again = run_batch(opts.model_copy(update={"neurons": "0:3", "budget_tokens": None}), batch_settings)
    assert (again.done, again.already_done, again.skipped_failed) == (0, 2, 1)
    retried = run_batch(opts.model_copy(update={"neurons": "0:3", "budget_tokens": None, "retry_failed": True}),
                        batch_settings)
    assert (retried.done, retried.failed) == (1, 0) and not list(failed_dir.glob("*.json"))
    assert len(_stored(batch_settings)) == 3


@pytest.mark.integration
def test_ray_shards_over_local_workers(batch_settings):
    pytest.importorskip("ray")
    from autointerp.batch.ray_runner import run_batch_ray

    s = run_batch_ray(BatchOptions(layers=[LAYER], neurons="0:4", method="heuristic", workers=2), None, batch_settings)
    assert (s.done, s.failed) == (4, 0), s
    assert sorted(_stored(batch_settings)) == [f"L{LAYER}.N{i}" for i in range(4)]


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and os.environ.get("AUTOINTERP_REQUIRE_CHROMIUM") == "1":
        pytest.fail("chromium is required here (.ci/run installs it)")
    return found


@pytest.mark.integration
def test_report_renders_in_headless_chromium_and_links_resolve(batch_settings, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's package)")
    from autointerp.batch.report import write_report

    run_batch(BatchOptions(layers=[LAYER], neurons="0:5", method="heuristic"), batch_settings)
    out = tmp_path / "report"
    rows = write_report(LAYER, out, settings=batch_settings)
    assert len(rows) == 5 and (out / "report.csv").read_text().count("\n") == 6
    assert (out / "report.md").read_text().startswith("| index | normalised activation")
    for png in ("scores.png", "max_activation.png", "score_vs_relatedness.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"

    def dom(page: Path) -> str:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-500:]
        return r.stdout

    index = dom(out / "index.html")
    assert index.count("<tr>") == 6 and "L3.N0" in index
    pages = [out / "index.html"] + sorted((out / "neurons").glob("*.html"))
    assert len(pages) == 6
    for page in pages:
        for link in re.findall(r"(?:href|src)=['\"]([^'\"#]+)['\"]", page.read_text()):
            assert (page.parent / link).resolve().is_file(), f"{page.name}: broken link {link}"
    neuron = dom(out / "neurons" / "L3.N0.html")
    assert 'id="explanation"' in neuron and "the tokens" in neuron and 'class="max"' in neuron
