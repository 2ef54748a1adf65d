"""A real server for the web tests: uvicorn on 127.0.0.1 (a free port) in a thread, the real SmolLM2
(the session's target), layers 3 and 29 cached from 4,096 tokens (the session's `real_settings`
caches, linked into a data dir of its own), and a real store seeded with explanations."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from autointerp.config import Settings
from autointerp.records import Evidence, Explanation, HeldOutSplit, Score, TopToken
from tests.conftest import linked_home

EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
EVIL_EVIDENCE = Evidence(top_tokens=[TopToken(token="<b>bold</b>", count=3, max_activation=1.0)],
                         probes=[f"{EVIL} -> 0.5"], substitutions=["' a' -> ' the': 0.1 <i>x</i>"])
SEEDED = {  # neuron -> explanation text
    "L3.N5": f"commas before numbers {EVIL}",
    "L3.N8": "legal contracts and court rulings",
    "L3.N9": "football matches and league tables",
    "L29.N720": "the articles a and an",
}
CONFIDENT = {"L3.N8"}  # seeded current records marked confident; the others are not


def explanation(neuron: str, text: str, model: str = "smollm2-135m", score: float | None = 0.42,
                explainer: str = "local", when: datetime | None = None, **kw) -> Explanation:
    scores = []
    if score is not None:
        split = HeldOutSplit(kind="top-and-random", seed=0, explain_windows=[1, 2], score_top_windows=[3],
                             score_random_windows=[4])
        scores = [Score(neuron=neuron, model=model, explanation=text, method="simulation", simulator="embedding",
                        value=score, per_example=[score], n_tokens=63, n_examples=2, split=split)]
    return Explanation(neuron=neuron, model=model, text=text, scores=scores, method="agent", explainer=explainer,
                       prompt_version="agent_v1", created_at=when or datetime(2026, 1, 1, tzinfo=timezone.utc),
                       evidence=EVIL_EVIDENCE if EVIL in text else Evidence(
                           top_tokens=[TopToken(token=" a", count=13, max_activation=1.7)],
                           probes=["'It was a long day' -> 1.70 on ' a'"]), **kw)


@pytest.fixture(scope="session")
def web_settings(home, real_settings, tmp_path_factory) -> Settings:
    """A data dir of its own (store, transcripts, triage) sharing the real caches of layers 3 and 29,
    the weights, corpora and the synonym index with the session's."""
    s = linked_home(home, tmp_path_factory.mktemp("web-home"), tokens=real_settings.tokens)
    (s.home / "cache").symlink_to(real_settings.home / "cache")
    (home / "synonyms").mkdir(exist_ok=True)  # the MiniLM word index effects' patching uses: built once
    (s.home / "synonyms").symlink_to(home / "synonyms")
    return s


@pytest.fixture(scope="session")
def seeded_store(web_settings):
    from autointerp.store import open_store

    store = open_store(web_settings)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    records = [explanation(n, text, when=t0, confident=n in CONFIDENT) for n, text in SEEDED.items()]
    records.append(explanation("L3.N8", "an older reading of the same neuron", when=t0 - timedelta(days=1)))
    records.append(explanation("L3.N8", "legal text", model="gpt2-small", score=0.9))
    store.add_many(records[-2:])  # the older L3.N8 version first: the seeded one replaces it (history)
    store.add_many(records[:-2])
    return store


@dataclass
class Served:
    url: str
    app: object
    wb: object
    store: object
    settings: Settings


def no_traceback(text: str) -> None:
    """An error page or reply gives its reason, never a Python traceback."""
    assert "Traceback" not in text and 'File "' not in text


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(app):
    """uvicorn serving `app` on 127.0.0.1 (a free port) in a thread; its base URL."""
    import uvicorn

    sock = free_socket()
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    host, port = sock.getsockname()
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def server(smol, web_settings, seeded_store):
    from autointerp.web import create_app
    from autointerp.workbench import Workbench

    wb = Workbench(smol, web_settings, progress=False)
    app = create_app(wb, seeded_store)
    with serving(app) as url:
        yield Served(url, app, wb, seeded_store, web_settings)


def chromium() -> str | None:
    """Debian's chromium; a missing one skips, unless AUTOINTERP_REQUIRE_CHROMIUM=1 (CI) makes it a failure."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and os.environ.get("AUTOINTERP_REQUIRE_CHROMIUM") == "1":
        pytest.fail("chromium is required here (.ci/run installs it)")
    return found


@pytest.fixture(scope="session")
def browser():
    path = chromium()
    if path is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "neuron-page.png"
