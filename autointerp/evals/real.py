"""Eval 2: real neurons (or the latents of a registered dictionary: a seeded sample of its live latents,
dead ones skipped and counted). A seeded sample of neurons across layers of the target; each explainer's
mean held-out simulation score with a bootstrap 95% CI, and the paired difference agent − others.
A run whose explainer produced no explanation counts as 0 (it predicts nothing); an explanation whose
score is undefined (constant predictions on the held-out windows) is left out of the means and of the
pairs it belongs to, and counted in the "undefined" column."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.console import Console

from autointerp.agent import AgentConfig
from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.evals import report
from autointerp.evals.records import ExplainerRun, Interval, RealResult, RealSummary
from autointerp.evals.runner import ensure_caches, finish, open_journal, open_llm, run_all, run_info
from autointerp.evals.stats import bootstrap_mean
from autointerp.llm import LLM
from autointerp.present.confidence import confidence_groups
from autointerp.records import ExplainMethod, SimulatorName, UnitId
from autointerp.scoring.simulation import defined, simulation_score
from autointerp.workbench import Workbench


def sample_neurons(n: int, layers: list[int], d_mlp: int, seed: int) -> list[UnitId]:
    """n distinct neurons; layers taken in a seeded order, round-robin, so the sample spreads over them."""
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng([seed, 7])
    order = [int(x) for x in rng.permutation(layers)]
    picked: list[UnitId] = []
    while len(picked) < n:
        nid = UnitId(layer=order[len(picked) % len(order)], index=int(rng.integers(d_mlp)))
        if nid not in picked:
            picked.append(nid)
    return picked


def sample_latents(n: int, maxes: np.ndarray, seed: int, name: str) -> tuple[list[int], int]:
    """(n distinct latents in a seeded order, how many dead ones the walk skipped): a latent whose
    entry in `maxes` (its cached count of firing tokens, or its maximum) is not above 0 never fired on
    the corpus and has nothing to explain."""
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    live = int((maxes > 0).sum())
    if live < n:
        raise InputError(f"the dictionary {name!r} has {live} latents that fire on the cached corpus "
                         f"({len(maxes) - live} dead), fewer than --n {n}")
    picked: list[int] = []
    skipped = 0
    for i in np.random.default_rng([seed, 11]).permutation(len(maxes)):
        if len(picked) == n:
            break
        if maxes[i] > 0:
            picked.append(int(i))
        else:
            skipped += 1
    return picked, skipped


def _sample(wb: Workbench, n: int, layers: list[int], dictionary: str | None, seed: int,
            console: Console | None) -> tuple[list[UnitId], dict[int, int], int, int | None]:
    """(units, layer -> cached tokens, dead latents skipped, dead latents in all): neurons drawn from
    `layers`, or latents of `dictionary` (its cache built first: it says which latents are dead)."""
    target = wb.target
    if dictionary is None:
        for layer in layers:
            target.check_layer(layer)
        neurons = sample_neurons(n, layers, target.neurons(layers[0]).n_units, seed)
        return neurons, ensure_caches(wb, [x.layer for x in neurons], console), 0, None
    from autointerp.dictionaries import open_dictionary

    source = wb.source(UnitId(layer=open_dictionary(target, dictionary).layer, index=0, dictionary=dictionary))
    tokens = ensure_caches(wb, [source], console)
    firing = np.asarray(wb.cache(source, build=False).arrays["npos"])  # dead: npos 0 (records.unit_activity)
    picked, skipped = sample_latents(n, firing, seed, dictionary)
    units = [UnitId(layer=source.layer, index=i, dictionary=dictionary) for i in picked]
    return units, tokens, skipped, int((firing <= 0).sum())


def _score(r: ExplainerRun, llm: bool = False) -> float | None:
    """0 for a run with no explanation; None for an undefined score."""
    return 0.0 if r.text is None else (r.llm_score if llm else r.score)


def run_real(n: int, layers: list[int], llm: str | None, methods: list[ExplainMethod], settings: Settings,
             max_steps: int = 8, simulator: SimulatorName = "embedding", model: str | None = None,
             command: str = "", console: Console | None = None, out: Path | None = None,
             llm_simulator: SimulatorName | None = None, dictionary: str | None = None,
             name: str = "real") -> tuple[RealResult, str]:
    """Sample (neurons of `layers`, or latents of `dictionary`), cache, explain; (result, Markdown),
    written to `out` as `name`.json/.md when given (with a resume journal). With `llm_simulator`,
    every explanation is also scored by it on the same held-out windows."""
    t0 = time.perf_counter()
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    wb = Workbench.open(model, settings=settings, console=console, progress=console is not None)
    target = wb.target
    neurons, cache_tokens, skipped, dead = _sample(wb, n, layers, dictionary, settings.seed, console)
    chat = open_llm(llm, methods, llm_simulator or simulator, settings)
    config = AgentConfig(max_steps=max_steps)
    journal = None if out is None else open_journal(
        out, name, model=target.name, llm=chat.name if chat else None, methods=methods, max_steps=max_steps,
        simulator=simulator, neurons=[str(x) for x in neurons], cache=cache_tokens, corpus=settings.corpus)
    runs: list[ExplainerRun] = []
    for nid in neurons:
        runs += run_all(wb, str(nid), methods, chat, config, simulator, console, journal)
    if llm_simulator is not None:
        _llm_scores(wb, runs, llm_simulator, chat, console)
    by = {m: [_score(r) for r in runs if r.method == m] for m in methods}
    by_llm = {m: [_score(r, llm=True) for r in runs if r.method == m] for m in methods}
    summary = [RealSummary(method=m, score=bootstrap_mean(defined(by[m]), settings.seed),
                           failures=sum(r.error is not None for r in runs if r.method == m),
                           undefined=sum(x is None for x in by[m]),
                           llm_score=bootstrap_mean(defined(by_llm[m]), settings.seed) if llm_simulator else None,
                           **_by_confidence([r for r in runs if r.method == m], settings.seed))
               for m in methods]
    paired, llm_paired = _paired(by, methods, settings.seed), _paired(by_llm, methods, settings.seed) if llm_simulator else {}
    info = run_info("real", command, target.name, chat, simulator, methods, max_steps, cache_tokens, settings, t0,
                    journal, runs)
    result = RealResult(info=info, neurons=[str(x) for x in neurons], summary=summary, paired=paired,
                        llm_simulator=llm_simulator, llm_paired=llm_paired, runs=runs, dictionary=dictionary,
                        skipped_dead=skipped, dead_latents=dead)
    return finish(result, render(result), name, out, journal)


def _by_confidence(runs: list[ExplainerRun], seed: int) -> dict[str, Interval]:
    """Held-out means of the confident and the unconfident records (defined scores only): the batch
    report's groups (`confidence_groups`), bootstrapped."""
    return {"confident" if g.confident else "unconfident": bootstrap_mean(g.scores, seed)
            for g in confidence_groups(runs)}


def _paired(by: dict[str, list[float | None]], methods: list[ExplainMethod], seed: int) -> dict[str, Interval]:
    """Per-neuron differences of the last explainer (the most thorough: they run cheapest first, the agent
    last) and each other; a neuron where either score is undefined is left out of that pair."""
    ref = methods[-1]
    return {f"{ref} - {m}": bootstrap_mean([a - b for a, b in zip(by[ref], by[m])
                                            if a is not None and b is not None], seed)
            for m in methods[:-1]}


def _llm_scores(wb: Workbench, runs: list[ExplainerRun], simulator: SimulatorName, llm: LLM | None,
                console: Console | None) -> None:
    """The held-out windows of each record (the same deterministic split) scored by the LLM simulator."""
    for r in runs:
        if r.text is not None and r.llm_score is None:
            r.llm_score = simulation_score(wb, r.neuron, r.text, simulator, r.triggers, llm=llm).value
            if console is not None:
                console.print(f"  {r.neuron} {r.method:<9} {simulator}: {report.fmt(r.llm_score)}", highlight=False)


def _confidence_table(result: RealResult) -> str:
    """Confident against unconfident records: the flag is worth something only if the first score higher."""
    fmt = report.fmt
    cell = lambda v: f"{fmt(v.mean)} [{fmt(v.low)}, {fmt(v.high)}]" if v and v.n else "–"  # noqa: E731
    return ("Held-out score by the record's confidence flag (validation score ≥ the floor), mean [95% CI]:\n\n"
            + report.table(["explainer", "confident", "n", "unconfident", "n"],
                           [[s.method, cell(s.confident), str(s.confident.n if s.confident else 0),
                             cell(s.unconfident), str(s.unconfident.n if s.unconfident else 0)]
                            for s in result.summary]))


def render(result: RealResult) -> str:
    fmt = report.fmt
    if result.dictionary is None:
        md = report.header(f"Real neurons ({len(result.neurons)} sampled)", result.info)
    else:
        md = report.header(f"Latents of `{result.dictionary}` ({len(result.neurons)} sampled)", result.info)
        md += (f"Dead latents (never above 0 on the cached corpus): {result.dead_latents}; the seeded walk "
               f"skipped {result.skipped_dead} of them.\n\n")
    ci = lambda v: f"[{fmt(v.low)}, {fmt(v.high)}]"  # noqa: E731
    second = result.llm_simulator
    extra = [f"{second} simulator", "95% CI"] if second else []
    md += report.table(["explainer", f"mean held-out score ({result.info.simulator})", "95% CI", *extra, "n",
                        "no explanation", "undefined (left out)"],
                       [[s.method, fmt(s.score.mean), ci(s.score),
                         *([fmt(s.llm_score.mean), ci(s.llm_score)] if second and s.llm_score else []),
                         str(s.score.n), str(s.failures), str(s.undefined)] for s in result.summary])
    if result.paired:
        md += "\n" + report.table(["paired difference", f"mean ({result.info.simulator})", "95% CI", *extra, "n"],
                                  [[k, fmt(v.mean), ci(v),
                                    *([fmt(result.llm_paired[k].mean), ci(result.llm_paired[k])] if second else []),
                                    str(v.n)] for k, v in result.paired.items()])
    md += f"\nBootstrap: {next(iter(result.summary)).score.resamples:,} seeded resamples of the neurons (percentile interval).\n\n"
    if any(s.confident is not None for s in result.summary):
        md += _confidence_table(result) + "\n"
    methods = result.info.explainers
    rows = []
    for neuron in result.neurons:
        cells = [neuron]
        for m in methods:
            r = next(r for r in result.runs if r.neuron == neuron and r.method == m)
            both = f"{fmt(r.score)} ({fmt(r.llm_score)})" if second else fmt(r.score)
            cells.append(f"{both} {report.short(r.text if r.text else r.error, 48)}")
        rows.append(cells)
    unit = "neuron" if result.dictionary is None else "latent"
    if second:
        md += f"Per {unit}: held-out score ({result.info.simulator}, then {second} in brackets) and the explanation.\n\n"
    md += report.table([unit, *methods], rows)
    md += "\n" + report.cost_table(result.info.totals)
    return md
