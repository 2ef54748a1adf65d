"""Cache builds on the tiny random model: resume after kill, corruption, mismatch, extension."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from autointerp.cache import store
from autointerp.cache.build import build_cache
from autointerp.errors import CacheError
from autointerp.workbench import Workbench
from tests.conftest import env_for, linked_home


def _arrays(settings, layer, corpus="embedded", partial=False):
    from autointerp.cache.build import plan
    from autointerp.targets import load_target

    p = plan(load_target("tiny-random", settings), corpus, None, settings)
    d = p.directory(layer)
    m = store.read_manifest(d, partial)
    assert m is not None and store.verify(d, m) is None
    return m, {k: np.array(v) for k, v in store.load_arrays(d, m).items()}


def _layer_dirs(settings, name):
    """cache/<model>/<corpus>/<window>/<layer>: a fixed-depth glob, never walking into a build's
    temp folders, which vanish while it runs."""
    return sorted((settings.home / "cache").glob(f"*/*/*/{name}"))


def _layer_dir(settings, layer):
    return _layer_dirs(settings, f"layer{layer:02d}")[0]


def _canonical(a):
    """Slot order inside a bottom-K buffer is arbitrary: sort each neuron's slots by window id."""
    out = dict(a)
    for p in ("top", "q"):
        order = np.argsort(a[f"{p}_win"], axis=1, kind="stable")
        out[f"{p}_win"] = np.take_along_axis(a[f"{p}_win"], order, 1)
        out[f"{p}_keys"] = np.take_along_axis(a[f"{p}_keys"], order, 1)
        out[f"{p}_acts"] = np.take_along_axis(a[f"{p}_acts"], order[:, :, None], 1)
    order = np.argsort(a["r_win"], kind="stable")
    out["r_win"], out["r_keys"], out["r_acts"] = a["r_win"][order], a["r_keys"][order], a["r_acts"][order]
    return out


def _assert_same(a, b):
    """Same windows chosen, same counts; floats may differ in the last bits when batch shapes differ."""
    a, b = _canonical(a), _canonical(b)
    assert a.keys() == b.keys()
    for k in a:
        if a[k].dtype.kind == "f":
            assert np.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), k
        else:
            assert np.array_equal(a[k], b[k]), k


def test_build_then_reuse(fresh_settings, tiny):
    build_cache([0, 1], model="tiny-random", tokens=3000, settings=fresh_settings, progress=False)
    m0, a0 = _arrays(fresh_settings, 0)
    assert m0.status == "complete" and m0.windows_done == m0.n_windows_target == 48
    filled = (a0["top_win"] >= 0).sum(1)
    assert a0["top_win"].max() == 47 and (filled == 48).all()  # fewer windows than K: every window kept
    build_cache([0, 1], model="tiny-random", tokens=3000, settings=fresh_settings, progress=False)
    assert _arrays(fresh_settings, 0)[0].checkpoint == m0.checkpoint  # reused, not rewritten


def test_extending_equals_building_directly(fresh_settings, settings, tmp_path, tiny):
    build_cache([1], model="tiny-random", tokens=1000, settings=fresh_settings, progress=False)
    build_cache([1], model="tiny-random", tokens=4000, settings=fresh_settings, progress=False)
    direct = linked_home(settings.home, tmp_path / "direct")
    build_cache([1], model="tiny-random", tokens=4000, settings=direct, progress=False)
    _assert_same(_arrays(fresh_settings, 1)[1], _arrays(direct, 1)[1])


def test_corrupt_file_is_detected_and_rebuilt(fresh_settings, tiny, capsys):
    build_cache([0], model="tiny-random", tokens=2000, settings=fresh_settings, progress=False)
    m, before = _arrays(fresh_settings, 0)
    d = next((fresh_settings.home / "cache").rglob("layer00"))
    path = d / m.checkpoint / "top_acts.npy"
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CacheError):
        Workbench.open("tiny-random", settings=fresh_settings).layer(0, build=False)
    build_cache([0], model="tiny-random", tokens=2000, settings=fresh_settings, progress=False)
    _assert_same(_arrays(fresh_settings, 0)[1], before)


def test_workbench_opens_each_layer_once(fresh_settings, tiny, monkeypatch):
    build_cache([0, 1], model="tiny-random", tokens=2000, settings=fresh_settings, progress=False)
    import autointerp.workbench as workbench

    opened = []
    real_open = workbench.open_layer
    monkeypatch.setattr(workbench, "open_layer", lambda *a, **kw: opened.append(a[1].layer) or real_open(*a, **kw))
    wb = Workbench.open("tiny-random", settings=fresh_settings, progress=False)
    assert wb.model == "tiny-random"
    first = wb.layer(0, build=False)
    assert wb.layer(0) is first and wb.layer(0, build=False) is first
    assert wb.layer(1) is not first and opened == [0, 1]
    wb.forget(0)
    again = wb.layer(0)
    assert again is not first and again.manifest == first.manifest and opened == [0, 1, 0]
    assert wb.layer(1) is wb.layer(1) and opened == [0, 1, 0]


def test_mismatched_manifest_is_rebuilt(fresh_settings, tiny):
    build_cache([0], model="tiny-random", tokens=2000, settings=fresh_settings, progress=False)
    d = next((fresh_settings.home / "cache").rglob("layer00"))
    m = json.loads((d / "manifest.json").read_text())
    m["corpus_hash"] = "0" * 64
    (d / "manifest.json").write_text(json.dumps(m))
    build_cache([0], model="tiny-random", tokens=2000, settings=fresh_settings, progress=False)
    assert store.read_manifest(d).corpus_hash != "0" * 64
    (d / "manifest.json").write_text("{ truncated")
    build_cache([0], model="tiny-random", tokens=2000, settings=fresh_settings, progress=False)
    assert store.read_manifest(d).status == "complete"


def _start_build(settings, tokens):
    cmd = [sys.executable, "-m", "autointerp.cli", "cache", "--model", "tiny-random", "--layers", "0,1",
           "--tokens", str(tokens)]
    env = env_for(settings, AUTOINTERP_CHECKPOINT_SECONDS="0", AUTOINTERP_BATCH_SIZE="4")
    return cmd, env, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_partial(settings, proc, layer_name="layer01", timeout=180):
    t0 = time.time()
    while time.time() - t0 < timeout:
        for d in _layer_dirs(settings, layer_name):
            m = store.read_manifest(d, partial=True)
            if m and m.status == "partial" and m.windows_done >= 40:
                return m
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    raise AssertionError("no partial checkpoint appeared")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_interrupted_build_resumes_to_the_same_result(fresh_settings, settings, tmp_path, tiny, sig):
    tokens = 200_000
    cmd, env, proc = _start_build(fresh_settings, tokens)
    seen = _wait_partial(fresh_settings, proc)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # a clean stop: progress saved, exit 130, told how to resume
        assert proc.returncode == 130
        assert "resume" in proc.stderr.read().decode()
    m, _ = _arrays(fresh_settings, 1, partial=True)
    assert m.status == "partial" and m.windows_done >= seen.windows_done
    assert store.read_manifest(m_dir := _layer_dir(fresh_settings, 1)) is None  # no reader ever sees a partial cache
    assert (m_dir / store.PARTIAL).exists()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    direct = linked_home(settings.home, tmp_path / "direct", batch_size=4)
    build_cache([0, 1], model="tiny-random", tokens=tokens, settings=direct, progress=False)
    for layer in (0, 1):
        m, got = _arrays(fresh_settings, layer)
        assert m.status == "complete"
        _assert_same(got, _arrays(direct, layer)[1])
