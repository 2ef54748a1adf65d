"""Stopping long, resumable work (a cache build, dictionary training) cleanly on Ctrl-C or `kill`."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from autointerp.errors import AutointerpError


class Interrupted(AutointerpError):
    """The work stopped early; its progress is saved and the same command resumes it (exit 130)."""


class StopRequest:
    """Ctrl-C or `kill` during long work: finish the current batch, checkpoint, then stop.

    Raising from the signal handler could land between two updates of a state and save one that
    counts some data twice; a flag checked between batches cannot.
    """

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum, frame) -> None:
        self.signal = signum

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        previous = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self)
        except ValueError:  # not the main thread: leave signals alone
            pass
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
