"""The bundled MiniLM as a Chroma embedding function: the only embedder a store ever uses."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from autointerp.embeddings import MODEL_ID

NAME = "autointerp-minilm"


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """MiniLM on one torch thread: on a busy 2-core machine two OpenMP threads made one query take
    ~0.5 s instead of ~6 ms and batches run 10x slower (measured while another process ran)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def embed_texts(texts: list[str]) -> np.ndarray:
    """Unit-norm float32 [n, 384] from the bundled MiniLM."""
    from autointerp.embeddings import embed

    with _one_thread():
        return embed(texts)


def embed_queries(texts: list[str]) -> np.ndarray:
    """Search queries: `embed_texts` through the traced MiniLM, which needs the GIL once per forward
    rather than once per operation, so a query is not held up by a server's other threads."""
    from autointerp.embeddings import embed_traced

    with _one_thread():
        return embed_traced(texts)


class QueryBatcher:
    """Search queries embedded together: MiniLM encodes one batch at a time (its fast tokenizer fails
    when two threads encode at once), so queries that arrive while one is embedded wait and are then
    embedded in one forward by this thread (8 short queries: 4.3 ms each batched, 11.4 ms one at a
    time), through the traced MiniLM (`embed_queries`). A query's vector may differ from the same
    text's stored one in the last bf16 bit, alone or in a batch: a similarity moves by ~1e-3 at most.
    Without it concurrent searches queued behind the lock one by
    one: a web server's search p99 was 0.4-1.3 s under 32 clients."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, Future]] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def embed(self, query: str) -> np.ndarray:
        """The unit-norm float32 [384] vector of one query."""
        fut: Future = Future()
        self._queue.put((query, fut))
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="autointerp-query-embed", daemon=True)
                self._thread.start()
        return fut.result()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            texts = list(dict.fromkeys(q for q, _ in batch))
            try:
                vecs = dict(zip(texts, embed_queries(texts)))
            except BaseException as e:  # noqa: BLE001 - every waiting search gets the failure
                for _, fut in batch:
                    fut.set_exception(e)
                continue
            for q, fut in batch:
                fut.set_result(vecs[q].copy())


QUERIES = QueryBatcher()


def embed_query(query: str) -> np.ndarray:
    """[1, 384]: `query`'s vector, batched with any searches running at the same time."""
    return QUERIES.embed(query)[None, :]


@register_embedding_function
class MiniLMEmbedding(EmbeddingFunction[Documents]):
    """Recorded in each collection's configuration, so Chroma itself (e.g. `query_texts`) embeds
    with MiniLM too and never falls back to its downloading default."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return list(embed_texts(list(input)))

    @staticmethod
    def name() -> str:
        return NAME

    def get_config(self) -> dict[str, Any]:
        return {"model": MODEL_ID}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding()

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]
