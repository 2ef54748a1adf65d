"""Word segmentation of token windows: a word starts at a token that begins with whitespace."""

from __future__ import annotations


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
