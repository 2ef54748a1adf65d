"""Where a batch's neurons are explained: worker threads over one shared Workbench, or Ray actors
that each open their own. The driver (`autointerp.batch.run.run_batch`) plans, skips, budgets,
stops and reports; an executor only runs `label` on the neurons it is handed and hands back each
`Outcome`.

An executor is started once per batch (`start`), takes a neuron whenever `free()` says a worker is
idle (`submit`), returns finished outcomes from `collect` (waiting at most `timeout` seconds for
the first) and is closed after the running neurons finished (`close`).

Ray workers are replaced when their process dies (Ray's `max_restarts`), and the unit a dead worker
held is tried again on another worker, up to `ATTEMPTS` times in all; a unit that kills its worker
every time (out of memory, a crash) is then a failure like any other, with that reason, in the
driver's failure ledger."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from autointerp.agent import AgentConfig, explain, get_explainer
from autointerp.batch.failures import Failures
from autointerp.batch.options import BatchOptions
from autointerp.config import Settings
from autointerp.errors import AutointerpError, InputError, StoreError
from autointerp.llm import LLM, Usage, check_llm, make_llm
from autointerp.memory import give_back
from autointerp.records import UnitId
from autointerp.workbench import Workbench

ATTEMPTS = 3  # tries of a unit whose Ray worker died under it
RESTARTS = 8  # times Ray replaces one worker's dead process before that worker is gone for good


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
    fatal: bool = False  # the store failed, not the unit: the batch stops, and the unit is not a failure
    stage: str | None = None  # a composite explainer's stage that answered (the cascade: heuristic or agent)
    seconds: float = 0.0  # the unit's wall time in its worker


@dataclass(frozen=True)
class Job:
    """What every worker needs besides its workbench and store (picklable: Ray ships it to actors)."""

    opts: BatchOptions
    explainer: str
    prompt_version: str


def label(wb: Workbench, llm: LLM | None, neuron: UnitId | str, job: Job, store, failures: Failures | None,
          again: bool = False) -> Outcome:
    """Explain one neuron and store the record (clearing an old failure), or record the failure with
    its reason. Never raises an Exception: a failed neuron is an outcome, retried with retry_failed; a
    store that fails is a fatal outcome (the batch stops; the neuron is not a failure).
    `failures`: None when the caller keeps the ledger. `again`: a try after a worker died under it,
    which may have stored the record already (then it is not explained twice)."""
    name = str(neuron)
    spent = Usage()  # this neuron's calls alone, though the chat model is shared: a failed run's too
    t0 = time.perf_counter()
    try:
        if again and not job.opts.redo and store.has(wb.model, name, job.explainer, job.prompt_version):
            return Outcome(name, True)
        rec = explain(wb, neuron, llm, job.opts.method, AgentConfig(max_steps=job.opts.max_steps),
                      job.opts.simulator, store=store, usage=spent)
        store.add(rec)
        if failures is not None:
            failures.clear(name)
        return Outcome(name, True, rec.prompt_tokens, rec.completion_tokens, rec.cost_usd, llm_seconds=spent.seconds,
                       stage=rec.stage, seconds=time.perf_counter() - t0)
    except StoreError as e:
        return Outcome(name, False, spent.prompt_tokens, spent.completion_tokens, spent.cost_usd, error=str(e),
                       llm_seconds=spent.seconds, fatal=True)
    except Exception as e:  # noqa: BLE001 - recorded with its reason, retried with retry_failed
        reason = f"{type(e).__name__}: {e}"
        if failures is not None:
            failures.record(name, reason)
        return Outcome(name, False, spent.prompt_tokens, spent.completion_tokens, spent.cost_usd, error=reason,
                       llm_seconds=spent.seconds)
    finally:
        give_back()  # glibc keeps what MiniLM's batches of ever-different shapes freed


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
    """One Ray worker: its own Workbench, store and LLM, opened once (the driver keeps the failure ledger)."""

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

    def ready(self) -> bool:
        """Answers once this worker (a restarted one too) has opened everything."""
        return True

    def label(self, neuron: str, again: bool = False) -> Outcome:
        return label(self.wb, self.llm, neuron, self.job, self.store, None, again)


def _died(e: Exception) -> str:
    """Why a worker died, in one line: Ray's error type and the exit detail it gives (a worker whose process
    just ended gives none: only that its connection closed)."""
    text = " ".join(str(e).split())
    detail = text.partition("Worker exit detail:")[2].strip()
    if not detail and type(e).__name__ == "ActorUnavailableError":
        detail = "its process ended or its node went away (killed, out of memory, crashed or unreachable)"
    return f"{type(e).__name__}: {(detail or text)[:300]}"


class RayExecutor:
    """One Ray actor per worker; each loads the target and LLM once and writes to the store itself
    (a Chroma server when the cluster spans machines). `address`: a running cluster (`ray start
    --head` prints it), or None / "local" for a Ray started (and shut down) here.
    `workers=None`: opts.workers. `notify` hears, in one line each, of a worker that died and the unit
    tried again; `attempts`: tries of a unit whose worker died under it."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 notify: Callable[[str], None] | None = None, attempts: int = ATTEMPTS) -> None:
        self.address = None if address in (None, "", "local") else address
        self.workers = workers
        self.notify = notify or (lambda message: None)
        self.attempts = attempts
        self._idle: list = []
        self._pending: dict = {}  # object ref -> (actor, neuron)
        self._restarting: dict = {}  # ready() ref -> a worker whose process died, idle again once Ray restarted it
        self._again: list[str] = []  # units whose worker died under them: handed out before any new one
        self._tries: dict[str, int] = {}
        self._gone = ""  # why the last worker gone for good went
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
        # Ray restarts a worker whose process died; the unit it held is tried again here (max_task_retries=0),
        # where the driver counts the tries and keeps the failure ledger
        actor = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=0)(_Actor)
        self._failures = Failures(wb.settings, wb.model, job.explainer, job.prompt_version)
        settings = wb.settings.model_dump(mode="json")
        self._idle = [actor.remote(settings, wb.model, wb.corpus, job) for _ in range(self.workers)]

    def free(self) -> int:
        return max(0, len(self._idle) - len(self._again))

    def running(self) -> int:
        return len(self._pending) + len(self._again)

    def submit(self, neuron: UnitId) -> None:
        self._send(str(neuron))

    def _send(self, neuron: str) -> None:
        actor = self._idle.pop()
        self._pending[actor.label.remote(neuron, neuron in self._tries)] = (actor, neuron)

    def collect(self, timeout: float) -> list[Outcome]:
        if not (self._idle or self._pending or self._restarting):  # and the driver has units left
            raise AutointerpError(f"every Ray worker died; the last: {self._gone}")
        self._send_again()
        waiting = [*self._pending, *self._restarting]
        if not waiting:
            return []
        ray = self._ray
        ready, _ = ray.wait(waiting, num_returns=1, timeout=timeout)
        if ready:  # and whatever else is finished by now
            ready, _ = ray.wait(waiting, num_returns=len(waiting), timeout=0)
        out = []
        for ref in ready:
            if ref in self._restarting:
                self._restarted(ref)
            elif (outcome := self._finished(ref)) is not None:
                out.append(outcome)
        self._send_again()
        return out

    def _finished(self, ref) -> Outcome | None:
        actor, neuron = self._pending.pop(ref)
        try:
            outcome = self._ray.get(ref)
        except self._ray.exceptions.RayError as e:  # the worker died under it (killed, out of memory, node lost)
            return self._died_under(actor, neuron, _died(e))
        self._idle.append(actor)
        if not outcome.fatal:  # the ledger --retry-failed reads is the driver's, whichever node ran the unit
            if outcome.ok:
                self._failures.clear(neuron)
            else:
                self._failures.record(neuron, outcome.error or "")
        return outcome

    def _died_under(self, actor, neuron: str, reason: str) -> Outcome | None:
        """The worker comes back once Ray has restarted it; the unit is tried again, or after its last try
        is a failure with the reason."""
        self._restarting[actor.ready.options(max_task_retries=-1).remote()] = actor
        tries = self._tries[neuron] = self._tries.get(neuron, 0) + 1
        if tries < self.attempts:
            self._again.append(neuron)
            self.notify(f"{neuron}: its Ray worker died ({reason}); trying it again ({tries + 1} of {self.attempts})")
            return None
        reason = f"its Ray worker died each of the {tries} times it was tried; the last time: {reason}"
        self._failures.record(neuron, reason)
        return Outcome(neuron, False, error=reason)

    def _restarted(self, ref) -> None:
        actor = self._restarting.pop(ref)
        try:
            self._ray.get(ref)
        except self._ray.exceptions.RayError as e:  # restarted too often, or it cannot start at all
            self._gone = _died(e)
            self.notify(f"a Ray worker is gone for good ({self._gone})")
            return
        self._idle.append(actor)

    def _send_again(self) -> None:
        while self._again and self._idle:
            self._send(self._again.pop(0))

    def close(self) -> None:
        if not hasattr(self, "_ray"):
            return
        try:
            if self._pending:
                self._ray.wait(list(self._pending), num_returns=len(self._pending))
        finally:
            self._idle, self._pending, self._restarting, self._again = [], {}, {}, []
            if self._started_here:
                self._ray.shutdown()
                self._started_here = False
