"""Chroma connections: a server over HTTP, or a local directory shared safely between processes.

Chroma's local mode keeps an HNSW index in each process's memory and writes it to disk now and then,
trimming its write-ahead log once it has. Two processes writing one directory each flushed their own
view and vectors got lost (found by tests/store/test_concurrency.py) even with writes serialised. So
every operation takes a file lock, every write records a new generation, and a process that finds
another's generation reopens the directory from disk before it does anything.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from autointerp.embeddings import MODEL_ID
from autointerp.errors import InputError, StoreError
from autointerp.fileio import atomic_write_text
from autointerp.store.embedding import NAME as EMBEDDER
from autointerp.store.embedding import MiniLMEmbedding

CURRENT = "autointerp-explanations"
HISTORY = "autointerp-history"
FORMAT = 1


def _chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def open_collection(client, name: str, where: str):
    """Get or create a collection, refusing one embedded by another model or measured otherwise than cosine."""
    from chromadb.errors import NotFoundError

    try:
        try:  # no embedding function here: Chroma would raise its own conflict before we can explain
            col = client.get_collection(name, embedding_function=None)
        except NotFoundError:
            col = client.get_or_create_collection(
                name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=MiniLMEmbedding(),
                metadata={"embedding_model": MODEL_ID, "embedding_dim": 384, "format": FORMAT})
    except Exception as e:  # chromadb raises bare ValueError/InternalError subclasses
        raise StoreError(f"cannot open collection {name!r} in {where}: {e}") from e
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
    return col


@contextlib.contextmanager
def _typed(where: str) -> Iterator[None]:
    """Chroma's and the network's failures become one StoreError line naming the store."""
    import httpx
    from chromadb.errors import ChromaError

    try:
        yield
    except (ChromaError, httpx.HTTPError, ConnectionError) as e:
        raise StoreError(f"{where}: {type(e).__name__}: {e}") from e


class ServerBackend:
    """A Chroma server: it serialises writers itself."""

    def __init__(self, url: str):
        import chromadb

        u = urlparse(url if "://" in url else f"http://{url}")
        if u.scheme not in ("http", "https") or not u.hostname:
            raise InputError(f"malformed Chroma URL {url!r}: expected e.g. http://localhost:8000")
        self.where = f"the Chroma server at {url}"
        try:
            client = chromadb.HttpClient(host=u.hostname, port=u.port or (443 if u.scheme == "https" else 8000),
                                         ssl=u.scheme == "https", settings=_chroma_settings())
        except Exception as e:
            raise StoreError(f"cannot reach the Chroma server at {url}: {e}") from e
        self.current = open_collection(client, CURRENT, self.where)
        self.history = open_collection(client, HISTORY, self.where)

    @contextlib.contextmanager
    def op(self, write: bool = False) -> Iterator[tuple]:
        with _typed(self.where):
            yield self.current, self.history


class LocalBackend:
    """A directory; one instance per directory per process (Chroma shares its state per path too)."""

    _open: dict[str, LocalBackend] = {}

    @classmethod
    def at(cls, path: Path) -> LocalBackend:
        key = str(path.resolve())
        if key not in cls._open:
            cls._open[key] = cls(path)
        return cls._open[key]

    def __init__(self, path: Path):
        from filelock import FileLock

        path.mkdir(parents=True, exist_ok=True)
        self.path, self.where = path, str(path)
        self._lock = FileLock(str(path / "autointerp.lock"))
        self._generation = path / "autointerp.generation"
        self._seen: str | None = None
        self._client = None
        with self._lock:
            self._load()

    def _read_generation(self) -> str:
        try:
            return self._generation.read_text()
        except FileNotFoundError:
            return ""

    def _load(self) -> None:
        """(Re)open the directory from disk, dropping this process's in-memory Chroma state for it."""
        import chromadb
        from chromadb.api.shared_system_client import SharedSystemClient

        if self._client is not None:
            ident = self._client._identifier
            system = SharedSystemClient._identifier_to_system.pop(ident, None)
            SharedSystemClient._identifier_to_refcount.pop(ident, None)
            if system is not None:
                system.stop()
        try:
            self._client = chromadb.PersistentClient(path=str(self.path), settings=_chroma_settings())
        except Exception as e:
            raise StoreError(f"cannot open the store at {self.path}: {e}") from e
        self.current = open_collection(self._client, CURRENT, self.where)
        self.history = open_collection(self._client, HISTORY, self.where)
        self._seen = self._read_generation()

    @contextlib.contextmanager
    def op(self, write: bool = False) -> Iterator[tuple]:
        with self._lock, _typed(self.where):
            if self._read_generation() != self._seen:
                self._load()
            if write:  # before writing, so a process killed mid-write still makes the others reopen
                self._seen = uuid.uuid4().hex
                atomic_write_text(self._generation, self._seen)
            yield self.current, self.history
