"""Batch labelling for real: kill -9 and resume, Ctrl-C on threads and on Ray, budgets, failures, and the
HTML report in Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autointerp.batch import BatchOptions, Outcome, RayExecutor, ThreadExecutor, run_batch
from autointerp.errors import InputError
from autointerp.store import open_store
from autointerp.tools.triage import triage
from autointerp.workbench import Workbench
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


def _start(settings, *args, start_new_session=False):
    return subprocess.Popen([sys.executable, "-m", "autointerp.cli", "batch", "--layers", str(LAYER), *args],
                            env=env_for(settings, AUTOINTERP_TOKENS="4096"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=start_new_session)


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
    openai_server.delay = 0.2
    s = run_batch(opts, batch_settings)
    assert s.stopped == "budget" and s.done == 1 and s.prompt_tokens > 0, s
    assert 0.2 <= s.llm_seconds <= s.seconds, s  # the server's reply time, within the batch's own
    openai_server.delay = 0.0
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


def _ray_or_skip() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("Ray is not installed (pip install 'autointerp[ray]')")


def _executor(kind: str):
    if kind == "ray":
        _ray_or_skip()
        return RayExecutor("local", workers=2)
    return ThreadExecutor(workers=2)


class _Instant:
    """An executor that "explains" at once and records what it was handed."""

    name = "instant"

    def __init__(self, workers: int = 2, fail: tuple[str, ...] = (), tokens: int = 0) -> None:
        self.workers, self.fail, self.tokens = workers, fail, tokens
        self.started: list[str] = []
        self.pending: list[str] = []
        self.closed = False

    def start(self, wb, store, job) -> None:
        self.job = job

    def free(self) -> int:
        return self.workers - len(self.pending)

    def running(self) -> int:
        return len(self.pending)

    def submit(self, neuron) -> None:
        self.started.append(str(neuron))
        self.pending.append(str(neuron))

    def collect(self, timeout: float) -> list[Outcome]:
        out = [Outcome(n, n not in self.fail, self.tokens, 0, 0.0, llm_seconds=0.25) for n in self.pending]
        self.pending = []
        return out

    def close(self) -> None:
        self.closed = True


def test_driver_stops_budgets_and_reports_in_one_place(batch_settings):
    wb = Workbench.open(settings=batch_settings)
    opts = BatchOptions(layers=[LAYER], neurons="0-3,10:12", method="heuristic")
    seen: list[dict] = []
    ex = _Instant(fail=(f"L{LAYER}.N2",))
    s = run_batch(opts, wb=wb, on_progress=seen.append, executor=ex)
    assert ex.started == [f"L{LAYER}.N{i}" for i in (0, 1, 2, 3, 10, 11)] and ex.closed
    assert (s.planned, s.done, s.failed, s.stopped, s.executor) == (6, 5, 1, "complete", "instant")
    assert [p["done"] + p["failed"] for p in seen] == list(range(1, 7)) and seen[-1]["total"] == 6

    stop = threading.Event()
    ex = _Instant()
    s = run_batch(opts, wb=wb, on_progress=lambda p: stop.set(), stop=stop, executor=ex)
    assert ex.started == [f"L{LAYER}.N0", f"L{LAYER}.N1"], "nothing starts once stop is set"
    assert (s.done, s.stopped) == (2, "interrupted")

    stop.set()  # set before anything started
    s = run_batch(opts, wb=wb, stop=stop, executor=(ex := _Instant()))
    assert (ex.started, s.done, s.stopped) == ([], 0, "interrupted")

    ex = _Instant(workers=1, tokens=40)
    s = run_batch(opts.model_copy(update={"budget_tokens": 100}), wb=wb, executor=ex)
    assert (len(ex.started), s.prompt_tokens, s.llm_seconds, s.stopped) == (3, 120, 0.75, "budget")

    ex = _Instant()
    s = run_batch(opts.model_copy(update={"triage_first": True, "top": 2}), wb=wb, executor=ex)
    rel = {r.index: r.relatedness for r in triage(wb, LAYER, [0, 1, 2, 3, 10, 11]).rows}
    assert ex.started == [f"L{LAYER}.N{i}" for i in sorted(rel, key=lambda i: -rel[i])[:2]] and s.planned == 2

    with pytest.raises(InputError, match="neuron 99999 is out of range"):
        run_batch(opts.model_copy(update={"neurons": "0,99999"}), wb=wb, executor=_Instant())


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["threads", "ray"])
def test_stop_lets_running_neurons_finish_then_a_rerun_completes(batch_settings, kind):
    stop = threading.Event()
    opts = BatchOptions(layers=[LAYER], neurons="0:4", method="heuristic")
    s = run_batch(opts, batch_settings, on_progress=lambda p: stop.set(), stop=stop, executor=_executor(kind))
    # both workers had a neuron when the first one finished: the second finishes too, nothing more starts
    assert (s.stopped, s.done, s.failed, s.executor) == ("interrupted", 2, 0, kind), s
    assert sorted(_stored(batch_settings)) == [f"L{LAYER}.N0", f"L{LAYER}.N1"]
    s = run_batch(opts, batch_settings, executor=ThreadExecutor(2))  # the store is the ledger, whoever wrote it
    assert (s.stopped, s.done, s.already_done, s.failed) == ("complete", 2, 2, 0), s
    assert sorted(_stored(batch_settings)) == sorted(f"L{LAYER}.N{i}" for i in range(4))
    assert open_store(batch_settings).count() == 4


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["threads", "ray"])
def test_ctrl_c_stops_after_the_running_neurons_and_a_rerun_completes(batch_settings, kind):
    if kind == "ray":
        _ray_or_skip()
    args = ("--neurons", "0:6", "--heuristic", "--workers", "2")
    proc = _start(batch_settings, *args, *(("--ray", "local") if kind == "ray" else ()), start_new_session=True)
    store = open_store(batch_settings)
    deadline = time.time() + 300
    while store.count() < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group (Ray's too)
    _, stderr = proc.communicate(timeout=300)
    said = stderr.replace("\n", " ")
    assert proc.returncode == 0, stderr
    assert "interrupted:" in said and " 0 failed" in said, stderr
    partial = _stored(batch_settings)
    assert 1 <= len(partial) < 6 and len(set(partial)) == len(partial)
    assert _transcripts(batch_settings) == len(partial), "every neuron started was finished and stored"
    proc = _start(batch_settings, *args)  # the ledger is the store: any executor continues
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    said = stderr.replace("\n", " ")
    assert f"complete: {6 - len(partial)} explained" in said and f"{len(partial)} already stored" in said, stderr
    assert sorted(_stored(batch_settings)) == sorted(f"L{LAYER}.N{i}" for i in range(6))
    assert open_store(batch_settings).count() == 6


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and os.environ.get("AUTOINTERP_REQUIRE_CHROMIUM") == "1":
        pytest.fail("chromium is required here (.ci/run installs it)")
    return found


@pytest.mark.integration
def test_report_renders_in_headless_chromium_and_links_resolve(batch_settings, tmp_path):
    from autointerp.batch.report import write_report

    run_batch(BatchOptions(layers=[LAYER], neurons="0:5", method="heuristic"), batch_settings)
    out = tmp_path / "report"
    rows = write_report(Workbench.open(settings=batch_settings), LAYER, out)
    assert len(rows) == 5 and (out / "report.csv").read_text().count("\n") == 6
    assert (out / "report.csv").read_text().splitlines()[0].split(",")[5] == "confident"
    assert (out / "report.md").read_text().startswith("| index | normalised activation")
    sure = sum(r.confident for r in rows)
    assert f"| confident | {sure} |" in (out / "report.md").read_text()
    for png in ("scores.png", "max_activation.png", "score_vs_relatedness.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's package); the files were checked")

    def dom(page: Path) -> str:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-500:]
        return r.stdout

    index = dom(out / "index.html")
    neurons = index.split('id="neurons"')[1]
    assert len(re.findall(r"<tr[ >]", neurons)) == 6 and "L3.N0" in index
    assert neurons.count('class="badge ') == 5 and 'id="confidence"' in index
    pages = [out / "index.html"] + sorted((out / "neurons").glob("*.html"))
    assert len(pages) == 6
    for page in pages:
        for link in re.findall(r"(?:href|src)=['\"]([^'\"#]+)['\"]", page.read_text()):
            assert (page.parent / link).resolve().is_file(), f"{page.name}: broken link {link}"
    neuron = dom(out / "neurons" / "L3.N0.html")
    assert 'id="explanation"' in neuron and "the tokens" in neuron and 'class="max"' in neuron
