"""The record ledger: our own SQLite copy of every record, beside a local store's Chroma files.

Chroma's index can be damaged (a garbled `chroma.sqlite3`, half-written HNSW files); the ledger is
what `rebuild_index` re-creates it from. It holds the record JSON, not the vectors: MiniLM is
deterministic, so the index is re-embedded from the text. The ledger is also what exact reads
(`list`, `get`, `history`, `count`, export) use: it opens read-only, where Chroma's client writes
to its own database on every open, so those reads leave every file of the store as it was.

Rollback-journal mode, never WAL: a read-only connection to a WAL database may have to create its
`-shm` file, a write.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from autointerp.errors import StoreError
from autointerp.records import Explanation, UnitId

NAME = "autointerp-records.sqlite3"
FORMAT = 1
_TIMEOUT = 60.0  # seconds a reader or writer waits for another process's transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    history INTEGER NOT NULL,  -- 0: the current version of its id; 1: a replaced version (id: <record id>:<hash>)
    id TEXT NOT NULL,
    model TEXT NOT NULL,
    neuron TEXT NOT NULL,
    layer INTEGER NOT NULL,
    record TEXT NOT NULL,      -- the Explanation's JSON, as the Chroma metadata holds it
    PRIMARY KEY (history, id)
);
CREATE INDEX IF NOT EXISTS records_neuron ON records (neuron);
CREATE INDEX IF NOT EXISTS records_layer ON records (layer);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

Row = tuple[str, Explanation]  # (id, record)


def _row(history: bool, rid: str, expl: Explanation) -> tuple:
    return (int(history), rid, expl.model, expl.neuron, UnitId.parse(expl.neuron).layer, expl.model_dump_json())


class Ledger:
    """The ledger file of one local store; reads never write, writes are one transaction each."""

    def __init__(self, path: Path):
        self.path = path

    def exists(self) -> bool:
        return self.path.is_file()

    def _damaged(self, e: object) -> StoreError:
        return StoreError(f"the store's record ledger {self.path} cannot be read ({e}): restore it from a backup, "
                          f"or move it aside; the store then reads its Chroma index, and its next write makes a "
                          f"new ledger from that index")

    def _open(self, readonly: bool = True) -> sqlite3.Connection:
        if readonly:
            return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=_TIMEOUT)
        conn = sqlite3.connect(self.path, timeout=_TIMEOUT, isolation_level=None)
        conn.execute("PRAGMA journal_mode=DELETE")
        return conn

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        for readonly in (True, False):
            try:
                conn = self._open(readonly)
                try:
                    return conn.execute(sql, args).fetchall()
                finally:
                    conn.close()
            except sqlite3.OperationalError as e:
                # "readonly": a writer killed mid-commit left a hot journal; a writable connection rolls it back
                if not readonly or "readonly" not in str(e).lower():
                    raise self._damaged(e) from e
            except sqlite3.Error as e:
                raise self._damaged(e) from e
        raise AssertionError("unreachable")

    # reading

    def count(self) -> int:
        """Current records."""
        return self._query("SELECT count(*) FROM records WHERE history = 0")[0][0]

    def has(self, rid: str) -> bool:
        return bool(self._query("SELECT 1 FROM records WHERE history = 0 AND id = ?", (rid,)))

    def records(self, current_only: bool, model: str | None = None, neuron: str | None = None,
                layer: int | None = None) -> list[Explanation]:
        conds, args = ([], []) if not current_only else (["history = 0"], [])
        for col, value in (("model", model), ("neuron", neuron), ("layer", layer)):
            if value is not None:
                conds.append(f"{col} = ?")
                args.append(value)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        rows = self._query(f"SELECT record FROM records{where}", tuple(args))
        return [Explanation.model_validate_json(r[0]) for r in rows]

    def batches(self, size: int = 1000) -> Iterator[tuple[bool, list[str], list[Explanation]]]:
        """Every row as (history?, ids, records), `size` at a time: what the index is rebuilt from."""
        try:
            conn = self._open(readonly=False)  # the caller holds the lock: rolling back a hot journal is safe
        except sqlite3.Error as e:
            raise self._damaged(e) from e
        try:
            cur = conn.execute("SELECT history, id, record FROM records ORDER BY history, id")
            while rows := cur.fetchmany(size):
                for flag in (0, 1):
                    part = [r for r in rows if r[0] == flag]
                    if part:
                        yield bool(flag), [r[1] for r in part], [Explanation.model_validate_json(r[2]) for r in part]
        except sqlite3.Error as e:
            raise self._damaged(e) from e
        finally:
            conn.close()

    def check(self) -> None:
        """StoreError unless SQLite finds the ledger sound and of this format."""
        result = self._query("PRAGMA quick_check")
        if result != [("ok",)]:
            raise self._damaged(str(result[0][0]).splitlines()[-1] if result else "no answer")
        fmt = self._query("SELECT value FROM meta WHERE key = 'format'")
        if fmt != [(str(FORMAT),)]:
            raise StoreError(f"the store's record ledger {self.path} has format {fmt[0][0] if fmt else 'none'}, "
                             f"not {FORMAT}: it was written by another autointerp version")

    # writing (callers hold the store's lock)

    def create(self, rows: Iterable[tuple[bool, str, Explanation]] = ()) -> None:
        """Write a new ledger holding `rows` and move it into place at once: never half a ledger."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=DELETE")
                conn.executescript(_SCHEMA)
                conn.execute("BEGIN")
                conn.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
                conn.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?)",
                                 (_row(h, rid, e) for h, rid, e in rows))
                conn.execute("COMMIT")
            finally:
                conn.close()
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, current: list[Row], history: list[Row]) -> None:
        """Upsert current versions and replaced ones in one transaction."""
        try:
            conn = self._open(readonly=False)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?)",
                                 [_row(True, rid, e) for rid, e in history] +
                                 [_row(False, rid, e) for rid, e in current])
                conn.execute("COMMIT")
            finally:
                conn.close()
        except sqlite3.Error as e:
            raise StoreError(f"cannot write the store's record ledger {self.path}: {e}") from e

