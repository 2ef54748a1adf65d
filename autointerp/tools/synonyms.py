"""`synonyms`: nearest whole words to a word, by MiniLM meaning or by the target's own embeddings W_E."""

from __future__ import annotations

import re
import numpy as np
import torch
from pydantic import BaseModel

from autointerp.config import Settings
from autointerp.embeddings import MODEL_ID, PRECISION, embed
from autointerp.errors import InputError
from autointerp.fileio import atomic_save_npy, load_npy
from autointerp.records import SynonymSource
from autointerp.targets import Target
from autointerp.workbench import Workbench

Source = SynonymSource
CANDIDATES = 100
_WORD = re.compile(r"^ [A-Za-z]{3,}$")


class Neighbour(BaseModel):
    word: str
    similarity: float  # the score the list is ordered by
    minilm: float
    w_e: float


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


_INDEXES: dict[tuple[str, str], tuple[list[str], list[int], np.ndarray, torch.Tensor]] = {}


def _index(target: Target, settings: Settings) -> tuple[list[str], list[int], np.ndarray, torch.Tensor]:
    """Whole words with their MiniLM vectors (built once, kept in the data dir) and unit W_E rows."""
    key = (target.name, str(settings.data_dir))
    if key not in _INDEXES:
        words, ids, vecs = _minilm_index(target, settings)
        emb = target.embedding()[ids]
        _INDEXES[key] = (words, ids, vecs, emb / emb.norm(dim=1, keepdim=True))
    return _INDEXES[key]


def _minilm_index(target: Target, settings: Settings) -> tuple[list[str], list[int], np.ndarray]:
    words, ids = whole_words(target)
    path = settings.layout.synonyms_index(target.name, MODEL_ID, PRECISION, len(words))
    if path.exists():
        vecs = load_npy(path)
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


def is_variant(word: str, other: str) -> bool:
    """Inflections and derivations share a stem (smooth: smoother, smoothly; happy: happier; run: runs)."""
    stem = word[:4] if len(word) >= 5 else word
    return other.startswith(stem)


def synonyms(wb: Workbench, word: str, k: int = 5, source: Source = "both", variants: bool = False) -> SynonymResult:
    """The k whole words nearest to `word`, excluding the word itself and, unless `variants`,
    words sharing its stem: a substitution test wants other words, not other forms.

    Sources: `minilm` (cosine of the bundled sentence embeddings: meaning, but single words embed
    loosely), `w_e` (cosine in the target's embedding matrix), `both` (default: MiniLM's 100
    nearest, ordered by W_E similarity; for "smooth": sleek, streamlined, creamy, slippery).
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    w = _normalise(word)
    target, settings = wb.target, wb.settings
    words, ids, vecs, rows = _index(target, settings)
    by_meaning = vecs @ embed([w])[0]
    tid = target.encode(" " + w)
    if len(tid) == 1:
        q = target.embedding()[tid[0]]
        by_model = (rows @ (q / q.norm())).numpy()
    elif source != "w_e":  # a multi-token word has no W_E row: order by meaning alone
        by_model = np.zeros_like(by_meaning)
        source = "minilm"
    else:
        raise InputError(f"{word!r} has no usable neighbours in W_E: ' {w}' is not a single token of {target.name} "
                         "(source \"minilm\" takes any word)")
    if source == "minilm":
        order, score = np.argsort(-by_meaning), by_meaning
    elif source == "w_e":
        order, score = np.argsort(-by_model), by_model
    else:  # the nearest words by meaning, ordered by how alike the target model itself embeds them
        cand = np.argsort(-by_meaning)[:CANDIDATES]
        order, score = cand[np.argsort(-by_model[cand])], by_model
    out: list[Neighbour] = []
    for i in order:
        if words[i] != w and (variants or not is_variant(w, words[i])):
            out.append(Neighbour(word=words[i], similarity=round(float(score[i]), 4),
                                 minilm=round(float(by_meaning[i]), 4), w_e=round(float(by_model[i]), 4)))
            if len(out) == k:
                break
    return SynonymResult(word=w, source=source, model=target.name, neighbours=out)
