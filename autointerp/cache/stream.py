"""Streaming per-neuron summaries of one layer. Memory is fixed: it never grows with the corpus.

Every selection is a "keep the K smallest keys" merge, so one mechanism serves all three samples:
- top windows: key = -max activation of the window;
- quantile sample: key = a uniform random number per (window, neuron), +inf when the window does
  not activate the neuron; a bottom-K of uniform keys is a uniform sample of activating windows;
- random windows: key = a uniform random number per window, the same windows for every neuron.
Keys depend only on the window index and seed, so a resumed run ends in the same state.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from autointerp.cache.sparse import SparseRows, encode

PHI = 0.6180339887498949


def _zeros(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Zeros from calloc: pages are mapped lazily instead of written up front (30 layers: ~2 GB)."""
    return torch.from_numpy(np.zeros(shape, dtype=torch.empty(0, dtype=dtype).numpy().dtype))


EMPTY = float(torch.finfo(torch.float32).max)  # an empty slot: any finite key beats it, +inf never does


class BottomK:
    """The K entries with the smallest keys, per neuron, each with its window's per-token activations.

    Neuron-major layout ([N, K] keys, [N, K, T] activations): the merge's top-k then runs along
    contiguous rows, and one neuron's examples are one contiguous block on disk.
    """

    def __init__(self, k: int, n: int, t: int) -> None:
        self.keys = torch.full((n, k), EMPTY)
        self.win = torch.full((n, k), -1, dtype=torch.int64)
        self.acts = _zeros((n, k, t), torch.float16)

    def update(self, cand: torch.Tensor, win: torch.Tensor, acts: torch.Tensor) -> None:
        """cand [B, N] keys (+inf: never keep), win [B] window ids, acts [B, T, N] activations.

        Only the slots that change are written: each evicted slot of a neuron takes one of the
        new entries that neuron keeps, so the cost follows the number of changes, not K.
        """
        k = self.keys.shape[1]
        cand = cand.t()
        order = torch.cat([self.keys, cand], dim=1).topk(k, dim=1, largest=False, sorted=False).indices
        kept = torch.zeros((cand.shape[0], k + cand.shape[1]), dtype=torch.bool)
        kept.scatter_(1, order, True)
        # Per neuron, as many old slots are evicted as new entries are kept; nonzero() lists both
        # grouped by neuron in the same order, so they pair up.
        slot = (~kept[:, :k]).nonzero()
        new = kept[:, k:].nonzero()
        if new.numel() == 0:
            return
        n_idx, k_idx, b_idx = new[:, 0], slot[:, 1], new[:, 1]
        self.keys[n_idx, k_idx] = cand[n_idx, b_idx]
        self.win[n_idx, k_idx] = win[b_idx]
        self.acts[n_idx, k_idx] = acts[b_idx, :, n_idx].to(torch.float16)


class RandomWindows:
    """A uniform sample of whole windows (bottom-K of per-window random keys), all neurons at once."""

    def __init__(self, k: int, n: int, t: int) -> None:
        self.keys = torch.full((k,), EMPTY)
        self.win = torch.full((k,), -1, dtype=torch.int64)
        self.acts = _zeros((k, t, n), torch.float16)

    def update(self, cand: torch.Tensor, win: torch.Tensor, acts: torch.Tensor) -> None:
        k = self.keys.shape[0]
        order = torch.cat([self.keys, cand]).topk(k, largest=False, sorted=False).indices
        kept = torch.zeros(k + cand.shape[0], dtype=torch.bool)
        kept[order] = True
        slot, new = (~kept[:k]).nonzero().squeeze(1), kept[k:].nonzero().squeeze(1)
        if new.numel():
            self.keys[slot], self.win[slot] = cand[new], win[new]
            self.acts[slot] = acts[new].to(torch.float16)


class Histogram:
    """Per-neuron token histogram on [-R, R) with R a power of two that doubles as needed.

    Doubling maps old bins exactly onto new ones (edges nest), so no count is ever approximated.
    """

    def __init__(self, n: int, bins: int) -> None:
        if bins % 2:
            raise ValueError("histogram bins must be even")
        self.bins = bins
        self.range = torch.zeros(n)
        self.counts = torch.zeros((n, bins), dtype=torch.int64)
        self._offsets = (torch.arange(n, dtype=torch.int32) * bins)[None, None, :]

    def _grow(self, absmax: torch.Tensor) -> None:
        need = absmax >= self.range
        if not bool(need.any()):
            return
        new = torch.exp2(torch.floor(torch.log2(absmax.clamp_min(1e-30))) + 1)
        new = torch.where(need, torch.maximum(new, self.range * 2), self.range)
        doublings = torch.where(self.range > 0, torch.log2(new / self.range.clamp_min(1e-30)).round(), 0)
        for d in doublings[need & (self.range > 0)].unique().tolist():
            cols = (need & (self.range > 0) & (doublings == d)).nonzero().squeeze(1)
            # Past bins doublings every old bin lands in one of the two middle ones, as it does at
            # 2 * bins: capping keeps the map exact for a unit first seen at 0 (a latent not yet fired).
            f = 2 ** min(int(d), self.bins.bit_length() + 1)
            half = self.bins // 2
            target = torch.div(torch.arange(self.bins) - half, f, rounding_mode="floor") + half
            moved = torch.zeros((cols.numel(), self.bins), dtype=torch.int64)
            moved.index_add_(1, target, self.counts[cols])
            self.counts[cols] = moved
        self.range = new

    def update(self, a: torch.Tensor, absmax: torch.Tensor) -> None:
        """a [B, T, N] activations (BOS excluded), absmax [N] their largest magnitude."""
        self._grow(absmax)
        scale = self.bins / (2 * self.range)
        pos = torch.addcmul(self.range * scale, a, scale).clamp_(0, self.bins - 1)
        idx = pos.to(torch.int32).add_(self._offsets)
        self.counts += torch.bincount(idx.view(-1), minlength=self.counts.numel()).view_as(self.counts)

    def edges(self) -> np.ndarray:
        steps = torch.linspace(-1, 1, self.bins + 1)
        return (self.range[:, None] * steps[None, :]).numpy()


class LayerState:
    """All streaming summaries of one layer; `to_arrays` / `from_arrays` make it a checkpoint."""

    def __init__(self, n: int, t: int, top_k: int, n_random: int, quantile_sample: int, hist_bins: int,
                 layer: int, has_bos: bool, sparse: bool = False) -> None:
        self.layer, self.start, self.sparse = layer, int(has_bos), sparse
        self.windows_done = 0
        self.top = BottomK(top_k, n, t)
        self.quant = BottomK(quantile_sample, n, t)
        self.random = RandomWindows(n_random, n, t)
        self.hist = Histogram(n, hist_bins)
        self.sum = torch.zeros(n, dtype=torch.float64)
        self.sumsq = torch.zeros(n, dtype=torch.float64)
        self.npos = torch.zeros(n, dtype=torch.int64)
        self.ntok = 0
        self.max = torch.full((n,), -math.inf)
        self.min = torch.full((n,), math.inf)
        self._neuron_phase = (torch.arange(n, dtype=torch.float64) * PHI + layer * math.sqrt(2)) % 1.0

    def update(self, acts: torch.Tensor, win: torch.Tensor, u_window: torch.Tensor,
               u_random: torch.Tensor) -> None:
        """acts [B, T, N] for windows `win`; u_* are the windows' uniform random keys."""
        # One contiguous copy without the BOS position: reductions over it are several times
        # faster than over the strided slice, and BOS never contaminates the sums.
        a = acts[:, self.start:, :].contiguous()
        wmax = a.amax(1)
        wmin = a.amin(1)
        self.max = torch.maximum(self.max, wmax.amax(0))
        self.min = torch.minimum(self.min, wmin.amin(0))
        flat = a.view(-1, a.shape[2])
        self.sum += flat.sum(0).double()
        self.sumsq += (flat * flat).sum(0).double()
        self.npos += (flat > 0).sum(0, dtype=torch.int32)
        self.ntok += flat.shape[0]
        self.hist.update(a, torch.maximum(wmax.amax(0), -wmin.amin(0)))
        self.top.update(-wmax, win, acts)
        qkeys = ((u_window[:, None].double() + self._neuron_phase[None, :]) % 1.0).float()
        self.quant.update(torch.where(wmax > 0, qkeys, math.inf), win, acts)
        self.random.update(u_random.float(), win, acts)
        self.windows_done = int(win[-1]) + 1

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The checkpoint's arrays; when sparse, the three activation blocks as their nonzeros, the
        random windows' unit-major ([N, R, T], as the others) so one unit's rows are one slice."""
        acts = {"top_acts": self.top.acts.numpy(), "q_acts": self.quant.acts.numpy(),
                "r_acts": self.random.acts.numpy()}
        if self.sparse:
            acts["r_acts"] = acts["r_acts"].transpose(2, 0, 1)
            acts = {k: v for name, block in acts.items() for k, v in encode(name, block).items()}
        return acts | {
            "top_keys": self.top.keys.numpy(), "top_win": self.top.win.numpy(),
            "q_keys": self.quant.keys.numpy(), "q_win": self.quant.win.numpy(),
            "r_keys": self.random.keys.numpy(), "r_win": self.random.win.numpy(),
            "hist_range": self.hist.range.numpy(), "hist_counts": self.hist.counts.numpy(),
            "sum": self.sum.numpy(), "sumsq": self.sumsq.numpy(), "npos": self.npos.numpy(),
            "max": self.max.numpy(), "min": self.min.numpy(),
            "counters": np.array([self.windows_done, self.ntok], dtype=np.int64),
        }

    def load_arrays(self, arrs: dict[str, np.ndarray | SparseRows]) -> None:
        """Continue from a checkpoint, dense or sparse (whichever this state writes next)."""
        def t(k: str) -> torch.Tensor:
            a = arrs[k]  # copied: checkpoints may be memory-mapped
            return torch.from_numpy(a.dense() if isinstance(a, SparseRows) else np.array(a))

        r_acts = t("r_acts")
        if isinstance(arrs["r_acts"], SparseRows):
            r_acts = r_acts.permute(1, 2, 0).contiguous()
        self.top.keys, self.top.win, self.top.acts = t("top_keys"), t("top_win"), t("top_acts")
        self.quant.keys, self.quant.win, self.quant.acts = t("q_keys"), t("q_win"), t("q_acts")
        self.random.keys, self.random.win, self.random.acts = t("r_keys"), t("r_win"), r_acts
        self.hist.range, self.hist.counts = t("hist_range"), t("hist_counts")
        self.sum, self.sumsq, self.npos = t("sum"), t("sumsq"), t("npos")
        self.max, self.min = t("max"), t("min")
        self.windows_done, self.ntok = (int(x) for x in arrs["counters"])
