"""Array files read by concurrent batch workers."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

from autointerp.fileio import atomic_save_npy, load_npy


class _Garbage:
    """Cyclic garbage whose finaliser yields the GIL and leaves new garbage behind, so that collections
    during the .npy header parse hand control to the other thread."""

    alive = False

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)
        if _Garbage.alive:
            _Garbage()


def race(read, path, rounds: int = 300) -> list[SystemError]:
    errors: list[SystemError] = []

    def work() -> None:
        for _ in range(rounds):
            try:
                read(path)
            except SystemError as e:
                errors.append(e)

    threshold = gc.get_threshold()
    gc.set_threshold(5, 1, 1)
    _Garbage.alive = True
    _Garbage()
    try:
        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        _Garbage.alive = False
        gc.collect()
        gc.set_threshold(*threshold)
    return errors


@pytest.mark.parametrize("mmap", [False, True])
def test_concurrent_loads_never_hit_the_ast_race(tmp_path, mmap):
    """CPython 3.11's AST builder keeps its recursion depth in shared state (cpython#106905): a bare
    np.load from two threads raises "AST constructor recursion depth mismatch" under this load (about
    one call in 50 here). load_npy must not."""
    path = tmp_path / "a.npy"
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    atomic_save_npy(path, arr)
    assert race(lambda p: load_npy(p, mmap), path) == []
    np.testing.assert_array_equal(load_npy(path, mmap), arr)


def test_unwritable_outputs_fail_with_one_line_and_leave_nothing(tmp_path):
    from autointerp.fileio import WriteError, atomic_write_text

    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    for bad, why in ((tmp_path / "dir", "is a directory"), (tmp_path / "file" / "out.txt", "not a directory")):
        with pytest.raises(WriteError, match=why) as e:
            atomic_write_text(bad, "data")
        assert str(bad) in str(e.value) and "\n" not in str(e.value)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.geteuid() != 0:  # root writes anywhere
            with pytest.raises(WriteError, match="permission denied"):
                atomic_write_text(ro / "out.txt", "data")
    finally:
        ro.chmod(0o700)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dir", "file", "ro"]
