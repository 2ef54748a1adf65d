"""Server mode against a real `chroma run` process on a free port."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autointerp.config import Settings
from autointerp.errors import StoreError
from autointerp.store import open_store
from tests.conftest import env_for
from tests.store.samples import MODEL, make, varied

CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    if CHROMA is None:
        pytest.skip("the `chroma` CLI (chromadb's server binary) is not installed next to this Python or on PATH")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "chroma.log", "wb") as log:
        proc = subprocess.Popen([CHROMA, "run", "--path", str(tmp_path / "db"), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 60
            while not _answers(url):
                assert proc.poll() is None, (tmp_path / "chroma.log").read_text(errors="replace")
                assert time.time() < deadline, "chroma run did not answer its heartbeat in 60 s"
                time.sleep(0.2)
            yield url, proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def test_add_and_search_through_a_server(server, fresh_settings):
    url, proc = server
    store = open_store(fresh_settings, url=url)
    assert store.where == f"the Chroma server at {url}"
    store.add_many(varied())
    store.add(make(text="legal language, newer run", value=0.8, minutes=60))
    assert store.count() == len(varied())
    hit = store.search("neurons about legal text", k=1)[0]
    assert hit.explanation.neuron == "L6.N74" and hit.explanation.text == "legal language, newer run"
    assert [e.text for e in store.history(MODEL, "L6.N74")] == [varied()[0].text, "legal language, newer run"]
    assert {h.explanation.neuron for h in store.search("legal", layer=29, k=5)} == {"L29.N720", "L29.N3"}
    assert not (fresh_settings.data_dir / "store").exists()  # nothing written locally

    # the setting (AUTOINTERP_CHROMA_URL) selects the same server
    via_settings = open_store(Settings(home=fresh_settings.home, chroma_url=url))
    assert via_settings.count() == len(varied())
    r = subprocess.run([sys.executable, "-m", "autointerp.cli", "search", "recipes with flour", "-k", "1", "--json",
                        "--chroma-url", url], env=env_for(fresh_settings), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["explanation"]["neuron"] == "L12.N301"

    proc.terminate()
    proc.wait(timeout=30)
    with pytest.raises(StoreError, match=f"the Chroma server at {url}"):
        store.search("legal text")


def test_unreachable_server_is_one_typed_error(fresh_settings):
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        open_store(fresh_settings, url=f"http://127.0.0.1:{free_port()}")
