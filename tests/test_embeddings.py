"""The bundled MiniLM's embeddings and the cache the embedding simulator reads them through."""

import numpy as np

from autointerp import embeddings
from autointerp.embeddings import clear_cache, embed, embed_cached


def test_cached_embeddings_are_the_model_s_and_are_remembered_within_bounds(monkeypatch):
    clear_cache()
    texts = ["river bank", "the bank", "river bank", "money"]
    got = embed_cached(texts)
    want = embed(texts)
    # MiniLM normalises in its own precision: bfloat16 keeps 8 significant bits (relative error 2^-8).
    tol = 2.0 ** -8 if embeddings.PRECISION == "bf16" else 1e-3
    assert got.shape == (4, 384) and np.allclose(np.linalg.norm(got, axis=1), 1, atol=tol)
    assert (got * want).sum(1).min() > 0.999, "the same vectors as embedding directly"
    assert np.array_equal(got[0], got[2]), "a repeated text is one vector"
    assert list(embeddings._CACHE) == ["river bank", "the bank", "money"]
    calls = []
    monkeypatch.setattr(embeddings, "embed", lambda t: calls.append(list(t)) or want[: len(t)])
    again = embed_cached(["money", "river bank"])
    assert calls == [] and np.array_equal(again, got[[3, 0]]), "remembered texts are not embedded again"
    monkeypatch.setattr(embeddings, "CACHE_SIZE", 2)
    embed_cached(["a new text"])
    assert list(embeddings._CACHE) == ["river bank", "a new text"], "the least recently used go first"
    clear_cache()
    assert not embeddings._CACHE and embed_cached([]).shape == (0, 384)


def test_the_traced_transformer_embeds_as_the_eager_model():
    """Search queries go through MiniLM traced into TorchScript: the same vectors as the eager
    sentence-transformers model (to the last bfloat16 bit), alone, padded in a batch, and cut at
    MiniLM's 256 tokens, so a query finds what the stored texts' embeddings put near it."""
    texts = ["river banks and water", "x", "the word capital in contexts about cities", "word " * 400, ""]
    tol = 2.0 ** -9 if embeddings.PRECISION == "bf16" else 1e-5
    batch = embeddings.embed_traced(texts)
    assert batch.shape == (5, 384) and batch.dtype == np.float32
    assert np.abs(batch - embed(texts)).max() <= tol, "a padded batch"
    for text, row in zip(texts, batch):
        alone = embeddings.embed_traced([text])[0]
        assert np.abs(alone - embed([text])[0]).max() <= tol, text[:20]
        assert np.abs(alone - row).max() <= 2 * tol, "padding moves a vector by a bit or two, as it does eagerly"
    assert (batch[0] * batch[2]).sum() < 0.9, "different texts, different vectors"
    assert embeddings.embed_traced([]).shape == (0, 384)
