"""Simulators: predict a neuron's activation (0-10) on every token from an explanation alone."""

from __future__ import annotations

import re
from typing import ClassVar, Protocol

import numpy as np

from autointerp.embeddings import embed, embed_cached
from autointerp.errors import InputError
from autointerp.records import ActivationRecord, SimulatorName
from autointerp.scoring.llm_simulators import LLMSimulator, LogprobSimulator
from autointerp.tools.words import span_of, word_spans


class Simulator(Protocol):
    name: ClassVar[SimulatorName]

    def predict(self, explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
        """One prediction in [0, 10] per token of each record (BOS included, and ignored by scoring)."""
        ...


def _contexts(rec: ActivationRecord, words_before: int = 2) -> list[str]:
    """Each token shown as its word with the words before it: a causal neuron sees only the left."""
    start = int(rec.has_bos)
    spans = word_spans(rec.tokens, start)
    out = [""] * start
    for i in range(start, len(rec.tokens)):
        w = span_of(spans, i)
        a = spans[max(0, w - words_before)][0]
        out.append("".join(rec.tokens[a: i + 1]).strip())
    return out


def _segments(explanation: str, triggers: list[str]) -> list[str]:
    """The explanation whole, and each listed item in it (commas, semicolons, quotes), plus triggers."""
    parts = [p.strip(" .\"'") for p in re.split(r"[,;\n\"]|\band\b|\bor\b", explanation)]
    return list(dict.fromkeys([explanation.strip()] + [p for p in parts if p] + [t.strip() for t in triggers if t.strip()]))


VIEWS = (2, 1, 0)  # each token seen as its word with 2, 1 and 0 words before it: a phrase item matches exactly


class EmbeddingSimulator:
    """Offline, no LLM. Each token (as its word, and as its word with the two words before it: a
    causal neuron sees only the left) is compared by MiniLM cosine with the explanation and with
    each item it lists; the best match above the average match predicts the activation."""

    name: ClassVar[SimulatorName] = "embedding"

    def predict(self, explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
        views = [list(zip(*(_contexts(r, words_before=k) for k in VIEWS))) for r in records]
        unique = sorted({t for v in views for triple in v for t in triple if t})
        index = {c: i for i, c in enumerate(unique)}
        sims = embed_cached(unique) @ embed(_segments(explanation, triggers)).T  # [texts, segments]
        best = sims.max(axis=1)
        raw = [[max([best[index[t]] for t in triple if t], default=None) if i >= int(r.has_bos) else None
                for i, triple in enumerate(v)] for r, v in zip(records, views)]
        floor = float(np.mean([v for r in raw for v in r if v is not None]))
        top = max([v for r in raw for v in r if v is not None] + [floor + 1e-6])
        return [[0.0 if v is None else 10.0 * max(0.0, (v - floor) / (top - floor)) for v in r] for r in raw]


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


class LexicalSimulator:
    """Exact trigger matches (case and leading spaces normalised): 10 on the token ending a match."""

    name: ClassVar[SimulatorName] = "lexical"

    def predict(self, explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
        wanted = {_norm(t) for t in triggers if _norm(t)}
        if not wanted:
            raise InputError("the lexical simulator needs triggers: the words or phrases the neuron fires on")
        longest = max(len(t.split(" ")) for t in wanted)
        out = []
        for rec in records:
            start = int(rec.has_bos)
            spans = word_spans(rec.tokens, start)
            preds = [0.0] * len(rec.tokens)
            for i in range(start, len(rec.tokens)):
                tok = _norm(rec.tokens[i])
                w = span_of(spans, i)
                phrases = {tok, _norm("".join(rec.tokens[spans[w][0]: i + 1]))}
                for n in range(2, longest + 1):  # phrases of n words ending at this token
                    if w - n + 1 >= 0:
                        phrases.add(_norm("".join(rec.tokens[spans[w - n + 1][0]: i + 1])))
                if phrases & wanted:
                    preds[i] = 10.0
            out.append(preds)
        return out


OFFLINE: dict[str, type] = {"embedding": EmbeddingSimulator, "lexical": LexicalSimulator}
ASKS_LLM: dict[str, type] = {"llm": LLMSimulator, "llm-logprob": LogprobSimulator}


def needs_llm(name: str) -> bool:
    """Whether the simulator asks an LLM."""
    return name in ASKS_LLM


def get_simulator(name: str, llm=None) -> Simulator:
    """`embedding` and `lexical` need nothing; `llm` and `llm-logprob` need an LLM."""
    if name in OFFLINE:
        return OFFLINE[name]()
    if name in ASKS_LLM:
        if llm is None:
            raise InputError(f"simulator {name!r} needs an LLM (local, openai:..., openai-compatible:...)")
        return ASKS_LLM[name](llm)
    raise InputError(f"unknown simulator {name!r}: choose from embedding, lexical, llm, llm-logprob")
