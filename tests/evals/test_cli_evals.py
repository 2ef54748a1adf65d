"""`autointerp eval ...` end to end in subprocesses (cheap explainers only)."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import run

pytestmark = pytest.mark.integration


def test_eval_planted_heuristic_end_to_end(planted_home, three_concepts, tmp_path):
    settings, planted = planted_home
    r = run(settings, "eval", "planted", "--concepts", str(three_concepts), "--explainers", "heuristic",
            "--tokens", "8192", "--json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["planted_model"] == planted.name
    assert [o["concept"] for o in res["concepts"]] == ["animals", "calendar", "countries"]
    assert res["info"]["cache_tokens"]["3"] >= 8192
    (summary,) = res["summary"]
    assert summary["method"] == "heuristic" and summary["concepts"] == 3
    for o in res["concepts"]:
        assert o["concept_activation"] > 10 * max(o["distractor_activation"], 1e-3)
        (run_,) = o["runs"]
        guess = run_["text"].removeprefix("No clear explanation; best guess: ")  # an unconfident record says so
        assert guess.startswith("the tokens") and run_["verdict"] is not None
        assert run_["probe_score"] is not None and run_["explainer"] == "none"
    assert summary["recovered"] == sum(o["runs"][0]["verdict"]["recovered"] for o in res["concepts"])
    print(summary, [o["runs"][0]["text"] for o in res["concepts"]])
    assert summary["recovered"] >= 2  # the seed's top tokens of a clean planted neuron name its concept
    md = (tmp_path / "planted.md").read_text()
    assert "| heuristic | " in md and json.loads((tmp_path / "planted.json").read_text()) == res


def test_eval_real_heuristic_end_to_end(real_settings, tmp_path):
    r = run(real_settings, "eval", "real", "--n", "2", "--layers", "3,29", "--explainers", "heuristic",
            "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "| heuristic |" in r.stdout and "95% CI" in r.stdout
    res = json.loads((tmp_path / "real.json").read_text())
    assert sorted(int(n[1:].split(".")[0]) for n in res["neurons"]) == [3, 29]
    (s,) = res["summary"]
    scores = [x["score"] for x in res["runs"]]
    assert s["score"]["n"] == 2 and abs(s["score"]["mean"] - sum(scores) / 2) < 1e-3
    assert s["score"]["low"] <= s["score"]["mean"] <= s["score"]["high"] and res["paired"] == {}
    assert res["info"]["command"].startswith("autointerp eval real --n 2")
    # The local LLM also scores the same held-out windows (llm-logprob, chosen by --llm-simulator auto).
    assert res["llm_simulator"] == "llm-logprob" and s["llm_score"]["n"] == 2
    assert all(-1 <= x["llm_score"] <= 1 for x in res["runs"]) and "llm-logprob simulator" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["eval", "planted", "--concepts", "MALFORMED"], "is not JSON"),
    (["eval", "real", "--n", "0", "--explainers", "heuristic", "--layers", "3"], "n must be >= 1"),
    (["eval", "real", "--layers", "3-x", "--explainers", "heuristic"], "malformed --layers"),
    (["eval", "real", "--max-steps", "0", "--explainers", "heuristic"], "--max-steps must be >= 1"),
    (["eval", "output", "--layers", "99", "--explainers", "heuristic"], "layers are 0..29"),
    (["eval", "output", "--ranks", "0-3", "--explainers", "heuristic"], "--ranks count from 1"),
    (["eval", "output", "--ranks", "3-1", "--explainers", "heuristic"], "empty --ranks"),
])
def test_bad_input_is_one_error_line_exit_2(fresh_settings, smol, tmp_path, args, message):
    # A bad --explainers, --simulator or --llm-simulator is a usage error (tests/test_cli.py).
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    r = run(fresh_settings, *[str(bad) if a == "MALFORMED" else a for a in args])
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.stderr
    assert not (fresh_settings.home / "evals").exists()
