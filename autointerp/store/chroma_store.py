"""The explanation store: Chroma collections of current explanations and of every earlier version.

Embeddings come only from the bundled MiniLM and are always passed to Chroma explicitly; the
collections record MiniLM as their embedding function, so Chroma's downloading default never runs.

A local store also keeps every record in its ledger (ledger.py), written first under the same lock;
exact reads (has, get, history, list, count, export) come from the ledger, which opens read-only,
and only `search` and writes open Chroma. A server store, or a local one made before the ledger
(until its first write), is read from Chroma.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from pydantic import BaseModel

from autointerp.config import Settings, get_settings
from autointerp.errors import InputError
from autointerp.records import Explanation, UnitId, UnitKind
from autointerp.store import keys
from autointerp.store.backend import LocalBackend, ServerBackend
from autointerp.store.embedding import embed_query, embed_texts
from autointerp.store.ledger import Ledger

_WRITE_BATCH = 1000


class SearchHit(BaseModel):
    id: str
    similarity: float
    explanation: Explanation


class Store:
    """Explanations keyed by (model, neuron, explainer, prompt_version); see `open_store`."""

    def __init__(self, backend: LocalBackend | ServerBackend, settings: Settings | None = None):
        self._backend = backend
        self.where = backend.where
        self.settings = settings

    def _ledger(self) -> Ledger | None:
        """The ledger exact reads come from, when this store has one."""
        ledger = self._backend.ledger
        return ledger if ledger is not None and ledger.exists() else None

    # writing

    def add(self, expl: Explanation) -> str:
        """Upsert one explanation; the version it replaces stays in the history. Returns its id."""
        return self.add_many([expl])[0]

    def add_many(self, expls: Iterable[Explanation]) -> list[str]:
        """Upsert many at once (one embedding batch). Per id the newest created_at is current and
        every other version goes to the history, so the outcome does not depend on the order (and a
        write tried again after a server stopped answering mid-write stores nothing twice)."""
        expls = [keys.canonical(e) for e in expls]
        if not expls:
            return []
        vecs = embed_texts([e.text for e in expls])
        ids = [keys.id_of(e) for e in expls]
        for attempt in self._backend.attempts():
            with attempt, self._backend.op(write=True) as (current, history):
                for start in range(0, len(expls), _WRITE_BATCH):
                    sl = slice(start, start + _WRITE_BATCH)
                    self._write(current, history, expls[sl], vecs[sl], ids[sl])
        return ids

    def _write(self, current_col, history_col, expls: list[Explanation], vecs: np.ndarray, ids: list[str]) -> None:
        versions: dict[str, list[tuple[Explanation, np.ndarray]]] = {}
        old = current_col.get(ids=list(dict.fromkeys(ids)), include=["metadatas", "embeddings"])
        old_vecs = old["embeddings"] if old["embeddings"] is not None else []
        for rid, meta, vec in zip(old["ids"], old["metadatas"], old_vecs):
            versions.setdefault(rid, []).append((keys.from_metadata(meta), np.asarray(vec, dtype=np.float32)))
        for rid, e, v in zip(ids, expls, vecs):
            versions.setdefault(rid, []).append((e, v))
        current, history = [], []
        for vs in versions.values():
            # max() keeps the last of equal timestamps: a new version with the same time wins.
            newest = max(range(len(vs)), key=lambda i: (keys.timestamp(vs[i][0]), i))
            current.append(vs[newest])
            seen = {keys.content_hash(vs[newest][0])}
            for i, (e, v) in enumerate(vs):
                if i != newest and keys.content_hash(e) not in seen:
                    seen.add(keys.content_hash(e))
                    history.append((e, v))
        history_ids, current_ids = [keys.history_id(e) for e, _ in history], [keys.id_of(e) for e, _ in current]
        ledger = self._backend.ledger
        if ledger is not None:  # first: what Chroma is rebuilt from holds every version Chroma may hold
            ledger.put(list(zip(current_ids, (e for e, _ in current))), list(zip(history_ids, (e for e, _ in history))))
        if history:  # first, so a crash between the two writes loses no version
            self._upsert(history_col, history_ids, history)
        self._upsert(current_col, current_ids, current)

    @staticmethod
    def _upsert(col, ids: list[str], items: list[tuple[Explanation, np.ndarray]]) -> None:
        col.upsert(ids=ids, embeddings=np.stack([v for _, v in items]),
                   documents=[e.text for e, _ in items], metadatas=[keys.metadata(e) for e, _ in items])

    # reading

    def has(self, model: str, neuron: str | UnitId, explainer: str, prompt_version: str) -> bool:
        rid = keys.record_id(model, neuron, explainer, prompt_version)
        if (ledger := self._ledger()) is not None:
            return ledger.has(rid)
        with self._backend.op() as (current, _):
            return bool(current.get(ids=[rid], include=[])["ids"])

    def get(self, model: str, neuron: str | UnitId) -> list[Explanation]:
        """The current explanation of every explainer / prompt version for the neuron, oldest first."""
        return sorted(self._fetch("current", *_neuron_filter(model, neuron)), key=keys.order_key)

    def history(self, model: str, neuron: str | UnitId) -> list[Explanation]:
        """Every version ever stored for the neuron (replaced ones included), oldest first."""
        return self._versions(*_neuron_filter(model, neuron))

    def latest(self, model: str, neuron: str | UnitId) -> Explanation | None:
        current = self.get(model, neuron)
        return current[-1] if current else None

    def best(self, model: str, neuron: str | UnitId) -> Explanation | None:
        """The current explanation with the highest headline score (unscored ones last; ties: newest):
        `keys.rank`, the rule the web app and the batch report use too."""
        return max(self.get(model, neuron), key=keys.rank, default=None)

    def list(self, model: str | None = None, layer: int | None = None,
             confident: bool | None = None, kind: UnitKind | None = None,
             dictionary: str | None = None) -> list[Explanation]:
        """Current explanations sorted by layer, index, then explainer and prompt version; `confident`:
        only those whose flag is this (None: all); `kind` only neurons or only latents, `dictionary`
        only that dictionary's latents."""
        found = self._fetch("current", _where(model, layer, None))
        if confident is not None:
            found = [e for e in found if e.confident is confident]
        if kind is not None or dictionary is not None:
            found = [e for e in found if _unit_matches(UnitId.parse(e.neuron).dictionary, kind, dictionary)]
        return sorted(found, key=lambda e: (UnitId.parse(e.neuron).layer, UnitId.parse(e.neuron).index,
                                            e.model, e.explainer, e.prompt_version))

    def all_versions(self) -> list[Explanation]:
        """Every version of every explanation (current and history), oldest first: what export writes."""
        return self._versions(None)

    def count(self) -> int:
        """Number of current explanations: 0 for a store nothing was ever added to (nor is it created)."""
        if (ledger := self._ledger()) is not None:
            return ledger.count()
        with self._backend.op() as (current, _):
            return current.count()

    def search(self, query: str, model: str | None = None, layer: int | None = None,
               min_score: float | None = None, k: int = 10, confident: bool | None = None,
               kind: UnitKind | None = None, dictionary: str | None = None) -> list[SearchHit]:
        """Current explanations nearest in meaning to `query` (MiniLM cosine), best first; `confident`:
        only those whose flag is this (None: all); `kind`: only neurons or only latents; `dictionary`:
        only that dictionary's latents."""
        if not query.strip():
            raise InputError("empty search query")
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        vec = embed_query(query)
        where = _where(model, layer, min_score, confident, kind, dictionary)
        include = ["metadatas", "distances"]
        with self._backend.op() as (current, _):
            if where is None:
                return _hits(current.query(query_embeddings=vec, n_results=k, include=include))
            # Chroma's filtered search costs time linear in the store (~30-200 ms at 100k), its
            # unfiltered one ~2 ms: over-fetch unfiltered and filter here; the nearest matching
            # records are then exactly the first matches. Fall back when too few match.
            n = max(50, 10 * k)
            res = current.query(query_embeddings=vec, n_results=n, include=include)
            hits = _hits(res, _matcher(model, layer, min_score, confident, kind, dictionary), k)
            if len(hits) >= k or len(res["ids"][0]) < n:  # enough, or the whole store was seen
                return hits
            return _hits(current.query(query_embeddings=vec, n_results=k, where=where, include=include))

    def _fetch(self, which: str, where: dict | None, model: str | None = None) -> list[Explanation]:
        if (ledger := self._ledger()) is not None:
            return ledger.records(which == "current", **_plain(where, model))
        with self._backend.op() as (current, history):
            res = (current if which == "current" else history).get(where=where, include=["metadatas"])
        return [keys.from_metadata(m) for m in res["metadatas"] if model is None or m["model"] == model]

    def _versions(self, where: dict | None, model: str | None = None) -> list[Explanation]:
        """History and current read in one locked step (one ledger query), so a version moving between
        them is seen once."""
        if (ledger := self._ledger()) is not None:
            found = {keys.history_id(e): e for e in ledger.records(False, **_plain(where, model))}
            return sorted(found.values(), key=keys.order_key)
        with self._backend.op() as (current, history):
            metas = [m for col in (history, current) for m in col.get(where=where, include=["metadatas"])["metadatas"]]
        found = {keys.history_id(e): e for e in map(keys.from_metadata, metas) if model is None or e.model == model}
        return sorted(found.values(), key=keys.order_key)


def _neuron_filter(model: str, neuron: str | UnitId) -> tuple[dict, str]:
    """Chroma filters on the neuron alone and the model is checked here: at 100k records an `$and`
    with the (unselective) model took ~75 ms, the neuron alone ~10 ms."""
    return {"neuron": keys.neuron_key(neuron)}, model


def _plain(where: dict | None, model: str | None = None) -> dict:
    """The equality filters `_neuron_filter` and `_where` (without min_score) build, and the model
    checked apart, as the ledger's keyword arguments."""
    conds = [] if where is None else where.get("$and", [where])
    out: dict = {} if model is None else {"model": model}
    for cond in conds:
        (key, value), = cond.items()
        if key not in ("model", "neuron", "layer") or isinstance(value, dict):
            raise ValueError(f"no ledger filter for {cond}")
        out[key] = value
    return out


def _where(model: str | None, layer: int | None, min_score: float | None,
           confident: bool | None = None, kind: UnitKind | None = None, dictionary: str | None = None) -> dict | None:
    """Chroma's filter. The `dictionary` field ("" for a neuron) is on rows written since it existed;
    `autointerp store rebuild-index` writes it on older ones."""
    conds: list[dict] = []
    if model is not None:
        conds.append({"model": model})
    if layer is not None:
        conds.append({"layer": int(layer)})
    if min_score is not None:
        conds += [{"has_score": True}, {"score": {"$gte": float(min_score)}}]
    if confident is not None:  # `$ne` also matches rows written before the flag existed: not confident
        conds.append({"confident": True} if confident else {"confident": {"$ne": True}})
    if dictionary is not None:
        conds.append({"dictionary": dictionary})
    elif kind is not None:
        conds.append({"dictionary": ""} if kind == "neuron" else {"dictionary": {"$ne": ""}})
    return None if not conds else conds[0] if len(conds) == 1 else {"$and": conds}


def _matcher(model: str | None, layer: int | None, min_score: float | None, confident: bool | None = None,
             kind: UnitKind | None = None, dictionary: str | None = None):
    def match(meta: dict) -> bool:
        return ((model is None or meta["model"] == model) and (layer is None or meta["layer"] == layer)
                and (min_score is None or (meta["has_score"] and meta["score"] >= min_score))
                and (confident is None or keys.is_confident(meta) is confident)
                and (kind is None and dictionary is None
                     or _unit_matches(keys.dictionary_of(meta), kind, dictionary)))
    return match


def _unit_matches(found: str | None, kind: UnitKind | None, dictionary: str | None) -> bool:
    """Does a unit of dictionary `found` (None: a neuron) pass the kind and dictionary filters?"""
    if dictionary is not None:
        return found == dictionary
    return kind is None or (found is None) == (kind == "neuron")


def _hits(res: dict, match=None, k: int | None = None) -> list[SearchHit]:
    """The first k rows that match, best first; only those records are parsed."""
    rows = zip(res["ids"][0], res["metadatas"][0], res["distances"][0])
    chosen = [(rid, m, d) for rid, m, d in rows if match is None or match(m)][:k]
    return [SearchHit(id=rid, similarity=1.0 - float(d), explanation=keys.from_metadata(m)) for rid, m, d in chosen]


def open_store(settings: Settings | None = None, url: str | None = None) -> Store:
    """A store on a Chroma server (`url`, else settings.chroma_url) or under `<data dir>/store`."""
    settings = settings or get_settings()
    url = url or settings.chroma_url
    if url:
        return Store(ServerBackend(url, settings.store_retry_seconds), settings)
    return Store(LocalBackend.at(settings.data_dir / "store"), settings)
