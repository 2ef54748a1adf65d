"""An explainer of one's own, registered through the public API and run, unchanged, by every caller:
`batch` (the library driver), `eval real --explainers` (the library runner) and the web app's explain
endpoint (the real server of tests/web/conftest.py). Real model, real caches, real store."""

from __future__ import annotations

import time

import httpx
import pytest

from autointerp.agent import ExplainContext, ExplanationFailed, Proposal, register_explainer, unregister_explainer
from autointerp.batch import BatchOptions, run_batch
from autointerp.cli.options import explainers as cli_explainers
from autointerp.evals.real import run_real
from autointerp.store import open_store
from tests.conftest import linked_home

MODEL = "smollm2-135m"


class PeakToken:
    """The neuron's most frequent peak token, and nothing else; no LLM."""

    name = "peak-token"
    needs_llm = False
    prompt_version = "peak_token_v1"

    def explain(self, ctx: ExplainContext) -> Proposal:
        words = [t.token.strip() for t in ctx.session.top_tokens(5) if t.token.strip()]
        if not words:
            raise ExplanationFailed(f"{ctx.session.neuron} has no top tokens")
        return Proposal(ctx.session.validate(f'the token "{words[0]}"', words[:1], self.name))


@pytest.fixture()
def peak_token():
    register_explainer(PeakToken)
    yield
    unregister_explainer(PeakToken.name)


def test_batch_runs_a_registered_explainer(peak_token, home, real_settings, tmp_path):
    s = linked_home(home, tmp_path / "home", tokens=4096)
    (s.home / "cache").symlink_to(real_settings.home / "cache")
    summary = run_batch(BatchOptions(layers=[3], neurons="0:2", method="peak-token"), s)
    assert (summary.done, summary.failed, summary.explainer, summary.prompt_version) == (2, 0, "none", "peak_token_v1")
    records = open_store(s).list(model=MODEL, layer=3)
    assert sorted(r.neuron for r in records) == ["L3.N0", "L3.N1"]
    assert all(r.method == "peak-token" and 'the token "' in r.text and r.scores for r in records)
    again = run_batch(BatchOptions(layers=[3], neurons="0:2", method="peak-token"), s)
    assert (again.done, again.already_done) == (0, 2)  # resumable: keyed by its prompt version


def test_eval_real_runs_a_registered_explainer(peak_token, real_settings):
    methods = cli_explainers("peak-token,heuristic")  # `eval real --explainers`: the registry's names
    assert methods == ["heuristic", "peak-token"]
    result, md = run_real(2, [3, 29], None, methods, real_settings)
    assert result.info.explainers == methods and result.info.llm is None
    assert [s.method for s in result.summary] == methods
    ours = [r for r in result.runs if r.method == "peak-token"]
    assert len(ours) == 2 and all(r.text and r.prompt_version == "peak_token_v1" for r in ours)
    assert "peak-token - heuristic" in result.paired and "| peak-token |" in md


def test_the_web_app_explains_with_a_registered_explainer(peak_token, server):
    with httpx.Client(base_url=server.url, timeout=120) as http:
        r = http.post("/api/neurons/L3.N12/explain", json={"method": "no-such-explainer"})
        assert r.status_code == 400 and "unknown explainer" in r.json()["error"] and "peak-token" in r.json()["error"]
        r = http.post("/api/neurons/L3.N12/explain", json={"method": "peak-token"})
        assert r.status_code == 202, r.text
        run = r.json()
        deadline = time.monotonic() + 120
        while run["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
            run = http.get(f"/api/runs/{run['run']}").json()
    assert run["status"] == "done", run
    assert run["record"]["method"] == "peak-token" and run["record"]["explainer"] == "none"
    stored = server.store.get(MODEL, "L3.N12")
    assert any(e.method == "peak-token" and e.prompt_version == "peak_token_v1" for e in stored)
