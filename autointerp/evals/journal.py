"""Finished explainer runs of an eval, one JSON line each, so an eval that is killed resumes where it
stopped (one local agent run can take minutes). The file is keyed by everything that decides the
runs; a different key starts it afresh. It is removed once the eval's result is written."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import ValidationError

from autointerp.evals.records import ExplainerRun
from autointerp.fileio import atomic_write_text


class Journal:
    def __init__(self, path: Path, key: dict) -> None:
        self.path = path
        self.key = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.done: dict[tuple[str, str], ExplainerRun] = {}
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        if lines and _header_key(lines[0]) == self.key:
            for line in lines[1:]:
                try:
                    run = ExplainerRun.model_validate_json(line)
                except ValidationError:  # a line cut short by the kill
                    break
                self.done[(run.neuron, run.method)] = run
        # Rewrite without any cut line, so appends always follow a complete one.
        atomic_write_text(path, "\n".join([json.dumps({"key": self.key})]
                                          + [r.model_dump_json() for r in self.done.values()]) + "\n")

    @property
    def resumed(self) -> int:
        return len(self.done)

    def get(self, neuron: str, method: str) -> ExplainerRun | None:
        return self.done.get((neuron, method))

    def add(self, run: ExplainerRun) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(run.model_dump_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def _header_key(line: str) -> str | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj.get("key") if isinstance(obj, dict) else None
