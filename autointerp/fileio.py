"""Atomic writes: temp file in the same directory, fsync, rename. Readers never see half a file."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from autointerp.errors import InputError


class WriteError(InputError):
    """An output path that cannot be written (a directory, no permission, a full disk...)."""


def _cannot_write(path: Path, e: OSError) -> WriteError:
    blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if path.is_dir():
        why = "it is a directory"
    elif blocked is not None:
        why = f"{blocked} is not a directory"
    else:
        why = (e.strerror or type(e).__name__).lower()
    return WriteError(f"cannot write {path}: {why}")


def check_writable(path: Path, directory: bool = False) -> Path:
    """Fail before any work when `path` cannot be written: one WriteError naming it and why (it is a
    directory, or with `directory=True` a file; a parent is a file; no permission). Returns `path`."""
    path = Path(path).expanduser()
    what = "write into" if directory else "write"
    try:
        if path.exists() and path.is_dir() != directory:
            raise WriteError(f"cannot {what} {path}: it is {'a file' if directory else 'a directory'}")
        blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocked is not None:
            raise WriteError(f"cannot {what} {path}: {blocked} is not a directory")
        nearest = next((p for p in (path, *path.parents) if p.exists() and p.is_dir()), None)
        if nearest is not None and not os.access(nearest, os.W_OK | os.X_OK):
            raise WriteError(f"cannot {what} {path}: {nearest} is not writable")
    except OSError as e:  # a name too long, a loop of links...
        raise WriteError(f"cannot {what} {path}: {(e.strerror or type(e).__name__).lower()}") from None
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, fsync, rename; nothing is left half-written on failure."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _cannot_write(path, e) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


_NPY_LOCK = threading.Lock()


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """np.load, one thread at a time: it parses the header with ast.literal_eval, and on CPython 3.11
    two threads building ASTs at once can fail with "AST constructor recursion depth mismatch"
    (python/cpython#106905); batch workers open caches concurrently."""
    with _NPY_LOCK:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def save_npy(path: Path, arr: np.ndarray) -> str:
    """Write an array (no pickle) and return its sha256."""
    with open(path, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    return sha256_file(path)


def atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_npy(Path(tmp), arr)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
