"""The typed events of an explain run, one class per kind, told apart by `type`: what the
transcript saves, the live progress line follows, `autointerp transcript` prints and the web app's
step view shows. Light on purpose (pydantic only): the progress line reads them before torch loads.

Saved one JSON object per line, fields at the top level. Transcripts written before the events were
typed kept the fields under `data`; they load all the same. Fields that older versions did not
write have defaults, and the run's own records (`config`, `split`, `record`) stay as they were
written, so that a record type changing later does not make old transcripts unreadable."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, model_validator


class _Event(BaseModel):
    step: int = 0  # the agent loop's step; 0 before it (seeds, up-front experiments)
    at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        """An old transcript's event: its fields under `data`."""
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            return {**raw["data"], **{k: v for k, v in raw.items() if k != "data"}}
        return raw


class Start(_Event):
    type: Literal["start"] = "start"
    neuron: str = ""
    model: str = ""
    method: str = ""
    phase: str = ""  # what the run does first, as the explainer says it (the status line shows it)
    explainer: str | None = None  # the LLM's name; None without one
    simulator: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    split: dict[str, Any] = Field(default_factory=dict)

    @property
    def max_steps(self) -> int | None:
        steps = self.config.get("max_steps")
        return steps if isinstance(steps, int) else None


class Prompt(_Event):
    type: Literal["prompt"] = "prompt"
    role: Literal["system", "user"]
    content: str


class Call(BaseModel):
    """A tool call as the LLM wrote it."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class Reply(_Event):
    """What the LLM answered, with the tool calls it made (native tool calling)."""

    type: Literal["llm"] = "llm"
    content: str = ""
    tool_calls: list[Call] = Field(default_factory=list)


class ToolCall(_Event):
    type: Literal["tool_call"] = "tool_call"
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class ToolResult(_Event):
    type: Literal["tool_result"] = "tool_result"
    name: str | None  # None for a malformed call that named no tool
    result: str  # what the LLM was shown
    ok: bool = True
    detail: Any = None  # the tool's full result
    score: float | None = None  # the validation score of the candidate this call scored, if it scored one


class Observation(_Event):
    type: Literal["observation"] = "observation"
    content: str


class Score(_Event):
    type: Literal["score"] = "score"
    split: Literal["validation", "test"]
    text: str = ""
    value: float | None = None  # None: undefined (constant predictions)
    source: str | None = None  # which rule or tool made the candidate (validation scores)
    n_tokens: int | None = None  # tokens simulated (the test score)


class Final(_Event):
    type: Literal["final"] = "final"
    stop: str | None = None  # why the agent loop stopped; None for the explainers without one
    validation: float | None = None
    source: str | None = None
    confident: bool | None = None
    record: dict[str, Any] = Field(default_factory=dict)  # the Explanation, as written


class Error(_Event):
    type: Literal["error"] = "error"
    error: str


Event = Annotated[Start | Prompt | Reply | ToolCall | ToolResult | Observation | Score | Final | Error,
                  Field(discriminator="type")]
EVENT: TypeAdapter[Event] = TypeAdapter(Event)
