"""The one way a score is written, for the terminal, HTML files, the web app and notebooks: its
value, what it was measured on, and its method's figures (read from the typed details)."""

from __future__ import annotations

import math

from autointerp.records import (
    ClassifierDetails,
    CounterfactualDetails,
    Figures,
    Score,
    SimulationDetails,
)


def value_text(value: float | None) -> str:
    """`+0.1234`; "undefined" for None and for the NaN older files may hold."""
    return "undefined" if value is None or not math.isfinite(value) else f"{value:+.4f}"


def describe(s: Score) -> str:
    """What the value is and what it was measured on."""
    match s.details:
        case SimulationDetails():
            return (f"simulation, rule {s.rule}, simulator {s.simulator}, {s.n_examples} held-out windows, "
                    f"{s.n_tokens} tokens, split {s.split.kind}")
        case ClassifierDetails() as d:
            return (f"{s.method} balanced accuracy, {d.positives} positives + {d.negatives} negatives "
                    f"of {d.example_len} tokens")
        case CounterfactualDetails():
            return f"counterfactual F1, {s.n_examples} generated texts"
    return f"{s.method}, {s.n_examples} examples"


def headline(s: Score | None) -> str:
    """`+0.1234 (what it is)`, or "unscored"."""
    return "unscored" if s is None else f"{value_text(s.value)} ({describe(s)})"


def per_example_text(s: Score) -> str:
    """The per-window correlations, "—" where one is undefined; empty when there are none."""
    return ", ".join("—" if c is None else f"{c:+.2f}" for c in s.per_example)


def figures_text(s: Score) -> str:
    """The method's own figures on one line; empty when it has none."""
    match s.details:
        case ClassifierDetails() as d:
            return (f"F1 {d.f1:.4f}  precision {d.precision:.4f}  recall {d.recall:.4f}  "
                    f"true negative rate {d.true_negative_rate:.4f}  failed {d.failed}")
        case Figures() as f:
            return "  ".join(f"{k} {v:.4f}" for k, v in f.root.items())
    return "  ".join(f"{k} {v:.4f}" for k, v in s.details.model_dump().items())
