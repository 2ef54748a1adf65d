"""Word segmentation of token windows: a word starts at a token that begins with whitespace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from autointerp.records import ActivationRecord

Piece = Literal["whole", "first", "middle", "last"]

# Ordinary English words of no particular category: what a concept (planted word lists) or a category
# name (the agent's naming check) is set against.
ORDINARY_WORDS = tuple(dict.fromkeys("""the of and to in is was for on that with as by at from it this be are or an not but which
have has had were his her their its they he she we you will would can could new first other more some time people
year way work government system city school number part law market house water book road car paper music idea table
run make take give find think know say go come see use help show play move live believe hold bring happen write
provide sit stand lose pay meet include continue set learn change lead understand watch follow stop create speak
read allow add spend grow open walk win offer remember consider appear buy wait serve die send expect build stay
fall cut reach kill remain suggest raise pass sell require report decide pull good small large long great little
own old right big high different early young important few public bad same able last next late hard major better
best free sure clear whole real full special easy certain personal private past""".split()))


def word_spans(tokens: list[str], start: int = 0) -> list[tuple[int, int]]:
    """[(first, end)] token ranges of the words in tokens[start:] (end exclusive)."""
    spans: list[tuple[int, int]] = []
    for i in range(start, len(tokens)):
        t = tokens[i]
        if i == start or t[:1].isspace() or tokens[i - 1][-1:].isspace():
            spans.append((i, i + 1))
        else:
            spans[-1] = (spans[-1][0], i + 1)
    return spans


def span_of(spans: list[tuple[int, int]], index: int) -> int:
    """Which word holds token `index`."""
    for w, (a, b) in enumerate(spans):
        if a <= index < b:
            return w
    raise ValueError(f"token {index} is in no word")


def _letters(t: str) -> bool:
    return t.strip().isalpha()


def alpha_run(tokens: list[str], index: int, start: int = 0) -> tuple[int, int]:
    """The alphabetic word around token `index` (no punctuation): the unit a synonym replaces."""
    a, b = index, index + 1
    while a > start and not tokens[a][:1].isspace() and _letters(tokens[a - 1]) and _letters(tokens[a]):
        a -= 1
    while b < len(tokens) and not tokens[b][:1].isspace() and _letters(tokens[b]) and _letters(tokens[b - 1]):
        b += 1
    return a, b


def _wordish(t: str) -> bool:
    return t.strip().isalnum()


def whole_word(rec: ActivationRecord, index: int | None = None) -> tuple[str, Piece]:
    """The word around token `index` (default: the peak): neighbouring alphanumeric pieces joined
    while no space separates them, and which piece of it the token is."""
    toks, i, start = rec.tokens, rec.max_index if index is None else index, int(rec.has_bos)
    if not _wordish(toks[i]):
        return toks[i].strip(), "whole"
    a, b = i, i + 1
    while a > start and not toks[a][:1].isspace() and _wordish(toks[a - 1]) and not toks[a - 1][-1:].isspace():
        a -= 1
    while b < len(toks) and not toks[b][:1].isspace() and _wordish(toks[b]) and not toks[b - 1][-1:].isspace():
        b += 1
    word = "".join(toks[a:b]).strip()
    piece: Piece = "whole" if b - a == 1 else "first" if i == a else "last" if i == b - 1 else "middle"
    return word, piece
