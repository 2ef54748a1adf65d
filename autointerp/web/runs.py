"""Explain runs started from the page: one background thread each, at most one per neuron, their
transcript events kept in memory as they happen (explain's `on_event`) so any number of pages can
stream them (SSE)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from autointerp.agent import transcript as tr

Job = Callable[[Callable[[tr.Event], None]], tuple[dict, str | None]]


class Busy(Exception):
    """A run for this neuron is going already."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"an explain run for {run.neuron} of {run.model} is already going ({run.id})")
        self.run = run


@dataclass
class Run:
    id: str
    model: str
    neuron: str
    method: str
    llm: str | None
    status: str = "running"  # running | done | failed
    events: list[dict] = field(default_factory=list)
    record: dict | None = None
    stored_id: str | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def info(self) -> dict:
        return {"run": self.id, "model": self.model, "neuron": self.neuron, "method": self.method, "llm": self.llm,
                "status": self.status, "events": len(self.events), "stored_id": self.stored_id, "error": self.error,
                "record": self.record, "started": self.started, "finished": self.finished,
                "stream": f"/api/runs/{self.id}/events"}


class Runs:
    """Every run of this server process, and which neuron has one going."""

    def __init__(self, view: Callable[[tr.Event], dict]) -> None:
        self._view = view
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._active: dict[tuple[str, str], str] = {}

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def active(self, model: str, neuron: str) -> Run | None:
        with self._lock:
            rid = self._active.get((model, neuron))
            return self._runs[rid] if rid else None

    def start(self, model: str, neuron: str, method: str, llm: str | None,
              job: Job) -> Run:
        """Run `job(on_event)` (returns the record as JSON and its store id) in a thread; Busy when
        this neuron has a run going."""
        with self._lock:
            rid = self._active.get((model, neuron))
            if rid is not None:
                raise Busy(self._runs[rid])
            run = Run(id=uuid.uuid4().hex[:12], model=model, neuron=neuron, method=method, llm=llm)
            self._runs[run.id] = run
            self._active[(model, neuron)] = run.id
        threading.Thread(target=self._work, args=(run, job), name=f"explain-{neuron}", daemon=True).start()
        return run

    def _work(self, run: Run, job: Job) -> None:
        status = "failed"
        try:
            run.record, run.stored_id = job(lambda e: run.events.append(self._view(e)))
            status = "done"
        except BaseException as e:  # the page shows why; nothing else is left running
            run.error = f"{type(e).__name__}: {e}"
        finally:
            run.finished = time.time()
            with self._lock:
                self._active.pop((run.model, run.neuron), None)
            run.status = status  # last: whoever sees it finished may start the next run at once
