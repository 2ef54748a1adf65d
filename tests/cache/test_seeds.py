"""Seeds and caches: an eval's seed never touches a cache; each cache seed's caches live side by side;
a rebuild never replaces the cache a reader is using until the new one is complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from autointerp.cache import store
from autointerp.cache.build import build_cache
from autointerp.records import UnitId
from autointerp.workbench import Workbench
from tests.conftest import env_for
from tests.test_cli import run


def _manifests(settings) -> dict[str, store.CacheManifest]:
    return {str(p.parent.relative_to(settings.home)): store.read_manifest(p.parent)
            for p in settings.layout.cache_manifests()}


def test_cache_seeds_live_side_by_side(fresh_settings, tiny):
    build_cache([0], model="tiny-random", tokens=3000, settings=fresh_settings, progress=False)
    before = _manifests(fresh_settings)
    seven = fresh_settings.model_copy(update={"cache_seed": 7})
    build_cache([0], model="tiny-random", tokens=3000, settings=seven, progress=False)
    after = _manifests(fresh_settings)
    assert len(before) == 1 and len(after) == 2
    (default,) = before
    assert after[default] == before[default]  # untouched: same checkpoint, same seed
    (other,) = set(after) - {default}
    assert "w64-s7" in other and after[other].seed == 7 and after[default].seed == 0
    wb0 = Workbench.open("tiny-random", settings=fresh_settings, progress=False).layer(0, build=False)
    wb7 = Workbench.open("tiny-random", settings=seven, progress=False).layer(0, build=False)
    assert not np.array_equal(wb0.plan.windows.tokens[:8], wb7.plan.windows.tokens[:8])  # another shuffle
    # An eval's seed is not a cache seed: settings with seed 7 open the default cache, build nothing.
    evals = fresh_settings.model_copy(update={"seed": 7})
    opened = Workbench.open("tiny-random", settings=evals, progress=False).layer(0, build=False)
    assert opened.manifest == before[default]


def _wait_for_partial(d, proc, timeout=180):
    t0 = time.time()
    while time.time() - t0 < timeout:
        m = store.read_manifest(d, partial=True)
        if m is not None and m.windows_done >= 40:
            return m
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    raise AssertionError("no partial checkpoint appeared")


def test_a_rebuild_never_replaces_the_cache_in_use(fresh_settings, tiny):
    build_cache([1], model="tiny-random", tokens=3000, settings=fresh_settings, progress=False)
    reader = Workbench.open("tiny-random", settings=fresh_settings, progress=False)
    in_use = reader.layer(1, build=False)
    nid = UnitId(layer=1, index=5)
    seen = in_use.unit(nid).model_dump_json()
    d = in_use.plan.directory(1)
    old = store.read_manifest(d)
    # Another process rebuilds the layer with other settings (a mismatch: top_k 50).
    cmd = [sys.executable, "-m", "autointerp.cli", "cache", "--model", "tiny-random", "--layers", "1",
           "--tokens", "200000"]
    env = env_for(fresh_settings, AUTOINTERP_CHECKPOINT_SECONDS="0", AUTOINTERP_BATCH_SIZE="4", AUTOINTERP_TOP_K="50")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        partial = _wait_for_partial(d, proc)
        assert partial.top_k == 50
        # Mid-rebuild: the complete cache is still the old one, and a new reader opens it as it was.
        assert store.read_manifest(d) == old and store.verify(d, old) is None
        fresh = Workbench.open("tiny-random", settings=fresh_settings, progress=False).layer(1, build=False)
        assert fresh.manifest == old and fresh.unit(nid).model_dump_json() == seen
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    # The rebuild completes (in this process, a smaller budget): swapped in whole, the old files gone.
    rebuilt = fresh_settings.model_copy(update={"top_k": 50})
    build_cache([1], model="tiny-random", tokens=3000, settings=rebuilt, progress=False)
    new = store.read_manifest(d)
    assert new.top_k == 50 and new.status == "complete" and new.checkpoint != old.checkpoint
    assert not (d / old.checkpoint).exists() and not (d / store.PARTIAL).exists()
    # The reader that opened the old cache keeps reading it, unchanged (its files stay mapped).
    assert in_use.unit(nid).model_dump_json() == seen
    assert reader.layer(1) is in_use


def test_waiting_for_another_build(fresh_settings, tiny):
    """Two builders of one layer: the second waits on the lock, then finds the layer done."""
    from filelock import FileLock

    build_cache([0], model="tiny-random", tokens=1000, settings=fresh_settings, progress=False)
    d = next((fresh_settings.home / "cache").rglob("layer00"))
    done = store.read_manifest(d)
    lock = FileLock(str(d / store.LOCK))
    lines: list[str] = []
    with lock:
        cmd = [sys.executable, "-m", "autointerp.cli", "cache", "--model", "tiny-random", "--layers", "0",
               "--tokens", "1000"]
        proc = subprocess.Popen(cmd, env=env_for(fresh_settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        t0 = time.time()
        while not any("waiting for another build" in line for line in lines) and time.time() - t0 < 300:
            assert proc.poll() is None, "".join(lines)  # it waits while the lock is held
            time.sleep(0.1)
        assert any("waiting for another build" in line for line in lines)
        time.sleep(1)
        assert proc.poll() is None
    assert proc.wait(timeout=120) == 0, "".join(lines)
    reader.join(timeout=10)
    assert store.read_manifest(d) == done  # found complete after the wait: nothing rebuilt


@pytest.mark.integration
def test_eval_seed_rebuilds_no_cache(real_settings, tmp_path):
    """`eval real --seed 7` after the default caches: other neurons, the same caches, untouched."""
    before = _manifests(real_settings)
    assert len(before) == 2
    r = run(real_settings, "eval", "real", "--seed", "7", "--n", "2", "--layers", "3,29", "--explainers",
            "heuristic", "--llm-simulator", "none", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "rebuilt" not in r.stderr and "layers 3" not in r.stderr  # no cache progress bar either
    assert _manifests(real_settings) == before
    res = json.loads((tmp_path / "real.json").read_text())
    assert res["info"]["seed"] == 7
    shown = run(real_settings, "show", res["neurons"][0], "--json")
    assert shown.returncode == 0 and "rebuilt" not in shown.stderr
    assert _manifests(real_settings) == before
