"""Tokens shaded by activation: orange for positive, blue for negative, the max token outlined. The
one rule behind `show` (terminal and HTML), `context`, the batch report, the web app and Jupyter."""

from __future__ import annotations

import html
from collections.abc import Sequence
from functools import lru_cache

from markupsafe import Markup, escape

from autointerp.records import ActivationRecord

SPARK = " ▁▂▃▄▅▆▇█"


def shade(a: float, scale: float) -> str:
    """The background of a token: orange for positive activations, blue for negative ones; "" when
    it would be invisible (most tokens: the page stays small)."""
    x = max(-1.0, min(1.0, a / scale)) if scale > 0 else 0.0
    if abs(x) < 0.02:
        return ""
    alpha = f"{abs(x):.2f}".lstrip("0")
    return f"rgba(255,120,0,{alpha})" if x >= 0 else f"rgba(40,110,255,{alpha})"


def attr(text: str) -> str:
    """Text for a double-quoted attribute (single quotes need no escaping there)."""
    return html.escape(text, quote=False).replace('"', "&quot;")


def token_text(t: str) -> str:
    """A token as shown: newlines visible as ↵ (and kept, for pre-wrap), carriage returns dropped."""
    return t.replace("\r", "").replace("\n", "↵\n")


@lru_cache(maxsize=1 << 16)
def _piece(token: str) -> tuple[str, str]:
    """A token's escaped text and its escaped repr (the hover line's start), worked out once per
    distinct token: a page shades thousands of tokens drawn from a few hundred."""
    return str(escape(token_text(token))), attr(repr(token))


def span(text: str, value: float, scale: float, is_max: bool = False) -> str:
    """One shaded token, `'token': value` on hover."""
    shown, name = _piece(text)
    bg = shade(value, scale)
    attrs = (' class="max"' if is_max else "") + (f' style="background:{bg}"' if bg else "")
    return f'<span{attrs} title="{name}: {value:.4f}">{shown}</span>'


def window_markup(rec: ActivationRecord, scale: float) -> Markup:
    """Every token of a window shaded by its activation, `'token': value` on hover; tokens escaped.
    `span` for each token, with its common case (a token too faint to shade) inlined: a page shades
    thousands of tokens under the one interpreter lock that every request shares."""
    out = []
    for i, (t, a) in enumerate(zip(rec.tokens, rec.activations)):
        if i == 0 and rec.has_bos:
            continue
        if i != rec.max_index and (scale <= 0 or -0.02 < a / scale < 0.02):  # shade(a, scale) == ""
            shown, name = _piece(t)
            out.append(f'<span title="{name}: {a:.4f}">{shown}</span>')
        else:
            out.append(span(t, a, scale, i == rec.max_index))
    return Markup("".join(out))


def sparkline(counts: Sequence[int]) -> str:
    """The histogram in one line of block characters (the terminal's figure), from the first to the
    last non-empty bin."""
    nz = [i for i, c in enumerate(counts) if c]
    if not nz:
        return ""
    seg = counts[nz[0]: nz[-1] + 1]
    top = max(seg)
    return "".join(SPARK[min(8, round(8 * c / top)) if c else 0] for c in seg)
