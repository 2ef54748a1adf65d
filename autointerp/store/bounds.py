"""Bounds an imported record must keep: the records' own fields stay unbounded (records stored
before these checks must still load), so an import checks what no scorer or explainer here can
write: every number finite, every count or index non-negative, each score within its method's
range, and a creation time that is neither before 2000 nor in the future."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from autointerp.records import Explanation

# The range of each built-in method's score value (scoring/): simulation is a Pearson correlation,
# detection and fuzzing a balanced accuracy, counterfactual an F1. A scorer a user registered
# declares none: its values need only be finite.
SCORE_RANGES = {"simulation": (-1.0, 1.0), "detection": (0.0, 1.0), "fuzzing": (0.0, 1.0),
                "counterfactual": (0.0, 1.0)}
CORRELATION = (-1.0, 1.0)
EPS = 1e-6  # a correlation computed in floating point may pass 1 by a rounding error
RATES = frozenset({"f1", "precision", "recall", "true_positive_rate", "true_negative_rate", "balanced_accuracy"})
SIGNED_INTS = frozenset({"seed"})  # the one integer of a record that is not a count or an index
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)  # a record may come from a machine whose clock runs ahead


class OutOfBounds(ValueError):
    """A field outside its bounds: `field` is its dotted path in the record (e.g. scores.0.value)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_bounds(expl: Explanation, now: datetime | None = None) -> None:
    """Raise OutOfBounds naming the first field out of bounds."""
    _walk(expl.model_dump(mode="python"), "")
    for i, score in enumerate(expl.scores):
        lo, hi = SCORE_RANGES.get(score.method, (-math.inf, math.inf))
        _within(score.value, lo, hi, f"scores.{i}.value", f"{score.method}'s range")
        for j, v in enumerate(score.per_example if score.method == "simulation" else ()):
            _within(v, *CORRELATION, f"scores.{i}.per_example.{j}", "a correlation's range")
        for j, w in enumerate(score.windows or ()):
            _within(w.correlation, *CORRELATION, f"scores.{i}.windows.{j}.correlation", "a correlation's range")
    created = expl.created_at if expl.created_at.tzinfo else expl.created_at.replace(tzinfo=UTC)
    latest = (now or datetime.now(UTC)) + CLOCK_SKEW
    if not EARLIEST <= created <= latest:
        when = "in the future" if created > latest else f"before {EARLIEST.year}"
        raise OutOfBounds("created_at", f"{created.isoformat()} is {when}")


def _within(v: float | None, lo: float, hi: float, field: str, what: str) -> None:
    if v is not None and not lo - EPS <= v <= hi + EPS:
        raise OutOfBounds(field, f"{v} is outside {what} [{lo:g}, {hi:g}]")


def _walk(value: object, path: str) -> None:
    """Every float finite, every integer but a seed non-negative, every rate in [0, 1]."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        name = where.rsplit(".", 1)[-1]
        if isinstance(item, dict):
            stack.extend(reversed([(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()]))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed([(v, f"{where}.{k}") for k, v in enumerate(item)]))  # the first one first
        elif isinstance(item, bool):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise OutOfBounds(where, f"{item} is not a finite number")
            if name in RATES:
                _within(item, 0.0, 1.0, where, "a rate's range")
            if name == "cost_usd" and item < 0:
                raise OutOfBounds(where, f"{item} is negative")
        elif isinstance(item, int) and item < 0 and name not in SIGNED_INTS:
            raise OutOfBounds(where, f"{item} is negative: a count or an index")
