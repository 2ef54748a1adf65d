"""Two real processes creating and writing one local store at once lose nothing."""

from __future__ import annotations

import subprocess
import sys
import time

from autointerp.store import open_store
from tests.conftest import env_for
from tests.store.writer import record

SINGLES, BATCHED = 50, 1200  # the batches cross Chroma's HNSW sync threshold (1000): unlocked, vectors got lost


def test_two_processes_write_at_once(fresh_settings, tmp_path):
    env = env_for(fresh_settings)
    env.pop("AUTOINTERP_CHROMA_URL", None)
    procs = [subprocess.Popen([sys.executable, "-m", "tests.store.writer", str(fresh_settings.home), tag, str(SINGLES),
                               str(BATCHED), str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for tag in ("a", "b")]
    deadline = time.time() + 300
    while not all((tmp_path / f"ready-{t}").exists() for t in "ab"):
        assert time.time() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.05)
    (tmp_path / "go").touch()
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results

    store = open_store(fresh_settings)
    n = SINGLES + BATCHED
    assert store.count() == 2 * n
    expected = [record(tag, i) for tag in "ab" for i in range(n)]
    assert sorted(store.list(), key=lambda e: e.text) == sorted(expected, key=lambda e: e.text)
    # every vector is in the HNSW index, not only in the metadata: each stored vector finds its own record
    with store._backend.op() as (current, _):
        stored = current.get(include=["embeddings"])
        found = current.query(query_embeddings=stored["embeddings"], n_results=1, include=["distances"])
    assert [ids[0] for ids in found["ids"]] == stored["ids"]
    assert max(d[0] for d in found["distances"]) < 1e-4
    assert store.search(expected[7].text, k=1)[0].explanation == expected[7]
    assert len(store.all_versions()) == 2 * n  # the ledger, written under the same lock, holds them all too
