"""`show`: a neuron's statistics and top examples, as text, JSON or a self-contained HTML page."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autointerp.present import templates
from autointerp.present.tokens import sparkline
from autointerp.records import ActivationRecord, Firing, NeuronExamples, UnitId
from autointerp.tools.words import span_of, word_spans
from autointerp.workbench import Workbench


def neuron_examples(wb: Workbench, neuron: UnitId | str) -> NeuronExamples:
    """Everything the cache holds for one unit; builds its cache first when it is missing."""
    neuron = wb.unit(neuron)
    return wb.cache(neuron).unit(neuron)


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


def render_text(ex: NeuronExamples, console: Console, n: int = 20) -> None:
    s = ex.stats
    console.print(f"[bold]{ex.neuron}[/] of [bold]{ex.model}[/]  ·  corpus {ex.corpus} "
                  f"({ex.n_tokens:,} tokens, hash {ex.corpus_hash[:12]})")
    console.print(f"max {s.max:.4f}  min {s.min:.4f}  mean {s.mean:.4f}  std {s.std:.4f}  "
                  f"tokens > 0: {100 * s.frac_positive:.1f}%")
    if ex.firing is not None:
        console.print(firing_line(ex.firing, ex.dictionary_fvu), highlight=False)
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


def firing_line(f: Firing, fvu: float | None) -> str:
    """A latent's firing frequency, its dead / rare / live status, and its dictionary's FVU."""
    status = {"dead": "dead: never fires", "rare": f"rare: fires in fewer than {f.min_windows} windows",
              "live": "live"}[f.activity]
    where = f"{f.windows_firing} windows" if f.windows_firing < 100 else f"{f.windows_firing}+ windows"
    return (f"fires on {f.tokens_firing:,} of {f.tokens:,} tokens (frequency {f.frequency:.3g}), in {where}: "
            f"{status}  ·  dictionary FVU {'unknown' if fvu is None else format(fvu, '.4f')}")


def render_html(ex: NeuronExamples) -> str:
    """A self-contained page: every token shaded by activation, hover for the value."""
    return templates.render("show.html", title=f"{ex.neuron} · {ex.model}", ex=ex)
