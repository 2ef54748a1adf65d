"""Neurons vs latents: the real eval on N neurons of one layer and on N live latents of a dictionary
reading that layer, with the same explainers, LLM, simulator and seed, and one table of the held-out
means (bootstrap 95% CIs) and of latents − neurons (the samples resampled independently)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from autointerp.config import Settings
from autointerp.dictionaries import open_dictionary
from autointerp.errors import InputError
from autointerp.evals import report
from autointerp.evals.real import _score, run_real
from autointerp.evals.records import CompareResult, CompareRow, RealResult
from autointerp.evals.stats import bootstrap_difference, bootstrap_mean
from autointerp.records import ExplainMethod, SimulatorName
from autointerp.scoring.simulation import defined
from autointerp.targets import load_target


def _scores(result: RealResult, method: ExplainMethod) -> list[float]:
    return defined([_score(r) for r in result.runs if r.method == method])


def compare(neurons: RealResult, latents: RealResult, seed: int) -> CompareResult:
    """The table's rows from two real-eval results (neurons, then a dictionary's latents)."""
    if latents.dictionary is None or neurons.dictionary is not None:
        raise InputError("compare needs a real-eval result on neurons and one on a dictionary's latents")
    layers = {int(u[1:].split(".")[0]) for u in neurons.neurons}
    layer = int(latents.neurons[0].split("-")[0])
    if layers != {layer}:
        raise InputError(f"the neurons come from layers {sorted(layers)}, the latents from layer {layer}")
    rows = [CompareRow(method=m, neurons=bootstrap_mean(_scores(neurons, m), seed),
                       latents=bootstrap_mean(_scores(latents, m), seed),
                       difference=bootstrap_difference(_scores(latents, m), _scores(neurons, m), seed))
            for m in latents.info.explainers if m in neurons.info.explainers]
    return CompareResult(layer=layer, dictionary=latents.dictionary, rows=rows, neurons=neurons, latents=latents)


def run_compare(dictionary: str, layer: int | None, n: int, llm: str | None, methods: list[ExplainMethod],
                settings: Settings, max_steps: int = 8, simulator: SimulatorName = "embedding",
                model: str | None = None, command: str = "", console: Console | None = None,
                out: Path | None = None, llm_simulator: SimulatorName | None = None) -> tuple[CompareResult, str]:
    """Both real evals (written to `out` as compare-neurons and compare-latents, each resumable), then
    the comparison (compare.json / .md)."""
    found = open_dictionary(load_target(model, settings), dictionary).layer
    if layer is not None and layer != found:
        raise InputError(f"the dictionary {dictionary!r} reads layer {found}, not --layer {layer}")
    common = {"model": model, "command": command, "console": console, "out": out, "llm_simulator": llm_simulator}
    neurons, _ = run_real(n, [found], llm, methods, settings, max_steps, simulator, name="compare-neurons", **common)
    latents, _ = run_real(n, [found], llm, methods, settings, max_steps, simulator, dictionary=dictionary,
                          name="compare-latents", **common)
    result = compare(neurons, latents, settings.seed)
    md = render(result)
    if out is not None:
        report.write(result, md, "compare", out)
    return result, md


def render(result: CompareResult) -> str:
    """The Markdown table (and the runs' headers) evals/README.md quotes."""
    fmt = report.fmt
    cell = lambda v: f"{fmt(v.mean)} [{fmt(v.low)}, {fmt(v.high)}]" if v.n else "—"  # noqa: E731
    a, b = result.neurons, result.latents
    md = (f"## Neurons vs latents (layer {result.layer}, dictionary `{result.dictionary}`)\n\n"
          f"`{b.info.command}`\n\nModel `{b.info.model}`, explainer LLM `{b.info.llm or 'none'}`, simulator "
          f"`{b.info.simulator}`, agent max steps {b.info.max_steps}, seed {b.info.seed}; {len(a.neurons)} neurons "
          f"of layer {result.layer}, {len(b.neurons)} live latents ({b.skipped_dead} dead skipped, "
          f"{b.dead_latents} dead in all); {(a.info.seconds + b.info.seconds) / 60:.1f} min wall time.\n\n")
    md += report.table(["explainer", "neurons: mean held-out score [95% CI]", "n",
                        "latents: mean held-out score [95% CI]", "n", "latents − neurons [95% CI]"],
                       [[r.method, cell(r.neurons), str(r.neurons.n), cell(r.latents), str(r.latents.n),
                         cell(r.difference)] for r in result.rows])
    md += ("\nMeans over defined held-out scores (a run with no explanation counts 0); bootstrap "
           f"{result.rows[0].neurons.resamples:,} seeded resamples, the two samples resampled independently "
           "for the difference.\n" if result.rows else "")
    return md
