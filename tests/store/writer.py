"""A separate process that adds explanations, started in step with its twin: one by one, then in batches."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from autointerp.config import Settings
from autointerp.records import Explanation
from autointerp.store import open_store
from autointerp.store.embedding import embed_texts
from tests.store.samples import make

WORDS = ["rivers", "verbs", "prices", "songs", "laws", "stars", "tools"]


def record(tag: str, i: int) -> Explanation:
    return make(f"L{i % 5}.N{i}", f"writer {tag} topic {i}: {WORDS[i % len(WORDS)]} and {WORDS[i // 7 % len(WORDS)]}",
                explainer=f"writer-{tag}", minutes=i % 1000)


def main(home: str, tag: str, singles: int, batched: int, sync_dir: str) -> None:
    store = open_store(Settings(home=Path(home)))
    embed_texts(["warm up"])  # load MiniLM before the start line, so both write at the same time
    sync = Path(sync_dir)
    (sync / f"ready-{tag}").touch()
    deadline = time.time() + 120
    while not (sync / "go").exists():
        if time.time() > deadline:
            sys.exit("no go signal")
        time.sleep(0.01)
    for i in range(singles):
        store.add(record(tag, i))
    for start in range(singles, singles + batched, 100):
        store.add_many([record(tag, i) for i in range(start, min(start + 100, singles + batched))])
    print(store.count())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
