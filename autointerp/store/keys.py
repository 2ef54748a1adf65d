"""Ids, flat metadata and ordering for stored explanations: pure functions, no Chroma."""

from __future__ import annotations

import hashlib
import math
from datetime import timezone

from autointerp.records import Explanation, UnitId

# Headline scores are correlations, accuracies or F1 (all >= -1): -2 marks "not scored" in the flat
# metadata, where Chroma has no null; `has_score` says the same thing explicitly.
NO_SCORE = -2.0


def is_confident(meta: dict) -> bool:
    """A row's `confident` flag; rows written before the field existed have none and count as not confident
    (so do their records: the field defaults to False), never as confident."""
    return meta.get("confident") is True


def neuron_key(neuron: str | UnitId) -> str:
    """Canonical `L6.N74` for any accepted neuron spelling."""
    return str(neuron if isinstance(neuron, UnitId) else UnitId.parse(neuron))


def record_id(model: str, neuron: str | UnitId, explainer: str, prompt_version: str) -> str:
    """Stable id: the same model, neuron, explainer and prompt version always land on one record."""
    key = "\x1f".join((model, neuron_key(neuron), explainer, prompt_version))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def id_of(expl: Explanation) -> str:
    return record_id(expl.model, expl.neuron, expl.explainer, expl.prompt_version)


def canonical(expl: Explanation) -> Explanation:
    """The record with its neuron id in canonical form (so `6/74` and `L6.N74` are one neuron)."""
    key = neuron_key(expl.neuron)
    return expl if key == expl.neuron else expl.model_copy(update={"neuron": key})


def content_hash(expl: Explanation) -> str:
    return hashlib.sha256(expl.model_dump_json().encode("utf-8")).hexdigest()[:16]


def history_id(expl: Explanation) -> str:
    """One id per distinct version: storing the same version twice keeps one history entry."""
    return f"{id_of(expl)}:{content_hash(expl)}"


def timestamp(expl: Explanation) -> float:
    """Seconds since the epoch; a naive created_at is taken as UTC."""
    ts = expl.created_at
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).timestamp()


def headline(expl: Explanation) -> float | None:
    s = expl.score
    return None if s is None or not math.isfinite(s) else float(s)


def rank(expl: Explanation) -> tuple[bool, float, float]:
    """The best of a neuron's explanations ranks highest: a defined headline score first (unscored and
    NaN last), then the score, then the newest, so a tie never depends on the order records came in.
    The store's `best`, the web app's layer table and the batch report all choose by it."""
    score = headline(expl)
    return score is not None, score if score is not None else 0.0, timestamp(expl)


def metadata(expl: Explanation) -> dict[str, str | int | float | bool]:
    """Flat filterable fields plus the full record JSON (`record`), which round-trips losslessly."""
    nid = UnitId.parse(expl.neuron)
    score = headline(expl)
    return {
        "model": expl.model,
        "neuron": str(nid),
        "layer": nid.layer,
        "index": nid.index,
        "dictionary": nid.dictionary or "",  # "" for a neuron: Chroma has no null
        "explainer": expl.explainer,
        "prompt_version": expl.prompt_version,
        "method": expl.method,
        "kind": expl.kind,
        "score": NO_SCORE if score is None else score,
        "has_score": score is not None,
        "confident": bool(expl.confident),
        "created_at": expl.created_at.isoformat(),
        "created_ts": timestamp(expl),
        "record_id": id_of(expl),
        "record": expl.model_dump_json(),
    }


def dictionary_of(meta: dict) -> str | None:
    """A row's dictionary (None for a neuron), from its id: rows written before the `dictionary`
    field existed have none."""
    return UnitId.parse(meta["neuron"]).dictionary


def from_metadata(meta: dict) -> Explanation:
    return Explanation.model_validate_json(meta["record"])


def order_key(expl: Explanation) -> tuple:
    """Oldest first; ties broken by identity so the order is deterministic."""
    nid = UnitId.parse(expl.neuron)
    return (timestamp(expl), expl.model, nid.layer, nid.index, expl.explainer, expl.prompt_version, content_hash(expl))
