"""When a record is confident: its chosen explanation's validation score clears a floor calibrated
on shuffled explanations. `calibrate` scores each neuron's validation windows against the words
candidates composed for *other* neurons (which say nothing true about it) and takes, per neuron,
the best of `k` such scores (the agent picks the best of a handful of candidates, so the floor must
not be cleared by picking alone); the floor is a high quantile of those maxima. The numbers behind
CONFIDENT_FLOOR are in evals/README.md, "Confidence"."""

from __future__ import annotations

import numpy as np

from autointerp.agent.compose import compose
from autointerp.agent.findings import Findings, peak_word
from autointerp.agent.session import open_session
from autointerp.scoring.simulation import score_records
from autointerp.workbench import Workbench

# Calibration (16 neurons of layers 3 and 6, seeded sample, 131k-token caches, embedding simulator):
# the best of 5 other neurons' words candidates scores at most 0.107 on a neuron's validation
# windows (90th percentile 0.098, 95th 0.105). 0.15 clears every one of those; of the neurons' own
# words candidates, the 4 at or above it scored +0.121 held out on average, the 12 below +0.086.
CONFIDENT_FLOOR = 0.15


def confident(validation: float | None) -> bool:
    return validation is not None and validation >= CONFIDENT_FLOOR


def hedged(text: str) -> str:
    """An unconfident record's text: the best guess, marked as one."""
    return f"No clear explanation; best guess: {text}"


def calibrate(wb: Workbench, neurons: list[str], k: int = 5, seed: int = 0) -> dict[str, object]:
    """Null validation scores (best of k other neurons' words candidates) and each neuron's own
    words candidate on validation and on the test windows."""
    sessions, texts = [], []
    for n in neurons:
        s = open_session(wb, n)
        drafts = compose(Findings(peaks=[peak_word(r, s.normalised(r.max_activation)) for r in s.explain]))
        if drafts:
            sessions.append(s)
            texts.append(drafts[0])
    def value(draft, records, s) -> float:
        v = score_records(draft.text, draft.triggers, records, s.max_activation, "embedding").value
        return 0.0 if v is None else float(v)  # an undefined correlation predicts nothing

    rng = np.random.default_rng(seed)
    rows = []
    for i, s in enumerate(sessions):
        others = [j for j in range(len(sessions)) if j != i]
        picks = rng.choice(others, size=min(k, len(others)), replace=False)
        null = max(value(texts[j], s.validation, s) for j in picks)
        val, test = value(texts[i], s.validation, s), value(texts[i], s.test, s)
        rows.append({"neuron": str(s.neuron), "null_max": round(null, 4), "validation": round(val, 4),
                     "test": round(test, 4)})
    nulls = np.array([r["null_max"] for r in rows])
    return {"rows": rows, "null_q90": float(np.quantile(nulls, 0.9)), "null_q95": float(np.quantile(nulls, 0.95))}
