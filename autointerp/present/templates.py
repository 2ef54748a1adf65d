"""The one Jinja environment (autoescape on) over the web app's templates: the web pages, the HTML
files of `show --html`, `context --html` and the batch report, and Jupyter's rich output all render
here. The static folder is on the path too, so a self-contained file inlines the app's stylesheet."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import jinja2

from autointerp.present import scores
from autointerp.present.figures import histogram_svg
from autointerp.present.tokens import shade, window_markup

WEB = Path(__file__).resolve().parent.parent / "web"


def _fmt(v: float | None, spec: str = "+.3f") -> str:
    return "—" if v is None or not math.isfinite(v) else format(v, spec)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([WEB / "templates", WEB / "static"]), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    env.filters["trepr"] = repr
    env.filters["shade"] = shade
    env.globals["window"] = window_markup
    env.globals["histogram"] = histogram_svg
    env.globals["score_headline"] = scores.headline
    env.globals["score_figures"] = scores.figures_text
    return env


def render(name: str, **ctx) -> str:
    """Template `name` rendered with `ctx`."""
    return environment().get_template(name).render(**ctx)
