"""`confident` on a real Chroma directory: stored, round-tripped, filterable in list and search (both search
paths), through export/import, and never claimed for rows written before the flag existed."""

from __future__ import annotations

import json

import pytest

from autointerp.records import Explanation
from autointerp.store import export_records, import_records, keys, open_store
from autointerp.store.chroma_store import _where
from tests.conftest import linked_home
from tests.store.samples import make, varied

SURE = {"L6.N74", "L12.N301", "L29.N3"}  # three of the varied topics marked confident


def _marked() -> list[Explanation]:
    return [e.model_copy(update={"confident": e.neuron in SURE}) for e in varied()]


@pytest.fixture()
def store(fresh_settings):
    return open_store(fresh_settings)


def test_confident_round_trips_and_filters_list_and_search(store):
    store.add_many(_marked())
    assert {e.neuron for e in store.list() if e.confident} == SURE
    assert {e.neuron for e in store.list(confident=True)} == SURE
    assert {e.neuron for e in store.list(confident=False)} == {e.neuron for e in varied()} - SURE
    assert [e.neuron for e in store.list(layer=29, confident=True)] == ["L29.N3"]
    assert store.get("smollm2-135m", "L6.N74")[0].confident is True
    # what Chroma holds, not only the ledger: the flat field and the record JSON agree
    res = store._backend.current.get(include=["metadatas"])
    flags = {m["neuron"]: (m["confident"], json.loads(m["record"])["confident"]) for m in res["metadatas"]}
    assert flags == {e.neuron: (e.neuron in SURE,) * 2 for e in varied()}

    sure = store.search("neurons about legal text", confident=True, k=10)
    assert [h.explanation.neuron for h in sure][0] == "L6.N74" and {h.explanation.neuron for h in sure} == SURE
    unsure = store.search("neurons about legal text", confident=False, k=10)
    assert {h.explanation.neuron for h in unsure} == {e.neuron for e in varied()} - SURE
    assert all(not h.explanation.confident for h in unsure)
    both = store.search("weather", layer=29, min_score=0.5, confident=True, k=5)
    assert [h.explanation.neuron for h in both] == ["L29.N3"]  # 0.82, layer 29, confident


def test_filtered_search_falls_back_to_chroma_for_the_flag(store):
    """Over 50 records and one confident one: the over-fetch finds too few, Chroma's own filter runs."""
    many = [make(f"L{1 + i % 3}.N{i}", f"generic topic number {i} in running text", value=0.1) for i in range(60)]
    store.add_many(many + [make("L40.N1", "legal text in contracts", value=0.9).model_copy(update={"confident": True})])
    hits = store.search("sports results", confident=True, k=3)
    assert [h.explanation.neuron for h in hits] == ["L40.N1"]
    assert len(store.search("sports results", confident=False, k=70)) == 60


def test_rows_from_before_the_flag_are_not_confident(store, monkeypatch):
    """A store written before `confident` existed: no flat field, no field in the record JSON."""
    old_metadata = keys.metadata

    def legacy(expl):
        meta = old_metadata(expl)
        del meta["confident"]
        record = json.loads(meta["record"])
        del record["confident"]
        meta["record"] = json.dumps(record)
        return meta

    monkeypatch.setattr(keys, "metadata", legacy)
    store.add_many([make("L40.N1", "legal text in contracts", value=0.9), make("L40.N2", "rain and storms")])
    monkeypatch.undo()
    store.add(make("L40.N3", "legal clauses in statutes").model_copy(update={"confident": True}))
    current = store._backend.current
    (row,) = current.get(where={"neuron": "L40.N1"}, include=["metadatas"])["metadatas"]
    assert "confident" not in row and '"confident"' not in row["record"]
    assert keys.from_metadata(row).confident is False
    assert [h.explanation.neuron for h in store.search("legal contracts", confident=True, k=3)] == ["L40.N3"]
    assert [h.explanation.neuron for h in store.search("legal contracts", confident=False, k=1)] == ["L40.N1"]
    # Chroma's own filter (the fallback of a filtered search) agrees: a missing flag is not confident
    for flag, expected in ((True, ["L40.N3"]), (False, ["L40.N1", "L40.N2"])):
        res = current.get(where=_where(None, 40, None, flag), include=["metadatas"])
        assert sorted(m["neuron"] for m in res["metadatas"]) == expected


def test_export_import_keeps_the_flag(store, home, tmp_path):
    store.add_many(_marked())
    for fmt in ("jsonl", "neuronpedia"):
        path = tmp_path / f"all.{fmt}.jsonl"
        export_records(store, path, fmt)
        other = open_store(linked_home(home, tmp_path / f"other-{fmt}"))
        import_records(other, path)
        assert {e.neuron for e in other.list(confident=True)} == SURE, fmt
