"""Live progress of one explain run, built from its transcript events: which step, what runs now,
the best validation score so far and the LLM tokens spent (sent, and run by a local model)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from autointerp import events as ev
from autointerp.events import Event

if TYPE_CHECKING:  # light on purpose: a command shows this before torch and langchain load
    from autointerp.llm import Usage

class ExplainStatus:
    """Feed it every event (`status(event)`); `line()` (or rendering it with Rich, which re-reads it
    on each refresh) gives the one-line status. `usage` is the run's live token meter (pass the same
    object to `explain(usage=...)`)."""

    def __init__(self, neuron: str, usage: Usage | None = None, max_steps: int = 0, phase: str = "loading") -> None:
        self.neuron, self.usage, self.max_steps, self.phase = neuron, usage, max_steps, phase
        self.step, self.best, self.started = 0, None, time.perf_counter()

    def __call__(self, e: Event) -> None:
        step = e.step
        match e:
            case ev.Start():
                self.max_steps = e.max_steps or self.max_steps
                self.phase = e.phase or "asking the LLM"
            case ev.Prompt():
                self.phase = "waiting for the LLM" if e.role != "system" else "starting the agent"
            case ev.Reply():
                self.step = max(self.step, step)
                self.phase = "reading the reply" if step else "scoring the seed"
            case ev.ToolCall():
                self.step, self.phase = step, f"running {e.name}"
            case ev.ToolResult():
                if e.score is not None:
                    self._saw(e.score)
                more = step < self.max_steps  # the next step's LLM call comes next, if any
                self.step, self.phase = (step + 1, "waiting for the LLM") if more else (step, "finishing")
            case ev.Score(split="validation"):
                if e.value is not None:
                    self._saw(e.value)
            case ev.Score():
                self.phase = "held-out score " + ("undefined" if e.value is None else f"{e.value:+.3f}")
            case ev.Final():
                self.step, self.phase = step, f"done ({e.stop or 'explained'})"
            case ev.Error():
                self.phase = "failed"

    def _saw(self, value: float) -> None:
        self.best = value if self.best is None else max(self.best, value)

    def line(self) -> str:
        parts = [self.neuron]
        if self.step:
            parts.append(f"step {self.step}/{self.max_steps}")
        parts.append(self.phase)
        if self.best is not None:
            parts.append(f"best {self.best:+.3f}")
        u = self.usage
        if u is not None and u.calls:
            run = f" ({u.computed_prompt_tokens + u.completion_tokens:,} run)" if \
                u.computed_prompt_tokens < u.prompt_tokens else ""
            parts.append(f"{u.tokens:,} tokens{run}")
        parts.append(f"{time.perf_counter() - self.started:.0f} s")
        return " · ".join(parts)

    def __rich__(self) -> Text:
        return Text(self.line())


@contextmanager
def live(status: ExplainStatus, console: Console | None) -> Iterator[Callable[[Event], None]]:
    """Show `status` while the block runs and yield the event callback to hand to `explain`: on a
    terminal one line refreshed in place, elsewhere (a log) one printed line per step; nothing
    without a console."""
    if console is None:
        yield status
    elif console.is_terminal:
        with console.status(status):
            yield status
    else:
        def logged(e: Event) -> None:
            status(e)
            if isinstance(e, ev.ToolResult | ev.Final | ev.Error):
                console.print(status.line(), markup=False, highlight=False)

        yield logged
