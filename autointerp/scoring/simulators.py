"""Simulators: predict a neuron's activation (0-10) on every token from an explanation alone."""

from __future__ import annotations

import re
from typing import ClassVar, Protocol

import numpy as np

from autointerp.embeddings import embed, embed_cached
from autointerp.errors import InputError
from autointerp.records import ActivationRecord, SimulatorName
from autointerp.scoring.conditions import Condition, condition
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
    each item it lists; the best match above the average match predicts the activation. An
    explanation that states a condition (`conditions.py`) is matched by its head, and each matching
    token is weighed by how its preceding words (CONTEXT_WORDS) read against the condition."""

    name: ClassVar[SimulatorName] = "embedding"

    def __init__(self, contexts: bool = True) -> None:
        self.contexts = contexts  # False: the simulator as it was before conditions were read

    def predict(self, explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
        cond = condition(explanation, triggers) if self.contexts else None
        preds = self._words(cond.head if cond else explanation, triggers, records)
        return _gated(preds, cond, records) if cond else preds

    @staticmethod
    def _words(explanation: str, triggers: list[str], records: list[ActivationRecord]) -> list[list[float]]:
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


class EmbeddingV1Simulator(EmbeddingSimulator):
    """The embedding simulator as it was before it read conditions: evals report both, so a gain
    that comes only from the new simulator shows."""

    name: ClassVar[SimulatorName] = "embedding-v1"

    def __init__(self) -> None:
        super().__init__(contexts=False)


CONTEXT_WORDS = 12  # preceding words read against a condition: a sentence or so
MATCHED = 0.5  # a token matches the head at half the best word prediction or more
GATE_FLOOR = 0.1  # a matched token in the wrong context keeps this share of its prediction
LEXICAL = 0.1  # a listed condition word among the preceding words adds this to the context match
BACKGROUND_STEP = 8  # every 8th token's context is read as the background a condition is weighed against


def _before(rec: ActivationRecord, spans: list[tuple[int, int]], i: int, n: int = CONTEXT_WORDS) -> str:
    """The n words before the word holding token i (the word itself left out: the head matches it);
    `spans` are the record's word spans."""
    w = span_of(spans, i)
    return "".join(rec.tokens[spans[max(0, w - n)][0]: spans[w][0]]).strip()


def _condition_match(cond: Condition, ctx: list[str]) -> np.ndarray:
    """How each context reads against the condition: cosine with what it fires in, minus cosine with
    what it does not, plus LEXICAL per listed word present (minus per unless-word)."""
    vecs = embed_cached(ctx)
    score = vecs @ embed([cond.when])[0] if cond.when else np.zeros(len(ctx), dtype=np.float32)
    if cond.unless:
        score = score - vecs @ embed([cond.unless])[0]
    pos, neg = set(cond.when_items), set(cond.unless_items)
    for k, text in enumerate(ctx):
        seen = {w.strip(".,;:!?\"'()").lower() for w in text.split()}
        score[k] += LEXICAL * (len(seen & pos) - len(seen & neg))
    return score


def _gated(preds: list[list[float]], cond: Condition, records: list[ActivationRecord]) -> list[list[float]]:
    """Weigh each matched token by its context's match with the condition, scaled from the median
    match of the text at large (every BACKGROUND_STEP-th token's context) up to the matched tokens'
    90th percentile: a context that reads like the condition no better than any other keeps the
    floor, and matched tokens that all sit in fitting contexts all keep most of their prediction
    (scaled among the matched tokens alone, a tenth of them always fell to the floor). Unmatched
    tokens get the mean weight (their order among themselves is kept, and a condition counts only
    where the token also matches)."""
    top = max((v for p in preds for v in p), default=0.0)
    where = [(r, i) for r, p in enumerate(preds) for i, v in enumerate(p) if top > 0 and v >= MATCHED * top]
    if len(where) < 2:
        return preds
    spans = [word_spans(rec.tokens, int(rec.has_bos)) for rec in records]  # once per record
    background = [_before(rec, spans[r], i) for r, rec in enumerate(records)
                  for i in range(int(rec.has_bos) + 1, len(rec.tokens), BACKGROUND_STEP)]
    both = _condition_match(cond, [_before(records[r], spans[r], i) for r, i in where] + background)
    score = both[: len(where)]  # one pass embeds the condition once for the matched and the background contexts
    lo = float(np.median(both[len(where):])) if background else np.percentile(score, 10)
    hi = np.percentile(score, 90)
    gate = np.clip((score - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.ones_like(score)
    weight = GATE_FLOOR + (1 - GATE_FLOOR) * gate
    out = [[v * float(weight.mean()) for v in p] for p in preds]
    for (r, i), w in zip(where, weight):
        out[r][i] = preds[r][i] * float(w)
    return out


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


OFFLINE: dict[str, type] = {"embedding": EmbeddingSimulator, "embedding-v1": EmbeddingV1Simulator,
                             "lexical": LexicalSimulator}
ASKS_LLM: dict[str, type] = {"llm": LLMSimulator, "llm-logprob": LogprobSimulator}


def needs_llm(name: str) -> bool:
    """Whether the simulator asks an LLM."""
    return name in ASKS_LLM


def get_simulator(name: str, llm=None) -> Simulator:
    """`embedding`, `embedding-v1` and `lexical` need nothing; `llm` and `llm-logprob` need an LLM."""
    if name in OFFLINE:
        return OFFLINE[name]()
    if name in ASKS_LLM:
        if llm is None:
            raise InputError(f"simulator {name!r} needs an LLM (local, openai:..., openai-compatible:...)")
        return ASKS_LLM[name](llm)
    raise InputError(f"unknown simulator {name!r}: choose from embedding, embedding-v1, lexical, llm, llm-logprob")
