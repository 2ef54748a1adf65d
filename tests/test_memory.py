"""The serve process caps glibc's malloc arenas (autointerp/memory.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autointerp.memory import limit_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_arenas_are_capped_in_a_fresh_process():
    """mallopt accepts the cap (it returns 1 on success); threads started after it still work."""
    code = ("import threading; from autointerp.memory import limit_arenas; ok = limit_arenas(); "
            "out = []; ts = [threading.Thread(target=lambda: out.append(bytearray(1 << 20))) for _ in range(8)]; "
            "[t.start() for t in ts]; [t.join() for t in ts]; print(ok, len(out))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert res.stdout.split() == ["True", "8"]


def test_a_second_call_is_harmless():
    assert limit_arenas() in (True, False)
