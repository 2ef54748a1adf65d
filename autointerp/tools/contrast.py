"""`contrast`: which context makes a unit fire on its peak word. A neuron that fires on "bank" only
in texts about rivers is not "the word bank": compare the corpus occurrences of the word where the
unit fires with those where it stays silent, find the preceding words that separate the two
(Fightin' Words log-odds), and test each separating word by inserting and deleting it.

A topic rarely repeats one word ("yacht", "fleet", "skippers" before "race"; "bank", "rates",
"loans" before "interest"), so counting words often finds nothing. The topic side embeds each
context (MiniLM) and takes the direction from the silent contexts' mean to the firing ones'; how
well it separates them is measured leave-one-out (`topic_auroc`), and the words of the firing
(silent) contexts closest to it (farthest from it) name the topic, tested by the same edits."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel

from autointerp.embeddings import embed
from autointerp.errors import InputError
from autointerp.records import ActivationRecord, UnitId
from autointerp.tools.probe import run_ids
from autointerp.tools.words import whole_word, word_spans
from autointerp.workbench import Workbench

FIRE = 0.3  # an occurrence fires at >= this share of the unit's max activation
SILENT = 0.05  # and stays silent under this share (occurrences in between are neither)
ALPHA0 = 50.0  # total pseudo-count of the Dirichlet prior (fixed, so more contexts outweigh it)
Z = 1.96  # |z| a separating word needs (two-sided 5%)
MAX_WORDS = 3  # peak words tried by default
FIRE_EDITED, SILENT_EDITED = 2, 1  # separating words tested by intervention, from each side (each list)
TOPIC_MIN = 3  # firing and silent contexts each needed before a topic direction is fitted
TOKENS_PER_WORD = 2  # context kept before the target: 2 tokens a word (+ 4) covers `before` words


class ContextWord(BaseModel):
    word: str  # a preceding word (lower case, punctuation stripped)
    log_odds: float  # smoothed log-odds ratio, firing vs silent (> 0: more in firing contexts)
    z: float  # log-odds over its standard deviation
    firing: int  # firing contexts holding it
    silent: int  # silent contexts holding it


class TopicWord(BaseModel):
    word: str  # a preceding word (lower case, punctuation stripped)
    alignment: float  # cosine of its embedding with the topic direction (> 0: the firing side)
    firing: int  # firing contexts holding it
    silent: int  # silent contexts holding it


class Occurrence(BaseModel):
    """One measured occurrence: window tokens [start, position] after BOS were run, read at `position`."""
    window: int
    start: int  # the first window token kept before the target word
    position: int  # the target word's last token in the window (where the activation is read)
    activation: float


class EditedContext(BaseModel):
    window: int
    position: int  # the occurrence edited (its Occurrence's window and position)
    before: float
    after: float


class ContrastEdit(BaseModel):
    word: str  # the separating context word edited
    kind: Literal["insert", "delete"]  # inserted into silent contexts / deleted from firing ones (a silent_after
    # word: inserted into firing contexts / deleted from silent ones)
    n: int  # contexts edited
    before: float  # mean activation at the target word before the edit
    after: float  # mean activation after
    flipped: int  # contexts that crossed the firing threshold the way the word predicts (a fire_after word:
    # silent->firing for insert, firing->not firing for delete; a silent_after word the reverse)
    contexts: list[EditedContext] = []  # each context edited, so an edit can be re-run and checked


class WordContrast(BaseModel):
    word: str  # the peak word (as it is spelled most often)
    occurrences: int  # corpus occurrences measured
    firing: int  # those where the unit fires (>= FIRE share of its max activation)
    silent: int  # those where it stays silent (< SILENT share of its max)
    fire_after: list[ContextWord] = []  # words before the target that mark firing contexts, strongest first
    silent_after: list[ContextWord] = []  # words before the target that mark silent contexts, strongest first
    fire_topic: list[TopicWord] = []  # words of firing contexts nearest the topic direction, strongest first
    silent_topic: list[TopicWord] = []  # words of silent contexts farthest from it
    topic_auroc: float | None = None  # the direction's leave-one-out AUROC, firing vs silent (None: too few)
    edits: list[ContrastEdit] = []
    contexts: list[Occurrence] = []  # every occurrence measured, in window order

    def separating(self) -> tuple[list[str], list[str]]:
        """The words that mark firing and silent contexts: counted ones first, then topic words."""
        fire = list(dict.fromkeys([w.word for w in self.fire_after] + [w.word for w in self.fire_topic]))
        silent = list(dict.fromkeys([w.word for w in self.silent_after] + [w.word for w in self.silent_topic]))
        return fire, silent

    def summary(self) -> str:
        """One line for the agent and the terminal."""
        q = f'"{self.word}"'
        if not self.occurrences:
            return f"{q} was not found in the corpus"
        if not self.firing:
            weak = self.occurrences - self.silent
            return (f"never fires on {q} in {self.occurrences} corpus occurrences "
                    f"({self.silent} silent, {weak} weakly active)")
        if not self.silent:
            return f"fires on {q} in {self.firing} of {self.occurrences} occurrences, silent in none"
        after = f" after {', '.join(w.word for w in self.fire_after)}" if self.fire_after else ""
        parts = [f"fires on {q}{after} ({self.firing} of {self.occurrences})"]
        parts.append(f"silent after {', '.join(w.word for w in self.silent_after)} ({self.silent})"
                     if self.silent_after else f"silent in {self.silent}")
        if not (self.fire_after or self.silent_after):
            parts[-1] += ", no context word separates them"
        if self.fire_topic or self.silent_topic:
            topic = [f"fires in contexts about {', '.join(w.word for w in self.fire_topic)}"] if self.fire_topic else []
            topic += [f"silent about {', '.join(w.word for w in self.silent_topic)}"] if self.silent_topic else []
            parts.append(f"{' and '.join(topic)} (topic AUROC {self.topic_auroc:.2f})")
        marks_fire = set(self.separating()[0])
        for e in self.edits:
            verb = "inserting" if e.kind == "insert" else "deleting"
            moved = "raised" if e.after > e.before else "lowered"
            now = "now fire" if (e.kind == "insert") == (e.word in marks_fire) else "stop firing"
            parts.append(f'{verb} "{e.word}" {moved} {e.before:.2f} -> {e.after:.2f}, {e.flipped} of {e.n} {now}')
        return "; ".join(parts)


class ContrastResult(BaseModel):
    unit: str
    model: str
    max_activation: float
    words: list[WordContrast]


def log_odds(firing: Counter[str], silent: Counter[str], alpha0: float = ALPHA0) -> dict[str, tuple[float, float]]:
    """word -> (delta, z): the log-odds ratio of each word, firing vs silent contexts, with an
    informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words"). The prior is the
    pooled counts of both groups scaled to a fixed total `alpha0`: a word's pseudo-count is
    alpha0 * (y_f + y_s) / (n_f + n_s), so rare words are shrunk towards no difference.
    delta = log((y_f+a)/(n_f+alpha0-y_f-a)) - log((y_s+a)/(n_s+alpha0-y_s-a)),
    var ~ 1/(y_f+a) + 1/(y_s+a), z = delta / sqrt(var)."""
    n_f, n_s = sum(firing.values()), sum(silent.values())
    total = n_f + n_s
    out: dict[str, tuple[float, float]] = {}
    if len(set(firing) | set(silent)) < 2:
        return out  # one word in every context: nothing to contrast it with
    for w in set(firing) | set(silent):
        y_f, y_s = firing[w], silent[w]
        a = alpha0 * (y_f + y_s) / total
        delta = math.log((y_f + a) / (n_f + alpha0 - y_f - a)) - math.log((y_s + a) / (n_s + alpha0 - y_s - a))
        out[w] = (delta, delta / math.sqrt(1 / (y_f + a) + 1 / (y_s + a)))
    return out


def clean(word: str) -> str:
    """A context word as counted: lower case, punctuation stripped from both ends."""
    return re.sub(r"^[\W_]+|[\W_]+$", "", word.strip().lower())


def peak_words(records: list[ActivationRecord], n: int = MAX_WORDS) -> dict[str, set[str]]:
    """The unit's most frequent whole peak words (case folded; sub-word pieces joined as the agent's
    findings join them), each with the spellings seen, commonest first."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for rec in records:
        if not rec.tokens[rec.max_index].strip().isalnum():
            continue
        word, _ = whole_word(rec)
        counts[word.lower()] += 1
        spellings.setdefault(word.lower(), Counter())[word] += 1
    return {spellings[k].most_common(1)[0][0]: set(spellings[k]) for k, _ in counts.most_common(n)}


@dataclass
class _Context:
    window: int
    start: int  # first window token kept
    last: int  # the target's last token in the window
    ids: list[int]  # BOS, the kept context, the target word (its last token is read)
    first: int  # the target word's first token
    spaced: bool  # the target word has its leading space (a word can be inserted before it)
    words: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # context word -> its token spans
    text: str = ""  # the kept context before the word, as text (what the topic direction embeds)
    activation: float = 0.0


def _find(wb: Workbench, tokens: np.ndarray, spellings: set[str], start: int,
          decode) -> list[tuple[int, int, int, bool]]:
    """(window, first, last token, spaced) of every whole-word occurrence: each spelling's ids with a
    leading space anywhere, and without one at the start of a line; a following token that continues
    the word ("bank" in "bankers") rules an occurrence out. A numpy scan of the on-disk windows."""
    target, width = wb.target, tokens.shape[1]
    found = []
    for spelling in spellings:
        for spaced, text in ((True, " " + spelling), (False, spelling)):
            pattern = target.encode(text)
            span = len(pattern)
            if not pattern or span > width - start:
                continue
            hit = np.ones((tokens.shape[0], width - start - span + 1), dtype=bool)
            for k, t in enumerate(pattern):
                hit &= tokens[:, start + k: width - span + 1 + k] == t
            for w, p in zip(*np.nonzero(hit)):
                first, last = int(p) + start, int(p) + start + span - 1
                if last + 1 < width and decode(int(tokens[w, last + 1]))[:1].isalnum():
                    continue
                if not spaced and (first == start or not decode(int(tokens[w, first - 1])).endswith("\n")):
                    continue
                found.append((int(w), first, last, spaced))
    return sorted(set(found))


def _context(wb: Workbench, tokens: np.ndarray, hit: tuple[int, int, int, bool], before: int, start: int,
             decode) -> _Context:
    """The occurrence cut at its target token, with BOS and up to `before` words before the word."""
    w, first, last, spaced = hit
    lo = max(start, first - TOKENS_PER_WORD * before - 4)
    bos = [wb.target.bos_id] if start else []
    ids = bos + [int(t) for t in tokens[w, lo: last + 1]]
    ctx = _Context(window=w, start=lo, last=last, ids=ids, first=first - lo + len(bos), spaced=spaced,
                   text="".join(decode(i) for i in ids[len(bos): first - lo + len(bos)]).strip())
    spans = [s for s in word_spans([decode(i) for i in ids], len(bos)) if s[1] <= ctx.first]
    if lo > start:
        spans = spans[1:]  # the cut may have split the first word
    for a, b in spans[-before:] if before > 0 else []:
        word = clean("".join(decode(i) for i in ids[a:b]))
        if word:
            ctx.words.setdefault(word, []).append((a, b))
    return ctx


def _measure(wb: Workbench, unit: UnitId, seqs: list[list[int]]) -> list[float]:
    """The unit's activation at each sequence's last token."""
    acts = run_ids(wb.target, seqs, wb.target.units(unit)) if seqs else []
    return [float(a[-1, unit.index]) for a in acts]


def _separating(fire: list[_Context], silent: list[_Context], top: int) -> tuple[list[ContextWord], list[ContextWord]]:
    f_counts = Counter(w for c in fire for w in c.words)
    s_counts = Counter(w for c in silent for w in c.words)
    if not f_counts or not s_counts:
        return [], []
    scored = [ContextWord(word=w, log_odds=round(d, 4), z=round(z, 4), firing=f_counts[w], silent=s_counts[w])
              for w, (d, z) in log_odds(f_counts, s_counts).items()]
    fire_after = sorted((c for c in scored if c.z >= Z and c.firing >= 2), key=lambda c: (-c.z, c.word))[:top]
    silent_after = sorted((c for c in scored if c.z <= -Z and c.silent >= 2), key=lambda c: (c.z, c.word))[:top]
    return fire_after, silent_after


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties counted half."""
    pos, neg = np.asarray(pos, float)[:, None], np.asarray(neg, float)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def _topics(fire: list[_Context], silent: list[_Context], top: int,
            target: set[str]) -> tuple[list[TopicWord], list[TopicWord], float | None]:
    """Topic words for each side and the topic direction's leave-one-out AUROC (module docstring).
    A word counts for a side only where it is commoner there (by share of contexts) and aligned
    with that side; function words and the target word itself name no topic."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # imported when used

    if len(fire) < TOPIC_MIN or len(silent) < TOPIC_MIN:
        return [], [], None
    vecs = embed([c.text for c in fire + silent])
    nf, ns = len(fire), len(silent)
    sum_f, sum_s = vecs[:nf].sum(0), vecs[nf:].sum(0)
    loo_f = [float(v @ ((sum_f - v) / (nf - 1) - sum_s / ns)) for v in vecs[:nf]]
    loo_s = [float(v @ (sum_f / nf - (sum_s - v) / (ns - 1))) for v in vecs[nf:]]
    separation = round(auroc(np.array(loo_f), np.array(loo_s)), 4)
    direction = sum_f / nf - sum_s / ns
    direction /= np.linalg.norm(direction) or 1.0
    f_counts = Counter(w for c in fire for w in c.words)
    s_counts = Counter(w for c in silent for w in c.words)
    words = sorted(w for w in set(f_counts) | set(s_counts)
                   if w.isalpha() and len(w) > 2 and w not in ENGLISH_STOP_WORDS and w not in target)
    if not words:
        return [], [], separation
    align = embed(words) @ direction
    scored = [TopicWord(word=w, alignment=round(float(a), 4), firing=f_counts[w], silent=s_counts[w])
              for w, a in zip(words, align)]
    fire_topic = sorted((t for t in scored if t.alignment > 0 and t.firing / nf > t.silent / ns),
                        key=lambda t: (-t.alignment, t.word))[:top]
    silent_topic = sorted((t for t in scored if t.alignment < 0 and t.silent / ns > t.firing / nf),
                          key=lambda t: (t.alignment, t.word))[:top]
    return fire_topic, silent_topic, separation


def _edits(wb: Workbench, unit: UnitId, fire: list[_Context], silent: list[_Context], fire_words: list[str],
           silent_words: list[str], edits: int, fire_at: float) -> list[ContrastEdit]:
    """Insert each separating word right before the target in contexts of the other side, and delete it
    (all its tokens) from the contexts of its own side holding it; one batched run for all."""
    plans = []  # (word, kind, makes_fire, [(context, edited ids)])
    sides = [(w, silent, fire, True) for w in fire_words] + [(w, fire, silent, False) for w in silent_words]
    for word, others, own, raises in sides:
        new = wb.target.encode(" " + word)
        ins = [(c, c.ids[: c.first] + new + c.ids[c.first:]) for c in others if c.spaced][:edits]
        dele = []
        for c in [c for c in own if word in c.words][:edits]:
            gone = {i for a, b in c.words[word] for i in range(a, b)}
            dele.append((c, [t for i, t in enumerate(c.ids) if i not in gone]))
        plans += [(word, "insert", raises, ins), (word, "delete", not raises, dele)]
    after = iter(_measure(wb, unit, [ids for *_, jobs in plans for _, ids in jobs]))
    out = []
    for word, kind, makes_fire, jobs in plans:
        if not jobs:
            continue
        new = [next(after) for _ in jobs]
        flipped = sum((a >= fire_at) if makes_fire else (a < fire_at) for a in new)
        was = sum(c.activation for c, _ in jobs) / len(jobs)
        out.append(ContrastEdit(word=word, kind=kind, n=len(jobs), before=round(was, 5),
                                after=round(sum(new) / len(new), 5), flipped=flipped,
                                contexts=[EditedContext(window=c.window, position=c.last, before=round(c.activation, 5),
                                                        after=round(a, 5)) for (c, _), a in zip(jobs, new)]))
    return out


def contrast(wb: Workbench, unit: UnitId | str, words: list[str] | None = None, n: int = 128, before: int = 8,
             top: int = 5, edits: int = 8, windows: set[int] | None = None) -> ContrastResult:
    """For each peak word (default: the unit's most frequent whole peak words in its cached top
    windows, at most 3): up to `n` corpus occurrences (a seeded sample spread over the corpus, none
    from `windows`), each cut at the word's last token and re-run; firing vs silent occurrences
    contrasted by the `before` words preceding the word, the strongest separating words tested by
    insertion and deletion (`edits` contexts each)."""
    if n < 1 or before < 0 or top < 0 or edits < 0:
        raise InputError("n must be >= 1; before, top and edits >= 0")
    unit = wb.unit(unit)
    cache = wb.cache(unit)
    peak = cache.max_activation(unit.index)
    fire_at, silent_at = (FIRE * peak, SILENT * peak) if peak > 0 else (math.inf, 0.0)
    skip = windows or set()
    if words is None:
        found = peak_words([r for r in cache.top(unit.index) if r.window not in skip])
    else:
        found = {w: {w, w.lower(), w[:1].upper() + w[1:]} for w in (x.strip() for x in words) if w}
    if not found:
        raise InputError(f"{unit} has no whole peak words to contrast" if words is None else
                         f"no words given to contrast for {unit}")
    tokens = cache.plan.windows.tokens
    start = int(cache.plan.windows.has_bos)
    decode = cache.decode  # the open cache's, kept across calls
    results = []
    for word, spellings in found.items():
        hits = [h for h in _find(wb, tokens, spellings, start, decode) if h[0] not in skip]
        rng = np.random.default_rng(wb.settings.seed)
        picked = sorted(rng.choice(len(hits), size=min(n, len(hits)), replace=False).tolist()) if hits else []
        ctxs = [_context(wb, tokens, hits[i], before, start, decode) for i in picked]
        for c, a in zip(ctxs, _measure(wb, unit, [c.ids for c in ctxs])):
            c.activation = a
        order = rng.permutation(len(ctxs)).tolist()  # edits take contexts from all over the corpus
        fire = [ctxs[i] for i in order if ctxs[i].activation >= fire_at]
        silent = [ctxs[i] for i in order if ctxs[i].activation < silent_at]
        fire_after, silent_after = _separating(fire, silent, top)
        fire_topic, silent_topic, separation = _topics(fire, silent, top, {clean(x) for x in spellings})
        fire_words = list(dict.fromkeys([w.word for w in fire_after[:FIRE_EDITED]] +
                                        [w.word for w in fire_topic[:FIRE_EDITED]]))
        silent_words = list(dict.fromkeys([w.word for w in silent_after[:SILENT_EDITED]] +
                                          [w.word for w in silent_topic[:SILENT_EDITED]]))
        results.append(WordContrast(word=word, occurrences=len(ctxs), firing=len(fire), silent=len(silent),
                                    fire_after=fire_after, silent_after=silent_after, fire_topic=fire_topic,
                                    silent_topic=silent_topic, topic_auroc=separation,
                                    edits=_edits(wb, unit, fire, silent, fire_words, silent_words, edits, fire_at),
                                    contexts=[Occurrence(window=c.window, start=c.start, position=c.last,
                                                         activation=round(c.activation, 5)) for c in ctxs]))
    return ContrastResult(unit=str(unit), model=wb.target.name, max_activation=peak, words=results)
