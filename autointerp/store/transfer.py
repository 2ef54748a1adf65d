"""Export and import: JSONL of Explanation records, or rows of Neuronpedia's `Explanation` table.

Neuronpedia's importer (apps/webapp/lib/db/import.ts, `importJsonlString`) inserts each line's keys
that name a column of the table and drops the rest, so a line must fill every NOT NULL column without
a default (`id`, `modelId`, `layer`, `index`, `description`, `authorId`) and may only name type rows
that exist (`typeName`, `explanationModelName` are foreign keys; null is allowed). Our full record
rides along under `autointerp`, a key their importer drops, so both formats round-trip losslessly;
a Neuronpedia line without it (their own exports) is imported from its plain fields.

Imported records are untrusted. A file is imported whole or not at all: every line must be a record
of a neuron that exists in the model it names (checked against the model's config, not its weights),
with an explanation of at most MAX_TEXT characters and at most MAX_RECORD_BYTES of JSON; otherwise
ImportRejected lists every bad line by number and nothing is stored. A record's `transcript` path is
never kept: it names a file on the machine that wrote it, and nothing may open such a path.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import re
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from autointerp.config import Settings, get_settings
from autointerp.errors import AutointerpError, InputError
from autointerp.fileio import atomic_write_bytes
from autointerp.records import Explanation, ExportFormat, UnitId
from autointerp.store import keys
from autointerp.store.bounds import check_bounds
from autointerp.store.shapes import model_shape

if TYPE_CHECKING:  # annotations only: reading and checking a file needs neither Chroma nor torch
    from autointerp.store.chroma_store import Store

_IMPORT_BATCH = 256

MAX_TEXT = 2000  # characters of one explanation
MAX_RECORD_BYTES = 1_000_000  # UTF-8 bytes of one record's JSON (one line, or one item of a JSON list)
MAX_LIST_BYTES = 512_000_000  # a whole-file JSON list is parsed at once; JSONL streams
MAX_DEPTH = 64  # nesting of objects and lists in one record
_KEPT_ERRORS = 1000  # bad lines listed; more are only counted

_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark some editors write first
# Neuronpedia's neuron layers are bare layer numbers ("6", `isNeuronLayerSource`); we once wrote "6-mlp".
# Any other source ("6-res-jb", "6-att-kk") is an SAE or another kind of feature, not an MLP neuron.
_NP_LAYER = re.compile(r"^\s*(\d+)(?:-mlp)?\s*$")


class ImportResult(BaseModel):
    imported: int = Field(description="records read and stored")
    errors: list[tuple[int, str]] = Field(default_factory=list, description="always empty: a file with a bad line "
                                          "raises ImportRejected and imports nothing")


class ImportRejected(InputError):
    """A file holding at least one bad record: nothing of it was imported. `errors`: (line number,
    message) for each bad line (item number for a JSON list), the first _KEPT_ERRORS of them;
    `n_errors`: how many lines were bad in all."""

    def __init__(self, path: Path, errors: list[tuple[int, str]], n_errors: int | None = None):
        self.path, self.errors = path, errors
        self.n_errors = len(errors) if n_errors is None else n_errors
        line, message = errors[0]
        rest = [str(n) for n, _ in errors[1:6]]
        more = ""
        if self.n_errors > 1:
            listed = ", ".join(rest) + (", ..." if self.n_errors > len(rest) + 1 else "")
            more = f" (and {self.n_errors - 1} more bad line{'s' if self.n_errors > 2 else ''}: {listed})"
        super().__init__(f"nothing imported from {path}: line {line}: {message}{more}")


# Neuronpedia's seeded bot user (apps/webapp/prisma/seed.ts): the default author of uploaded data, and
# the `authorId` their own batch explainer writes, so it exists on every instance.
NP_AUTHOR_ID = "clkht01d40000jv08hvalcvly"
# `explanationModelName` rows Neuronpedia's own batch explainer writes (utils/neuronpedia-utils,
# batch-autointerp.py: the model name after its last "/"). Any other name would break the row's
# foreign key and fail the whole insert, so other explainers are written as null.
NP_EXPLAINER_MODELS = frozenset({
    "gpt-4o-mini", "gpt-4.1-nano", "gpt-5-nano", "gpt-5-nano-2025-08-07", "gpt-5-mini-2025-08-07",
    "gemini-2.0-flash", "gemini-2.0-flash-lite", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gpt-oss-120b",
})
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def np_id(expl: Explanation) -> str:
    """A cuid-shaped id ("c" and 24 lowercase base-36 characters) derived from the version's key, so
    exporting the same version again writes the same id and a re-import is a no-op (their insert is
    ON CONFLICT DO NOTHING)."""
    n = int(hashlib.sha256(keys.history_id(expl).encode("utf-8")).hexdigest(), 16)
    digits = []
    for _ in range(24):
        n, r = divmod(n, 36)
        digits.append(_B36[r])
    return "c" + "".join(digits)


def np_explainer_model(explainer: str) -> str | None:
    """Neuronpedia's model row for an `openai:<model>` explainer it knows; None (null) otherwise."""
    kind, _, name = explainer.partition(":")
    name = name.rsplit("/", 1)[-1]
    return name if kind == "openai" and name in NP_EXPLAINER_MODELS else None


def to_neuronpedia(expl: Explanation, author_id: str = NP_AUTHOR_ID) -> dict:
    """One row of Neuronpedia's Explanation table (every line has the same keys: their importer takes
    the columns from the first line) plus our record under `autointerp`. `typeName` is null: no
    Neuronpedia explanation type describes our methods, and a name without a row fails the insert."""
    nid = UnitId.parse(expl.neuron)
    head = expl.scores[0].value if expl.scores and expl.scores[0].method == "simulation" else None
    created = expl.created_at if expl.created_at.tzinfo else expl.created_at.replace(tzinfo=timezone.utc)
    return {
        "id": np_id(expl),
        "modelId": expl.model,
        "layer": nid.neuronpedia_layer,
        "index": str(nid.index),
        "description": expl.text,
        "authorId": author_id,
        "typeName": None,
        "explanationModelName": np_explainer_model(expl.explainer),
        "scoreV1": head if head is not None and math.isfinite(head) else 0.0,  # a simulation correlation, like theirs
        "createdAt": created.astimezone(timezone.utc).isoformat(),
        "autointerp": json.loads(expl.model_dump_json()),  # NaN as null: Postgres' jsonb rejects NaN
    }


def _np_neuron(obj: dict) -> UnitId:
    """The neuron a Neuronpedia line names: a bare layer number (or `<n>-mlp`) and an integer index."""
    layer = obj.get("layer")
    m = _NP_LAYER.match(str(layer)) if isinstance(layer, (str, int)) and not isinstance(layer, bool) else None
    if m is None:
        raise ValueError(f"layer {layer!r} is not a neuron layer: expected a layer number such as '6' "
                         f"(Neuronpedia sources such as SAE ids, e.g. '6-res-jb', are not MLP neurons)")
    index = obj.get("index")
    if isinstance(index, bool) or not re.fullmatch(r"\s*\d+\s*", str(index)):
        raise ValueError(f"index {index!r} is not a neuron index")
    return UnitId(layer=int(m.group(1)), index=int(str(index)))


def from_neuronpedia(obj: dict) -> Explanation:
    """Our record if the line carries one, else one built from Neuronpedia's plain fields."""
    if "autointerp" in obj:
        expl = Explanation.model_validate(obj["autointerp"])
        if "layer" in obj or "index" in obj:
            named, own = _np_neuron(obj), UnitId.parse(expl.neuron)
            if named != own:
                raise ValueError(f"layer/index name {named} but the record under 'autointerp' is {own}")
        return expl
    nid = _np_neuron(obj)
    fields = {"neuron": str(nid), "model": obj["modelId"],
              "text": obj.get("description") or "", "method": "one-shot",
              "explainer": obj.get("explanationModelName") or "neuronpedia",
              "prompt_version": obj.get("typeName") or "neuronpedia"}
    if obj.get("createdAt"):
        fields["created_at"] = datetime.fromisoformat(str(obj["createdAt"]).replace("Z", "+00:00"))
    return Explanation.model_validate(fields)


def parse_record(obj: object) -> Explanation:
    """One record (either format) as an Explanation with a canonical neuron id and no transcript path."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    expl = from_neuronpedia(obj) if "autointerp" in obj or "modelId" in obj else Explanation.model_validate(obj)
    if len(expl.text) > MAX_TEXT:
        raise ValueError(f"the explanation is {len(expl.text)} characters long, over the limit of {MAX_TEXT}")
    expl = keys.canonical(expl)  # a malformed unit id fails here, on its own line
    return expl.model_copy(update={"transcript": None}) if expl.transcript is not None else expl


def export_records(store: Store, path: Path, fmt: ExportFormat = "jsonl", current_only: bool = False,
                   author_id: str = NP_AUTHOR_ID) -> int:
    """Write every version (or only the current ones), oldest first, one JSON object per line;
    atomically, gzipped when the name ends in .gz. Returns the number of records. `author_id`: the
    Neuronpedia user the neuronpedia lines name as author (a row of its User table)."""
    if fmt not in ("jsonl", "neuronpedia"):
        raise InputError(f"the export format must be jsonl or neuronpedia, got {fmt!r}")
    records = sorted(store.list(), key=keys.order_key) if current_only else store.all_versions()
    if fmt == "jsonl":
        lines = [e.model_dump_json() for e in records]
    else:
        lines = [json.dumps(to_neuronpedia(e, author_id), ensure_ascii=False, allow_nan=False) for e in records]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path = Path(path)
    atomic_write_bytes(path, gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return len(records)


def _depth(obj: object) -> int:
    """How deeply objects and lists nest (iteratively: no recursion on hostile input)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, d)
            if d <= MAX_DEPTH:
                stack.extend((v, d + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


class _Shapes:
    """Each model's (n_layers, d_mlp), or why it cannot be checked: looked up once per import."""

    def __init__(self, settings: Settings):
        self.settings, self.known = settings, {}

    def check(self, expl: Explanation) -> None:
        if expl.model not in self.known:
            try:
                self.known[expl.model] = model_shape(expl.model, self.settings)
            except AutointerpError as e:
                self.known[expl.model] = str(e)
        shape = self.known[expl.model]
        if isinstance(shape, str):
            raise ValueError(shape)
        n_layers, d_mlp = shape
        nid = UnitId.parse(expl.neuron)
        if nid.layer >= n_layers:
            raise ValueError(f"neuron {nid} is out of range for {expl.model}: layers are 0..{n_layers - 1}")
        if nid.dictionary is None and nid.index >= d_mlp:
            raise ValueError(f"neuron {nid} is out of range for {expl.model}: neurons are 0..{d_mlp - 1} per layer")


def _record(obj: object, shapes: _Shapes) -> Explanation:
    """One parsed JSON value as a checked record; ValueError saying what is wrong with it."""
    if _depth(obj) > MAX_DEPTH:
        raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep")
    try:
        expl = parse_record(obj)
        check_bounds(expl)  # NaN or infinite scores, negative counts, times in the future
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        raise ValueError(f"invalid explanation: {where}: {first['msg']}") from None
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        msg = (f"missing field {e}" if isinstance(e, KeyError)
               else "JSON nested too deeply" if isinstance(e, RecursionError) else str(e))
        raise ValueError(f"invalid explanation: {msg}") from None
    shapes.check(expl)
    return expl


def _open(path: Path, raw: IO[bytes]) -> IO[bytes]:
    """The file's bytes, through gzip when they start with its magic number."""
    head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    return gzip.GzipFile(fileobj=raw, mode="rb") if head == b"\x1f\x8b" else raw


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; None for a line over MAX_RECORD_BYTES, which is skipped unread."""
    n = 0
    while True:
        line = stream.readline(MAX_RECORD_BYTES + 2)
        if not line:
            return
        n += 1
        if len(line) > MAX_RECORD_BYTES + 1 or (len(line) == MAX_RECORD_BYTES + 1 and not line.endswith(b"\n")):
            while line and not line.endswith(b"\n"):
                line = stream.readline(1 << 20)
            yield n, None
            continue
        yield n, line


def read_records(path: Path, settings: Settings | None = None) -> list[tuple[int, Explanation]]:
    """Every record of a JSONL file (either format, mixed; gzipped or not) or of one JSON list (item
    numbers stand for lines), checked. InputError naming the file when it cannot be read as text (missing,
    binary, a damaged gzip); ImportRejected listing the bad lines when any line is not a good record."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"import file {path} does not exist")
    if not path.is_file():
        raise InputError(f"import file {path} is not a regular file")
    shapes = _Shapes(settings or get_settings())
    good: list[tuple[int, Explanation]] = []
    bad: list[tuple[int, str]] = []
    n_bad = 0

    def fail(n: int, message: str) -> None:
        nonlocal n_bad
        n_bad += 1
        if len(bad) < _KEPT_ERRORS:
            bad.append((n, message))

    try:
        with open(path, "rb") as raw, _open(path, raw) as stream:
            head = stream.peek(8192)[:8192] if hasattr(stream, "peek") else b""
            if b"\x00" in head:
                raise InputError(f"{path} is a binary file, not JSONL or a JSON list of explanations")
            if head.removeprefix(_BOM).lstrip().startswith(b"["):
                data = stream.read(MAX_LIST_BYTES + 1)
                if len(data) > MAX_LIST_BYTES:
                    raise InputError(f"{path} is a JSON list of over {MAX_LIST_BYTES} bytes: write it as JSONL "
                                     f"(one record per line) to import it")
                items = _json_list(path, data)
                for n, obj in items:
                    try:
                        size = len(json.dumps(obj, ensure_ascii=False).encode("utf-8"))
                        if size > MAX_RECORD_BYTES:
                            raise ValueError(f"the record is {size} bytes of JSON, over the limit of {MAX_RECORD_BYTES}")
                        good.append((n, _record(obj, shapes)))
                    except (ValueError, RecursionError) as e:
                        fail(n, str(e) if isinstance(e, ValueError) else "JSON nested too deeply")
            else:
                for n, line in _lines(stream):
                    if line is None:
                        fail(n, f"the record is over {MAX_RECORD_BYTES} bytes of JSON, the limit")
                        continue
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line.decode("utf-8-sig" if n == 1 else "utf-8"))
                    except UnicodeDecodeError:
                        fail(n, "not UTF-8 text")
                        continue
                    except json.JSONDecodeError as e:
                        fail(n, f"malformed JSON ({e.msg}, column {e.colno})")
                        continue
                    except RecursionError:
                        fail(n, "JSON nested too deeply")
                        continue
                    try:
                        good.append((n, _record(obj, shapes)))
                    except ValueError as e:
                        fail(n, str(e))
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise InputError(f"{path} is a damaged or truncated gzip file ({e or type(e).__name__})") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    if bad:
        raise ImportRejected(path, bad, n_bad)
    return good


def _json_list(path: Path, data: bytes) -> list[tuple[int, object]]:
    try:
        items = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ImportRejected(path, [(e.lineno, f"malformed JSON list ({e.msg}, column {e.colno})")]) from None
    except RecursionError:
        raise InputError(f"{path}: the JSON list is nested too deeply") from None
    if not isinstance(items, list):
        raise InputError(f"{path} starts like a JSON list but is not one")
    return list(enumerate(items, 1))


def import_records(store: Store, path: Path, settings: Settings | None = None) -> ImportResult:
    """Store every record of the file, or none: ImportRejected (an InputError) when any line is bad,
    InputError when the file cannot be read. Neuron ids are checked against the model each record
    names (settings: the store's, else the environment's); transcript paths are dropped."""
    return add_records(store, [e for _, e in read_records(path, settings or store.settings)])


def add_records(store: Store, records: list[Explanation]) -> ImportResult:
    """Store records already checked by `read_records`, in batches (one embedding batch each)."""
    for start in range(0, len(records), _IMPORT_BATCH):
        store.add_many(records[start:start + _IMPORT_BATCH])
    return ImportResult(imported=len(records))
