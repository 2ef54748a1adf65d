"""Does an explanation name a planted concept? MiniLM similarity to the concept's description must
clear a threshold calibrated on mismatched pairs, and beat every other concept's description.

Calibration: for every concept j we write texts that describe j as explainers do (its description,
seed-style token lists of its words, "words like ..." phrases, single words) and compare each with
the description of every other concept i != j. Those similarities are what a wrong explanation
scores; the threshold is their 95th percentile, so a text about another concept clears it 5% of the
time before the must-beat-every-other-concept rule applies. The same texts compared with their own
concept's description give the judge's recall on explanation-shaped texts (reported with it).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from autointerp.embeddings import embed
from autointerp.evals.concepts import Concept

NULL_QUANTILE = 0.95


class Calibration(BaseModel):
    threshold: float
    quantile: float
    n_mismatched: int
    n_matched: int
    mismatched_mean: float
    matched_mean: float
    recall: float  # matched texts judged to name their concept (threshold and must-beat-others)
    false_positive_rate: float  # mismatched texts judged to name the wrong concept


class Verdict(BaseModel):
    similarity: float
    best_other: str
    best_other_similarity: float
    recovered: bool


def calibration_texts(concept: Concept) -> list[str]:
    """Explanation-shaped texts about one concept: the heuristic's token lists, phrases, single words."""
    w = concept.words
    texts = [concept.description, f"fires on {concept.description}"]
    for start in range(0, min(len(w), 15), 5):
        chunk = w[start:start + 5]
        texts.append("the tokens " + ", ".join(f'"{x}"' for x in chunk))
        texts.append("words like " + ", ".join(chunk))
    texts += [f'the word "{x}"' for x in w[:3]]
    return texts


class Judge:
    """The concept judge for one set of concepts."""

    def __init__(self, concepts: list[Concept]) -> None:
        self.concepts = concepts
        self.descriptions = embed([c.description for c in concepts])
        self.calibration = self._calibrate()

    def similarities(self, text: str) -> np.ndarray:
        return self.descriptions @ embed([text])[0]

    def _decide(self, sims: np.ndarray, i: int, threshold: float) -> bool:
        others = np.delete(sims, i)
        return bool(sims[i] >= threshold and sims[i] > others.max())

    def _calibrate(self) -> Calibration:
        texts = [(j, t) for j, c in enumerate(self.concepts) for t in calibration_texts(c)]
        sims = embed([t for _, t in texts]) @ self.descriptions.T  # [texts, concepts]
        owner = np.array([j for j, _ in texts])
        matched = sims[np.arange(len(texts)), owner]
        mask = np.ones_like(sims, dtype=bool)
        mask[np.arange(len(texts)), owner] = False
        mismatched = sims[mask]
        threshold = float(np.quantile(mismatched, NULL_QUANTILE))
        recall = np.mean([self._decide(sims[k], owner[k], threshold) for k in range(len(texts))])
        wrong = [self._decide(sims[k], i, threshold) for k in range(len(texts)) for i in range(len(self.concepts))
                 if i != owner[k]]
        return Calibration(threshold=round(threshold, 4), quantile=NULL_QUANTILE, n_mismatched=int(mismatched.size),
                           n_matched=len(texts), mismatched_mean=round(float(mismatched.mean()), 4),
                           matched_mean=round(float(matched.mean()), 4), recall=round(float(recall), 4),
                           false_positive_rate=round(float(np.mean(wrong)), 4))

    def judge(self, text: str, concept: str) -> Verdict:
        i = next(k for k, c in enumerate(self.concepts) if c.name == concept)
        sims = self.similarities(text)
        others = [(float(s), c.name) for k, (s, c) in enumerate(zip(sims, self.concepts)) if k != i]
        best_sim, best_name = max(others)
        return Verdict(similarity=round(float(sims[i]), 4), best_other=best_name,
                       best_other_similarity=round(best_sim, 4),
                       recovered=self._decide(sims, i, self.calibration.threshold))
