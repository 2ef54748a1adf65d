"""Does an explanation name a planted concept? MiniLM similarity to the concept's description must
clear a threshold calibrated on mismatched pairs, and beat every other concept's description.

Calibration: for every concept j we write texts that describe j as explainers do (its description,
seed-style token lists of its words, "words like ..." phrases, single words) and compare each with
the description of every other concept i != j. Those similarities are what a wrong explanation
scores; the threshold is their 95th percentile, so a text about another concept clears it 5% of the
time before the must-beat-every-other-concept rule applies. The same texts compared with their own
concept's description give the judge's recall on explanation-shaped texts (reported with it).

Shared words: contextual concepts may share their marked words with a sibling ("party" as a political
party and as a celebration). An explanation recovers such a concept only when, with the shared words
taken out, it still says something (a word beyond the shared ones and filler such as "the word",
"token", "fires") and that remainder reaches the threshold against its own description and is closer
to it than to every sibling's (the descriptions also without the shared words). So 'the word "party"'
recovers neither, nor does a token list whose other tokens are noise.
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel

from autointerp.embeddings import embed
from autointerp.evals.concepts import AnyConcept, Concept, siblings

NULL_QUANTILE = 0.95
# Words that say nothing about a context: an explanation made of these and the shared words lists only the words.
FILLER = frozenset("""a an the this that these those and or of on in at to as is are be it its any all word words
token tokens term terms string strings form forms occurrence occurrences instance instances mention mentions
fires fire firing activates activate activation neuron responds detects detect text appears appear when where
such like e g i ie eg s its itself mostly mainly especially only specifically token's word's
no clear explanation best guess""".split())  # the heuristic's "No clear explanation; best guess: ..." says nothing


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
    distinguishes: bool | None = None  # shared marked words: does the text tell the concepts apart? None: none shared


def calibration_texts(concept: AnyConcept) -> list[str]:
    """Explanation-shaped texts about one concept: the heuristic's token lists, phrases, single words
    (a contextual concept: its description and its marked word in its own example sentences)."""
    if not isinstance(concept, Concept):
        examples = [m.text for m in concept.sentences("positive", held_out=False)[:2]]
        word = sorted(concept.marked_words)[0]
        return [concept.description, f"fires on {concept.description}"] + [f'"{word}" as in: {e}' for e in examples]
    w = concept.words
    texts = [concept.description, f"fires on {concept.description}"]
    for start in range(0, min(len(w), 15), 5):
        chunk = w[start:start + 5]
        texts.append("the tokens " + ", ".join(f'"{x}"' for x in chunk))
        texts.append("words like " + ", ".join(chunk))
    texts += [f'the word "{x}"' for x in w[:3]]
    return texts


def without(text: str, words: set[str]) -> str:
    """text with each of `words` (and its plural) taken out, whole words, any case."""
    for w in sorted(words, key=len, reverse=True):
        plural = rf"|{re.escape(w[:-1])}ies" if w.endswith("y") else ""
        text = re.sub(rf"(?i)\b(?:{re.escape(w)}(?:s|es)?{plural})\b", "", text)
    return re.sub(r"\s+", " ", text).strip()


def says_more(text: str, shared: set[str]) -> bool:
    """Whether text names anything beyond the shared words and filler."""
    return any(w not in FILLER for w in re.findall(r"[a-z]+", without(text, shared).lower()))


class Judge:
    """The concept judge for one set of concepts."""

    def __init__(self, concepts: list[AnyConcept]) -> None:
        self.concepts = concepts
        self.descriptions = embed([c.description for c in concepts])
        self.siblings = [siblings(concepts, i) for i in range(len(concepts))]
        self.calibration = self._calibrate()

    def distinguishes(self, text: str, i: int) -> bool | None:
        """Concept i shares marked words with siblings: does text say which of them it is? (None: no siblings.)"""
        sib = self.siblings[i]
        if not sib:
            return None
        shared = set().union(*sib.values())
        if not says_more(text, shared):
            return False
        rest = embed([without(text, shared)])[0]
        own = float(embed([without(self.concepts[i].description, shared)])[0] @ rest)
        others = [float(embed([without(self.concepts[j].description, shared)])[0] @ rest) for j in sib]
        return own >= self.calibration.threshold and own > max(others)

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
        for k, j in enumerate(owner):  # siblings share words by design: the shared-words rule judges those pairs
            mask[k, list(self.siblings[j])] = False
        mismatched = sims[mask]
        threshold = float(np.quantile(mismatched, NULL_QUANTILE))
        recall = np.mean([self._decide(sims[k], owner[k], threshold) for k in range(len(texts))])
        wrong = [self._decide(sims[k], i, threshold) for k in range(len(texts)) for i in range(len(self.concepts))
                 if i != owner[k] and i not in self.siblings[owner[k]]]
        return Calibration(threshold=round(threshold, 4), quantile=NULL_QUANTILE, n_mismatched=int(mismatched.size),
                           n_matched=len(texts), mismatched_mean=round(float(mismatched.mean()), 4),
                           matched_mean=round(float(matched.mean()), 4), recall=round(float(recall), 4),
                           false_positive_rate=round(float(np.mean(wrong)), 4))

    def judge(self, text: str, concept: str) -> Verdict:
        i = next(k for k, c in enumerate(self.concepts) if c.name == concept)
        sims = self.similarities(text)
        others = [(float(s), c.name) for k, (s, c) in enumerate(zip(sims, self.concepts)) if k != i]
        best_sim, best_name = max(others)
        tells = self.distinguishes(text, i)
        return Verdict(similarity=round(float(sims[i]), 4), best_other=best_name,
                       best_other_similarity=round(best_sim, 4), distinguishes=tells,
                       recovered=self._decide(sims, i, self.calibration.threshold) and tells is not False)
