"""`show`: a neuron's statistics and top examples, as text, JSON or a self-contained HTML page."""

from __future__ import annotations

import html
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autointerp.records import ActivationRecord, NeuronExamples, NeuronId
from autointerp.tools.words import span_of, word_spans
from autointerp.workbench import Workbench

SPARK = " ▁▂▃▄▅▆▇█"


def neuron_examples(wb: Workbench, neuron: NeuronId | str) -> NeuronExamples:
    """Everything the cache holds for one neuron; builds the layer cache first when it is missing."""
    neuron = wb.neuron(neuron)
    return wb.layer(neuron.layer).neuron(neuron)


@dataclass(frozen=True)
class Snippet:
    """The max token with `words` whole words either side (the seed paper's context)."""

    left: str
    before: str
    token: str
    after: str
    right: str

    def plain(self) -> str:
        return f"{self.left}{self.before}{self.token}{self.after}{self.right}"


def _visible(s: str) -> str:
    return s.replace("\r", "").replace("\n", "↵")


def snippet(rec: ActivationRecord, words: int = 3) -> Snippet:
    spans = word_spans(rec.tokens, int(rec.has_bos))
    mw = span_of(spans, rec.max_index)
    join = lambda lo, hi: "".join(rec.tokens[lo:hi])  # noqa: E731
    a, b = spans[mw]
    left = join(spans[max(0, mw - words)][0], a)
    right = join(b, spans[min(len(spans) - 1, mw + words)][1])
    return Snippet(_visible(left), _visible(join(a, rec.max_index)), _visible(rec.tokens[rec.max_index]),
                   _visible(join(rec.max_index + 1, b)), _visible(right))


def sparkline(counts: list[int]) -> str:
    nz = [i for i, c in enumerate(counts) if c]
    if not nz:
        return ""
    seg = counts[nz[0]: nz[-1] + 1]
    top = max(seg)
    return "".join(SPARK[min(8, round(8 * c / top)) if c else 0] for c in seg)


def render_text(ex: NeuronExamples, console: Console, n: int = 20) -> None:
    s = ex.stats
    console.print(f"[bold]{ex.neuron}[/] of [bold]{ex.model}[/]  ·  corpus {ex.corpus} "
                  f"({ex.n_tokens:,} tokens, hash {ex.corpus_hash[:12]})")
    console.print(f"max {s.max:.4f}  min {s.min:.4f}  mean {s.mean:.4f}  std {s.std:.4f}  "
                  f"tokens > 0: {100 * s.frac_positive:.1f}%")
    h = s.histogram
    nz = [i for i, c in enumerate(h.counts) if c]
    if nz:
        console.print(f"histogram [{h.edges[nz[0]]:.3g}, {h.edges[nz[-1] + 1]:.3g}]  {sparkline(h.counts)}")
    table = Table(title=f"top {min(n, len(ex.top))} of {len(ex.top)} examples (max token highlighted, 3 words either side)")
    table.add_column("#", justify="right")
    table.add_column("activation", justify="right")
    table.add_column("norm", justify="right")
    table.add_column("context")
    for i, rec in enumerate(ex.top[:n]):
        sn = snippet(rec)
        ctx = Text(sn.left + sn.before)
        # Brackets too when there is no colour (piped output, logs).
        ctx.append(sn.token if console.color_system else f"[{sn.token}]", style="bold black on yellow")
        ctx.append(sn.after + sn.right)
        norm = rec.max_activation / ex.max_activation if ex.max_activation > 0 else 0.0
        table.add_row(str(i + 1), f"{rec.max_activation:.4f}", f"{norm:.5f}", ctx)
    console.print(table)
    uniq = ", ".join(f"{t.token!r}×{t.count}" for t in ex.unique_top_tokens[:20])
    console.print(f"[bold]unique top tokens[/] ({len(ex.unique_top_tokens)}): {uniq}")


def _shade(a: float, scale: float) -> str:
    x = max(-1.0, min(1.0, a / scale)) if scale > 0 else 0.0
    return f"rgba(255,120,0,{x:.3f})" if x >= 0 else f"rgba(40,110,255,{-x:.3f})"


def window_html(rec: ActivationRecord, scale: float) -> str:
    spans = []
    for i, (t, a) in enumerate(zip(rec.tokens, rec.activations)):
        if rec.has_bos and i == 0:
            continue
        cls = ' class="max"' if i == rec.max_index else ""
        text = html.escape(t).replace("\n", "↵<br>")
        spans.append(f'<span{cls} style="background:{_shade(a, scale)}" title="{html.escape(repr(t))}: {a:.4f}">{text}</span>')
    return "".join(spans)


def _hist_svg(ex: NeuronExamples) -> str:
    h = ex.stats.histogram
    nz = [i for i, c in enumerate(h.counts) if c]
    if not nz:
        return ""
    lo, hi = nz[0], nz[-1] + 1
    counts = h.counts[lo:hi]
    width, height, bw = 600, 120, 600 / len(counts)
    top = max(counts)
    bars = "".join(
        f'<rect x="{i * bw:.1f}" y="{height - height * c / top:.1f}" width="{max(bw - 1, 1):.1f}" '
        f'height="{height * c / top:.1f}" fill="#f80"><title>[{h.edges[lo + i]:.3g}, {h.edges[lo + i + 1]:.3g}): {c}</title></rect>'
        for i, c in enumerate(counts))
    return (f'<svg width="{width}" height="{height + 16}" role="img" aria-label="activation histogram">{bars}'
            f'<text x="0" y="{height + 14}" font-size="11">{h.edges[lo]:.3g}</text>'
            f'<text x="{width}" y="{height + 14}" font-size="11" text-anchor="end">{h.edges[hi]:.3g}</text></svg>')


def render_html(ex: NeuronExamples) -> str:
    """A self-contained page: every token shaded by activation, hover for the value."""
    s, scale = ex.stats, ex.max_activation
    e = html.escape
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{r.max_activation:.4f}</td><td class='win'>{window_html(r, scale)}</td></tr>"
        for i, r in enumerate(ex.top))
    quant = "".join(
        f"<h3>bin {q.bin + 1}: max in [{q.low:.4f}, {q.high:.4f}]</h3><table>"
        + "".join(f"<tr><td>{r.max_activation:.4f}</td><td class='win'>{window_html(r, scale)}</td></tr>" for r in q.examples)
        + "</table>" for q in ex.quantiles)
    rand = "".join(f"<tr><td>{r.max_activation:.4f}</td><td class='win'>{window_html(r, scale)}</td></tr>" for r in ex.random)
    uniq = ", ".join(f"<code>{e(repr(t.token))}</code>×{t.count}" for t in ex.unique_top_tokens)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(ex.neuron)} · {e(ex.model)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}
td{{vertical-align:top;padding:2px 6px}} td.win{{font-family:ui-monospace,monospace;white-space:pre-wrap}}
span.max{{outline:2px solid #c00}} table{{border-collapse:collapse}} tr:nth-child(even){{background:#fafafa}}
</style></head><body>
<h1>{e(ex.neuron)} <small>{e(ex.model)}</small></h1>
<p>corpus <code>{e(ex.corpus)}</code>, {ex.n_tokens:,} tokens (hash {e(ex.corpus_hash[:12])}), window {ex.window}</p>
<table id="stats"><tr><th>max</th><th>min</th><th>mean</th><th>std</th><th>tokens &gt; 0</th></tr>
<tr><td>{s.max:.4f}</td><td>{s.min:.4f}</td><td>{s.mean:.4f}</td><td>{s.std:.4f}</td><td>{100 * s.frac_positive:.1f}%</td></tr></table>
{_hist_svg(ex)}
<p><b>unique top tokens</b>: {uniq}</p>
<h2>Top examples</h2><table id="top"><tr><th>#</th><th>max</th><th>window</th></tr>{rows}</table>
<h2>Quantile samples</h2>{quant}
<h2>Random windows</h2><table id="random">{rand}</table>
</body></html>
"""
