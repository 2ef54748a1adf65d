"""Which explanation a neuron shows when it has several (one per explainer and prompt version): the
store's rule (`keys.rank`: best defined score, then newest), for the web app's layer table and the
batch report."""

from __future__ import annotations

from collections.abc import Iterable

from autointerp.records import Explanation, UnitId
from autointerp.store.keys import rank


def best_per_neuron(records: Iterable[Explanation]) -> dict[int, tuple[Explanation, int]]:
    """Per neuron index (the records of one layer): its best explanation and how many it has."""
    by: dict[int, list[Explanation]] = {}
    for r in records:
        by.setdefault(UnitId.parse(r.neuron).index, []).append(r)
    return {i: (max(rs, key=rank), len(rs)) for i, rs in by.items()}
