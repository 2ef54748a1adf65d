"""`autointerp serve`: the real command in a subprocess, bound to 127.0.0.1 by default."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import env_for


def test_serve_is_a_command_with_its_options():
    from typer.testing import CliRunner

    from autointerp.cli import app

    r = CliRunner().invoke(app, ["serve", "--help"])
    assert r.exit_code == 0
    assert "--host" in r.output and "--port" in r.output and "--model" in r.output


def test_a_taken_port_is_one_error_line_before_the_model_loads(web_settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "autointerp.cli", "serve", "--port", str(port)],
                           env=env_for(web_settings), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().startswith("error: cannot serve on 127.0.0.1:") and len(r.stderr.strip().splitlines()) == 1
    assert time.monotonic() - t0 < 30  # the model was never loaded


@pytest.mark.integration
def test_serve_starts_on_loopback_and_stops_on_ctrl_c(web_settings, seeded_store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = env_for(web_settings, AUTOINTERP_TOKENS=str(web_settings.tokens))
    proc = subprocess.Popen([sys.executable, "-m", "autointerp.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        while line and "serving" not in line:
            line = proc.stderr.readline()
        assert f"serving smollm2-135m at http://127.0.0.1:{port}/" in line, proc.stderr.read() if proc.poll() else line
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/neurons/L3.N8", timeout=30)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert r.status_code == 200 and "legal contracts and court rulings" in r.text
        listening = [c for c in _listeners(proc.pid) if c.endswith(f":{port}")]
        assert listening == [f"127.0.0.1:{port}"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0


def _listeners(pid: int) -> list[str]:
    import psutil

    return [f"{c.laddr.ip}:{c.laddr.port}" for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]
