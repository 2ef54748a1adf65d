"""Typed findings: what the agent's experiments showed, in a form the composition rules
(`compose.py`) can read. The tools fill them; the LLM sees them as compact tables, the record's
evidence as lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from autointerp.records import ActivationRecord
from autointerp.tools.contrast import WordContrast
from autointerp.tools.words import Piece, span_of, whole_word, word_spans

# A context word drives the neuron when deleting it costs at least this share of the peak activation.
DRIVER = 0.3
SILENT = 0.05  # a peak word where the activation stays under this share of the neuron's max is silent
LEFT = 3  # words before a peak kept with it: a context condition is shown as the phrase it was seen in


@dataclass(frozen=True)
class PeakWord:
    """The peak token of one window and the whole word holding it (sub-word pieces joined)."""

    window: int
    token: str
    word: str
    piece: Piece
    activation: float  # 0-10
    left: tuple[str, ...] = ()  # up to LEFT words before the peak word in its window, nearest last


@dataclass(frozen=True)
class Swap:
    """One substitution test: the peak word and the activation (0-10) with each similar word in its
    place, and with each of the neuron's other peak words (`peers`) in its place."""

    word: str
    original: float
    synonyms: tuple[tuple[str, float], ...]
    peers: tuple[tuple[str, float], ...] = ()

    def _share(self, subs: tuple[tuple[str, float], ...], cap: float = float("inf")) -> float:
        if self.original <= 0 or not subs:
            return 0.0
        return sum(min(max(a, 0.0), cap) for _, a in subs) / len(subs) / self.original

    @property
    def retained(self) -> float:
        """Mean share of the original activation the similar words keep (0 when none was run)."""
        return self._share(self.synonyms)

    @property
    def peers_retained(self) -> float:
        """Mean share the other peak words keep in this word's place, each at most all of it (a
        stronger peak word outdoing a weak one is no sign they are alike); 0 when none was run."""
        return self._share(self.peers, cap=self.original)

    @property
    def kept(self) -> list[str]:
        """Similar words that keep at least half of the activation."""
        return [s for s, a in self.synonyms if self.original > 0 and a >= 0.5 * self.original]


@dataclass(frozen=True)
class Driver:
    word: str
    importance: float  # share of the activation lost when the word is deleted
    before: int  # how many words before the peak word it stands (1 = right before)


@dataclass(frozen=True)
class ContextEdit:
    """One context test: the peak word of a window and the context words it depends on."""

    window: int
    peak: str
    drivers: tuple[Driver, ...]


@dataclass(frozen=True)
class ProbeRun:
    text: str
    activation: float  # 0-10
    token: str


@dataclass(frozen=True)
class Silent:
    """A peak word where the neuron stays silent (under 5% of its max): the word alone does not
    fire it. `phrase` is the word with up to two words before it, as its window has them."""

    window: int
    word: str
    phrase: str


@dataclass
class Findings:
    peaks: list[PeakWord] = field(default_factory=list)
    silent: list[Silent] = field(default_factory=list)
    swaps: list[Swap] = field(default_factory=list)
    contexts: list[ContextEdit] = field(default_factory=list)
    probes: list[ProbeRun] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # tokens DLA and ablation agree the neuron promotes
    senses: list[WordContrast] = field(default_factory=list)  # a peak word's firing vs silent corpus contexts

    def vocabulary(self) -> set[str]:
        """Every token and word the evidence names (lower case): what a grounded explanation mentions."""
        words = {p.token.strip() for p in self.peaks} | {p.word for p in self.peaks}
        words |= {s.word for s in self.swaps} | {w for s in self.swaps for w in s.kept}
        words |= {d.word for c in self.contexts for d in c.drivers} | set(self.output)
        words |= {p.token.strip() for p in self.probes if p.activation >= 5}
        words |= {w for s in self.senses for side in s.separating() for w in side}
        return {w.lower() for w in words if w and any(ch.isalnum() for ch in w)}


PUNCT = "\"'`()[]{},.;:!?"


def left_words(rec: ActivationRecord, index: int | None = None, n: int = LEFT) -> tuple[str, ...]:
    """The n words before the word holding token `index` (default: the peak), as the context tool
    counts them (a word starts at a token that begins with whitespace), punctuation trimmed."""
    spans = word_spans(rec.tokens, int(rec.has_bos))
    if not spans:
        return ()
    w = span_of(spans, rec.max_index if index is None else index)
    words = ["".join(rec.tokens[a:b]).strip().strip(PUNCT) for a, b in spans[max(0, w - n): w]]
    return tuple(words)


def peak_word(rec: ActivationRecord, activation: float) -> PeakWord:
    word, piece = whole_word(rec)
    return PeakWord(rec.window, rec.max_token, word, piece, activation, left_words(rec))
