"""The model's own worker thread in `autointerp serve`: probe and effects requests queue here, so
the event loop and the request threads that serve pages and search never wait behind the model.

Probes of one unit source (a layer's neurons, a dictionary) waiting together run as one batched
forward (the model reads every unit of a source in one pass), each request getting its own records
back. The queue is bounded: a full one refuses at once (`Full`, a 429 with Retry-After) instead of
queueing without end."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from autointerp.errors import AutointerpError
from autointerp.records import UnitId
from autointerp.tools.probe import ProbeResult, encode_texts, make_record, run_ids
from autointerp.workbench import Workbench

CAPACITY = 64  # requests waiting for the model; one more is refused with 429
MAX_TEXTS = 128  # texts gathered into one batched probe


class Full(Exception):
    """The model's queue is full: try again after `retry_after` seconds."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"the model is busy: {waiting} requests are waiting for it; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Job:
    future: Future
    unit: UnitId | None = None  # a probe's unit, else None for a call
    texts: list[str] = field(default_factory=list)
    fn: Callable[[], object] | None = None


class ModelWorker:
    """One thread running every model request of the server, in order, probes batched per source."""

    def __init__(self, wb: Workbench, capacity: int = CAPACITY, max_texts: int = MAX_TEXTS) -> None:
        self.wb, self.capacity, self.max_texts = wb, capacity, max_texts
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._per_job = 0.05  # seconds per request, a running average: the Retry-After estimate
        self.submitted = 0  # requests queued so far
        self.forwards = 0  # batched probe runs so far: fewer than the probes when they were batched
        self._thread = threading.Thread(target=self._loop, name="autointerp-model", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Requests queued and not yet taken by the worker."""
        with self._cond:
            return len(self._jobs)

    def probe(self, unit: UnitId, texts: list[str]) -> Future:
        """A Future of the unit's ProbeResult on `texts` (an InputError for a bad text); Full when full."""
        return self._submit(_Job(Future(), unit=unit, texts=list(texts)))

    def call(self, fn: Callable[[], object]) -> Future:
        """A Future of fn() run on the model's thread (effects); Full when the queue is."""
        return self._submit(_Job(Future(), fn=fn))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    def _submit(self, job: _Job) -> Future:
        with self._cond:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            if len(self._jobs) >= self.capacity:
                raise Full(len(self._jobs), max(1, math.ceil(len(self._jobs) * self._per_job)))
            self._jobs.append(job)
            self.submitted += 1
            self._cond.notify()
        return job.future

    def _take(self) -> list[_Job] | None:
        """The oldest request, with every queued probe of the same source (up to max_texts texts)."""
        with self._cond:
            while not self._jobs and not self._closed:
                self._cond.wait()
            if self._closed:
                for job in self._jobs:
                    job.future.cancel()
                return None
            first = self._jobs.popleft()
            if first.unit is None:
                return [first]
            group, n, source = [first], len(first.texts), first.unit.source_id
            for job in list(self._jobs):
                if job.unit is not None and job.unit.source_id == source and n + len(job.texts) <= self.max_texts:
                    self._jobs.remove(job)
                    group.append(job)
                    n += len(job.texts)
            return group

    def _loop(self) -> None:
        while (group := self._take()) is not None:
            group = [j for j in group if j.future.set_running_or_notify_cancel()]  # skip abandoned ones
            if not group:
                continue
            t = time.perf_counter()
            try:
                if group[0].unit is None:
                    group[0].future.set_result(group[0].fn())
                else:
                    self._probe(group)
            except Exception as e:  # noqa: BLE001 - told to every request still waiting; the thread goes on
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(e)
            self._per_job = 0.8 * self._per_job + 0.2 * (time.perf_counter() - t) / len(group)

    def _probe(self, group: list[_Job]) -> None:
        """One forward for the texts of every request in `group`, split back per request."""
        target = self.wb.target
        ready: list[tuple[_Job, list[list[int]]]] = []
        for job in group:
            try:
                ready.append((job, encode_texts(target, job.texts)))
            except AutointerpError as e:
                job.future.set_exception(e)
        if not ready:
            return
        acts = run_ids(target, [s for _, job_seqs in ready for s in job_seqs], self.wb.source(ready[0][0].unit))
        self.forwards += 1
        at = 0
        for job, job_seqs in ready:
            mine, at = acts[at:at + len(job_seqs)], at + len(job_seqs)
            job.future.set_result(ProbeResult(neuron=str(job.unit), model=target.name, records=[
                make_record(target, s, a[:, job.unit.index].tolist()) for s, a in zip(job_seqs, mine)]))
