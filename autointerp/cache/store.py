"""On-disk layer caches: one directory per (model, corpus, window, cache seed, layer), checked
before use.

A checkpoint is a directory of .npy files written under a temporary name and renamed into place;
the manifest naming it (with a CRC32 of every file) is replaced atomically afterwards. Whatever a
kill interrupts, the manifest names a complete checkpoint or the cache is rebuilt.

Readers only ever read `manifest.json`, which names a complete checkpoint. A build in progress
(a first build, an extension or a rebuild) checkpoints under `partial.json` and new checkpoint
directories, so the complete cache stays in place and readable until the new one is complete and
swapped in by one rename. A reader that already opened the old checkpoint keeps reading it (its
files are memory-mapped; on POSIX a removed file stays readable while mapped).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from autointerp.cache import sparse
from autointerp.cache.sparse import SparseRows
from autointerp.fileio import atomic_write_text, load_npy
from autointerp.records import CacheManifest

FORMAT = 2  # 2: neuron-major bottom-K buffers
SPARSE_FORMAT = 3  # 2, with the example activations stored as their nonzeros (`sparse.py`): latents
MANIFEST = "manifest.json"  # the complete cache readers use
PARTIAL = "partial.json"  # a build in progress, beside it
LOCK = ".build.lock"


def crc32_file(path: Path) -> str:
    crc = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


def write_checkpoint(directory: Path, manifest: CacheManifest, arrays: dict[str, np.ndarray]) -> CacheManifest:
    """Write arrays + manifest atomically; remove older checkpoints only once the new one is named."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix=".tmp-"))
    try:
        files = {}
        for name, arr in arrays.items():
            path = tmp / f"{name}.npy"
            np.save(path, arr, allow_pickle=False)
            files[f"{name}.npy"] = crc32_file(path)
        ckpt = f"ckpt-{manifest.windows_done}-{time.time_ns()}"
        tmp.rename(directory / ckpt)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = manifest.model_copy(update={"checkpoint": ckpt, "files": files})
    keep = {ckpt}
    if manifest.status == "complete":
        atomic_write_text(directory / MANIFEST, manifest.model_dump_json(indent=1))
        (directory / PARTIAL).unlink(missing_ok=True)
    else:
        atomic_write_text(directory / PARTIAL, manifest.model_dump_json(indent=1))
        if (in_use := read_manifest(directory)) is not None:
            keep.add(in_use.checkpoint)
    for old in directory.iterdir():
        if old.is_dir() and old.name not in keep and (old.name.startswith("ckpt-") or old.name.startswith(".tmp-")):
            shutil.rmtree(old, ignore_errors=True)
    return manifest


def read_manifest(directory: Path, partial: bool = False) -> CacheManifest | None:
    """The complete cache's manifest (or, with `partial`, the build in progress's); None when absent
    or unreadable."""
    try:
        return CacheManifest.model_validate(json.loads((directory / (PARTIAL if partial else MANIFEST)).read_text()))
    except (OSError, ValueError, ValidationError):
        return None


def verify(directory: Path, manifest: CacheManifest) -> str | None:
    """None when every file of the checkpoint is present and intact, else why not."""
    ckpt = directory / manifest.checkpoint
    for name, crc in manifest.files.items():
        path = ckpt / name
        if not path.is_file():
            return f"missing {name}"
        if crc32_file(path) != crc:
            return f"checksum mismatch in {name}"
    return None


def load_arrays(directory: Path, manifest: CacheManifest, mmap: bool = True) -> dict[str, np.ndarray | SparseRows]:
    """The checkpoint's arrays by name; a block stored as nonzeros comes back as one `SparseRows`."""
    ckpt = directory / manifest.checkpoint
    return sparse.assemble({
        name[: -len(".npy")]: load_npy(ckpt / name, mmap)
        for name in manifest.files
    })
