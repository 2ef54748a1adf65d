"""The store on a real Chroma directory with the real MiniLM: identity, history, search, filters."""

from __future__ import annotations

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from autointerp.embeddings import MODEL_ID
from autointerp.errors import AutointerpError, StoreError
from autointerp.records import UnitId
from autointerp.store import SearchHit, open_store
from autointerp.store.backend import CURRENT
from autointerp.store.keys import record_id
from tests.store.samples import MODEL, make, varied


@pytest.fixture()
def store(fresh_settings):
    return open_store(fresh_settings)


def test_add_upsert_has_get_history_latest_best(store):
    first = make(text="legal terms in contracts", value=0.3, minutes=0)
    rid = store.add(first)
    assert rid == record_id(MODEL, "L6.N74", "local", "agent_v1") == record_id(MODEL, "6/74", "local", "agent_v1")
    assert store.has(MODEL, "6.74", "local", "agent_v1")
    assert not store.has(MODEL, "L6.N74", "local", "agent_v2")
    assert not store.has("other-model", "L6.N74", "local", "agent_v1")

    rerun = make(text="legal vocabulary: plaintiff, statute, hereby", value=0.6, minutes=10)
    assert store.add(rerun) == rid  # same explainer and prompt version: upserted, not duplicated
    other = make(text="words about law", explainer="openai:gpt-4o-mini", value=0.9, minutes=5)
    unscored = make(text="contract clauses", prompt_version="agent_v2", value=None, minutes=20)
    gpt2 = make(text="legal text in another model", model="gpt2-small", minutes=30)
    store.add_many([other, unscored, gpt2])

    assert store.count() == 4
    assert store.get("gpt2-small", "L6.N74") == store.history("gpt2-small", "L6.N74") == [gpt2]
    assert store.get(MODEL, UnitId(layer=6, index=74)) == [other, rerun, unscored]
    assert store.history(MODEL, "L6.N74") == [first, other, rerun, unscored]  # the replaced one kept, oldest first
    assert store.latest(MODEL, "L6.N74") == unscored
    assert store.best(MODEL, "L6.N74") == other
    assert store.get(MODEL, "L6.N75") == [] and store.latest(MODEL, "L6.N75") is None
    assert store.best(MODEL, "L6.N75") is None


def test_round_trip_is_lossless_and_order_independent(store):
    new, old = make(text="newer", minutes=30), make(text="older", minutes=1)
    store.add(new)
    store.add(old)  # an older version arriving late goes to the history, not over the newer one
    assert store.get(MODEL, "L6.N74") == [new]
    assert store.history(MODEL, "L6.N74") == [old, new]
    store.add(new)  # the same version again: nothing new
    assert store.history(MODEL, "L6.N74") == [old, new]
    got = store.get(MODEL, "L6.N74")[0]
    assert got.model_dump_json() == new.model_dump_json()
    assert got.evidence.top_tokens == new.evidence.top_tokens and got.scores[0].per_example == [0.5, None, 0.25]


def test_canonical_neuron_and_bad_id(store):
    store.add(make(neuron="6/74"))
    assert [e.neuron for e in store.list()] == ["L6.N74"]
    with pytest.raises(AutointerpError, match="malformed unit id"):
        store.add(make(neuron="L6-74"))


def test_search_ranks_legal_text_first(store):
    store.add_many(varied())
    hits = store.search("neurons about legal text", k=5)
    assert all(isinstance(h, SearchHit) for h in hits) and len(hits) == 5
    assert hits[0].explanation.neuron == "L6.N74", [h.explanation.text for h in hits]
    sims = [h.similarity for h in hits]
    assert sims == sorted(sims, reverse=True) and -1 <= sims[-1] < sims[0] <= 1
    assert hits[0].similarity - hits[1].similarity > 0.1
    assert hits[0].id == record_id(MODEL, "L6.N74", "local", "agent_v1")
    food = store.search("baking bread in the kitchen", k=1)[0]
    assert food.explanation.neuron == "L12.N301"


def test_search_filters(store):
    store.add_many(varied() + [make("L6.N74", "statutes and legal clauses", model="gpt2-small", value=0.2)])
    assert {h.explanation.model for h in store.search("legal text", k=20)} == {MODEL, "gpt2-small"}
    only = store.search("legal text", model="gpt2-small", k=5)
    assert [h.explanation.model for h in only] == ["gpt2-small"]
    layer = store.search("legal text", layer=29, k=5)
    assert len(layer) == 2 and {h.explanation.neuron for h in layer} == {"L29.N720", "L29.N3"}
    good = store.search("legal text", min_score=0.5, k=20)
    assert good and all(h.explanation.score >= 0.5 for h in good)
    assert len(good) == sum(1 for e in varied() if e.score >= 0.5)
    assert store.search("legal text", model="no-such-model") == []
    store.add(make("L1.N1", "unscored legal notes", value=None))
    assert "L1.N1" not in {h.explanation.neuron for h in store.search("legal", min_score=-1.0, k=50)}
    assert "L1.N1" in {h.explanation.neuron for h in store.search("legal", k=50)}


def test_filtered_search_falls_back_when_few_match(store):
    """More than 50 records and a rare filter: the over-fetch finds too few, Chroma's filter runs."""
    many = [make(f"L{1 + i % 3}.N{i}", f"generic topic number {i} in running text", value=0.1) for i in range(60)]
    store.add_many(many + [make("L40.N1", "legal text in contracts", value=0.9)])
    hits = store.search("sports results", layer=40, k=3)
    assert [h.explanation.neuron for h in hits] == ["L40.N1"]
    assert len(store.search("legal", min_score=0.5, k=3)) == 1


def test_list_sorted_and_filtered(store):
    store.add_many(varied())
    listed = store.list()
    keys = [(UnitId.parse(e.neuron).layer, UnitId.parse(e.neuron).index) for e in listed]
    assert keys == sorted(keys) and len(listed) == len(varied()) == store.count()
    assert [e.neuron for e in store.list(layer=20)] == ["L20.N44", "L20.N45"]
    assert store.list(model="gpt2-small") == []


def test_search_rejects_bad_input(store):
    with pytest.raises(AutointerpError, match="empty search query"):
        store.search("  ")
    with pytest.raises(AutointerpError, match="^k must be >= 1"):
        store.search("x", k=0)
    assert store.search("anything") == []


def _raw_client(settings):
    path = settings.data_dir / "store"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def test_refuses_to_mix_embedding_models(fresh_settings):
    _raw_client(fresh_settings).create_collection(
        CURRENT, metadata={"embedding_model": "text-embedding-3-small"}, embedding_function=None)
    with pytest.raises(StoreError, match="text-embedding-3-small.*refusing to mix"):
        open_store(fresh_settings).search("legal")  # Chroma opens on the first operation that needs it


def test_refuses_collection_without_model_or_other_space(fresh_settings, home, tmp_path):
    _raw_client(fresh_settings).create_collection(CURRENT, embedding_function=None)
    with pytest.raises(StoreError, match="unrecorded model"):
        open_store(fresh_settings).search("legal")
    from tests.conftest import linked_home

    other = linked_home(home, tmp_path / "other")
    _raw_client(other).create_collection(CURRENT, metadata={"embedding_model": MODEL_ID}, embedding_function=None,
                                         configuration={"hnsw": {"space": "l2"}})
    with pytest.raises(StoreError, match="l2 distance"):
        open_store(other).add(make())


def test_reopen_sees_everything(fresh_settings):
    open_store(fresh_settings).add_many(varied())
    again = open_store(fresh_settings)
    assert again.count() == len(varied())
    assert again.search("recipes with flour", k=1)[0].explanation.neuron == "L12.N301"


def test_refuses_collection_embedded_by_chroma_default(fresh_settings):
    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction

    _raw_client(fresh_settings).create_collection(CURRENT, metadata={"embedding_model": MODEL_ID},
                                                  embedding_function=DefaultEmbeddingFunction())
    with pytest.raises(StoreError, match="embedding function .default.*refusing to mix"):
        open_store(fresh_settings).count()  # no ledger yet: read from Chroma


def test_collections_record_minilm(store):
    store.add(make())
    for col in (store._backend.current, store._backend.history):
        assert col.metadata["embedding_model"] == MODEL_ID
        assert col.configuration_json["embedding_function"]["name"] == "autointerp-minilm"
        assert col.configuration_json["hnsw"]["space"] == "cosine"
        assert col.configuration_json["hnsw"]["sync_threshold"] == 1  # persisted on every write


def test_searches_at_the_same_time_are_embedded_together_and_answer_as_alone(store, monkeypatch):
    """Concurrent searches share MiniLM forwards (fewer forwards than searches) and get what each
    gets alone: the same hits, similarities within 2e-3 (a batch's bf16 kernels differ in the last
    bits; measured: 6e-4 at most)."""
    import threading

    import numpy as np

    from autointerp.store import embedding

    store.add_many(varied())
    long = "a much longer query about the months of the year, dates and calendars in news text"
    queries = ["neurons about legal text", "baking bread in the kitchen", "numbers", long, "code", "French words",
               "x"] * 3
    for q in set(queries):  # one query alone: MiniLM's own vector, to the last bfloat16 bit (traced)
        assert np.abs(embedding.embed_query(q)[0] - embedding.embed_texts([q])[0]).max() < 2e-3
    alone = {q: {h.id: h.similarity for h in store.search(q, k=4)} for q in set(queries)}

    calls = []
    real = embedding.embed_queries
    monkeypatch.setattr(embedding, "embed_queries", lambda texts: calls.append(len(texts)) or real(texts))
    got: dict[int, list] = {}
    start = threading.Barrier(len(queries))

    def one(i: int) -> None:
        start.wait()
        got[i] = [(h.id, h.similarity) for h in store.search(queries[i], k=4)]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == len(queries)
    for i, q in enumerate(queries):
        want = alone[q]
        assert got[i][0][0] == max(want, key=want.get), q  # the same best hit
        common = [(rid, sim) for rid, sim in got[i] if rid in want]
        assert len(common) >= 3 and all(abs(sim - want[rid]) < 2e-3 for rid, sim in common), q
    assert len(calls) < len(queries) and max(calls) > 1  # searches shared forwards
