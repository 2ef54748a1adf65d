"""Small inline SVG figures, escaped here: the activation histogram and the max-activation plot."""

from __future__ import annotations

import math

from markupsafe import Markup

from autointerp.records import NeuronStats


def histogram_svg(stats: NeuronStats, width: int = 600, height: int = 110) -> Markup:
    """Bars from the first to the last non-empty bin, log counts; hover a bar for its range and count."""
    h = stats.histogram
    nz = [i for i, c in enumerate(h.counts) if c]
    if not nz:
        return Markup("")
    lo, hi = nz[0], nz[-1] + 1
    counts = h.counts[lo:hi]
    bw, top = width / len(counts), max(counts)
    # log scale: the mass near zero would flatten every bar that matters
    y = [height * math.log1p(c) / math.log1p(top) for c in counts]
    bars = "".join(
        f'<rect x="{i * bw:.1f}" y="{height - v:.1f}" width="{max(bw - 1, 1):.1f}" height="{v:.1f}" fill="#f80">'
        f'<title>[{h.edges[lo + i]:.3g}, {h.edges[lo + i + 1]:.3g}): {c:,}</title></rect>'
        for i, (c, v) in enumerate(zip(counts, y)))
    return Markup(
        f'<svg class="hist" viewBox="0 0 {width} {height + 16}" width="{width}" height="{height + 16}" role="img" '
        f'aria-label="activation histogram (log counts)">{bars}'
        f'<text x="0" y="{height + 13}" font-size="11">{h.edges[lo]:.3g}</text>'
        f'<text x="{width}" y="{height + 13}" font-size="11" text-anchor="end">{h.edges[hi]:.3g}</text></svg>')


def max_plot_svg(maxes: list[float], explained: set[int], height: int = 120) -> Markup:
    """Max activation per neuron (the seed's Fig 1): explained neurons in red."""
    if not maxes:
        return Markup("")
    top = max(max(maxes), 1e-9)
    paths: dict[bool, list[str]] = {False: [], True: []}
    for i, m in enumerate(maxes):
        v = height * max(m, 0.0) / top
        if v > 0:
            paths[i in explained].append(f"M{i + 0.5:.1f} {height}V{height - v:.2f}")
    n = len(maxes)
    body = "".join(f'<path class="{"explained" if flag else "bar"}" d="{"".join(d)}"/>'
                   for flag, d in paths.items() if d)
    return Markup(
        f'<svg class="maxplot" viewBox="0 0 {n} {height}" preserveAspectRatio="none" width="100%" height="{height}" '
        f'role="img" aria-label="max activation per neuron; explained ones in red">{body}</svg>')
