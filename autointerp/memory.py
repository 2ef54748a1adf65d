"""The process's heap under long runs and load, through glibc (elsewhere both calls do nothing).

glibc gives each thread that allocates its own malloc arena (up to 8 per core), and memory freed
in one stays there: a server's request threads, the model's thread and torch's workers each grow
one, and MiniLM's batches of ever-different shapes leave freed pages behind in a batch worker.
`limit_arenas` bounds the first (issue 32: the server's RSS after the load test within 10 % of its
RSS after warm-up); `give_back` returns the second to the OS after each batch unit."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

M_ARENA_MAX = -8  # glibc's mallopt parameter


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def limit_arenas(n: int = 2) -> bool:
    """Cap glibc's malloc arenas at n before the threads start (True when set)."""
    try:
        return bool((libc := _libc()) is not None and libc.mallopt(M_ARENA_MAX, n))
    except AttributeError:  # not glibc
        return False


def give_back() -> None:
    """Hand the heap's freed pages back to the OS, which glibc keeps per thread arena: a 500-unit
    batch grew from 923 to 1,981 MiB without it, still rising at the end, and levels off at ~1,450
    MiB with it (`benchmarks/batch_soak.py`; ~30 ms a unit)."""
    try:
        if (libc := _libc()) is not None:
            libc.malloc_trim(0)
    except AttributeError:  # not glibc: nothing to call
        pass
