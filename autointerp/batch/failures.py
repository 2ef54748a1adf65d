"""Failed neurons of a batch, one small file each (written atomically), so a crash never leaves a
half-written ledger and concurrent workers never contend for one file."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from autointerp.config import Settings
from autointerp.fileio import atomic_write_text
from autointerp.secrets import redact


class Failures:
    def __init__(self, settings: Settings, model: str, explainer: str, prompt_version: str) -> None:
        self.dir = settings.layout.batch_failed_dir(model, explainer, prompt_version)

    def record(self, neuron: str, reason: str) -> None:
        """Keep the failure and its reason; any configured secret in it (a server's reply may quote
        the key it was sent) is redacted."""
        payload = {"neuron": neuron, "reason": redact(reason)[:2000], "at": datetime.now(timezone.utc).isoformat()}
        atomic_write_text(self.dir / f"{neuron}.json", redact(json.dumps(payload)))

    def clear(self, neuron: str) -> None:
        (self.dir / f"{neuron}.json").unlink(missing_ok=True)

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
