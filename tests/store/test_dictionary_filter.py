"""Search and list restricted to one dictionary's latents or to neurons, on a real Chroma directory
with the real MiniLM: through the library (the over-fetch path and Chroma's own `where`), the CLI,
and rows written before the `dictionary` field existed."""

from __future__ import annotations

import json

import pytest

from autointerp.store import open_store
from tests.store.samples import make
from tests.store.test_cli_store import cli

# One topic in three sources, so a query finds all three and only the filter tells them apart.
LEGAL = [("L6.N74", "legal language in court rulings and contracts"),
         ("6-res4k/17", "legal language in contracts and statutes"),
         ("6-res16k/3", "legal terms such as plaintiff and defendant")]


@pytest.fixture()
def store(fresh_settings):
    s = open_store(fresh_settings)
    s.add_many([make(n, text, value=0.5, minutes=i) for i, (n, text) in enumerate(LEGAL)])
    return s


def _units(hits) -> set[str]:
    return {h.explanation.neuron for h in hits}


def test_search_and_list_keep_one_dictionary_or_the_neurons(store):
    assert _units(store.search("legal text", k=5)) == {n for n, _ in LEGAL}
    assert _units(store.search("legal text", k=5, dictionary="res4k")) == {"6-res4k/17"}
    assert _units(store.search("legal text", k=5, kind="neuron")) == {"L6.N74"}
    assert _units(store.search("legal text", k=5, kind="latent")) == {"6-res4k/17", "6-res16k/3"}
    assert store.search("legal text", k=5, dictionary="nope") == []
    assert [e.neuron for e in store.list(layer=6, dictionary="res16k")] == ["6-res16k/3"]
    assert [e.neuron for e in store.list(layer=6, kind="neuron")] == ["L6.N74"]


def test_chromas_own_filter_agrees_when_the_over_fetch_finds_too_few(store):
    """More than 50 nearer records of other sources: the search falls back to Chroma's `where`."""
    store.add_many([make(f"L{1 + i % 3}.N{i}", f"legal contract clause number {i}", value=0.1) for i in range(60)])
    assert _units(store.search("legal contract clause", k=2, dictionary="res16k")) == {"6-res16k/3"}
    assert len(store.search("legal contract clause", k=3, kind="latent")) == 2
    with store._backend.op() as (current, _):
        rows = current.get(where={"dictionary": "res4k"}, include=["metadatas"])["metadatas"]
    assert [m["neuron"] for m in rows] == ["6-res4k/17"]


def test_rows_without_the_field_are_still_filtered_by_their_id(store):
    """A row written before `dictionary` existed: the over-fetch path reads its id."""
    with store._backend.op(write=True) as (current, _):
        got = current.get(include=["metadatas", "embeddings"])
        metas = [{k: v for k, v in m.items() if k != "dictionary"} for m in got["metadatas"]]
        current.delete(ids=got["ids"])  # an upsert merges metadata: the old key would stay
        current.add(ids=got["ids"], embeddings=got["embeddings"], metadatas=metas)
        assert all("dictionary" not in m for m in current.get(include=["metadatas"])["metadatas"])
    assert _units(store.search("legal text", k=5, dictionary="res4k")) == {"6-res4k/17"}
    assert _units(store.search("legal text", k=5, kind="neuron")) == {"L6.N74"}


def test_the_cli_filters_by_dictionary_and_kind(fresh_settings, store):
    r = cli(fresh_settings, "search", "legal text", "--dictionary", "res4k", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert [h["explanation"]["neuron"] for h in json.loads(r.stdout)] == ["6-res4k/17"]
    r = cli(fresh_settings, "list", "--kind", "neuron", "--json")
    assert r.returncode == 0 and [e["neuron"] for e in json.loads(r.stdout)] == ["L6.N74"], r.stderr[-2000:]
    r = cli(fresh_settings, "search", "legal text", "--kind", "latent")
    assert r.returncode == 0 and "6-res16k/3" in r.stdout and "L6.N74" not in r.stdout, r.stdout
    for args, said in ((("search", "legal", "--dictionary", "Bad_Name"), "malformed dictionary name"),
                       (("list", "--kind", "neuron", "--dictionary", "res4k"), "contradict")):
        r = cli(fresh_settings, *args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and said in lines[0], r.stderr
