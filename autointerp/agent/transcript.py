"""Transcripts: every LLM message, tool call, tool result and score of a run, as JSONL events.
Kept in memory and written atomically at the end (or on failure), so no half file is left."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.fileio import atomic_write_text
from autointerp.records import NeuronId

EventType = Literal["start", "prompt", "llm", "tool_call", "tool_result", "observation", "score", "final", "error"]


class Event(BaseModel):
    type: EventType
    step: int = 0
    at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    data: dict[str, object] = Field(default_factory=dict)


def transcript_dir(settings: Settings, model: str, neuron: NeuronId) -> Path:
    return settings.data_dir / "transcripts" / re.sub(r"[^\w.-]", "_", model) / str(neuron)


class Transcript:
    def __init__(self, settings: Settings, model: str, neuron: NeuronId, method: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        self.path = transcript_dir(settings, model, neuron) / f"{stamp}-{method}.jsonl"
        self.events: list[Event] = []

    def add(self, type: EventType, step: int = 0, **data: object) -> None:
        self.events.append(Event(type=type, step=step, data=data))

    def save(self) -> Path:
        atomic_write_text(self.path, "".join(e.model_dump_json() + "\n" for e in self.events))
        return self.path


def load(path: Path) -> list[Event]:
    return [Event.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def latest(settings: Settings, model: str, neuron: NeuronId) -> Path:
    files = sorted(transcript_dir(settings, model, neuron).glob("*.jsonl"))
    if not files:
        raise InputError(f"no transcript for {neuron} of {model}: run `autointerp explain {neuron}` first")
    return files[-1]


def render_event(e: Event) -> str:
    """One readable line per event (the CLI prints these)."""
    d = e.data
    if e.type == "llm":
        calls = d.get("tool_calls") or []
        shown = "; ".join(f"{c['name']}({json.dumps(c['args'])[:200]})" for c in calls)  # type: ignore[index]
        return f"[{e.step}] llm: {str(d.get('content', '')).strip()[:400]}" + (f"  -> {shown}" if shown else "")
    if e.type == "prompt":
        return f"[{e.step}] prompt ({d.get('role')}): {str(d.get('content', ''))[:600]}"
    if e.type == "tool_result":
        return f"[{e.step}] {d.get('name')} -> {str(d.get('result', ''))[:600]}"
    return f"[{e.step}] {e.type}: {json.dumps(d, default=str)[:600]}"
