"""Tokens shaded by activation: orange for positive, blue for negative, the max token outlined. The
one rule behind `show` (terminal and HTML), `context`, the batch report, the web app and Jupyter."""

from __future__ import annotations

import html
from collections.abc import Sequence

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


def span(text: str, value: float, scale: float, title: str, is_max: bool = False) -> str:
    """One shaded piece of text; `title` is the hover line."""
    bg = shade(value, scale)
    attrs = (' class="max"' if is_max else "") + (f' style="background:{bg}"' if bg else "")
    return f'<span{attrs} title="{attr(title)}">{escape(token_text(text))}</span>'


def window_markup(rec: ActivationRecord, scale: float) -> Markup:
    """Every token of a window shaded by its activation, `'token': value` on hover; tokens escaped."""
    return Markup("".join(span(t, a, scale, f"{t!r}: {a:.4f}", i == rec.max_index)
                          for i, (t, a) in enumerate(zip(rec.tokens, rec.activations))
                          if not (rec.has_bos and i == 0)))


def sparkline(counts: Sequence[int]) -> str:
    """The histogram in one line of block characters (the terminal's figure), from the first to the
    last non-empty bin."""
    nz = [i for i, c in enumerate(counts) if c]
    if not nz:
        return ""
    seg = counts[nz[0]: nz[-1] + 1]
    top = max(seg)
    return "".join(SPARK[min(8, round(8 * c / top)) if c else 0] for c in seg)
