"""Chroma connections: a server over HTTP, or a local directory shared safely between processes.

Chroma's local mode keeps an HNSW index in each process's memory and writes it to disk now and then,
trimming its write-ahead log once it has. Two processes writing one directory each flushed their own
view and vectors got lost (found by tests/store/test_concurrency.py) even with writes serialised. So
every operation takes a file lock, every write records a new generation, and a process that finds
another's generation reopens the directory from disk before it does anything.

A local directory also holds the record ledger (ledger.py), written under the same lock before Chroma
is. Chroma is opened only when an operation needs it (search, writes), after SQLite has checked its
database: a garbled `chroma.sqlite3` made Chroma's Rust core panic. Reads never create anything, and
local collections persist their HNSW index on every write (`sync_threshold` 1): with Chroma's default
(1000) every process that opened the store replayed the unpersisted log and rewrote the index files.

A server that stops answering (restarted, briefly gone) has its writes retried with backoff for a bounded
time (`Settings.store_retry_seconds`); then one StoreError says it gave up, naming the server.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from autointerp.embeddings import MODEL_ID
from autointerp.errors import InputError, StoreError
from autointerp.fileio import atomic_write_text
from autointerp.store import keys
from autointerp.store.embedding import NAME as EMBEDDER
from autointerp.store.embedding import MiniLMEmbedding
from autointerp.store.ledger import NAME as LEDGER
from autointerp.store.ledger import Ledger

CURRENT = "autointerp-explanations"
HISTORY = "autointerp-history"
FORMAT = 1
CHROMA_DB = "chroma.sqlite3"
LOCK = "autointerp.lock"
GENERATION = "autointerp.generation"
# Chroma's own tables a sound store has (chromadb 1.x); checked before chromadb opens the file.
CHROMA_TABLES = ("migrations", "collections", "segments", "embeddings", "embedding_metadata", "max_seq_id",
                 "embeddings_queue")
REBUILD_HINT = "`autointerp store rebuild-index` rebuilds it from the store's record ledger"


def _chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def _is_panic(e: BaseException) -> bool:
    """Chroma's Rust core panicking surfaces as pyo3's PanicException, a BaseException."""
    return type(e).__name__ == "PanicException"


def open_collection(client, name: str, where: str, create: bool = True, local: bool = False):
    """Get (or create) a collection, refusing one embedded by another model or measured otherwise than
    cosine. Without `create`, None when it does not exist. `local`: persist the HNSW index on every write."""
    from chromadb.errors import NotFoundError

    hnsw = {"space": "cosine", "sync_threshold": 1} if local else {"space": "cosine"}
    try:
        try:  # no embedding function here: Chroma would raise its own conflict before we can explain
            col = client.get_collection(name, embedding_function=None)
        except NotFoundError:
            if not create:
                return None
            col = client.get_or_create_collection(
                name, configuration={"hnsw": hnsw}, embedding_function=MiniLMEmbedding(),
                metadata={"embedding_model": MODEL_ID, "embedding_dim": 384, "format": FORMAT})
    except Exception as e:  # chromadb raises bare ValueError/InternalError subclasses
        raise StoreError(f"cannot open collection {name!r} in {where}: {e}") from e
    except BaseException as e:
        if _is_panic(e):
            raise StoreError(f"cannot open collection {name!r} in {where}: Chroma failed: {e}") from None
        raise
    model = (col.metadata or {}).get("embedding_model")
    config = col.configuration_json or {}
    ef = (config.get("embedding_function") or {}).get("name")
    if model != MODEL_ID or ef not in (None, EMBEDDER):
        other = model if model != MODEL_ID else f"the embedding function {ef!r}"
        raise StoreError(f"collection {name!r} in {where} holds embeddings of {other or 'an unrecorded model'}, "
                         f"not {MODEL_ID}: refusing to mix them; use another store or re-embed (export from it, "
                         f"import into an empty store)")
    space = (config.get("hnsw") or {}).get("space")
    if space not in (None, "cosine"):
        raise StoreError(f"collection {name!r} in {where} uses {space} distance, not cosine")
    if local and create and (config.get("hnsw") or {}).get("sync_threshold", 1) != 1:
        try:  # a collection made before: persist from now on (the only modification made, and on writes only)
            col.modify(configuration={"hnsw": {"sync_threshold": 1}})
        except Exception as e:
            raise StoreError(f"cannot update collection {name!r} in {where}: {e}") from e
    return col


class _NoCollection:
    """Stands in, for reads, for a collection not created yet: it finds nothing and creates nothing."""

    metadata: dict = {}

    def count(self) -> int:
        return 0

    def get(self, ids=None, where=None, include=(), **_) -> dict:
        return {"ids": [], "metadatas": [], "documents": [], "embeddings": []}

    def query(self, query_embeddings, n_results=10, where=None, include=(), **_) -> dict:
        n = len(query_embeddings)
        return {"ids": [[]] * n, "metadatas": [[]] * n, "documents": [[]] * n, "distances": [[]] * n}


NO_COLLECTION = _NoCollection()


@contextlib.contextmanager
def _typed(where: str, hint: str = "") -> Iterator[None]:
    """Chroma's and the network's failures become one StoreError line naming the store."""
    import httpx
    from chromadb.errors import ChromaError

    try:
        yield
    except (ChromaError, httpx.HTTPError, ConnectionError) as e:
        raise StoreError(f"{where}: {type(e).__name__}: {e}{hint}") from e
    except BaseException as e:
        if _is_panic(e):
            raise StoreError(f"{where}: Chroma failed: {e}{hint}") from None
        raise


def damaged_message(store_dir: Path, problem: str) -> str:
    """Why the index cannot be used, and what to do about it."""
    db = store_dir / CHROMA_DB
    if Ledger(store_dir / LEDGER).exists():
        return f"the store's index {db} is damaged ({problem}); {REBUILD_HINT} (the damaged files are moved aside)"
    return (f"the store's index {db} is damaged ({problem}), and this store has no record ledger to rebuild it "
            f"from (it was made before autointerp kept one): move {store_dir} aside and import an export of it, "
            f"if you have one (`autointerp import FILE`)")


def check_index(store_dir: Path, full: bool = True) -> None:
    """StoreError, saying how to recover, unless Chroma's database under `store_dir` is absent (a new
    store) or sound: SQLite reads it first (read-only; `quick_check` when `full`), as Chroma's Rust core
    panics on a damaged file. An index missing beside a ledger that holds records is damage too."""
    db = store_dir / CHROMA_DB
    if not db.exists():
        ledger = Ledger(store_dir / LEDGER)
        if ledger.exists() and ledger.count():
            raise StoreError(f"the store's index {db} is missing but its record ledger holds "
                             f"{ledger.count()} records; {REBUILD_HINT}")
        return
    problem = None
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        try:
            if full:
                result = conn.execute("PRAGMA quick_check").fetchall()
                if result != [("ok",)]:
                    problem = str(result[0][0]).splitlines()[-1].strip() if result else "no answer"
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.OperationalError as e:
        if "readonly" in str(e).lower():  # a hot journal only a writer can roll back: leave it to Chroma
            return
        problem = str(e)
    except sqlite3.Error as e:
        problem = str(e)
    if problem is None:
        missing = [t for t in CHROMA_TABLES if t not in tables]
        if not tables and not _segment_dirs(store_dir):
            return  # an empty database Chroma had not filled yet: it will
        if missing:
            problem = f"tables missing: {', '.join(missing)}"
    if problem is not None:
        raise StoreError(damaged_message(store_dir, problem))


def _segment_dirs(store_dir: Path) -> list[Path]:
    out = []
    for p in store_dir.iterdir() if store_dir.is_dir() else ():
        try:
            if p.is_dir() and uuid.UUID(p.name):
                out.append(p)
        except ValueError:
            pass
    return out


def _unanswered(e: BaseException) -> bool:
    """Did the server not answer (refused, reset, timed out)? Worth another try; a reply it gave is not."""
    import httpx

    return isinstance(e, StoreError) and isinstance(e.__cause__, (httpx.TransportError, ConnectionError))


class ServerBackend:
    """A Chroma server: it serialises writers itself."""

    def __init__(self, url: str, retry_seconds: float = 60.0):
        import chromadb

        u = urlparse(url if "://" in url else f"http://{url}")
        if u.scheme not in ("http", "https") or not u.hostname:
            raise InputError(f"malformed Chroma URL {url!r}: expected e.g. http://localhost:8000")
        self.where = f"the Chroma server at {url}"
        self.retry_seconds = retry_seconds
        try:
            client = chromadb.HttpClient(host=u.hostname, port=u.port or (443 if u.scheme == "https" else 8000),
                                         ssl=u.scheme == "https", settings=_chroma_settings())
        except Exception as e:
            raise StoreError(f"cannot reach the Chroma server at {url}: {e}") from e
        self.current = open_collection(client, CURRENT, self.where)
        self.history = open_collection(client, HISTORY, self.where)

    ledger = None

    @contextlib.contextmanager
    def op(self, write: bool = False) -> Iterator[tuple]:
        with _typed(self.where):
            yield self.current, self.history

    def attempts(self):
        """Tries of one idempotent write (`for attempt in backend.attempts(): with attempt: ...`): again,
        with exponential backoff, while the server does not answer, for at most `retry_seconds`; then one
        StoreError saying so."""
        from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

        def give_up(state) -> None:
            cause = state.outcome.exception()
            raise StoreError(f"{self.where} did not answer for {state.seconds_since_start:.0f} s "
                             f"({type(cause.__cause__).__name__}: {cause.__cause__})") from cause

        return Retrying(stop=stop_after_delay(self.retry_seconds), retry=retry_if_exception(_unanswered),
                        wait=wait_exponential(multiplier=0.25, max=4), retry_error_callback=give_up)


class LocalBackend:
    """A directory; one instance per directory per process (Chroma shares its state per path too)."""

    _open: dict[str, LocalBackend] = {}

    @classmethod
    def at(cls, path: Path) -> LocalBackend:
        key = str(path.resolve())
        if key not in cls._open:
            cls._open[key] = cls(path)
        return cls._open[key]

    @classmethod
    def forget(cls, path: Path) -> None:
        """Drop this process's open state for a directory (before its files are moved)."""
        backend = cls._open.pop(str(path.resolve()), None)
        if backend is not None:
            backend._close()

    def __init__(self, path: Path):
        from filelock import FileLock

        self.path, self.where = path, str(path)
        self.ledger = Ledger(path / LEDGER)
        self._lock = FileLock(str(path / LOCK))
        self._generation = path / GENERATION
        self._seen: str | None = None
        self._client = None
        self._checked = False  # the full integrity check runs on this process's first open
        self.current = self.history = NO_COLLECTION

    def _read_generation(self) -> str:
        try:
            return self._generation.read_text()
        except FileNotFoundError:
            return ""

    def _close(self) -> None:
        """Drop this process's in-memory Chroma state for the directory."""
        from chromadb.api.shared_system_client import SharedSystemClient

        if self._client is not None:
            ident = self._client._identifier
            system = SharedSystemClient._identifier_to_system.pop(ident, None)
            SharedSystemClient._identifier_to_refcount.pop(ident, None)
            if system is not None:
                system.stop()
        self._client = None
        self.current = self.history = NO_COLLECTION

    def _load(self, create: bool, check: bool = True) -> None:
        """(Re)open the directory from disk, after checking Chroma's database; `create`: the collections too."""
        import chromadb

        self._close()
        if check:
            check_index(self.path, full=not self._checked)
            self._checked = True
        try:
            self._client = chromadb.PersistentClient(path=str(self.path), settings=_chroma_settings())
        except Exception as e:
            raise StoreError(f"cannot open the store at {self.path}: {e}") from e
        except BaseException as e:
            if _is_panic(e):
                raise StoreError(damaged_message(self.path, f"Chroma failed: {e}")) from None
            raise
        self.current = open_collection(self._client, CURRENT, self.where, create, local=True) or NO_COLLECTION
        self.history = open_collection(self._client, HISTORY, self.where, create, local=True) or NO_COLLECTION
        self._seen = self._read_generation()

    def _ensure_ledger(self) -> None:
        """A store made before the ledger gets one, filled from Chroma, on its first write."""
        if self.ledger.exists():
            return
        rows = []
        for flag, col in ((False, self.current), (True, self.history)):
            res = col.get(include=["metadatas"])
            rows += [(flag, rid, keys.from_metadata(m)) for rid, m in zip(res["ids"], res["metadatas"])]
        self.ledger.create(rows)

    @staticmethod
    def attempts():
        """One try of a write, its error raised as it is: a local directory has no server to wait for."""
        from tenacity import Retrying, stop_after_attempt

        return Retrying(stop=stop_after_attempt(1), reraise=True)

    @contextlib.contextmanager
    def op(self, write: bool = False) -> Iterator[tuple]:
        """Yield (current, history) under the lock. A read of a store that does not exist yet yields
        collections that find nothing, and creates no file."""
        if not write and not (self.path / CHROMA_DB).exists():
            check_index(self.path)  # a ledger with records and no index: damage, not emptiness
            yield NO_COLLECTION, NO_COLLECTION
            return
        if write:
            self.path.mkdir(parents=True, exist_ok=True)
        hint = f"; if the store is damaged, {REBUILD_HINT}"
        with self._lock, _typed(self.where, hint):
            stale = self._client is None or self._read_generation() != self._seen
            if stale or (write and (self.current is NO_COLLECTION or self.history is NO_COLLECTION)):
                self._load(create=write)
            if write:  # before writing, so a process killed mid-write still makes the others reopen
                self._ensure_ledger()
                self._seen = uuid.uuid4().hex
                atomic_write_text(self._generation, self._seen)
            yield self.current, self.history

    def rebuild(self) -> int:
        """Move Chroma's files aside and re-create the collections from the ledger; the number of records."""
        from autointerp.store.embedding import embed_texts

        if not self.ledger.exists():
            raise StoreError(f"{self.path} has no record ledger ({LEDGER}): the store was made before autointerp "
                             f"kept one, so its index cannot be rebuilt; if the store still opens, its next write "
                             f"makes the ledger (or export it and import the export into an empty store)")
        self.ledger.check()
        with self._lock, _typed(self.where):
            self._close()
            # first: every other process reopens, even if this one is killed before it is done (a rerun
            # moves a half-built index aside too)
            atomic_write_text(self._generation, uuid.uuid4().hex)
            self._move_aside()
            self._load(create=True, check=False)  # nothing to check: the directory has no index now
            n = 0
            for history, ids, expls in self.ledger.batches():
                col = self.history if history else self.current
                col.upsert(ids=ids, embeddings=embed_texts([e.text for e in expls]), documents=[e.text for e in expls],
                           metadatas=[keys.metadata(e) for e in expls])
                n += len(ids)
        return n

    def _move_aside(self) -> Path | None:
        """Every file but ours goes to a sibling `<store>.damaged-<time>` directory: never deleted."""
        keep = {LEDGER, LOCK, GENERATION, f"{LEDGER}-journal"}
        moving = [p for p in self.path.iterdir() if p.name not in keep and not p.name.startswith(f".{LEDGER}.")]
        if not moving:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        i = 1
        while aside.exists():
            i += 1
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{i}")
        aside.mkdir(parents=True)
        for p in moving:
            shutil.move(str(p), str(aside / p.name))
        return aside
