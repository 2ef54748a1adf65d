"""`autointerp sae train`: a TopK dictionary (EleutherAI sparsify's `SparseCoder`, with its AuxK loss
against dead latents) on activations streamed through our own target and corpus, one chunk of windows
at a time (never the whole set in memory). Checkpointed, so `kill -9` and the same command resume;
the result is saved in sparsify's layout and registered like `sae add`."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock, Timeout
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from autointerp.config import Settings
from autointerp.corpus import Windows, load_windows, resolve_corpus
from autointerp.dictionaries.formats import read
from autointerp.dictionaries.latents import DictionaryLatents, points
from autointerp.dictionaries.registry import INFO, Reconstruction, add_dictionary, check_name, info_of
from autointerp.errors import InputError
from autointerp.interrupts import Interrupted, StopRequest
from autointerp.records import DictionaryInfo, DictionarySite, TrainReport, TrainSpec
from autointerp.targets.base import Target

CHUNK_WINDOWS = 256  # windows per chunk of activations: shuffled together, then cut into steps
CHECKPOINT = "checkpoint.pt"
REPORT = "train.json"


class TrainingInterrupted(Interrupted):
    """Training stopped early; the checkpoint is saved and the same command resumes it."""


def sparsify_hookpoint(site: DictionarySite, layer: int) -> str:
    """The module sparsify names: a decoder layer's output (the residual stream after it), or its MLP."""
    return f"layers.{layer}" if site == "resid" else f"layers.{layer}.mlp"


def _sparse_coder():
    """sparsify prints a note on stdout when it imports; it goes to stderr, so `--json` stays clean."""
    with contextlib.redirect_stdout(sys.stderr):
        from sparsify.config import SparseCoderConfig
        from sparsify.sparse_coder import SparseCoder
    return SparseCoder, SparseCoderConfig


def default_lr(latents: int) -> float:
    """sparsify's Adam rule (2e-4 at 16k latents, scaled by 1/sqrt(size)) times 10 for our ~64x smaller
    batches, capped at 4e-3: tuned on 200k training tokens of layer 6 (validation windows among the
    training ones; 4e-3 gave FVU 0.090 where the rule itself gave 0.162)."""
    return min(4e-3, 2e-3 / math.sqrt(latents / 2**14))


def make_spec(target: Target, settings: Settings, name: str, site: DictionarySite, layer: int, latents: int,
              k: int, tokens: int, held_out_tokens: int = 65_536, batch_tokens: int = 1024,
              lr: float | None = None, auxk_alpha: float = 1 / 32, dead_tokens: int = 50_000,
              seed: int = 0) -> tuple[TrainSpec, Windows]:
    """The spec (checked) and the corpus windows it trains on."""
    check_name(name)
    target.check_layer(layer)
    if not 0 < k <= latents:
        raise InputError(f"--k {k} must be between 1 and the number of latents ({latents})")
    for what, v in (("--latents", latents), ("--tokens", tokens), ("--held-out-tokens", held_out_tokens),
                    ("--batch-tokens", batch_tokens), ("--dead-tokens", dead_tokens)):
        if v < 1:
            raise InputError(f"{what} must be a positive number, got {v}")
    windows = load_windows(resolve_corpus(settings.corpus), target, settings.window, settings.cache_seed,
                           settings.data_dir)
    spec = TrainSpec(name=name, model=target.name, site=site, layer=layer, n_latents=latents, k=k, tokens=tokens,
                     held_out_tokens=held_out_tokens, batch_tokens=batch_tokens,
                     lr=lr if lr is not None else default_lr(latents),
                     auxk_alpha=auxk_alpha, dead_tokens=dead_tokens, seed=seed, corpus_hash=windows.corpus_hash,
                     window=settings.window)
    _Split(windows, spec)  # the corpus must hold the held-out set and a chunk of training windows
    return spec, windows


@dataclass
class _Split:
    """Held-out windows are the corpus's last ones; training cycles through the others."""

    windows: Windows
    spec: TrainSpec

    def __post_init__(self) -> None:
        self.body = self.windows.tokens.shape[1] - int(self.windows.has_bos)
        self.n_held = math.ceil(self.spec.held_out_tokens / self.body)
        self.n_train = self.windows.n - self.n_held
        self.chunk = min(CHUNK_WINDOWS, self.n_train)
        if self.n_train < 1:
            raise InputError(f"the corpus has {self.windows.n * self.body:,} tokens: not enough for "
                             f"{self.spec.held_out_tokens:,} held-out tokens and training beside them")
        self.n_chunks = math.ceil(self.spec.tokens / (self.chunk * self.body))
        self.steps_per_chunk = max(1, round(self.chunk * self.body / self.spec.batch_tokens))

    def train_chunk(self, c: int) -> np.ndarray:
        return (c * self.chunk + np.arange(self.chunk)) % self.n_train

    def held_out(self) -> Iterator[np.ndarray]:
        idx = np.arange(self.n_train, self.windows.n)
        yield from np.array_split(idx, max(1, math.ceil(len(idx) / CHUNK_WINDOWS)))


class Trainer:
    """One run's state: the sparse coder, Adam, the AuxK bookkeeping and the counters a checkpoint holds."""

    def __init__(self, target: Target, spec: TrainSpec, split: _Split, batch_size: int) -> None:
        SparseCoder, SparseCoderConfig = _sparse_coder()
        self.target, self.spec, self.split, self.batch_size = target, spec, split, batch_size
        self.transcode = spec.site == "transcoder"
        self.read, self.write = points(spec.site, spec.layer, "sparsify")
        torch.manual_seed(spec.seed)
        cfg = SparseCoderConfig(num_latents=spec.n_latents, k=spec.k, transcode=self.transcode)
        self.sae = SparseCoder(target.d_model, cfg, dtype=torch.float32)
        self.opt = torch.optim.Adam(self.sae.parameters(), lr=spec.lr)
        self.since_fired = torch.zeros(spec.n_latents, dtype=torch.long)
        self.chunks_done = self.steps = 0
        self.seconds = 0.0
        self.recent: deque[float] = deque(maxlen=max(1, split.n_chunks * split.steps_per_chunk // 20))

    @property
    def total_steps(self) -> int:
        return self.split.n_chunks * self.split.steps_per_chunk

    def activations(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) [tokens, d_model] of these windows, BOS left out (its norm is an outlier)."""
        xs, ys = [], []
        start = int(self.split.windows.has_bos)
        for b in range(0, len(idx), self.batch_size):
            tokens = torch.from_numpy(self.split.windows.tokens[idx[b:b + self.batch_size]]).long()
            reads = self.target.run(tokens, read=[self.read, self.write]).reads
            xs.append(reads[self.read][:, start:].reshape(-1, self.target.d_model).float().clone())
            ys.append(reads[self.write][:, start:].reshape(-1, self.target.d_model).float().clone())
        return torch.cat(xs), torch.cat(ys)

    def lr_at(self, step: int) -> float:
        """Linear warm-up over the first 5% of steps, then linear decay to zero (sparsify's Adam schedule)."""
        warm = max(1, self.total_steps // 20)
        if step < warm:
            return self.spec.lr * (step + 1) / warm
        return self.spec.lr * max(0.0, (self.total_steps - step) / max(1, self.total_steps - warm))

    @torch.no_grad()
    def _init_biases(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """sparsify's first step: centre the pre-activations on the data's mean."""
        if self.transcode:
            self.sae.encoder.bias.data = -x.mean(0) @ self.sae.encoder.weight.data.T
        self.sae.b_dec.data = y.mean(0)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        if self.steps == 0:
            self._init_biases(x, y)
        if not self.transcode:
            self.sae.set_decoder_norm_to_unit_norm()
        dead = self.since_fired > self.spec.dead_tokens if self.spec.auxk_alpha > 0 else None
        with torch.enable_grad():  # loading a target turns gradients off process-wide
            out = self.sae(x, y if self.transcode else None, dead_mask=dead)
            (out.fvu + self.spec.auxk_alpha * out.auxk_loss).backward()
        if not self.transcode:
            self.sae.remove_gradient_parallel_to_decoder_directions()
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.steps)
        self.opt.step()
        self.opt.zero_grad()
        self.since_fired += x.shape[0]
        self.since_fired[out.latent_indices.flatten()] = 0
        self.steps += 1
        self.recent.append(float(out.fvu))
        return float(out.fvu)

    def train_chunk(self) -> int:
        """Read, shuffle and train on the next chunk; returns its tokens."""
        x, y = self.activations(self.split.train_chunk(self.chunks_done))
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(
            self.spec.seed * 1_000_003 + self.chunks_done))
        for part in torch.tensor_split(order, self.split.steps_per_chunk):
            self.step(x[part], y[part])
        self.chunks_done += 1
        return int(x.shape[0])

    @property
    def dead_fraction(self) -> float:
        return float((self.since_fired > self.spec.dead_tokens).float().mean())

    def state(self) -> dict:
        return {"spec": self.spec.model_dump_json(), "sae": self.sae.state_dict(), "opt": self.opt.state_dict(),
                "since_fired": self.since_fired, "chunks_done": self.chunks_done, "steps": self.steps,
                "seconds": self.seconds, "recent": list(self.recent)}

    def load(self, state: dict) -> None:
        self.sae.load_state_dict(state["sae"])
        self.opt.load_state_dict(state["opt"])
        self.since_fired = state["since_fired"]
        self.chunks_done, self.steps, self.seconds = state["chunks_done"], state["steps"], state["seconds"]
        self.recent.extend(state["recent"])


def _save_checkpoint(path: Path, trainer: Trainer) -> None:
    """temp + rename: a `kill -9` mid-write leaves the previous checkpoint whole."""
    fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix=".pt", dir=path.parent)
    os.close(fd)
    try:
        torch.save(trainer.state(), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _resume(path: Path, trainer: Trainer, console: Console) -> None:
    if not path.exists():
        return
    try:
        state = torch.load(path, weights_only=True)
        saved = TrainSpec.model_validate_json(state["spec"])
    except Exception as e:  # noqa: BLE001 - a damaged checkpoint: start over, saying so
        console.print(f"[yellow]{path}: unreadable checkpoint ({type(e).__name__}); training from the start[/]")
        return
    if saved != trainer.spec:
        diff = ", ".join(f"{f} {getattr(saved, f)!r} → {getattr(trainer.spec, f)!r}"
                         for f in TrainSpec.model_fields if getattr(saved, f) != getattr(trainer.spec, f))
        raise InputError(f"a training run named {trainer.spec.name!r} with other settings is in progress ({diff}): "
                         f"rerun it with its settings, or choose another --name")
    trainer.load(state)
    console.print(f"[dim]{trainer.spec.name}: resuming at step {trainer.steps}/{trainer.total_steps}[/]")


def _already_trained(dest: Path, spec: TrainSpec) -> DictionaryInfo | None:
    if not dest.exists():
        return None
    report = dest / REPORT
    if report.is_file() and TrainReport.model_validate_json(report.read_text(encoding="utf-8")).spec == spec:
        return DictionaryInfo.model_validate_json((dest / INFO).read_text(encoding="utf-8"))
    raise InputError(f"a dictionary named {spec.name!r} is already registered for {spec.model} ({dest}): "
                     "choose another --name")


def _held_out(trainer: Trainer, info_name: str, folder: Path) -> dict[str, float]:
    """FVU, L0 and dead fraction on the held-out windows, read back through our own loader (what every
    command then uses), not through the training code."""
    w = read("sparsify", folder, sparsify_hookpoint(trainer.spec.site, trainer.spec.layer))
    source = DictionaryLatents(trainer.target, info_of(info_name, trainer.target.name, w), w)
    rec = Reconstruction(source)
    for idx in trainer.split.held_out():
        x, y = trainer.activations(idx)
        rec.update(x, y if trainer.transcode else None)
    return rec.result()


def _columns() -> list:
    return [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tokens"),
            TextColumn("{task.fields[rate]}"), TextColumn("fvu {task.fields[fvu]}"),
            TextColumn("dead {task.fields[dead]}"), TimeRemainingColumn()]


def train_dictionary(target: Target, settings: Settings, spec: TrainSpec, windows: Windows,
                     console: Console | None = None, progress: bool = True) -> tuple[DictionaryInfo, TrainReport]:
    """Train (or resume, or find already trained) the dictionary `spec` names, and register it."""
    console = console or Console(stderr=True)
    dest = settings.layout.dictionaries_dir(target.name) / spec.name
    if (info := _already_trained(dest, spec)) is not None:
        return info, TrainReport.model_validate_json((dest / REPORT).read_text(encoding="utf-8"))
    work = settings.layout.dictionaries_dir(target.name) / f".train-{spec.name}"
    work.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(work / "lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise InputError(f"{spec.name!r} is being trained by another process ({work})") from None
    try:
        trainer = Trainer(target, spec, _Split(windows, spec), settings.batch_size)
        _resume(work / CHECKPOINT, trainer, console)
        _run(trainer, work / CHECKPOINT, settings.checkpoint_seconds, console, progress)
        return _register(trainer, settings, dest, work, console)
    finally:
        lock.release()


def _run(trainer: Trainer, ckpt: Path, every: float, console: Console, progress: bool) -> None:
    split, spec = trainer.split, trainer.spec
    per_chunk = split.chunk * split.body
    stop, last = StopRequest(), time.monotonic()
    desc = f"training {spec.name} ({spec.n_latents:,} latents, k {spec.k}, {spec.site} of layer {spec.layer})"
    with stop.installed(), Progress(*_columns(), console=console, disable=not progress) as bar:
        task = bar.add_task(desc, total=split.n_chunks * per_chunk, completed=trainer.chunks_done * per_chunk,
                            rate="", fvu="—", dead="—")
        while trainer.chunks_done < split.n_chunks:
            if stop.signal is not None:
                _save_checkpoint(ckpt, trainer)
                raise TrainingInterrupted(f"interrupted at step {trainer.steps}/{trainer.total_steps}; checkpoint "
                                          "saved, run the same command to resume")
            t0 = time.monotonic()
            n = trainer.train_chunk()
            trainer.seconds += time.monotonic() - t0
            bar.update(task, advance=per_chunk, rate=f"{n / (time.monotonic() - t0):,.0f} tok/s",
                       fvu=f"{np.mean(trainer.recent):.3f}", dead=f"{trainer.dead_fraction:.1%}")
            if trainer.chunks_done < split.n_chunks and time.monotonic() - last >= every:
                _save_checkpoint(ckpt, trainer)
                last = time.monotonic()
    _save_checkpoint(ckpt, trainer)


def _register(trainer: Trainer, settings: Settings, dest: Path, work: Path,
              console: Console) -> tuple[DictionaryInfo, TrainReport]:
    spec = trainer.spec
    hook = sparsify_hookpoint(spec.site, spec.layer)
    run = Path(tempfile.mkdtemp(prefix=".run-", dir=work))
    try:
        trainer.sae.save_to_disk(run / hook)
        console.print(f"[dim]{spec.name}: held-out figures on {spec.held_out_tokens:,}+ tokens[/]")
        figures = _held_out(trainer, spec.name, run / hook)
        tokens = trainer.chunks_done * trainer.split.chunk * trainer.split.body
        report = TrainReport(spec=spec, tokens_trained=tokens, steps=trainer.steps, seconds=round(trainer.seconds, 1),
                             tokens_per_second=round(tokens / max(trainer.seconds, 1e-9), 1),
                             train_fvu=float(np.mean(trainer.recent)), train_dead_fraction=trainer.dead_fraction,
                             **figures)
        info = add_dictionary(trainer.target, settings.layout, run, spec.name, hook,
                              extras={REPORT: report.model_dump_json(indent=2)}, **figures)
    finally:
        shutil.rmtree(run, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return info, report
