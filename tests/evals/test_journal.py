"""The resume journal: finished runs survive a kill, a cut last line is dropped, another key starts over."""

from __future__ import annotations

from autointerp.evals.journal import Journal
from autointerp.evals.records import ExplainerRun


def run(neuron: str, method: str = "heuristic") -> ExplainerRun:
    return ExplainerRun(neuron=neuron, method=method, text=f"text of {neuron}", score=0.5, seconds=1.5)


def test_runs_survive_and_a_cut_line_is_dropped(tmp_path):
    path = tmp_path / ".real.journal.jsonl"
    j = Journal(path, {"eval": "real", "n": 2})
    j.add(run("L1.N1"))
    j.add(run("L2.N2", "agent"))
    with open(path, "a") as fh:
        fh.write('{"neuron": "L3.N3", "meth')  # killed mid-write
    again = Journal(path, {"eval": "real", "n": 2})
    assert again.resumed == 2 and again.get("L2.N2", "agent") == run("L2.N2", "agent")
    assert again.get("L3.N3", "heuristic") is None
    again.add(run("L3.N3"))
    assert Journal(path, {"eval": "real", "n": 2}).resumed == 3
    other = Journal(path, {"eval": "real", "n": 3})
    assert other.resumed == 0
    other.close()
    assert not path.exists()
