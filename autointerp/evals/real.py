"""Eval 2: real neurons. A seeded sample of neurons across layers of the target; each explainer's
mean held-out simulation score with a bootstrap 95% CI, and the paired difference agent − others.
A run whose explainer produced no explanation counts as 0 (it predicts nothing)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.console import Console

from autointerp.agent import AgentConfig
from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.evals import report
from autointerp.evals.records import ExplainerRun, RealResult, RealSummary, RunInfo
from autointerp.evals.runner import ensure_caches, finish, open_journal, open_llm, run_all, totals
from autointerp.evals.stats import bootstrap_mean
from autointerp.records import ExplainMethod, NeuronId, SimulatorName
from autointerp.targets import load_target


def sample_neurons(n: int, layers: list[int], d_mlp: int, seed: int) -> list[NeuronId]:
    """n distinct neurons; layers taken in a seeded order, round-robin, so the sample spreads over them."""
    if n < 1:
        raise InputError(f"--n must be >= 1, got {n}")
    rng = np.random.default_rng([seed, 7])
    order = [int(x) for x in rng.permutation(layers)]
    picked: list[NeuronId] = []
    while len(picked) < n:
        nid = NeuronId(layer=order[len(picked) % len(order)], index=int(rng.integers(d_mlp)))
        if nid not in picked:
            picked.append(nid)
    return picked


def _score(r: ExplainerRun) -> float:
    return 0.0 if r.score is None else r.score


def run_real(n: int, layers: list[int], llm: str | None, methods: list[ExplainMethod], settings: Settings,
             max_steps: int = 8, simulator: SimulatorName = "embedding", model: str | None = None,
             command: str = "", console: Console | None = None, out: Path | None = None) -> tuple[RealResult, str]:
    """Sample, cache, explain; (result, Markdown), written to `out` when given (with a resume journal)."""
    t0 = time.perf_counter()
    target = load_target(model, settings)
    for layer in layers:
        target.check_layer(layer)
    neurons = sample_neurons(n, layers, target.d_mlp, settings.seed)
    chat = open_llm(llm, methods, simulator, settings)
    cache_tokens = ensure_caches([x.layer for x in neurons], target.name, settings, console)
    config = AgentConfig(max_steps=max_steps)
    journal = None if out is None else open_journal(
        out, "real", model=target.name, llm=chat.name if chat else None, methods=methods, max_steps=max_steps,
        simulator=simulator, neurons=[str(x) for x in neurons], cache=cache_tokens)
    runs: list[ExplainerRun] = []
    for nid in neurons:
        runs += run_all(str(nid), target.name, methods, chat, config, simulator, settings, console, journal)
    by = {m: [_score(r) for r in runs if r.method == m] for m in methods}
    summary = [RealSummary(method=m, score=bootstrap_mean(by[m], settings.seed),
                           failures=sum(r.error is not None for r in runs if r.method == m)) for m in methods]
    paired = {f"agent - {m}": bootstrap_mean(np.subtract(by["agent"], by[m]).tolist(), settings.seed)
              for m in methods if "agent" in methods and m != "agent"}
    info = RunInfo(eval="real", command=command, model=target.name, llm=chat.name if chat else None,
                   simulator=simulator, explainers=methods, max_steps=max_steps, cache_tokens=cache_tokens,
                   seed=settings.seed, seconds=round(time.perf_counter() - t0, 1),
                   resumed_runs=journal.resumed if journal else 0, totals=totals(runs, methods))
    result = RealResult(info=info, neurons=[str(x) for x in neurons], summary=summary, paired=paired, runs=runs)
    return finish(result, render(result), "real", out, journal)


def render(result: RealResult) -> str:
    fmt = report.fmt
    md = report.header(f"Real neurons ({len(result.neurons)} sampled)", result.info)
    md += report.table(["explainer", "mean held-out score", "95% CI", "n", "no explanation"],
                       [[s.method, fmt(s.score.mean), f"[{fmt(s.score.low)}, {fmt(s.score.high)}]", str(s.score.n),
                         str(s.failures)] for s in result.summary])
    if result.paired:
        md += "\n" + report.table(["paired difference", "mean", "95% CI", "n"],
                                  [[k, fmt(v.mean), f"[{fmt(v.low)}, {fmt(v.high)}]", str(v.n)]
                                   for k, v in result.paired.items()])
    md += f"\nBootstrap: {next(iter(result.summary)).score.resamples:,} seeded resamples of the neurons (percentile interval).\n\n"
    methods = result.info.explainers
    rows = []
    for neuron in result.neurons:
        cells = [neuron]
        for m in methods:
            r = next(r for r in result.runs if r.neuron == neuron and r.method == m)
            cells.append(f"{fmt(r.score)} {report.short(r.text if r.text else r.error, 48)}")
        rows.append(cells)
    md += report.table(["neuron", *methods], rows)
    md += "\n" + report.cost_table(result.info.totals)
    return md
