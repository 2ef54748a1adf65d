"""Explain runs started from the page: one background thread each, at most one per neuron, their
transcript events kept in memory as they happen so any number of pages can stream them (SSE).

The agent writes its transcript file atomically at the end, so the live events come from a hook on
the transcript itself: `ObservedTranscript` (a `Transcript` that also hands every event to the
listener of the thread adding it) replaces the class `autointerp.agent.explain` builds its
transcripts with. Outside a run started here it behaves exactly like `Transcript`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from autointerp.agent import transcript as tr

_listener = threading.local()


class ObservedTranscript(tr.Transcript):
    def add(self, type: tr.EventType, step: int = 0, **data: object) -> None:
        super().add(type, step, **data)
        listen = getattr(_listener, "fn", None)
        if listen is not None:
            listen(self.events[-1])


def observe_transcripts() -> None:
    """Make the explain agent build ObservedTranscripts (idempotent)."""
    from importlib import import_module

    explain_mod = import_module("autointerp.agent.explain")  # the module (the package exports a function of that name)

    if not issubclass(explain_mod.Transcript, ObservedTranscript):
        explain_mod.Transcript = ObservedTranscript


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
              job: Callable[[], tuple[dict, str | None]]) -> Run:
        """Run `job` (returns the record as JSON and its store id) in a thread; Busy when this neuron
        has a run going."""
        with self._lock:
            rid = self._active.get((model, neuron))
            if rid is not None:
                raise Busy(self._runs[rid])
            run = Run(id=uuid.uuid4().hex[:12], model=model, neuron=neuron, method=method, llm=llm)
            self._runs[run.id] = run
            self._active[(model, neuron)] = run.id
        threading.Thread(target=self._work, args=(run, job), name=f"explain-{neuron}", daemon=True).start()
        return run

    def _work(self, run: Run, job: Callable[[], tuple[dict, str | None]]) -> None:
        _listener.fn = lambda e: run.events.append(self._view(e))
        status = "failed"
        try:
            run.record, run.stored_id = job()
            status = "done"
        except BaseException as e:  # the page shows why; nothing else is left running
            run.error = f"{type(e).__name__}: {e}"
        finally:
            _listener.fn = None
            run.finished = time.time()
            with self._lock:
                self._active.pop((run.model, run.neuron), None)
            run.status = status  # last: whoever sees it finished may start the next run at once
