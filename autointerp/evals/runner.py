"""Run the chosen explainers on a neuron and keep what each cost; shared by every eval."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel
from rich.console import Console

from autointerp.agent import AgentConfig, ExplanationFailed, explain, explainers, get_explainer
from autointerp.agent.explainers import needs_llm as explainers_need_llm
from autointerp.cache.build import build_cache
from autointerp.config import Settings
from autointerp.errors import CacheError
from autointerp.evals import report
from autointerp.evals.journal import Journal
from autointerp.evals.records import EvalName, ExplainerRun, ExplainerTotals, RunInfo
from autointerp.llm import LLM, Usage, make_llm
from autointerp.progress import ExplainStatus, live
from autointerp.records import ExplainMethod, SimulatorName
from autointerp.scoring.simulators import needs_llm as simulator_needs_llm
from autointerp.targets import UnitSource
from autointerp.workbench import Workbench

R = TypeVar("R", bound=BaseModel)


def needs_llm(methods: Sequence[ExplainMethod], simulator: SimulatorName) -> bool:
    return explainers_need_llm(list(methods)) or simulator_needs_llm(simulator)


def open_llm(spec: str | None, methods: Sequence[ExplainMethod], simulator: SimulatorName,
             settings: Settings) -> LLM | None:
    return make_llm(spec, settings) if needs_llm(methods, simulator) else None


def run_explainer(wb: Workbench, neuron: str, method: ExplainMethod, llm: LLM | None, config: AgentConfig,
                  simulator: SimulatorName, console: Console | None = None) -> ExplainerRun:
    """One explanation and its held-out score; an explainer that yields nothing is recorded, not raised.
    With a console, a live status line (step, tool, best validation score, tokens) while it runs."""
    explainer = get_explainer(method)
    start = time.perf_counter()
    chat = llm if explainer.needs_llm or simulator_needs_llm(simulator) else None
    status = ExplainStatus(f"{neuron} {method}", Usage(), phase="starting")
    try:
        with live(status, console) as on_event:
            rec = explain(wb, neuron, chat, explainer, config, simulator, usage=status.usage, on_event=on_event)
    except ExplanationFailed as e:
        return ExplainerRun(neuron=neuron, method=method, explainer=llm.name if chat else "none",
                            prompt_version=explainer.prompt_version, error=str(e),
                            seconds=round(time.perf_counter() - start, 2))
    return ExplainerRun(
        neuron=neuron, method=method, text=rec.text, triggers=rec.triggers, score=rec.score, explainer=rec.explainer,
        prompt_version=rec.prompt_version, steps=rec.steps, confident=rec.confident, prompt_tokens=rec.prompt_tokens,
        completion_tokens=rec.completion_tokens, cost_usd=rec.cost_usd, promoted_tokens=rec.evidence.promoted_tokens,
        seconds=round(time.perf_counter() - start, 2))


def run_all(wb: Workbench, neuron: str, methods: Sequence[ExplainMethod], llm: LLM | None, config: AgentConfig,
            simulator: SimulatorName, console: Console | None = None,
            journal: Journal | None = None) -> list[ExplainerRun]:
    """Each explainer on the workbench's neuron; runs already in the journal are taken from it, new ones added."""
    runs = []
    for m in methods:
        r = journal.get(neuron, m) if journal is not None else None
        resumed = r is not None
        if r is None:
            r = run_explainer(wb, neuron, m, llm, config, simulator, console)
            if journal is not None:
                journal.add(r)
        if console is not None:
            what = f"error: {r.error}" if r.error else f"{report.fmt(r.score)} {r.text!r}"
            note = " (from the journal)" if resumed else ""
            console.print(f"  {neuron} {m:<9} {r.seconds:6.1f}s{note}  {what}", highlight=False, markup=False)
        runs.append(r)
    return runs


def open_journal(out: Path, eval_name: str, **key) -> Journal:
    """The eval's journal in its output folder, keyed by what decides its runs (and the registered
    explainers' prompt versions)."""
    prompts = {e.name: e.prompt_version for e in explainers()}
    return Journal(out / f".{eval_name}.journal.jsonl", {"eval": eval_name, "prompts": prompts, **key})


def totals(runs: Sequence[ExplainerRun], methods: Sequence[ExplainMethod]) -> list[ExplainerTotals]:
    out = []
    for m in methods:
        rs = [r for r in runs if r.method == m]
        costs = [r.cost_usd for r in rs]
        out.append(ExplainerTotals(
            method=m, runs=len(rs), failures=sum(r.error is not None for r in rs),
            prompt_version=get_explainer(m).prompt_version, prompt_tokens=sum(r.prompt_tokens for r in rs),
            completion_tokens=sum(r.completion_tokens for r in rs),
            cost_usd=None if any(c is None for c in costs) else round(sum(costs), 6),  # type: ignore[arg-type]
            seconds=round(sum(r.seconds for r in rs), 1)))
    return out


def run_info(eval_name: EvalName, command: str, model: str, llm: LLM | None, simulator: SimulatorName,
             methods: Sequence[ExplainMethod], max_steps: int, cache_tokens: dict[int, int], settings: Settings,
             started: float, journal: Journal | None, runs: Sequence[ExplainerRun]) -> RunInfo:
    """The header of an eval's result: what ran, with what, for how long (from `started`,
    a perf_counter reading), and what each explainer cost."""
    return RunInfo(eval=eval_name, command=command, model=model, llm=llm.name if llm else None, simulator=simulator,
                   explainers=list(methods), max_steps=max_steps, cache_tokens=cache_tokens, seed=settings.seed,
                   seconds=round(time.perf_counter() - started, 1), resumed_runs=journal.resumed if journal else 0,
                   totals=totals(runs, methods))


def ensure_caches(wb: Workbench, layers: Sequence[int | UnitSource], console: Console | None = None) -> dict[int, int]:
    """Build the workbench's missing caches (a number: that layer's neurons; or unit sources) in one pass
    (settings.tokens); keep complete ones whatever their budget (building a smaller one would replace
    them). Returns layer -> cached tokens."""
    sources = {s.id: s for s in (wb.target.neurons(x) if isinstance(x, int) else x for x in layers)}
    missing = []
    for src in sources.values():
        try:
            wb.cache(src, build=False)
        except CacheError:
            missing.append(src)
    if missing:
        build_cache([src.layer if src.kind == "neuron" else src for src in missing], model=wb.model,
                    corpus=wb.corpus, settings=wb.settings, console=console, progress=console is not None)
        for src in missing:
            wb.forget(src.layer)
    return {src.layer: wb.cache(src, build=False).n_tokens for src in sorted(sources.values(), key=lambda s: s.layer)}


def finish(result: R, markdown: str, name: str, out: Path | None, journal: Journal | None) -> tuple[R, str]:
    """Write the result (when `out` is given), then drop the journal it no longer needs."""
    if out is not None:
        report.write(result, markdown, name, out)
    if journal is not None:
        journal.close()
    return result, markdown
