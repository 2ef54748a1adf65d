"""Export and import: JSONL of Explanation records, or Neuronpedia's explanation export shape.

Neuronpedia lines carry the full record under `autointerp`, so both formats round-trip losslessly;
a Neuronpedia line without it (their own exports) is imported from its plain fields.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from autointerp.errors import InputError
from autointerp.fileio import atomic_write_bytes
from autointerp.records import Explanation, NeuronId
from autointerp.store import keys
from autointerp.store.chroma_store import Store

ExportFormat = Literal["jsonl", "neuronpedia"]
_IMPORT_BATCH = 256
_LAYER_RE = re.compile(r"^\s*(\d+)")


class ImportResult(BaseModel):
    imported: int = Field(description="records read and stored")
    errors: list[tuple[int, str]] = Field(default_factory=list, description="(line number, message) per bad line")


def to_neuronpedia(expl: Explanation) -> dict:
    """Neuronpedia's Explanation fields (layer as a source id `<layer>-mlp`) plus our record."""
    nid = NeuronId.parse(expl.neuron)
    return {
        "modelId": expl.model,
        "layer": f"{nid.layer}-mlp",
        "index": str(nid.index),
        "description": expl.text,
        "explanationModelName": expl.explainer,
        "typeName": expl.prompt_version,
        "scoreV1": expl.score if expl.score is not None else 0.0,
        "scores": [{"value": s.value,
                    "explanationScoreTypeName": s.method if s.simulator is None else f"{s.method}-{s.simulator}",
                    "explanationScoreModelName": s.llm or s.simulator or "autointerp",
                    "jsonDetails": json.dumps(s.details)} for s in expl.scores],
        "createdAt": expl.created_at.isoformat(),
        "autointerp": expl.model_dump(mode="json"),
    }


def from_neuronpedia(obj: dict) -> Explanation:
    """Our record if the line carries one, else one built from Neuronpedia's plain fields."""
    if "autointerp" in obj:
        return Explanation.model_validate(obj["autointerp"])
    m = _LAYER_RE.match(str(obj.get("layer", "")))
    if m is None:
        raise ValueError(f"layer {obj.get('layer')!r} does not start with a layer number")
    fields = {"neuron": str(NeuronId(layer=int(m.group(1)), index=int(obj["index"]))), "model": obj["modelId"],
              "text": obj.get("description") or "", "method": "one-shot",
              "explainer": obj.get("explanationModelName") or "neuronpedia",
              "prompt_version": obj.get("typeName") or "neuronpedia"}
    if obj.get("createdAt"):
        fields["created_at"] = datetime.fromisoformat(str(obj["createdAt"]).replace("Z", "+00:00"))
    return Explanation.model_validate(fields)


def parse_record(obj: object) -> Explanation:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    expl = from_neuronpedia(obj) if "autointerp" in obj or "modelId" in obj else Explanation.model_validate(obj)
    return keys.canonical(expl)  # a malformed neuron id fails here, on its own line


def export_records(store: Store, path: Path, fmt: ExportFormat = "jsonl", current_only: bool = False) -> int:
    """Write every version (or only the current ones), oldest first, one JSON object per line;
    atomically, gzipped when the name ends in .gz. Returns the number of records."""
    if fmt not in ("jsonl", "neuronpedia"):
        raise InputError(f"--format must be jsonl or neuronpedia, got {fmt!r}")
    records = sorted(store.list(), key=keys.order_key) if current_only else store.all_versions()
    if fmt == "jsonl":
        lines = [e.model_dump_json() for e in records]
    else:
        lines = [json.dumps(to_neuronpedia(e), ensure_ascii=False) for e in records]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path = Path(path)
    atomic_write_bytes(path, gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return len(records)


def read_records(path: Path) -> tuple[list[tuple[int, Explanation]], list[tuple[int, str]]]:
    """Parse a JSONL file (either format, mixed), or one JSON list (item numbers stand for lines)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"import file {path} does not exist")
    raw = path.read_bytes()
    try:
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    if text.lstrip().startswith("["):
        try:
            items = list(enumerate(json.loads(text), 1))
        except json.JSONDecodeError as e:
            return [], [(e.lineno, f"malformed JSON list ({e.msg}, column {e.colno})")]
        return _parse_items(items)
    good, bad = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            bad.append((n, f"malformed JSON ({e.msg}, column {e.colno})"))
            continue
        g, b = _parse_items([(n, obj)])
        good += g
        bad += b
    return good, bad


def _parse_items(items) -> tuple[list[tuple[int, Explanation]], list[tuple[int, str]]]:
    good, bad = [], []
    for n, obj in items:
        try:
            good.append((n, parse_record(obj)))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "record"
            bad.append((n, f"invalid explanation: {where}: {first['msg']}"))
        except (ValueError, KeyError, TypeError) as e:
            msg = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            bad.append((n, f"invalid explanation: {msg}"))
    return good, bad


def import_records(store: Store, path: Path) -> ImportResult:
    """Store every well-formed record; bad lines are reported with their number, never fatal."""
    good, bad = read_records(path)
    records = [e for _, e in good]
    for start in range(0, len(records), _IMPORT_BATCH):
        store.add_many(records[start:start + _IMPORT_BATCH])
    return ImportResult(imported=len(records), errors=bad)
