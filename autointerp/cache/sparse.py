"""Unit-major activation blocks stored as their nonzero entries.

A dictionary latent is exactly 0 on almost every token (a TopK SAE's 32 of 4,096 fire at a token),
so its cache's example windows are mostly zeros: dense, a 16k dictionary's three blocks take
~630 MB, stored as nonzeros a few percent of that. Neurons are almost never exactly 0 and stay
dense. The encoding is exact for any values: every entry that is not 0 is kept.

On disk a block `name` of shape [N, *row] is four arrays (`name.ptr` [N + 1] offsets, `name.idx`
flat positions inside a row, `name.val` the values, `name.shape`); `SparseRows` reads one unit's
row from them (memory-mapped) without touching the others.
"""

from __future__ import annotations

import numpy as np

PARTS = ("ptr", "idx", "val", "shape")


def encode(name: str, dense: np.ndarray) -> dict[str, np.ndarray]:
    """The on-disk arrays of a unit-major block [N, *row] (row-major nonzeros, unit by unit)."""
    flat = np.asarray(dense).reshape(dense.shape[0], -1)
    units, pos = np.nonzero(flat)
    counts = np.bincount(units, minlength=flat.shape[0])
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    idx_dtype = np.uint16 if flat.shape[1] <= np.iinfo(np.uint16).max + 1 else np.int64
    return {f"{name}.ptr": ptr, f"{name}.idx": pos.astype(idx_dtype), f"{name}.val": flat[units, pos],
            f"{name}.shape": np.array(dense.shape, dtype=np.int64)}


class SparseRows:
    """A unit-major block read back: `rows[n]` is unit n's dense row, as the dense array's `[n]`."""

    def __init__(self, ptr: np.ndarray, idx: np.ndarray, val: np.ndarray, shape: np.ndarray) -> None:
        self.ptr, self.idx, self.val = ptr, idx, val
        self.shape = tuple(int(s) for s in shape)
        self.dtype = val.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, n: int) -> np.ndarray:
        if not -self.shape[0] <= n < self.shape[0]:
            raise IndexError(f"unit {n} of {self.shape[0]}")
        n %= self.shape[0]
        a, b = int(self.ptr[n]), int(self.ptr[n + 1])
        row = np.zeros(int(np.prod(self.shape[1:])), dtype=self.dtype)
        row[np.asarray(self.idx[a:b], dtype=np.int64)] = self.val[a:b]
        return row.reshape(self.shape[1:])

    def dense(self) -> np.ndarray:
        """The whole block (a build resuming from a checkpoint holds it in memory anyway)."""
        out = np.zeros((self.shape[0], int(np.prod(self.shape[1:]))), dtype=self.dtype)
        units = np.repeat(np.arange(self.shape[0]), np.diff(np.asarray(self.ptr)))
        out[units, np.asarray(self.idx, dtype=np.int64)] = self.val
        return out.reshape(self.shape)


def assemble(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray | SparseRows]:
    """Arrays as loaded from a checkpoint's files, each encoded block's parts joined into one
    `SparseRows` under its name."""
    out: dict[str, np.ndarray | SparseRows] = {}
    blocks: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        name, _, part = key.rpartition(".")
        if name and part in PARTS:
            blocks.setdefault(name, {})[part] = value
        else:
            out[key] = value
    for name, parts in blocks.items():
        out[name] = SparseRows(**parts)
    return out
