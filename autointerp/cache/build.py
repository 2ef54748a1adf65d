"""Build unit caches (a layer's neurons; a dictionary's latents): stream corpus windows through the
target once, only as deep as needed."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock, Timeout
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from autointerp.cache import store
from autointerp.cache.stream import LayerState
from autointerp.config import Settings, get_settings
from autointerp.corpus import CorpusSource, Windows, load_windows, resolve_corpus
from autointerp.errors import InputError
from autointerp.interrupts import Interrupted, StopRequest
from autointerp.records import CacheManifest
from autointerp.targets import Target, UnitSource, load_target

Sources = UnitSource | int
"""A unit source, or a layer number for that layer's MLP neurons."""


class CacheInterrupted(Interrupted):
    """The build stopped early; its progress is saved and the same command resumes it."""


@dataclass(frozen=True)
class CachePlan:
    target: Target
    source: CorpusSource
    windows: Windows
    n_windows: int
    settings: Settings

    def units(self, units: Sources) -> UnitSource:
        return self.target.neurons(units) if isinstance(units, int) else units

    def expected(self, units: Sources) -> CacheManifest:
        s, src = self.settings, self.units(units)
        return CacheManifest(
            format=store.SPARSE_FORMAT if src.sparse_cache else store.FORMAT,
            model=self.target.name, corpus=self.source.spec,
            corpus_hash=self.windows.corpus_hash, window=s.window, layer=src.layer, d_mlp=src.n_units,
            dictionary=src.dictionary, n_windows_target=self.n_windows, windows_done=0, status="partial",
            seed=s.cache_seed, top_k=s.top_k, n_random=s.n_random, quantile_sample=s.quantile_bins * s.per_bin,
            checkpoint="", files={},
        )

    def directory(self, units: Sources) -> Path:
        s = self.settings
        return s.layout.cache_units_dir(self.target.name, self.source.slug, s.window, self.units(units).cache_name,
                                        s.cache_seed)

    def new_state(self, units: Sources) -> LayerState:
        s, src = self.settings, self.units(units)
        return LayerState(src.n_units, s.window, s.top_k, s.n_random, s.quantile_bins * s.per_bin,
                          s.hist_bins, src.layer, self.windows.has_bos, sparse=src.sparse_cache)


_IDENTITY = ("format", "model", "corpus", "corpus_hash", "window", "layer", "dictionary", "d_mlp", "seed",
             "top_k", "n_random", "quantile_sample")


def mismatch(found: CacheManifest, expected: CacheManifest) -> str | None:
    for field in _IDENTITY:
        if getattr(found, field) != getattr(expected, field):
            return f"{field} is {getattr(found, field)!r}, expected {getattr(expected, field)!r}"
    return None


def plan(target: Target, corpus: str | None, tokens: int | None, settings: Settings) -> CachePlan:
    tokens = settings.tokens if tokens is None else tokens
    if tokens < 1:
        raise InputError(f"the token budget must be a positive number of tokens, got {tokens}")
    if settings.window < 2 or settings.window > target.n_ctx:
        raise InputError(f"window {settings.window} must be between 2 and the model's context {target.n_ctx}")
    source = resolve_corpus(corpus or settings.corpus)
    body = settings.window - int(target.prepend_bos)
    windows = load_windows(source, target, settings.window, settings.cache_seed, settings.data_dir,
                           max_text_tokens=tokens + body)
    n_windows = min(windows.n, math.ceil(tokens / body))
    return CachePlan(target, source, windows, n_windows, settings)


class _Rate(ProgressColumn):
    """Tokens per second (the bar counts tokens)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} tok/s" if speed else "")


def label(src: UnitSource) -> str:
    """How progress lines name a source: `layer 6` for neurons, `6-res4k` for a dictionary."""
    return f"layer {src.layer}" if src.dictionary is None else src.id


def _usable(p: CachePlan, src: UnitSource, partial: bool) -> tuple[CacheManifest | None, str | None]:
    """(the manifest when it fits this plan and its files are intact, else why not; None, None when absent)."""
    directory = p.directory(src)
    found = store.read_manifest(directory, partial)
    if found is None:
        name = store.PARTIAL if partial else store.MANIFEST
        return None, f"unreadable {name}" if (directory / name).exists() else None
    if (reason := mismatch(found, p.expected(src))) or (reason := store.verify(directory, found)):
        return None, reason
    if found.windows_done > p.n_windows:
        return None, f"it holds {found.windows_done} windows, more than the {p.n_windows} asked for"
    return found, None


def _resume_state(p: CachePlan, src: UnitSource, console: Console) -> LayerState | None:
    """The saved state to continue from, None when the layer is already complete for this plan.
    A build never touches the complete cache readers use: it resumes from its own partial
    checkpoint, extends a copy of the complete one, or starts anew beside it."""
    complete, why_not = _usable(p, src, partial=False)
    if complete is not None and complete.windows_done == p.n_windows and complete.status == "complete":
        return None
    partial, _ = _usable(p, src, partial=True)
    start = max((m for m in (partial, complete) if m is not None), key=lambda m: m.windows_done, default=None)
    state = p.new_state(src)
    if start is not None and start.windows_done > 0:
        state.load_arrays(store.load_arrays(p.directory(src), start, mmap=False))
        console.print(f"[dim]{label(src)}: resuming at window {start.windows_done}/{p.n_windows}[/]")
    elif why_not:
        console.print(f"[yellow]{label(src)}: cache rebuilt ({why_not}); the one in place stays readable "
                      "until the new one is complete[/]")
    return state


@contextmanager
def _build_locks(p: CachePlan, sources: Sequence[UnitSource], console: Console):
    """One OS file lock per cache directory, taken in directory order: two processes (or threads)
    never build the same cache at once; the second waits, then finds it done."""
    with ExitStack() as stack:
        for src in sources:
            directory = p.directory(src)
            directory.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(directory / store.LOCK))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                console.print(f"[dim]{label(src)}: waiting for another build of this cache to finish[/]")
                lock.acquire()
            stack.callback(lock.release)
        yield


def _checkpoint(p: CachePlan, states: dict[UnitSource, LayerState]) -> None:
    for src, state in states.items():
        m = p.expected(src).model_copy(update={
            "windows_done": state.windows_done,
            "status": "complete" if state.windows_done >= p.n_windows else "partial",
        })
        store.write_checkpoint(p.directory(src), m, state.to_arrays())


def run_plan(p: CachePlan, units: Sequence[Sources], console: Console | None = None, progress: bool = True) -> None:
    """Stream the planned windows through the unit sources (or layers' neurons) that still need
    them; resumable."""
    console = console or Console(stderr=True)
    sources = sorted({p.units(u).id: p.units(u) for u in units}.values(), key=lambda s: (s.layer, s.id))
    with _build_locks(p, sources, console):
        states = {src: s for src in sources if (s := _resume_state(p, src, console)) is not None}
        if states:
            _stream(p, states, console, progress)


def _stream(p: CachePlan, states: dict[UnitSource, LayerState], console: Console, progress: bool) -> None:
    bs = p.settings.batch_size
    start = min(s.windows_done for s in states.values())
    u_window = torch.from_numpy(np.random.default_rng(p.settings.cache_seed).random(p.windows.n))
    u_random = torch.from_numpy(np.random.default_rng(p.settings.cache_seed + 1).random(p.windows.n))
    tok_per_window = p.settings.window - int(p.windows.has_bos)
    last_ckpt, ckpt_cost = time.monotonic(), 0.0
    names = ["layers " + ",".join(str(s.layer) for s in states if s.dictionary is None)] * any(
        s.dictionary is None for s in states) + [s.id for s in states if s.dictionary is not None]
    cols = [TextColumn(" ".join(names)), BarColumn(), MofNCompleteColumn(),
            TextColumn("tokens"), _Rate(), TimeRemainingColumn()]
    stop = StopRequest()
    with stop.installed(), Progress(*cols, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task("cache", total=p.n_windows * tok_per_window, completed=start * tok_per_window)
        i = start
        while i < p.n_windows:
            if stop.signal is not None:
                _checkpoint(p, states)
                raise CacheInterrupted(
                    f"interrupted at window {i}/{p.n_windows}; progress saved, run the same command to resume")
            j = min(i + bs, p.n_windows)
            win = torch.arange(i, j)
            active = [src for src, s in states.items() if s.windows_done < j]

            def on_units(src: UnitSource, act: torch.Tensor) -> None:
                skip = max(0, states[src].windows_done - i)
                states[src].update(act[skip:], win[skip:], u_window[i + skip:j], u_random[i + skip:j])

            p.target.run_units(torch.from_numpy(p.windows.tokens[i:j]).long(), active, on_units)
            bar.update(task, advance=(j - i) * tok_per_window)
            i = j
            if i < p.n_windows and time.monotonic() - last_ckpt > max(p.settings.checkpoint_seconds, 20 * ckpt_cost):
                t0 = time.monotonic()
                _checkpoint(p, states)
                last_ckpt, ckpt_cost = time.monotonic(), time.monotonic() - t0
    _checkpoint(p, states)


def build_cache(
    layers: Sequence[Sources],
    model: str | None = None,
    corpus: str | None = None,
    tokens: int | None = None,
    settings: Settings | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> CachePlan:
    """Build (or resume, or reuse) the caches of `layers` (a number: that layer's neurons; or unit
    sources); checks every input before writing anything."""
    settings = settings or get_settings()
    if not layers:
        raise InputError("no layers given")
    target = load_target(model, settings)
    for layer in layers:
        if isinstance(layer, int):
            target.check_layer(layer)
    p = plan(target, corpus, tokens, settings)
    run_plan(p, layers, console, progress)
    return p
