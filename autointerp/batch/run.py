"""Overnight labelling. The store is the ledger of what is done (one upsert per neuron, keyed by
model, neuron, explainer and prompt version), so a batch killed at any moment and run again
continues without losing or duplicating anything. Failures are kept beside it with their reason. A
store that fails (a Chroma server gone past its retries) is no unit's failure: the batch stops with
one StoreError, and the same command continues once the store answers.

One driver, `run_batch`, plans, skips what is stored (and what failed before), hands neurons to an
executor (`ThreadExecutor`, or `RayExecutor` to scale out), stops at the budget or when `stop` is
set (no new neuron starts; running ones finish), reports progress and returns the summary. A
dictionary's dead and rare latents (`records.unit_activity`) are not explained: each is recorded
with its figures (`failures.Skips`) and counted in the summary, on every run alike.

Two batches never do the same work at once: each layer a batch covers is locked for its model,
explainer and prompt version (`<data dir>/batch/<model>-<explainer>-<version>-layerNN.lock`, an OS
file lock taken without waiting); a second batch on any of those layers fails at once with
`BatchBusy`. The OS drops the lock with the process, so a batch killed with `kill -9` leaves only
a harmless file behind and the next run takes the lock as usual."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Literal

from filelock import FileLock, Timeout
from pydantic import BaseModel

from autointerp.agent.explainers import get_explainer
from autointerp.batch.executors import Executor, Job, Outcome, ThreadExecutor
from autointerp.batch.failures import Failures, Skips
from autointerp.batch.options import BatchOptions
from autointerp.config import Settings
from autointerp.errors import AutointerpError, InputError, StoreError
from autointerp.llm import llm_name
from autointerp.ranges import check_within, parse_indices
from autointerp.records import SkippedUnit, UnitId
from autointerp.targets import UnitSource
from autointerp.tools.triage import triage
from autointerp.workbench import Workbench

StopKind = Literal["complete", "budget", "interrupted"]


class BatchBusy(AutointerpError):
    """Another batch (in this or another process) is explaining the same layer with the same
    model, explainer and prompt version."""


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
    executor: str = "threads"
    llm_seconds: float = 0.0  # summed over neurons: with several workers it can exceed `seconds`
    skipped_dead: int = 0  # latents that never fire: recorded (`Skips`), never explained
    skipped_rare: int = 0  # latents firing in too few windows to fill the explainer's and scoring's windows
    stages: dict[str, int] = {}  # a composite explainer's (the cascade's) units stored, by the stage that answered
    stage_seconds: dict[str, float] = {}  # their summed wall time in the workers, by stage

    @property
    def neurons_per_hour(self) -> float:
        return 3600 * self.done / self.seconds if self.seconds > 0 else 0.0


def sources(opts: BatchOptions, wb: Workbench) -> list[UnitSource]:
    """The unit sources the batch covers: each layer's neurons, or the dictionary's latents."""
    if opts.dictionary is None:
        for layer in opts.layers:
            wb.target.check_layer(layer)
        return [wb.target.neurons(layer) for layer in opts.layers]
    from autointerp.dictionaries import open_dictionary

    src = open_dictionary(wb.target, opts.dictionary)
    if opts.layers and opts.layers != [src.layer]:
        raise InputError(f"the dictionary {opts.dictionary!r} reads layer {src.layer}; its latents are not on "
                         f"layers {','.join(map(str, opts.layers))}")
    return [src]


def check(opts: BatchOptions, wb: Workbench) -> list[int]:
    """Fail on bad layers, dictionaries or unit indices before anything is built or shown; the unit
    indices taken in every source."""
    n_units = min(src.n_units for src in sources(opts, wb))
    if opts.neurons is None:
        return list(range(n_units))
    return check_within(parse_indices(opts.neurons, "neurons"), n_units,
                        "neuron" if opts.dictionary is None else "latent")


def plan(opts: BatchOptions, wb: Workbench) -> list[UnitId]:
    """The units to explain, in order: index order, or most related first with triage_first.
    Opens (building when missing) every source's cache first, so workers only read them."""
    indices = check(opts, wb)
    out: list[UnitId] = []
    for src in sources(opts, wb):
        wb.cache(src)
        if opts.triage_first:
            rows = triage(wb, src.layer, indices, dictionary=src.dictionary).rows
            out += [src.unit(r.index) for r in sorted(rows, key=lambda r: -r.relatedness)[: opts.top]]
        else:
            out += [src.unit(i) for i in indices]
    return out


def dead_or_rare(wb: Workbench, units: list[UnitId], ledger: Skips) -> dict[str, SkippedUnit]:
    """The latents among `units` that are dead or rare (`LayerCache.firing`), each recorded in the
    ledger; a live one's old record is cleared. Neurons are never skipped: a batch of them is as it was."""
    out: dict[str, SkippedUnit] = {}
    for u in units:
        if u.dictionary is None:
            continue
        f = wb.cache(u).firing(u.index)
        if f.activity == "live":
            ledger.clear(str(u))
            continue
        out[str(u)] = skip = SkippedUnit(unit=str(u), reason=f.activity, frequency=f.frequency,
                                         windows_firing=f.windows_firing, min_windows=f.min_windows)
        ledger.record(skip)
    return out


def explainer_name(opts: BatchOptions, settings: Settings) -> str:
    """The explainer records carry, without making the LLM: "none" for an explainer that needs none."""
    return llm_name(opts.llm or settings.llm) if get_explainer(opts.method).needs_llm else "none"


@contextmanager
def layer_locks(settings: Settings, model: str, explainer: str, version: str, layers: list[int],
                dictionary: str | None = None):
    """Hold one non-blocking OS file lock per layer (or the dictionary's: its own lock) for the
    batch's duration; BatchBusy at once when another batch holds any of them. Locks are taken in
    layer order and dropped together."""
    folder = settings.data_dir / "batch"
    held = []
    try:
        for layer in sorted(set(layers)):
            path = settings.layout.batch_lock(folder, model, explainer, version, layer, dictionary)
            lock = FileLock(str(path))
            try:
                folder.mkdir(parents=True, exist_ok=True)
                lock.acquire(blocking=False)
            except Timeout:
                what = f"layer {layer}" if dictionary is None else f"the latents of {layer}-{dictionary}"
                raise BatchBusy(f"another batch is already explaining {what} of {model} with {explainer} "
                                f"({version}); wait for it to finish or stop it (lock {path})") from None
            except OSError as e:
                raise InputError(f"cannot lock {path}: {(e.strerror or type(e).__name__).lower()}") from None
            held.append(lock)
        yield
    finally:
        for lock in reversed(held):
            lock.release()


def check_free(opts: BatchOptions, wb: Workbench) -> None:
    """BatchBusy now when another batch holds any of the layers (for a caller that wants to say so
    before it shows anything; `run_batch` takes the locks for real, and holds them)."""
    with layer_locks(wb.settings, wb.model, explainer_name(opts, wb.settings),
                     get_explainer(opts.method).prompt_version, _layers(opts, wb), opts.dictionary):
        pass


def _layers(opts: BatchOptions, wb: Workbench) -> list[int]:
    return [src.layer for src in sources(opts, wb)]


def over(opts: BatchOptions, tokens: int, cost: float | None) -> bool:
    """Has the batch spent its token or dollar budget?"""
    if opts.budget_tokens is not None and tokens >= opts.budget_tokens:
        return True
    return opts.budget_usd is not None and cost is not None and cost >= opts.budget_usd


class _Totals:
    def __init__(self) -> None:
        self.prompt = self.completion = self.done = self.failed = 0
        self.cost: float | None = 0.0
        self.llm_seconds = 0.0
        self.stages: dict[str, int] = {}
        self.stage_seconds: dict[str, float] = {}

    def add(self, o: Outcome) -> None:
        if o.ok and o.stage is not None:
            self.stages[o.stage] = self.stages.get(o.stage, 0) + 1
            self.stage_seconds[o.stage] = round(self.stage_seconds.get(o.stage, 0.0) + o.seconds, 2)
        self.prompt += o.prompt_tokens
        self.completion += o.completion_tokens
        self.llm_seconds += o.llm_seconds
        self.cost = None if o.cost_usd is None or self.cost is None else self.cost + o.cost_usd
        self.done += o.ok
        self.failed += not o.ok

    @property
    def tokens(self) -> int:
        return self.prompt + self.completion


def run_batch(opts: BatchOptions, settings: Settings | None = None, store=None,
              on_progress: Callable[[dict], None] | None = None, stop: threading.Event | None = None,
              executor: Executor | None = None, wb: Workbench | None = None) -> BatchSummary:
    """Explain every planned neuron not yet stored on `executor` (default `ThreadExecutor()`, with
    opts.workers threads). Stops cleanly at the budget, or when `stop` is set: no new neuron starts,
    the running ones finish and are stored, and the summary says "interrupted".

    `wb`: the workbench to plan on (and, with threads, to explain on); default one opened for
    opts.model and opts.corpus (Ray workers open the workbench's model and corpus). `store`: default
    the settings' store (Ray workers always open the settings' store).
    `on_progress` is called in the calling thread after each neuron with
    {neuron, done, failed, total, tokens, cost_usd}."""
    from autointerp.store import open_store

    if wb is None:
        wb = Workbench.open(opts.model, opts.corpus, settings=settings)
    elif opts.model is not None and opts.model != wb.model:
        raise InputError(f"the batch is for {opts.model} but the workbench holds {wb.model}")
    elif opts.corpus is not None and opts.corpus != wb.corpus:
        raise InputError(f"the batch is for corpus {opts.corpus} but the workbench reads "
                         f"{wb.corpus or 'the default corpus'}")
    settings = wb.settings
    store = store or open_store(settings)
    executor = executor or ThreadExecutor()
    stop = stop or threading.Event()
    explainer, version = explainer_name(opts, settings), get_explainer(opts.method).prompt_version
    check(opts, wb)
    with layer_locks(settings, wb.model, explainer, version, _layers(opts, wb), opts.dictionary):
        return _run(opts, wb, store, executor, stop, explainer, version, on_progress)


def _run(opts: BatchOptions, wb: Workbench, store, executor: Executor, stop: threading.Event, explainer: str,
         version: str, on_progress: Callable[[dict], None] | None) -> BatchSummary:
    settings = wb.settings
    totals, stopped, fatal = _Totals(), "complete", ""
    try:
        executor.start(wb, store, Job(opts, explainer, version))
        neurons = plan(opts, wb)
        done = {str(n) for n in neurons if not opts.redo and store.has(wb.model, str(n), explainer, version)}
        idle = dead_or_rare(wb, [n for n in neurons if str(n) not in done], Skips(settings, wb.model))
        failed_before = Failures(settings, wb.model, explainer, version).all()
        skipped = {str(n) for n in neurons if str(n) not in done and str(n) not in idle
                   and str(n) in failed_before and not opts.retry_failed}
        queue = [n for n in neurons if str(n) not in done and str(n) not in idle and str(n) not in skipped]
        total, t0 = len(queue), time.perf_counter()
        while queue or executor.running():
            while queue and executor.free() > 0 and not stop.is_set():
                if over(opts, totals.tokens, totals.cost):
                    stopped = "budget"
                    queue.clear()
                    break
                executor.submit(queue.pop(0))
            if stop.is_set() and queue:
                stopped = "interrupted"
                queue.clear()
            for outcome in executor.collect(timeout=0.2):
                if outcome.fatal:  # the store failed, not the unit: nothing starts after it, the batch ends with it
                    fatal = fatal or outcome.error or "the store failed"
                    queue.clear()
                    continue
                totals.add(outcome)
                if on_progress:
                    on_progress({"neuron": outcome.neuron, "done": totals.done, "failed": totals.failed,
                                 "total": total, "tokens": totals.tokens, "cost_usd": totals.cost})
    finally:
        executor.close()
    if fatal:  # every record stored so far is whole, and a rerun skips them
        raise StoreError(f"the batch stopped: {fatal}; {totals.done} stored by this run, nothing lost: rerun the same "
                         f"command once the store answers again")
    if stopped == "complete" and over(opts, totals.tokens, totals.cost) and totals.done + totals.failed < total:
        stopped = "budget"
    return BatchSummary(model=wb.model, explainer=explainer, prompt_version=version, planned=len(neurons),
                        already_done=len(done), skipped_failed=len(skipped), done=totals.done, failed=totals.failed,
                        stopped=stopped, prompt_tokens=totals.prompt, completion_tokens=totals.completion,
                        cost_usd=totals.cost, seconds=round(time.perf_counter() - t0, 2), executor=executor.name,
                        llm_seconds=totals.llm_seconds, stages=totals.stages, stage_seconds=totals.stage_seconds,
                        skipped_dead=sum(s.reason == "dead" for s in idle.values()),
                        skipped_rare=sum(s.reason == "rare" for s in idle.values()))
