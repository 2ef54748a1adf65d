"""The bundled MiniLM as a Chroma embedding function: the only embedder a store ever uses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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
