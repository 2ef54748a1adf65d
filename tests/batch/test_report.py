"""The report's confident / unconfident split, without a model: counts, and mean held-out scores that leave
out undefined ones (None, NaN) but still count them."""

from __future__ import annotations

import csv
import math

from autointerp.batch.report import ReportRow, _index_html, _write_tables
from autointerp.present.confidence import confidence_groups


def row(i: int, score: float | None, confident: bool) -> ReportRow:
    return ReportRow(index=i, normalised_activation=0.5, max_activation=1.0, unique_tokens=[" a"], relatedness=0.3,
                     explanation=f"explanation <{i}>", score=score, explainer="local", method="agent",
                     confident=confident)


ROWS = [row(0, 0.5, True), row(1, None, True), row(2, 0.2, True), row(3, -0.1, False), row(4, math.nan, False),
        row(5, None, False)]


def test_groups_count_every_neuron_and_average_only_defined_scores():
    sure, unsure = confidence_groups(ROWS)
    assert (sure.confident, sure.neurons, sure.scored) == (True, 3, 2)
    assert sure.mean_score == (0.5 + 0.2) / 2
    assert (unsure.confident, unsure.neurons, unsure.scored, unsure.mean_score) == (False, 3, 1, -0.1)
    none_scored = confidence_groups([row(0, None, False)])
    assert none_scored[0].neurons == 0 and none_scored[0].mean_score is None
    assert (none_scored[1].neurons, none_scored[1].scored, none_scored[1].mean_score) == (1, 0, None)


def test_tables_and_index_show_the_split(tmp_path):
    _write_tables(ROWS, tmp_path)
    with open(tmp_path / "report.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["confident"] for r in table] == ["true"] * 3 + ["false"] * 3
    assert [r["score"] for r in table] == ["0.5000", "", "0.2000", "-0.1000", "", ""]
    md = (tmp_path / "report.md").read_text()
    assert "| confident | 3 | 2 | +0.350 |" in md and "| unconfident | 3 | 1 | -0.100 |" in md
    page = _index_html(ROWS, "smollm2-135m", 6)
    neurons = page.split('id="neurons"')[1]
    assert neurons.count("badge confident") == 3 and neurons.count("badge unconfident") == 3
    assert neurons.count('<tr class="unconfident">') == 3 and "explanation &lt;4&gt;" in neurons
    summary = page.split('id="confidence"')[1].split("</table>")[0]
    assert "<td>3</td><td>2</td><td>+0.350</td>" in summary and "<td>3</td><td>1</td><td>-0.100</td>" in summary
