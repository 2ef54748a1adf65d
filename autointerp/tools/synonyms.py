"""`synonyms`: nearest whole words to a word, by MiniLM meaning or by the target's own embeddings W_E."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import BaseModel

from autointerp.config import Settings, get_settings
from autointerp.embeddings import MODEL_ID, embed
from autointerp.errors import InputError
from autointerp.fileio import atomic_save_npy
from autointerp.targets import Target, load_target

Source = Literal["minilm", "w_e"]
_WORD = re.compile(r"^ [A-Za-z]{3,}$")


class Neighbour(BaseModel):
    word: str
    similarity: float


class SynonymResult(BaseModel):
    word: str
    source: Source
    model: str
    neighbours: list[Neighbour]


def whole_words(target: Target) -> tuple[list[str], list[int]]:
    """Tokens that are a whole alphabetic word with a leading space (no sub-word fragments), one per spelling."""
    seen: dict[str, int] = {}
    for tid in range(len(target.tokenizer)):
        s = target.tokenizer.decode([tid])
        if _WORD.match(s):
            seen.setdefault(s[1:].lower(), tid)
    return list(seen), list(seen.values())


def _index(target: Target, settings: Settings) -> tuple[list[str], list[int], np.ndarray]:
    """The MiniLM embedding of every whole word, built once per tokenizer and kept in the data dir."""
    words, ids = whole_words(target)
    path = settings.data_dir / "synonyms" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', target.name)}-{MODEL_ID}-{len(words)}.npy"
    if path.exists():
        vecs = np.load(path, allow_pickle=False)
        if vecs.shape == (len(words), 384):
            return words, ids, vecs
    vecs = embed(words)
    atomic_save_npy(path, vecs)
    return words, ids, vecs


def _normalise(word: str) -> str:
    w = word.strip().lower()
    if not re.fullmatch(r"[a-z][a-z'-]*", w):
        raise InputError(f"{word!r} has no usable neighbours: give one alphabetic word")
    return w


def synonyms(word: str, k: int = 5, source: Source = "minilm", model: str | None = None,
             settings: Settings | None = None) -> SynonymResult:
    """The k whole words nearest to `word` (cosine), excluding the word itself."""
    settings = settings or get_settings()
    if k < 1:
        raise InputError(f"-k must be >= 1, got {k}")
    w = _normalise(word)
    target = load_target(model, settings)
    words, ids, vecs = _index(target, settings)
    if source == "minilm":
        q = embed([w])[0]
        sims = vecs @ q
    else:
        tid = target.encode(" " + w)
        if len(tid) != 1:
            raise InputError(f"{word!r} has no usable neighbours in W_E: ' {w}' is not a single token of {target.name}")
        emb = target.bridge.W_E.detach()
        rows = emb[ids] / emb[ids].norm(dim=1, keepdim=True)
        qv = emb[tid[0]] / emb[tid[0]].norm()
        sims = (rows @ qv).numpy()
    order = np.argsort(-sims)
    out = [Neighbour(word=words[i], similarity=round(float(sims[i]), 4)) for i in order[: k + 1] if words[i] != w][:k]
    return SynonymResult(word=w, source=source, model=target.name, neighbours=out)
