"""Transcripts: every LLM message, tool call, tool result and score of a run, as JSONL events.
Kept in memory and written atomically at the end (or on failure), so no half file is left. Every
configured secret is redacted from what is written (a server's error reply may quote the key)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from autointerp import events as ev
from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.events import EVENT, Event
from autointerp.fileio import atomic_write_text
from autointerp.records import Explanation, UnitId
from autointerp.secrets import redact

__all__ = ["Event", "Transcript", "for_record", "inside", "latest", "load", "render_event", "root", "transcript_dir"]


def transcript_dir(settings: Settings, model: str, neuron: UnitId) -> Path:
    return settings.layout.transcript_dir(model, str(neuron))


class Transcript:
    """`on_event`, when given, sees every event as it is added (live progress, the web app's stream)."""

    def __init__(self, settings: Settings, model: str, neuron: UnitId, method: str,
                 on_event: Callable[[Event], None] | None = None) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        self.path = transcript_dir(settings, model, neuron) / f"{stamp}-{method}.jsonl"
        self.events: list[Event] = []
        self.on_event = on_event

    def add(self, event: Event) -> None:
        # redacted as it comes in, so a live listener never sees a key either
        self.events.append(EVENT.validate_python(_redacted(event.model_dump())))
        if self.on_event is not None:
            self.on_event(self.events[-1])

    def save(self) -> Path:
        """Write the events, every string redacted (before JSON escaping could hide a key from the
        text-level pass that follows, the last line of defence)."""
        lines = (json.dumps(_redacted(e.model_dump(mode="json")), ensure_ascii=False) + "\n" for e in self.events)
        atomic_write_text(self.path, redact("".join(lines)))
        return self.path


def _redacted(obj: object) -> object:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(str(k)): _redacted(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redacted(v) for v in obj]
    return obj


def load(path: Path) -> list[Event]:
    """The events of a transcript file; a truncated or garbled one is one InputError naming the file
    and the first bad line. Transcripts written before the events were typed load too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"transcript {path} is not a UTF-8 text file") from None
    except OSError as e:
        raise InputError(f"cannot read transcript {path}: {(e.strerror or type(e).__name__).lower()}") from None
    events = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append(EVENT.validate_json(line))
        except (ValidationError, ValueError, RecursionError):
            raise InputError(f"transcript {path} is damaged or truncated at line {i}") from None
    return events


def root(settings: Settings) -> Path:
    """Where every transcript lives: `<data dir>/transcripts`."""
    return settings.layout.transcripts()


def inside(settings: Settings, path: Path) -> Path | None:
    """`path` resolved, when it is a file under the transcripts folder; else None (a path named
    elsewhere, e.g. inside an imported record, is never opened)."""
    base = root(settings).resolve()
    try:
        found = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return found if found.is_relative_to(base) and found.is_file() else None


_NAME = re.compile(r"^\d{8}T\d{6}\d*Z-[\w-]+\.jsonl$")


def for_record(settings: Settings, rec: Explanation) -> Path | None:
    """The transcript of a record, found by its identity under the transcripts folder only: the
    file the record names (its name alone, never its directory) in the record's model/neuron folder,
    else the latest transcript of the same method written before the record was. None when there is
    none. Whatever path the record carries is never opened as such."""
    try:
        folder = transcript_dir(settings, rec.model, UnitId.parse(rec.neuron))
    except ValueError:
        return None
    if rec.transcript:
        name = re.split(r"[\\/]", rec.transcript)[-1]
        if _NAME.match(name) and (found := inside(settings, folder / name)) is not None:
            return found
    stamp = rec.created_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    earlier = [p for p in sorted(folder.glob(f"*-{rec.method}.jsonl")) if p.name[: len(stamp)] <= stamp] \
        if folder.is_dir() else []
    for p in reversed(earlier):
        if (found := inside(settings, p)) is not None:
            return found
    return None


def latest(settings: Settings, model: str, neuron: UnitId) -> Path:
    files = sorted(transcript_dir(settings, model, neuron).glob("*.jsonl"))
    if not files:
        raise InputError(f"no transcript for {neuron} of {model}: run `autointerp explain {neuron}` first")
    return files[-1]


def render_event(e: Event) -> str:
    """One readable line per event (the CLI prints these)."""
    match e:
        case ev.Reply():
            shown = "; ".join(f"{c.name}({json.dumps(c.args)[:200]})" for c in e.tool_calls)
            return f"[{e.step}] llm: {e.content.strip()[:400]}" + (f"  -> {shown}" if shown else "")
        case ev.Prompt():
            return f"[{e.step}] prompt ({e.role}): {e.content[:600]}"
        case ev.ToolResult():
            return f"[{e.step}] {e.name} -> {e.result[:600]}"
    fields = e.model_dump(mode="json", exclude={"type", "step", "at"}, exclude_none=True)
    return f"[{e.step}] {e.type}: {json.dumps(fields)[:600]}"
