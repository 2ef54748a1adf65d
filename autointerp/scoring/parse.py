"""Parse an LLM's per-token predictions. Anything that does not line up is a typed error, never zeros."""

from __future__ import annotations

import json
import re

from autointerp.errors import AutointerpError


class ParseError(AutointerpError, ValueError):
    """The reply holds no list of the right number of predictions in 0..10."""


_ARRAY = re.compile(r"\[[^\[\]]*\]", re.S)


def _candidates(text: str):
    stripped = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.S)
    for chunk in ([fence.group(1)] if fence else []) + [stripped] + _ARRAY.findall(stripped):
        try:
            yield json.loads(chunk)
        except (json.JSONDecodeError, RecursionError):
            continue


def _values(obj) -> list | None:
    if isinstance(obj, dict):
        for key in ("predictions", "activations", "values", "scores"):
            if isinstance(obj.get(key), list):
                return obj[key]
        return None
    if isinstance(obj, list):
        if obj and all(isinstance(x, dict) for x in obj):
            out = []
            for x in obj:
                v = next((x[k] for k in ("activation", "prediction", "value", "score") if k in x), None)
                if v is None:
                    return None
                out.append(v)
            return out
        return obj
    return None


def parse_predictions(text: str, n: int) -> list[float]:
    """The n predictions in a reply: a bare JSON list, a fenced one, one inside prose, or an object
    holding one. Raises ParseError when none has exactly n numbers in [0, 10]."""
    problem = "no JSON list found"
    for obj in _candidates(text):
        values = _values(obj)
        if values is None:
            continue
        if len(values) != n:
            problem = f"{len(values)} predictions for {n} tokens"
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            problem = "a prediction is not a number"
            continue
        if not all(0 <= v <= 10 for v in values):
            problem = "a prediction is outside 0..10"
            continue
        return [float(v) for v in values]
    raise ParseError(problem)
