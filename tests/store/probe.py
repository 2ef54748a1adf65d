"""A separate process that opens a store and only reads it, printing one line per store.

`search HOME...`: count and search each store (damaged ones must fail with one StoreError line,
never a Rust panic or a traceback). `exact HOME OUT`: every exact read, and an export to OUT."""

from __future__ import annotations

import sys
from pathlib import Path

from autointerp.config import Settings
from autointerp.errors import AutointerpError
from autointerp.store import export_records, open_store
from tests.store.samples import MODEL


def search(homes: list[str]) -> None:
    for home in homes:
        store = open_store(Settings(home=Path(home)))
        try:
            outcome = f"count {store.count()}; "
            outcome += f"hit {store.search('legal text', k=1)[0].explanation.neuron}"
        except AutointerpError as e:
            outcome += f"{type(e).__name__}: {e}"
        print(f"{home}\t{outcome}", flush=True)


def exact(home: str, out: str) -> None:
    store = open_store(Settings(home=Path(home)))
    found = (len(store.list()), len(store.list(layer=6)), len(store.get(MODEL, "L6.N74")),
             len(store.history(MODEL, "L6.N74")), store.count(), store.has(MODEL, "L6.N74", "local", "agent_v1"),
             store.best(MODEL, "L6.N74") is not None, store.latest(MODEL, "L6.N74") is not None,
             len(store.all_versions()), export_records(store, Path(out)))
    print(*found, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "search":
        search(sys.argv[2:])
    else:
        exact(sys.argv[2], sys.argv[3])
