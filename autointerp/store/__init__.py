"""Explanation store and semantic search on Chroma, embedded with the bundled MiniLM."""

from autointerp.store.chroma_store import SearchHit, Store, open_store
from autointerp.store.transfer import ImportResult, export_records, import_records

__all__ = ["ImportResult", "SearchHit", "Store", "export_records", "import_records", "open_store"]
