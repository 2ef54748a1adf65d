"""The model's worker thread under load, over HTTP against the real server and the real SmolLM2:
probes of one layer waiting together run as one forward with each request's own results, a full
queue answers 429 with Retry-After, and pages and search answer while probes wait for the model.

The tests hold the model's lock (`Target.lock`, which an explain run's forward also takes) so that
probes queue for as long as the test needs them to: what waits and what answers is then certain,
not a matter of timing."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest

from autointerp.tools.probe import probe
from autointerp.web.worker import CAPACITY

pytestmark = pytest.mark.integration

TEXTS = ["It was a long day", "He is an engineer", "The court ruled in 1999 that the contract was void",
         "def main():\n    return 0", "A rough road", "She said: not now, maybe later, after the football match"]


@pytest.fixture()
def http(server):
    with httpx.Client(base_url=server.url, timeout=120, limits=httpx.Limits(max_connections=200)) as c:
        yield c


@pytest.fixture()
def pool():
    with ThreadPoolExecutor(max_workers=CAPACITY + 16) as ex:
        yield ex


@contextmanager
def model_held(server):
    """The model's lock held by the test: the worker's forward waits until the block ends."""
    lock = server.wb.target.lock
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def wait_until(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


def send_probes(http, pool, worker, bodies: list[dict]) -> list[Future]:
    """POST each body to /api/probe from its own thread; return once the worker has queued them all."""
    before = worker.submitted
    futures = [pool.submit(http.post, "/api/probe", json=b) for b in bodies]
    wait_until(lambda: worker.submitted - before >= len(bodies) or any(f.done() for f in futures),
               f"{len(bodies)} probes queued")
    return futures


def test_probes_waiting_together_are_batched_with_each_ones_own_results(server, http, pool):
    worker = server.app.state.web.worker
    bodies = [{"neuron": f"L3.N{n}", "texts": TEXTS[i:i + 1 + i % 3]} for i, n in enumerate((5, 8, 9, 100, 700, 1535))]
    forwards = worker.forwards
    with model_held(server):
        futures = send_probes(http, pool, worker, bodies)
        # Sent last: a bad text fails before the forward, so the worker may answer it at once when it
        # takes it with the others (it did on a busy machine); only the good ones must wait.
        (bad,) = send_probes(http, pool, worker, [{"neuron": "L3.N6", "texts": ["fine", "   "]}])
        early = [(i, f.exception() or f.result().text[:200]) for i, f in enumerate(futures) if f.done()]
        assert not early, f"answered while the model was held: {early}"  # all wait on the model
    answers, bad = [f.result(timeout=120) for f in futures], bad.result(timeout=120)
    assert bad.status_code == 400 and bad.json() == {"error": "text 2 is empty"}  # only its own request fails
    # the first may have been taken alone before the rest arrived; the rest waited together: one forward
    assert worker.forwards - forwards <= 2 < len(bodies)
    for body, r in zip(bodies, answers):
        assert r.status_code == 200, r.text
        alone = probe(server.wb, body["neuron"], body["texts"]).model_dump(mode="json")
        got = r.json()
        assert (got["neuron"], got["model"], len(got["records"])) == (alone["neuron"], alone["model"], len(body["texts"]))
        for g, a in zip(got["records"], alone["records"]):
            assert (g["tokens"], g["token_ids"], g["max_index"], g["max_token"]) == \
                   (a["tokens"], a["token_ids"], a["max_index"], a["max_token"])
            assert g["activations"] == pytest.approx(a["activations"], abs=1e-4)


def test_a_full_queue_answers_429_with_retry_after(server, http, pool):
    worker = server.app.state.web.worker
    with model_held(server):
        first = send_probes(http, pool, worker, [{"neuron": "L3.N5", "texts": ["the first"]}])
        wait_until(lambda: worker.waiting == 0, "the worker took the first probe")  # and waits for the model
        queued = send_probes(http, pool, worker, [{"neuron": "L29.N720", "texts": [f"text {i}"]}
                                                  for i in range(CAPACITY)])
        assert worker.waiting == CAPACITY
        r = http.post("/api/probe", json={"neuron": "L3.N8", "texts": ["one too many"]})
        assert r.status_code == 429, r.text
        assert int(r.headers["Retry-After"]) >= 1 and "busy" in r.json()["error"]
        r = http.post("/api/neurons/L3.N700/effects")  # effects queue on the same thread
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert not any(f.done() for f in first + queued)
    assert all(f.result(timeout=120).status_code == 200 for f in first + queued)  # none dropped
    assert http.post("/api/probe", json={"neuron": "L3.N8", "texts": ["room again"]}).status_code == 200


def test_pages_and_search_answer_while_probes_wait(server, http, pool):
    """More probes waiting than the server has request threads (40): pages, the neuron API and search
    still answer, each before any of the probes."""
    worker = server.app.state.web.worker
    with model_held(server):
        probes = send_probes(http, pool, worker, [{"neuron": f"L3.N{i}", "texts": [TEXTS[i % len(TEXTS)]]}
                                                  for i in range(48)])
        for path in ("/neurons/L3.N5", "/api/neurons/L3.N8", "/api/search?q=legal+contracts", "/layers/3"):
            r = http.get(path)
            assert r.status_code == 200, (path, r.text[:200])
            assert not any(f.done() for f in probes), f"{path} answered only after a probe"
    assert all(f.result(timeout=120).status_code == 200 for f in probes)
