"""Dictionaries registered for a model (`autointerp sae add`): each one a copy of its files under the
data dir with an `info.json`, so a latent id (`6-res4k/1764`) names it and nothing opens a path a
record gives. The `Dictionaries` source kind opens them for `Target.units`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from autointerp.dictionaries.formats import SAELENS_FILES, SPARSIFY_FILES, DictionaryWeights, find_layout, read
from autointerp.dictionaries.latents import DictionaryLatents
from autointerp.errors import InputError
from autointerp.fileio import atomic_write_text
from autointerp.paths import DataLayout
from autointerp.records import DICTIONARY_NAME, DictionaryInfo, UnitId
from autointerp.targets.base import Target
from autointerp.targets.units import UnitSource

INFO = "info.json"


def check_name(name: str) -> str:
    if not DICTIONARY_NAME.match(name or ""):
        raise InputError(f"malformed dictionary name {name!r}: lowercase letters, digits and dashes, e.g. res4k")
    return name


def info_of(name: str, model: str, w: DictionaryWeights, **metrics: float | None) -> DictionaryInfo:
    return DictionaryInfo(name=name, model=model, layout=w.layout, site=w.site, layer=w.layer, hook=w.hook,
                          n_latents=w.n_latents, d_in=w.d_in, activation=w.activation, k=w.k,
                          threshold=None if w.threshold is None else round(float(w.threshold.mean()), 6),
                          **metrics)


def check_fits(target: Target, w: DictionaryWeights, where: Path) -> None:
    """One error naming the dictionary and the model when its layer or widths do not fit."""
    if w.layer >= target.n_layers:
        raise InputError(f"{where} reads layer {w.layer} ({w.hook}), but {target.name} has layers "
                         f"0..{target.n_layers - 1}")
    for what, size in (("input", w.d_in), ("output", int(w.w_dec.shape[1]))):
        if size != target.d_model:
            raise InputError(f"{where} has {what} width {size} at {w.hook}, but {target.name}'s d_model is "
                             f"{target.d_model}")


def _pick(path: Path, hookpoint: str | None) -> tuple[str, Path, str]:
    found = find_layout(path)
    if hookpoint is not None:
        found = [f for f in found if f[2] == hookpoint]
        if not found:
            raise InputError(f"{path} has no hookpoint folder {hookpoint!r}")
    if len(found) > 1:
        raise InputError(f"{path} holds {len(found)} hookpoints ({', '.join(f[2] for f in found)}): "
                         "choose one with --hookpoint")
    return found[0]


def add_dictionary(target: Target, layout: DataLayout, path: Path, name: str, hookpoint: str | None = None,
                   extras: dict[str, str] | None = None, **metrics: float | None) -> DictionaryInfo:
    """Check the dictionary against the target, then copy it in (temp + rename): one registration.
    `extras`: text files written beside it (what `sae train` reports)."""
    check_name(name)
    kind, folder, hook = _pick(Path(path), hookpoint)
    w = read(kind, folder, hook)
    check_fits(target, w, folder)
    dest = layout.dictionaries_dir(target.name) / name
    if dest.exists():
        raise InputError(f"a dictionary named {name!r} is already registered for {target.name} ({dest})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    info = info_of(name, target.name, w, **metrics)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    try:
        for f in SPARSIFY_FILES if kind == "sparsify" else SAELENS_FILES:
            shutil.copyfile(folder / f, tmp / f)
        (tmp / "hookpoint").write_text(hook, encoding="utf-8")
        atomic_write_text(tmp / INFO, info.model_dump_json(indent=2))
        for fname, text in (extras or {}).items():
            atomic_write_text(tmp / fname, text)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def list_dictionaries(layout: DataLayout, model: str) -> list[DictionaryInfo]:
    root = layout.dictionaries_dir(model)
    out = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if not d.name.startswith(".") and (d / INFO).is_file():
            out.append(DictionaryInfo.model_validate_json((d / INFO).read_text(encoding="utf-8")))
    return out


def open_dictionary(target: Target, name: str) -> DictionaryLatents:
    if target.data_dir is None:
        raise InputError(f"{target.name} was loaded without a data dir: no dictionaries are registered for it")
    d = DataLayout(target.data_dir).dictionaries_dir(target.name) / name
    if not (d / INFO).is_file():
        raise InputError(f"no dictionary named {name!r} is registered for {target.name}: "
                         f"add one with `autointerp sae add PATH --name {name}`")
    info = DictionaryInfo.model_validate_json((d / INFO).read_text(encoding="utf-8"))
    w = read(info.layout, d, (d / "hookpoint").read_text(encoding="utf-8"))
    check_fits(target, w, d)
    return DictionaryLatents(target, info, w)


class Dictionaries:
    """Latent ids (`6-res4k/1764`): the dictionary registered under that name for the target."""

    name = "dictionary"

    def claims(self, unit: UnitId) -> bool:
        return unit.dictionary is not None

    def open(self, target: Target, unit: UnitId) -> UnitSource:
        source = open_dictionary(target, unit.dictionary or "")
        if source.layer != unit.layer:
            raise InputError(f"{unit} names layer {unit.layer}, but the dictionary {unit.dictionary!r} reads layer "
                             f"{source.layer}: its latents are {source.layer}-{unit.dictionary}/N")
        return source


class Reconstruction:
    """Held-out figures of a dictionary, accumulated over chunks of tokens (a dense [tokens, latents]
    matrix of a whole held-out set would not fit): FVU, mean L0, and the fraction of latents that
    never fired."""

    def __init__(self, source: DictionaryLatents) -> None:
        self.source = source
        self.sq_err = self.sum_sq = 0.0
        self.sum = torch.zeros(int(source.w.w_dec.shape[1]), dtype=torch.float64)
        self.fired = torch.zeros(source.n_units, dtype=torch.bool)
        self.active = self.n = 0

    @torch.inference_mode()
    def update(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """x [n, d_in]; y the targets (a transcoder's MLP output), else x."""
        z = self.source.encode(x)
        _, scale, shift = self.source.normalise(x.float())
        out = (z @ self.source.w.w_dec + self.source.w.b_dec) * scale + shift
        y = (x if y is None else y).double()
        self.sq_err += float(((y - out.double()) ** 2).sum())
        self.sum_sq += float((y ** 2).sum())
        self.sum += y.sum(0)
        fires = z > 0
        self.fired |= fires.any(0)
        self.active += int(fires.sum())
        self.n += int(x.shape[0])

    def result(self) -> dict[str, float]:
        variance = self.sum_sq - float((self.sum ** 2).sum()) / self.n
        return {"fvu": self.sq_err / variance, "l0": self.active / self.n,
                "dead_fraction": float((~self.fired).float().mean())}


def reconstruction(source: DictionaryLatents, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
    """The held-out figures of one batch of inputs x [n, d_in] (and targets y)."""
    r = Reconstruction(source)
    r.update(x, y)
    return r.result()
