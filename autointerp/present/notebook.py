"""Jupyter: `show`'s NeuronExamples and stored Explanations render as rich HTML with the templates
of the HTML files and the web app. Records sit below this layer, so their `_repr_html_` looks the
renderer up in `records.HTML_RENDERERS`, filled here; `autointerp` imports this module when it runs
under IPython. (`probe` and `context` results render from their own modules, above this one.)"""

from __future__ import annotations

from autointerp.present import templates
from autointerp.records import HTML_RENDERERS, Explanation, NeuronExamples

# A notebook cell stays small: the first windows of each kind (`render_html` has them all).
TOP, PER_BIN, RANDOM = 10, 2, 5


def examples_html(ex: NeuronExamples) -> str:
    return templates.render("nb_examples.html", ex=ex, top=TOP, per_bin=PER_BIN, random=RANDOM)


def explanation_html(e: Explanation) -> str:
    return templates.render("nb_explanation.html", e=e)


HTML_RENDERERS.update({NeuronExamples: examples_html, Explanation: explanation_html})
