"""Two batches never do the same work: the second on any of the same layers (same model, explainer
and prompt version) fails at once with one line; a lock left by `kill -9` is no lock at all. And
`triage` on an uncached layer says it is building the cache before it does."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from autointerp.agent.explainers import get_explainer
from autointerp.batch.run import BatchBusy, layer_locks
from tests.conftest import env_for

VERSION = get_explainer("heuristic").prompt_version


def cli(settings, *args):
    return subprocess.run([sys.executable, "-m", "autointerp.cli", *args], capture_output=True, text=True,
                          env=env_for(settings, AUTOINTERP_TOKENS="2048", HF_HUB_OFFLINE="1"), timeout=600)


def test_locks_exclude_overlapping_layers_and_are_released(fresh_settings):
    with layer_locks(fresh_settings, "tiny-random", "none", VERSION, [1, 2]):
        with pytest.raises(BatchBusy, match="another batch is already explaining layer 2 of tiny-random"):
            with layer_locks(fresh_settings, "tiny-random", "none", VERSION, [2, 3]):
                pass
        with layer_locks(fresh_settings, "tiny-random", "none", VERSION, [3]):  # 3 was not kept by the failure
            pass
        with layer_locks(fresh_settings, "tiny-random", "local", VERSION, [1]):  # another explainer: other work
            pass
    with layer_locks(fresh_settings, "tiny-random", "none", VERSION, [1, 2, 3]):  # all released
        pass


def test_a_lock_left_by_kill_9_is_harmless(fresh_settings):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom autointerp.batch.run import layer_locks\n"
         "from autointerp.config import Settings\n"
         f"with layer_locks(Settings(home={str(fresh_settings.home)!r}), 'tiny-random', 'none', {VERSION!r}, [0]):\n"
         "    print('held', flush=True)\n    time.sleep(600)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BatchBusy):
            with layer_locks(fresh_settings, "tiny-random", "none", VERSION, [0]):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert list((fresh_settings.data_dir / "batch").glob("*.lock")), "the lock file itself stays behind"
    with layer_locks(fresh_settings, "tiny-random", "none", VERSION, [0]):  # the OS dropped the lock
        pass


def test_a_second_batch_on_the_same_layer_says_so(fresh_settings, tiny):
    with layer_locks(fresh_settings, "tiny-random", "none", VERSION, [1]):
        r = cli(fresh_settings, "batch", "--layers", "0,1", "--neurons", "0:2", "--model", "tiny-random", "--heuristic")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("error: another batch is already explaining layer 1 of tiny-random"), lines
    assert not (fresh_settings.data_dir / "store").exists() and not (fresh_settings.data_dir / "cache").exists()


def test_triage_says_it_builds_a_missing_cache(fresh_settings, tiny):
    r = cli(fresh_settings, "triage", "--layer", "1", "--neurons", "0:3", "--model", "tiny-random", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    first = r.stderr.splitlines()[0]
    assert first.startswith("layer 1 of tiny-random has no complete cache: building it first"), r.stderr
    assert "tokens" in r.stderr.split("\n", 1)[1]  # then the progress bar
    r = cli(fresh_settings, "triage", "--layer", "1", "--neurons", "0:3", "--model", "tiny-random", "--json")
    assert r.returncode == 0 and "building" not in r.stderr, r.stderr
