"""Where a batch's neurons are explained: worker threads over one shared Workbench, or Ray actors
that each open their own. The driver (`autointerp.batch.run.run_batch`) plans, skips, budgets,
stops and reports; an executor only runs `label` on the neurons it is handed and hands back each
`Outcome`.

An executor is started once per batch (`start`), takes a neuron whenever `free()` says a worker is
idle (`submit`), returns finished outcomes from `collect` (waiting at most `timeout` seconds for
the first) and is closed after the running neurons finished (`close`)."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from autointerp.agent import AgentConfig, explain, get_explainer
from autointerp.batch.failures import Failures
from autointerp.batch.options import BatchOptions
from autointerp.config import Settings
from autointerp.errors import AutointerpError, InputError
from autointerp.llm import LLM, Usage, check_llm, make_llm
from autointerp.records import UnitId
from autointerp.workbench import Workbench


@dataclass(frozen=True)
class Outcome:
    """One neuron's result as the driver counts it: stored or failed, and what it spent."""

    neuron: str
    ok: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    error: str | None = None
    llm_seconds: float = 0.0  # waiting on the LLM, of the neuron's wall time


@dataclass(frozen=True)
class Job:
    """What every worker needs besides its workbench and store (picklable: Ray ships it to actors)."""

    opts: BatchOptions
    explainer: str
    prompt_version: str


def label(wb: Workbench, llm: LLM | None, neuron: UnitId | str, job: Job, store, failures: Failures) -> Outcome:
    """Explain one neuron and store the record (clearing an old failure), or record the failure with
    its reason. Never raises an Exception: a failed neuron is an outcome, retried with retry_failed."""
    name = str(neuron)
    spent = Usage()  # this neuron's calls alone, though the chat model is shared: a failed run's too
    try:
        rec = explain(wb, neuron, llm, job.opts.method, AgentConfig(max_steps=job.opts.max_steps),
                      job.opts.simulator, store=store, usage=spent)
        store.add(rec)
        failures.clear(name)
        return Outcome(name, True, rec.prompt_tokens, rec.completion_tokens, rec.cost_usd, llm_seconds=spent.seconds)
    except Exception as e:  # noqa: BLE001 - recorded with its reason, retried with retry_failed
        reason = f"{type(e).__name__}: {e}"
        failures.record(name, reason)
        return Outcome(name, False, spent.prompt_tokens, spent.completion_tokens, spent.cost_usd, error=reason,
                       llm_seconds=spent.seconds)


class Executor(Protocol):
    name: str

    def start(self, wb: Workbench, store, job: Job) -> None:
        """Make the workers (and their LLMs); `wb` and `store` are the driver's."""

    def free(self) -> int:
        """Workers idle now."""

    def running(self) -> int:
        """Neurons handed out and not yet collected."""

    def submit(self, neuron: UnitId) -> None:
        """Start explaining `neuron` on an idle worker."""

    def collect(self, timeout: float) -> list[Outcome]:
        """The neurons finished since the last call; waits up to `timeout` s for the first."""

    def close(self) -> None:
        """Wait for running neurons, then release the workers."""


def _llm(job: Job, settings: Settings) -> LLM | None:
    """A worker's LLM: made only when the batch's explainer needs one."""
    return make_llm(job.opts.llm, settings) if get_explainer(job.opts.method).needs_llm else None


def _workers(workers: int | None, opts: BatchOptions) -> int:
    n = opts.workers if workers is None else workers
    if not 1 <= n <= 64:
        raise InputError(f"workers must be between 1 and 64, got {n}")
    return n


class ThreadExecutor:
    """`workers` threads share the driver's Workbench, store and one LLM (model forwards are
    serialised by the target's lock; LLM calls and scoring overlap). `workers=None`: opts.workers."""

    name = "threads"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._running: set[Future] = set()

    def start(self, wb: Workbench, store, job: Job) -> None:
        self.workers = _workers(self.workers, job.opts)
        self._llm = _llm(job, wb.settings)
        self._args = (wb, store, job, Failures(wb.settings, wb.model, job.explainer, job.prompt_version))
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="batch")

    def free(self) -> int:
        return self.workers - len(self._running)

    def running(self) -> int:
        return len(self._running)

    def submit(self, neuron: UnitId) -> None:
        assert self._pool is not None, "start the executor first"
        wb, store, job, failures = self._args
        self._running.add(self._pool.submit(label, wb, self._llm, neuron, job, store, failures))

    def collect(self, timeout: float) -> list[Outcome]:
        if not self._running:
            return []
        finished, running = wait(self._running, timeout=timeout, return_when=FIRST_COMPLETED)
        self._running = set(running)
        return [f.result() for f in finished]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class _Actor:
    """One Ray worker: its own Workbench, store, failure ledger and LLM, opened once."""

    def __init__(self, settings: dict, model: str, corpus: str | None, job: Job) -> None:
        from autointerp.store import open_store  # Chroma: loaded where a store is opened

        if threading.current_thread() is threading.main_thread():
            # A Ctrl-C in the terminal reaches the whole process group: the driver decides what stops,
            # a worker always finishes its neuron.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.job = job
        self.wb = Workbench.open(model, corpus, Settings(**settings), progress=False)
        self.llm = _llm(job, self.wb.settings)
        self.store = open_store(self.wb.settings)
        self.failures = Failures(self.wb.settings, self.wb.model, job.explainer, job.prompt_version)

    def label(self, neuron: str) -> Outcome:
        return label(self.wb, self.llm, neuron, self.job, self.store, self.failures)


class RayExecutor:
    """One Ray actor per worker; each loads the target and LLM once and writes to the store itself
    (a Chroma server when the cluster spans machines). `address`: a running cluster (`ray start
    --head` prints it), or None / "local" for a Ray started (and shut down) here.
    `workers=None`: opts.workers."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.address = None if address in (None, "", "local") else address
        self.workers = workers
        self._idle: list = []
        self._pending: dict = {}  # object ref -> (actor, neuron)
        self._started_here = False

    def start(self, wb: Workbench, store, job: Job) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("Ray is not installed: pip install 'autointerp[ray]'") from None
        self.workers = _workers(self.workers, job.opts)
        if get_explainer(job.opts.method).needs_llm:
            check_llm(job.opts.llm, wb.settings)  # a bad spec or a missing key fails here, not in every actor
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=self.address, num_cpus=None if self.address else self.workers, include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
            self._started_here = True
        actor = ray.remote(num_cpus=1)(_Actor)
        settings = wb.settings.model_dump(mode="json")
        self._idle = [actor.remote(settings, wb.model, wb.corpus, job) for _ in range(self.workers)]

    def free(self) -> int:
        return len(self._idle)

    def running(self) -> int:
        return len(self._pending)

    def submit(self, neuron: UnitId) -> None:
        actor = self._idle.pop()
        self._pending[actor.label.remote(str(neuron))] = (actor, str(neuron))

    def collect(self, timeout: float) -> list[Outcome]:
        if not self._pending:
            return []
        ray = self._ray
        ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready:  # and whatever else is finished by now
            ready, _ = ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
        out = []
        for ref in ready:
            actor, neuron = self._pending.pop(ref)
            try:
                out.append(ray.get(ref))
                self._idle.append(actor)
            except ray.exceptions.RayError as e:  # the worker died (killed, out of memory, failed to start)
                # counted as failed but kept out of the failure ledger: the neuron itself may be fine
                reason = f"{type(e).__name__}: {e}"
                out.append(Outcome(neuron, False, error=reason))
                if not self._idle and not self._pending:
                    raise AutointerpError(f"every Ray worker died; the last: {reason}") from None
        return out

    def close(self) -> None:
        if not hasattr(self, "_ray"):
            return
        try:
            if self._pending:
                self._ray.wait(list(self._pending), num_returns=len(self._pending))
        finally:
            self._idle, self._pending = [], {}
            if self._started_here:
                self._ray.shutdown()
                self._started_here = False
