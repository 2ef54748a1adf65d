"""Candidate explanations composed from the typed findings by fixed rules, the filter every
LLM-written candidate passes before it is scored, and the choice among scored candidates.

Rules (each candidate records the rule that made it):
- words: the peak words, whole: a peak token that is a piece of a longer word is named as that word
  ("the last token of the word "Andorra""), never as the fragment;
- exact / category: substitution decides. Similar words lose the activation -> "exactly the word X
  (not similar words)"; they keep it, or the neuron's other peak words keep it in one another's
  place -> "words like X, Y, Z", with the LLM's category name only then;
- context: a context word whose deletion costs the activation in two or more examples (or one that
  costs most of it in one) becomes a condition, shown as the phrases it was seen in ("river bank";
  "in order", "in addition"), so that a reader and a simulator match the phrase, not every "in";
- contrast: a peak word holding a quarter of the peaks that also occurs where the neuron stays
  silent is not the trigger alone; the phrases it fired in (the word before it, then the word)
  become a candidate ("it will", "They will" when "an act of will" is silent), scored on
  validation with those silent windows too;
- sense: a peak word that fires in some of its corpus occurrences and not in others, where the words
  before it separate the two (contrast evidence: smoothed log-odds, then edits that insert or delete
  a separating word and move the activation as predicted) -> "the word X in contexts with A, B
  (not C)", which the simulator reads as a condition (scoring/conditions.py);
- output (in explain.py): what the neuron promotes, when DLA and ablation agree.
The LLM names and proposes; every candidate is scored on the validation windows and the best wins."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from autointerp.agent.findings import PUNCT, Findings, Piece
from autointerp.tools.contrast import ContextWord, WordContrast

CATEGORY_KEEP = 0.5  # similar words keep at least this share of the activation on average: a category
CATEGORY_CLEAR = 2 / 3  # ... and at least this share: clearly one
EXACT_DROP = 0.25  # they keep at most this share: the exact word
N_WORDS = 5
MAX_ITEMS = 6
CONTRAST_SHARE = 0.25  # a silent peak word makes contrast phrases when it holds this share of the peaks
STRONG_DRIVER = 0.5  # a condition from one example alone needs a word that costs half the activation
# Candidates within TIE of the best validation score count as tied: a named category wins the tie
# (the name says what the substitution showed), then a context condition (what the edits or the
# silent contrasts showed),
# then a composed candidate, then a written one, then the bare token list, then the shorter text.
# 0.02 is well inside the spread of a 12-window validation score.
TIE = 0.02
COMPOSED = ("words", "exact", "category", "context", "contrast", "sense", "heuristic")
CONDITIONS = ("context", "contrast", "sense")
SENSE_WORDS = 3  # separating context words named for the firing side (the silent side: one fewer)
PLACEHOLDER = re.compile(r"\[\[|\]\]|\[[^\[\]]{0,24}\]|<[A-Za-z_ ]{1,24}>|\$\{?[A-Za-z_]\w*", re.I)


@dataclass(frozen=True)
class Draft:
    text: str
    triggers: list[str]
    rule: str


def top_words(f: Findings, n: int = N_WORDS) -> list[tuple[str, Piece]]:
    """The most frequent whole peak words (case folded, the commonest spelling kept) and the piece
    each one's peak token usually is."""
    counts: Counter[str] = Counter()
    spelling: dict[str, Counter[str]] = {}
    pieces: dict[str, Counter[Piece]] = {}
    for p in f.peaks:
        if not any(ch.isalnum() for ch in p.word):
            continue
        key = p.word.lower()
        counts[key] += 1
        spelling.setdefault(key, Counter())[p.word] += 1
        pieces.setdefault(key, Counter())[p.piece] += 1
    return [(spelling[k].most_common(1)[0][0], pieces[k].most_common(1)[0][0]) for k, _ in counts.most_common(n)]


def peer_share(f: Findings) -> float | None:
    """The share of the activation the neuron's other peak words keep in a peak word's place, over
    the substitution tests weighed by their original activation (None when none was run)."""
    peers = [s for s in f.swaps if s.peers and s.original > 0]
    if not peers:
        return None
    return sum(s.peers_retained * s.original for s in peers) / sum(s.original for s in peers)


def verdict(f: Findings) -> str:
    """exact, category or unclear, from the substitution tests' mean retained activation. The
    neuron's other peak words keeping it in one another's place make a category too, whatever the
    nearest words by meaning do ("will" keeps it as "would" and "can", not as "wish"). Their shares
    are weighed by each test's original activation: a weak peak that a strong peak word happens to
    outdo in its place says little."""
    if (share := peer_share(f)) is not None and share >= CATEGORY_KEEP:
        return "category"
    if (kept := synonym_share(f)) is None:
        return "unclear"
    return "category" if kept >= CATEGORY_KEEP else "exact" if kept <= EXACT_DROP else "unclear"


def synonym_share(f: Findings) -> float | None:
    """The mean share of the activation similar words keep in the peak words' places (None: no test)."""
    swaps = [s for s in f.swaps if s.synonyms and s.original > 0]
    return sum(s.retained for s in swaps) / len(swaps) if swaps else None


def clear_category(f: Findings) -> bool:
    """The substitution tests leave no doubt the neuron reads a category: similar words or its other
    peak words keep CATEGORY_CLEAR of the activation (planted word lists keep 0.67-0.96; the real
    neurons' borderline category verdicts, 0.51-0.59, come with names like "location" for "where",
    "if", "near")."""
    return max(peer_share(f) or 0.0, synonym_share(f) or 0.0) >= CATEGORY_CLEAR


def _quoted(words: list[str]) -> str:
    return ", ".join(f'"{w}"' for w in words)


def subject(words: list[tuple[str, Piece]]) -> str:
    """The peak words as a noun phrase; pieces of longer words are named by their word."""
    names = [w for w, _ in words]
    plural = "s" if len(names) > 1 else ""
    parts = Counter(p for _, p in words if p != "whole")
    if 2 * sum(parts.values()) > len(words):
        lead = "the last token of" if parts.most_common(1)[0][0] == "last" else "a token inside"
        return f"{lead} the word{plural} {_quoted(names)}"
    return f"the word{plural} {_quoted(names)}"


def category_items(f: Findings, words: list[tuple[str, Piece]]) -> list[str]:
    """The peak words and the similar words that kept the activation."""
    items = [w for w, _ in words] + [k for s in f.swaps for k in s.kept]
    seen: dict[str, str] = {}
    for w in items:
        seen.setdefault(w.lower(), w)
    return list(seen.values())[:MAX_ITEMS]


def conditions(f: Findings, words: list[str]) -> list[tuple[str, int]]:
    """Context words that drive the neuron on its peak `words`: (word, words before the peak), most
    supported first. Edits of windows peaking elsewhere (a newline, a one-off word) say nothing
    about the condition of these words."""
    wanted = {w.lower() for w in words}
    tops = [max(c.drivers, key=lambda d: d.importance) for c in f.contexts if c.drivers and c.peak.lower() in wanted]
    counts = Counter(d.word.lower() for d in tops)
    shared = [(w, next(d.before for d in tops if d.word.lower() == w)) for w, c in counts.most_common() if c >= 2]
    if shared:
        return shared[:2]
    strong = [d for d in tops if d.importance >= STRONG_DRIVER]
    return [(d.word.lower(), d.before) for d in sorted(strong, key=lambda d: -d.importance)[:1]]


def phrases(f: Findings, words: list[str], cond: str, before: int) -> list[str]:
    """The phrases, from the condition word through the peak word, that the peaks on `words` show
    (commonest first, case folded, the commonest spelling kept)."""
    wanted, key = {w.lower() for w in words}, cond.strip(PUNCT).lower()
    counts: Counter[str] = Counter()
    spelling: dict[str, Counter[str]] = {}
    for p in f.peaks:
        left = p.left[-before:] if 0 < before <= len(p.left) else ()
        if p.word.lower() in wanted and left and left[0].lower() == key and all(left):
            phrase = " ".join(left + (p.word,))
            counts[phrase.lower()] += 1
            spelling.setdefault(phrase.lower(), Counter())[phrase] += 1
    return [spelling[k].most_common(1)[0][0] for k, _ in counts.most_common(MAX_ITEMS)]


def contrast_phrases(f: Findings) -> list[str]:
    """When a word that holds a good share of the peaks (CONTRAST_SHARE) also occurs where the
    neuron stays silent, the word alone is not the trigger, a use of it is: the phrases (the word
    before it, then the word) it fired in, commonest first. A neuron whose peaks spread over many
    words, each also silent somewhere (function words), is no use of one word."""
    held = Counter(p.word.lower() for p in f.peaks if any(ch.isalnum() for ch in p.word))
    total = sum(held.values())
    silent = {s.word.lower() for s in f.silent if held[s.word.lower()] >= CONTRAST_SHARE * total}
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for p in f.peaks:
        if p.word.lower() in silent and p.left and p.left[-1]:
            phrase = f"{p.left[-1]} {p.word}"
            counts[phrase.lower()] += 1
            spelling.setdefault(phrase.lower(), phrase)
    return [spelling[k] for k, _ in counts.most_common(MAX_ITEMS)]


def content(words: list[ContextWord]) -> list[str]:
    """The separating words a reader can read a sense in: function words ("the", "a", "in", "from")
    separate grammatical uses, which the phrase rules name better; as a condition they named no
    sense the judge could find on the public contextual set (5 of 10 recovered, against 9 without)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # scikit-learn's 318; imported when used

    return [w.word for w in words if w.word not in ENGLISH_STOP_WORDS and any(ch.isalpha() for ch in w.word)]


def supported(c: WordContrast, named: set[str] | None = None) -> bool:
    """The separation survives intervention: some edit of a `named` word (default: every separating
    word) moved the activation the way the log-odds predict (a firing-side word inserted raised it,
    deleted lowered it; a silent-side word the reverse) and carried at least one context across the
    firing threshold."""
    fire, silent = {w.word for w in c.fire_after}, {w.word for w in c.silent_after}
    named = fire | silent if named is None else named
    for e in c.edits:
        if e.word not in named:
            continue
        up = (e.kind == "insert") == (e.word in fire)
        if e.word in fire | silent and e.flipped and (e.after > e.before if up else e.after < e.before):
            return True
    return False


def senses(f: Findings) -> list[Draft]:
    """One candidate per peak word whose corpus contexts separate firing from silent, and whose
    edits support it: 'the word "will" in contexts with "it", "they" (not "free")', or only what
    silences it: 'the word "left" (not in contexts with "from", "the")'."""
    out = []
    for c in f.senses:
        pos = content(c.fire_after)[:SENSE_WORDS]
        neg = content(c.silent_after)[:SENSE_WORDS - (1 if pos else 0)]
        if c.firing < 2 or c.silent < 2 or not (pos or neg) or not supported(c, set(pos + neg)):
            continue
        if pos:
            text = f'the word "{c.word}" in contexts with {_quoted(pos)}' + (f" (not {_quoted(neg)})" if neg else "")
        else:
            text = f'the word "{c.word}" (not in contexts with {_quoted(neg)})'
        out.append(Draft(text, [c.word], "sense"))
    return out


def compose(f: Findings, name: str | None = None) -> list[Draft]:
    """Every candidate the rules make from the findings; `name` (the LLM's category name) is used
    only when substitution shows a category."""
    words = top_words(f)
    if not words:
        return []
    v, subj, names = verdict(f), subject(words), [w for w, _ in words]
    drafts = [Draft(f"exactly {subj} (not similar words)" if v == "exact" else subj, names,
                    "exact" if v == "exact" else "words")]
    if v == "category":
        items = category_items(f, words)
        lead = f"{name}: words like" if name else "words like"
        drafts.append(Draft(f"{lead} {_quoted(items)}", items, "category"))
    for cond, before in conditions(f, names):
        if seen := phrases(f, names, cond, before):
            plural = "s" if len(seen) > 1 else ""
            drafts.append(Draft(f"the phrase{plural} {_quoted(seen)}", seen, "context"))
            continue
        triggers = [f"{cond} {w}" for w in names] if before == 1 else names
        drafts.append(Draft(f'{subj} after "{cond}"', triggers, "context"))
    if len(seen := contrast_phrases(f)) >= 2:
        drafts.append(Draft(f"the phrases {_quoted(seen)}", seen, "contrast"))
    return drafts + senses(f)


def placeholder(text: str) -> str | None:
    """Why a reply that copies a prompt placeholder ([token], [[...]], <name>, $var) is refused."""
    if m := PLACEHOLDER.search(text):
        return f"it copies the placeholder {m.group(0)!r}; name the real tokens or words"
    return None


def rejection(text: str, f: Findings, extra: set[str] | frozenset[str] = frozenset()) -> str | None:
    """Why an LLM-written candidate is refused before scoring (None: it may be scored): it copies a
    prompt placeholder, or names no token or word of the evidence."""
    if why := placeholder(text):
        return why
    vocab = f.vocabulary() | {e.lower() for e in extra}
    low = text.lower()
    for v in vocab:
        pattern = rf"[\"'`]{re.escape(v)}[\"'`]" if len(v) == 1 else rf"(?<![a-z0-9]){re.escape(v)}(?![a-z0-9])"
        if re.search(pattern, low):
            return None
    sample = ", ".join(repr(w) for w, _ in top_words(f, 3))
    return f"it names no token or word from the evidence (such as {sample or 'the peak tokens'})"


def named(c) -> bool:
    """A category candidate that names its category ("months: words like ..."), not a bare list."""
    return c.source == "category" and not c.text.startswith("words like")


def rank(c) -> tuple[int, int, int, int, int]:
    """Tie-break order among near-best candidates (smaller first): what says more of the evidence
    wins (a named category, then a context condition, from the edits or the silent contrasts), then
    composed text, then an LLM-written one, then the bare token list (it reads no experiment), then
    shorter."""
    return (0 if named(c) else 1, 0 if c.source in CONDITIONS else 1, 1 if c.source == "heuristic" else 0,
            0 if c.source in COMPOSED else 1, len(c.text))


def fragments(f: Findings) -> set[str]:
    """Peak tokens (lower case) that end or sit inside a longer word in some window ('ra' of 'Andorra';
    a first piece such as 'where' of 'whereupon' reads as a word of its own)."""
    return {p.token.strip().lower() for p in f.peaks if p.piece in ("middle", "last")}


def choose(candidates: list, f: Findings | None = None):
    """The best validation candidate; near-ties (within TIE) go by `rank`. With the findings `f`,
    one exception: the token list that is the best itself keeps its place when its tokens are whole
    words and only restatements or LLM text tie with it: composed word lists, and a named category
    the substitutions leave in doubt (on L20.N538 "location: words like "where", "if"", below the list on
    validation, lost 0.08 held out). A condition or a clear category in the tie says more than the
    list, and a list of word fragments is never the answer over a tie."""
    if not candidates:
        return None
    top = max(candidates, key=lambda c: c.validation)
    near = [c for c in candidates if c.validation >= top.validation - TIE]
    return top if f is not None and _list_stands(top, near, f) else min(near, key=rank)


def _list_stands(top, near: list, f: Findings) -> bool:
    """`choose`'s exception: the best candidate is the token list, of whole words, and nothing in the
    tie says more than it (a condition, or a named category the substitutions make clear)."""
    if top.source != "heuristic" or {t.lower() for t in top.triggers} & fragments(f):
        return False
    clear = clear_category(f)
    return not any(c.source in CONDITIONS or (clear and named(c)) for c in near)

