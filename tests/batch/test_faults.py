"""Batch under faults, for real: a two-node Ray cluster on this machine (`ray start --head` plus a second
`ray start --address`, token authentication on as a real cluster has it) writing to a real `chroma run`
server. A worker process killed with SIGKILL costs only time; a unit that kills its worker every time
is a recorded failure that --retry-failed finds; the store's server stopped mid-batch stops the batch
with one line, and the same command continues once it is back. (Ray puts its nodes on this machine's
own address even when told 127.0.0.1.)"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from autointerp.store import open_store
from tests.batch.test_batch import LAYER, batch_settings  # noqa: F401 - the fixture, shared
from tests.conftest import env_for
from tests.store.chroma_server import chroma  # noqa: F401 - the fixture, shared
from tests.store.test_server import free_port

RAY = shutil.which("ray", path=str(Path(sys.executable).parent))
N = 12
EXPECTED = sorted(f"L{LAYER}.N{i}" for i in range(N))

pytestmark = pytest.mark.integration


class Cluster:
    """Two Ray nodes (one CPU each, so two workers land one per node), each a `ray start --block`
    process in its own process group, ended by that group's id."""

    def __init__(self, folder: Path, temp: Path) -> None:
        token = folder / "auth_token"  # this cluster's own token; ~/.ray is left alone
        token.write_text(secrets.token_hex(32))
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.folder, self.procs = folder, []
        self._start("head", "--head", "--port", str(self.port), "--temp-dir", str(temp), "--include-dashboard",
                    "false", "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port",
                    str(free_port()))
        self._start("node", "--address", self.address)

    def _start(self, name: str, *args: str) -> None:
        log = self.folder / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([RAY, "start", *args, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                                     "--disable-usage-stats", "--block"], env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        deadline = time.time() + 120
        while "Ray runtime started" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.time() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)

    def actors(self, busy: bool = False) -> list[psutil.Process]:
        """This cluster's worker processes (`ray::_Actor`), or only those explaining a unit now."""
        title = "ray::_Actor.label" if busy else "ray::_Actor"
        found = []
        for proc in self.procs:
            try:
                children = psutil.Process(proc.pid).children(recursive=True)
            except psutil.Error:
                continue
            for child in children:
                try:
                    if (child.cmdline() or [""])[0].startswith(title):
                        found.append(child)
                except psutil.Error:  # ended meanwhile
                    continue
        return found

    def close(self) -> None:
        for proc in reversed(self.procs):
            _end_group(proc)


def _end_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if RAY is None:
        pytest.skip("Ray is not installed (pip install 'autointerp[ray]')")
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay short
    c = None
    try:
        c = Cluster(tmp_path_factory.mktemp("cluster"), temp)
        yield c
    finally:
        if c is not None:
            c.close()
        shutil.rmtree(temp, ignore_errors=True)


def _batch(cluster: Cluster, settings, url: str, *args: str, **env: str) -> subprocess.Popen:
    """The same command each time: `batch --ray <head>` with the store on the server."""
    return subprocess.Popen([sys.executable, "-m", "autointerp.cli", "batch", "--layers", str(LAYER), "--heuristic",
                             "--ray", cluster.address, *args],
                            env={**env_for(settings, AUTOINTERP_TOKENS="4096", AUTOINTERP_CHROMA_URL=url, **env),
                                 "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": cluster.env["RAY_AUTH_TOKEN_PATH"]},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(proc: subprocess.Popen, what, seconds: float = 150):
    deadline = time.time() + seconds
    while not (found := what()):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)
    return found


def _failed(settings) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text())["reason"] for p in (settings.data_dir / "batch").rglob("failed/*.json")}


def test_a_worker_killed_mid_batch_costs_only_time(cluster, chroma, batch_settings):  # noqa: F811
    store = open_store(batch_settings, url=chroma.url)
    proc = _batch(cluster, batch_settings, chroma.url, "--neurons", f"0:{N}", "--workers", "2")
    stored_at: dict[str, float] = {}

    def note() -> None:
        now = time.time()
        for r in store.list(layer=LAYER):
            stored_at.setdefault(r.neuron, now)

    _wait(proc, lambda: note() or len(stored_at) >= 2)
    victim = _wait(proc, lambda: cluster.actors(busy=True))[0]
    before = {p.pid for p in cluster.actors()}
    victim.send_signal(signal.SIGKILL)
    killed = time.time()
    replaced = _wait(proc, lambda: note() or [p for p in cluster.actors() if p.pid not in before]) and time.time()
    while proc.poll() is None:
        note()
        time.sleep(0.2)
    _, err = proc.communicate()
    note()
    assert proc.returncode == 0, err
    said = " ".join(err.split())
    unit = re.search(r"(L\d+\.N\d+): its Ray worker died \(", said)
    assert unit and "trying it again (2 of 3)" in said, err
    assert f"complete: {N} explained, 0 failed" in said, err
    versions = store.all_versions()
    assert sorted(e.neuron for e in versions) == EXPECTED, "every unit stored once, none explained twice"
    assert not _failed(batch_settings)
    print(f"\nworker killed: replaced in {replaced - killed:.1f} s; its unit {unit.group(1)} stored "
          f"{stored_at[unit.group(1)] - killed:.1f} s after the kill")


def test_a_unit_that_kills_its_worker_every_time_is_a_recorded_failure(cluster, chroma, batch_settings):  # noqa: F811
    args = ("--neurons", "0:1", "--workers", "1")
    proc = _batch(cluster, batch_settings, chroma.url, *args)
    kills = 0
    deadline = time.time() + 170
    while proc.poll() is None and time.time() < deadline:
        for p in cluster.actors(busy=True):  # whenever a worker is explaining it: as if it ran out of memory
            p.send_signal(signal.SIGKILL)
            kills += 1
            psutil.wait_procs([p], timeout=10)
        time.sleep(0.02)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert kills == 3 and "trying it again (3 of 3)" in " ".join(err.split()), (kills, err)
    reason = _failed(batch_settings)[f"L{LAYER}.N0"]
    assert reason.startswith("its Ray worker died each of the 3 times it was tried; the last time: Actor"), reason
    assert "killed" in reason, reason
    assert "failed" in err and "--retry-failed" in err
    assert open_store(batch_settings, url=chroma.url).count() == 0

    proc = _batch(cluster, batch_settings, chroma.url, *args)  # skipped: it failed before
    _, err = proc.communicate(timeout=170)
    assert proc.returncode == 0 and "1 failed before (--retry-failed)" in " ".join(err.split()), err
    proc = _batch(cluster, batch_settings, chroma.url, *args, "--retry-failed")
    _, err = proc.communicate(timeout=170)
    assert proc.returncode == 0, err
    assert [e.neuron for e in open_store(batch_settings, url=chroma.url).all_versions()] == [f"L{LAYER}.N0"]
    assert not _failed(batch_settings)


def test_the_store_server_stopped_mid_batch_then_the_same_command_resumes(cluster, chroma, batch_settings):  # noqa: F811
    store = open_store(batch_settings, url=chroma.url)
    args = ("--neurons", f"0:{N}", "--workers", "2")
    proc = _batch(cluster, batch_settings, chroma.url, *args, AUTOINTERP_STORE_RETRY_SECONDS="3")
    _wait(proc, lambda: store.count() >= 2)
    chroma.stop()
    stopped = time.time()
    _, err = proc.communicate(timeout=120)
    ended = time.time()
    assert proc.returncode == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert f"the Chroma server at {chroma.url} did not answer for" in errors[0], err
    assert "rerun the same command" in errors[0]
    assert not _failed(batch_settings), "a store that failed is no unit's failure"

    chroma.start()
    before = store.all_versions()
    assert 2 <= len(before) < N and len({e.neuron for e in before}) == len(before)
    proc = _batch(cluster, batch_settings, chroma.url, *args, AUTOINTERP_STORE_RETRY_SECONDS="3")
    _, err = proc.communicate(timeout=170)
    assert proc.returncode == 0, err
    said = " ".join(err.split())
    assert f"complete: {N - len(before)} explained, 0 failed, {len(before)} already stored" in said, err
    versions = store.all_versions()
    assert sorted(e.neuron for e in versions) == EXPECTED, "nothing lost, nothing stored twice"
    assert {e.neuron: e.created_at for e in before}.items() <= {e.neuron: e.created_at for e in versions}.items()
    print(f"\nstore stopped: the batch ended {ended - stopped:.1f} s later with: {errors[0]}")
