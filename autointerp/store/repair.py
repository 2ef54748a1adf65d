"""Rebuilding a local store's Chroma index from its record ledger."""

from __future__ import annotations

from pathlib import Path

from autointerp.config import Settings, get_settings
from autointerp.errors import InputError
from autointerp.store.backend import LocalBackend


def store_dir(target: Settings | Path | str | None = None) -> Path:
    """The local store directory: `<data dir>/store` of the settings, or the directory given."""
    if target is None or isinstance(target, Settings):
        return (target or get_settings()).data_dir / "store"
    return Path(target).expanduser()


def rebuild_index(target: Settings | Path | str | None = None) -> int:
    """Re-create a local store's Chroma collections from its record ledger, re-embedding every record
    with the bundled MiniLM, and return how many records (current and replaced versions) were indexed.
    Chroma's old files are moved, never deleted, to a sibling `<store>.damaged-<UTC time>` directory
    (`damaged_copies` lists them). `target`: settings (their data dir's store) or a store directory.
    StoreError when the store has no ledger (made before autointerp kept one) or the ledger is damaged."""
    if isinstance(target, Settings) and target.chroma_url:
        raise InputError(f"rebuild-index rebuilds a local store; AUTOINTERP_CHROMA_URL={target.chroma_url} names a "
                         f"Chroma server, which keeps its own files")
    path = store_dir(target)
    if not path.is_dir():
        raise InputError(f"there is no store at {path}")
    return LocalBackend.at(path).rebuild()


def damaged_copies(target: Settings | Path | str | None = None) -> list[Path]:
    """Where `rebuild_index` moved the damaged files of this store, oldest first."""
    path = store_dir(target)
    return sorted(p for p in path.parent.glob(f"{path.name}.damaged-*") if p.is_dir())
