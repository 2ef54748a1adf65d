"""The server's memory under load. glibc gives each thread that allocates its own malloc arena
(up to 8 per core), and memory freed in one stays there: request threads, the model's thread and
torch's workers each grow one. Two arenas bound that growth (issue 32's soak: the server's RSS
after the load test within 10 % of its RSS after warm-up)."""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_arenas(n: int = 2) -> bool:
    """Cap glibc's malloc arenas at n before the threads start (True when set; other C libraries:
    nothing to do)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(M_ARENA_MAX, n))
    except (OSError, AttributeError):
        return False
