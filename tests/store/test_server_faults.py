"""A Chroma server that stops answering: writes wait for it (backing off) for a bounded time, then fail with
one line naming it; a write tried again stores nothing twice."""

from __future__ import annotations

import threading
import time

import pytest

from autointerp.config import Settings
from autointerp.errors import StoreError
from autointerp.store import open_store
from tests.store.chroma_server import chroma  # noqa: F401 - the fixture, shared
from tests.store.samples import MODEL, make


def test_a_write_waits_for_a_restarted_server_then_gives_up_in_one_line(chroma, fresh_settings):  # noqa: F811
    patient = open_store(Settings(home=fresh_settings.home, chroma_url=chroma.url, store_retry_seconds=60))
    hasty = open_store(Settings(home=fresh_settings.home, chroma_url=chroma.url, store_retry_seconds=1))
    patient.add(make("L6.N74", "legal language"))
    chroma.stop()
    back = threading.Timer(2.0, chroma.start)
    back.start()
    t0 = time.perf_counter()
    patient.add(make("L6.N12", "the indefinite article"))  # waits for the server, then stores
    waited = time.perf_counter() - t0
    back.join()
    assert waited >= 2.0
    assert patient.count() == 2 and [e.text for e in patient.history(MODEL, "L6.N12")] == ["the indefinite article"]

    chroma.stop()
    with pytest.raises(StoreError) as caught:
        hasty.add(make("L3.N5", "Python source code"))
    message = str(caught.value)
    assert message.startswith(f"the Chroma server at {chroma.url} did not answer for ") and "\n" not in message
    assert "ConnectError" in message
    chroma.start()
    assert patient.count() == 2
    assert len(patient.all_versions()) == 2, "the write tried again stored nothing twice"
