"""Failed units of a batch, and the dead and rare units it skipped: one small file each (written
atomically), so a crash never leaves a half-written ledger and concurrent workers never contend for
one file. File names go through `slug` (a latent id holds a slash); the unit is inside."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from autointerp.config import Settings
from autointerp.fileio import atomic_write_text
from autointerp.paths import slug
from autointerp.records import SkippedUnit
from autointerp.secrets import redact


class Failures:
    def __init__(self, settings: Settings, model: str, explainer: str, prompt_version: str) -> None:
        self.dir = settings.layout.batch_failed_dir(model, explainer, prompt_version)

    def record(self, neuron: str, reason: str) -> None:
        """Keep the failure and its reason; any configured secret in it (a server's reply may quote
        the key it was sent) is redacted."""
        payload = {"neuron": neuron, "reason": redact(reason)[:2000], "at": datetime.now(timezone.utc).isoformat()}
        atomic_write_text(self.dir / f"{slug(neuron)}.json", redact(json.dumps(payload)))

    def clear(self, neuron: str) -> None:
        (self.dir / f"{slug(neuron)}.json").unlink(missing_ok=True)

    def all(self) -> dict[str, str]:
        """neuron -> reason."""
        out = {}
        for p in sorted(self.dir.glob("*.json")) if self.dir.exists() else []:
            try:
                d = json.loads(p.read_text(encoding="utf-8"))
                out[d["neuron"]] = d["reason"]
            except (OSError, ValueError, KeyError):
                continue
        return out


class Skips:
    """Dead and rare units a batch of the model skipped, with their figures (`records.SkippedUnit`).
    Rewritten on every run that plans the unit (the same content: idempotent), and cleared once the
    unit fires often enough (a larger cache), so the ledger says what the latest cache says."""

    def __init__(self, settings: Settings, model: str) -> None:
        self.dir = settings.layout.batch_skipped_dir(model)

    def record(self, skip: SkippedUnit) -> None:
        path = self.dir / f"{slug(skip.unit)}.json"
        text = skip.model_dump_json()
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)

    def clear(self, unit: str) -> None:
        (self.dir / f"{slug(unit)}.json").unlink(missing_ok=True)

    def all(self) -> dict[str, SkippedUnit]:
        """unit -> its skip; unreadable files are left out."""
        out = {}
        for p in sorted(self.dir.glob("*.json")) if self.dir.exists() else []:
            try:
                skip = SkippedUnit.model_validate_json(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            out[skip.unit] = skip
        return out
