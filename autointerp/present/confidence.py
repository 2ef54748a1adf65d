"""The confident / unconfident summary: the confidence flag is worth something only if confident
records score higher. The batch report averages each group; the real-neuron eval bootstraps it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

from pydantic import BaseModel


class Flagged(Protocol):
    """Anything with a confidence flag and a held-out score (a report row, an eval run)."""

    confident: bool | None
    score: float | None


class ConfidenceGroup(BaseModel):
    """The items whose flag is (or is not) `confident`, and how they score: `scores` are the defined
    held-out scores (`scored` of `neurons`), their mean None when there is none."""

    confident: bool
    neurons: int
    scores: list[float]

    @property
    def scored(self) -> int:
        return len(self.scores)

    @property
    def mean_score(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None


def confidence_groups(items: Iterable[Flagged]) -> list[ConfidenceGroup]:
    """Confident first, then unconfident; undefined scores (None, NaN) are counted apart, never
    averaged. An item whose flag is None (no record) is in neither group."""
    items = list(items)
    out = []
    for flag in (True, False):
        group = [x for x in items if x.confident is flag]
        out.append(ConfidenceGroup(confident=flag, neurons=len(group),
                                   scores=[x.score for x in group if x.score is not None and math.isfinite(x.score)]))
    return out
