"""Explanation store and semantic search on Chroma, embedded with the bundled MiniLM.

Names load on first use, so `autointerp --help` and other commands do not import chromadb and torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_WHERE = {"SearchHit": "chroma_store", "Store": "chroma_store", "open_store": "chroma_store",
          "ImportResult": "transfer", "ImportRejected": "transfer", "export_records": "transfer",
          "import_records": "transfer", "rebuild_index": "repair", "damaged_copies": "repair",
          "model_shape": "shapes"}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from autointerp.store.chroma_store import SearchHit, Store, open_store
    from autointerp.store.repair import damaged_copies, rebuild_index
    from autointerp.store.shapes import model_shape
    from autointerp.store.transfer import ImportRejected, ImportResult, export_records, import_records


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'autointerp.store' has no attribute {name!r}")
    return getattr(import_module(f"autointerp.store.{_WHERE[name]}"), name)
