"""Overnight labelling. The store is the ledger of what is done (one upsert per neuron, keyed by
model, neuron, explainer and prompt version), so a batch killed at any moment and run again
continues without losing or duplicating anything. Failures are kept beside it with their reason."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Literal

from pydantic import BaseModel, Field

from autointerp.agent import AgentConfig, explain
from autointerp.agent.explain import PROMPT_VERSIONS
from autointerp.batch.failures import Failures
from autointerp.cache.view import open_layer
from autointerp.config import Settings, get_settings
from autointerp.errors import InputError
from autointerp.llm import LLM, make_llm
from autointerp.records import ExplainMethod, NeuronId, SimulatorName
from autointerp.targets import load_target
from autointerp.tools.triage import parse_range, triage

StopKind = Literal["complete", "budget", "interrupted"]


class BatchOptions(BaseModel):
    model: str | None = None
    layers: list[int]
    neurons: str | None = Field(default=None, description="a range like 0:1536 (end exclusive); default all")
    llm: str | None = None
    method: ExplainMethod = "agent"
    workers: int = Field(default=1, ge=1, le=64)
    budget_tokens: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, gt=0)
    triage_first: bool = False
    top: int | None = Field(default=None, ge=1, description="with triage_first: only the N most related")
    redo: bool = False
    retry_failed: bool = False
    max_steps: int = Field(default=8, ge=1)
    simulator: SimulatorName = "embedding"


class BatchSummary(BaseModel):
    model: str
    explainer: str
    prompt_version: str
    planned: int
    already_done: int
    skipped_failed: int
    done: int
    failed: int
    stopped: StopKind
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    seconds: float

    @property
    def neurons_per_hour(self) -> float:
        return 3600 * self.done / self.seconds if self.seconds > 0 else 0.0


def check(opts: BatchOptions, settings: Settings) -> range:
    """Fail on bad layers or ranges before anything is built or shown; the per-layer neuron range."""
    target = load_target(opts.model, settings)
    rng = parse_range(opts.neurons) if opts.neurons else range(target.d_mlp)
    for layer in opts.layers:
        target.check_layer(layer)
        if rng.start < 0 or rng.stop > target.d_mlp:
            raise InputError(f"--neurons {opts.neurons} is out of range: layer {layer} has 0..{target.d_mlp - 1}")
    return rng


def plan(opts: BatchOptions, settings: Settings) -> list[NeuronId]:
    """The neurons to explain, in order: index order, or most related first with triage_first."""
    rng = check(opts, settings)
    out: list[NeuronId] = []
    for layer in opts.layers:
        open_layer(layer, opts.model, None, settings)
        if opts.triage_first:
            rows = sorted(triage(layer, rng, model=opts.model, settings=settings).rows, key=lambda r: -r.relatedness)
            out += [NeuronId(layer=layer, index=r.index) for r in rows[: opts.top]]
        else:
            out += [NeuronId(layer=layer, index=i) for i in rng]
    return out


def over(opts: BatchOptions, tokens: int, cost: float | None) -> bool:
    """Has the batch spent its token or dollar budget?"""
    if opts.budget_tokens is not None and tokens >= opts.budget_tokens:
        return True
    return opts.budget_usd is not None and cost is not None and cost >= opts.budget_usd


class _Totals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prompt = self.completion = self.done = self.failed = 0
        self.cost: float | None = 0.0

    def add(self, prompt: int, completion: int, cost: float | None) -> None:
        with self.lock:
            self.prompt += prompt
            self.completion += completion
            self.cost = None if cost is None or self.cost is None else self.cost + cost


def run_batch(opts: BatchOptions, settings: Settings | None = None, store=None,
              on_progress: Callable[[dict], None] | None = None, stop: threading.Event | None = None) -> BatchSummary:
    """Explain every planned neuron not yet stored; stop cleanly at the budget or when `stop` is set."""
    from autointerp.store import open_store

    settings = settings or get_settings()
    store = store or open_store(settings)
    target = load_target(opts.model, settings)
    llm = None if opts.method == "heuristic" else make_llm(opts.llm, settings)
    explainer = llm.name if llm else "none"
    version = PROMPT_VERSIONS[opts.method]
    failures = Failures(settings, target.name, explainer, version)
    neurons = plan(opts, settings)
    done = [n for n in neurons if not opts.redo and store.has(target.name, str(n), explainer, version)]
    todo = [n for n in neurons if n not in set(done)]
    failed_before = failures.all()
    skipped = [n for n in todo if str(n) in failed_before and not opts.retry_failed]
    todo = [n for n in todo if n not in set(skipped)]
    totals, t0, stop = _Totals(), time.perf_counter(), stop or threading.Event()
    config = AgentConfig(max_steps=opts.max_steps)

    def over_budget() -> bool:
        return over(opts, totals.prompt + totals.completion, totals.cost)

    def one(n: NeuronId) -> None:
        # A fresh LLM per neuron over the shared chat model: its usage is this neuron's alone.
        own = LLM(llm.name, llm.chat, llm.price, endpoint=llm.endpoint) if llm else None
        try:
            rec = explain(n, target.name, own, opts.method, config, opts.simulator, settings, store=store)
            store.add(rec)
            failures.clear(str(n))
            totals.add(rec.prompt_tokens, rec.completion_tokens, rec.cost_usd)
            with totals.lock:
                totals.done += 1
        except Exception as e:  # noqa: BLE001 - recorded with its reason, retried with --retry-failed
            failures.record(str(n), f"{type(e).__name__}: {e}")
            if own is not None:
                totals.add(own.usage.prompt_tokens, own.usage.completion_tokens, own.usage.cost_usd)
            with totals.lock:
                totals.failed += 1
        if on_progress:
            on_progress({"neuron": str(n), "done": totals.done, "failed": totals.failed, "total": len(todo),
                         "tokens": totals.prompt + totals.completion, "cost_usd": totals.cost})

    stopped: StopKind = "complete"
    queue = list(todo)
    running: set[Future] = set()
    with ThreadPoolExecutor(max_workers=opts.workers) as pool:
        while queue or running:
            while queue and len(running) < opts.workers and not stop.is_set():
                if over_budget():
                    stopped = "budget"
                    queue.clear()
                    break
                running.add(pool.submit(one, queue.pop(0)))
            if stop.is_set() and stopped == "complete":
                stopped = "interrupted"
                queue.clear()
            if running:
                finished, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                running = set(running)
    if stopped == "complete" and over_budget() and (totals.done + totals.failed) < len(todo):
        stopped = "budget"
    return BatchSummary(model=target.name, explainer=explainer, prompt_version=version, planned=len(neurons),
                        already_done=len(done), skipped_failed=len(skipped), done=totals.done, failed=totals.failed,
                        stopped=stopped, prompt_tokens=totals.prompt, completion_tokens=totals.completion,
                        cost_usd=totals.cost, seconds=round(time.perf_counter() - t0, 2))
