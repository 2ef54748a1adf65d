"""A real `chroma run` server on one port and directory, which a test can stop and start again (the
`chroma` fixture: one started for the test)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.store.test_server import CHROMA, _answers, free_port


class Chroma:
    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.folder / "chroma.log", "ab") as log:
            self.proc = subprocess.Popen([CHROMA, "run", "--path", str(self.folder / "db"), "--host", "127.0.0.1",
                                          "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not _answers(self.url):
            assert self.proc.poll() is None, (self.folder / "chroma.log").read_text(errors="replace")
            assert time.time() < deadline, "chroma run did not answer its heartbeat in 60 s"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture()
def chroma(tmp_path):
    if CHROMA is None:
        pytest.skip("the `chroma` CLI (chromadb's server binary) is not installed next to this Python or on PATH")
    server = Chroma(tmp_path)
    server.start()
    yield server
    server.stop()
