"""Read dictionaries others trained, with `safetensors` directly (no `sae-lens`, whose pins clash
with TransformerLens 4): EleutherAI sparsify folders (`cfg.json` + `sae.safetensors`, SAEs and
transcoders) and SAELens folders (`cfg.json` + `sae_weights.safetensors`: standard/ReLU, topk,
jumprelu, batchtopk). Every tensor comes back in one orientation: encoder rows [n, d_in], decoder
rows [n, d_out]."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from autointerp.errors import InputError
from autointerp.records import DictionaryActivation, DictionaryLayout, DictionaryNorm, DictionarySite

SPARSIFY_FILES = ("cfg.json", "sae.safetensors")
SAELENS_FILES = ("cfg.json", "sae_weights.safetensors")

# Hugging Face module names sparsify hooks (the module's output is read; a transcoder reads the
# module's input and predicts its output), by the layout of the model's blocks.
_SPARSIFY_HOOK = re.compile(r"^(?:model\.|transformer\.|gpt_neox\.)?(?:layers|h)\.(\d+)(\.mlp)?$")
# SAELens hook names (TransformerLens's).
_SAELENS_HOOK = re.compile(r"^blocks\.(\d+)\.(hook_resid_post|hook_resid_pre|hook_mlp_out|ln2\.hook_normalized|"
                           r"ln2\.hook_out|hook_mlp_in)$")


@dataclass
class DictionaryWeights:
    """A dictionary's weights and how it encodes, as our unit source uses them."""

    layout: DictionaryLayout
    site: DictionarySite
    layer: int
    hook: str  # the name its own files give the hook point
    w_enc: torch.Tensor  # [n, d_in]
    b_enc: torch.Tensor  # [n]
    w_dec: torch.Tensor  # [n, d_out]
    b_dec: torch.Tensor  # [d_out]
    activation: DictionaryActivation
    k: int | None = None
    threshold: torch.Tensor | None = None  # [n], JumpReLU
    subtract_b_dec: bool = True  # apply_b_dec_to_input (SAELens), not a transcoder (sparsify)
    normalize: DictionaryNorm = "none"

    @property
    def n_latents(self) -> int:
        return int(self.w_enc.shape[0])

    @property
    def d_in(self) -> int:
        return int(self.w_enc.shape[1])


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k).float() for k in f.keys()}  # noqa: SIM118 - safe_open has no items()
    except Exception as e:  # noqa: BLE001 - a damaged file from elsewhere: one line naming it
        raise InputError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None


def _cfg(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a readable JSON config ({e})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: the config is not a JSON object")
    return cfg


def _need(t: dict[str, torch.Tensor], names: tuple[str, ...], where: Path) -> None:
    missing = [n for n in names if n not in t]
    if missing:
        raise InputError(f"{where}: missing tensor(s) {', '.join(missing)}")


def _int(cfg: dict, key: str, where: Path, default: int | None = None) -> int:
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise InputError(f"{where}: {key} must be a non-negative integer, got {v!r}")
    return v


def read_sparsify(folder: Path, hook: str) -> DictionaryWeights:
    """One sparsify hookpoint folder; `hook` is its name (`layers.6`, `layers.6.mlp`)."""
    cfg, t = _cfg(folder / "cfg.json"), _tensors(folder / "sae.safetensors")
    where = folder / "sae.safetensors"
    _need(t, ("encoder.weight", "encoder.bias", "W_dec", "b_dec"), where)
    m = _SPARSIFY_HOOK.match(hook)
    if m is None:
        raise InputError(f"{folder}: hookpoint {hook!r} is not a block (`layers.6`) or its MLP (`layers.6.mlp`)")
    transcoder = bool(cfg.get("transcode", False))
    if transcoder and not m.group(2):
        raise InputError(f"{folder}: a transcoder must be trained on an MLP (`layers.6.mlp`), not {hook!r}")
    if cfg.get("activation", "topk") != "topk":
        raise InputError(f"{folder}: activation {cfg.get('activation')!r} is not supported (only topk)")
    if cfg.get("skip_connection"):
        raise InputError(f"{folder}: dictionaries with a skip connection are not supported")
    w_enc = t["encoder.weight"]
    if t["W_dec"].shape[0] != w_enc.shape[0] or _int(cfg, "d_in", folder) != w_enc.shape[1]:
        raise InputError(f"{where}: encoder {tuple(w_enc.shape)} and decoder {tuple(t['W_dec'].shape)} "
                         f"do not fit d_in {cfg.get('d_in')}")
    site: DictionarySite = "transcoder" if transcoder else ("mlp-out" if m.group(2) else "resid")
    return DictionaryWeights("sparsify", site, int(m.group(1)), hook, w_enc, t["encoder.bias"], t["W_dec"],
                             t["b_dec"], "topk", k=_int(cfg, "k", folder, 32), subtract_b_dec=not transcoder)


def read_saelens(folder: Path) -> DictionaryWeights:
    cfg, t = _cfg(folder / "cfg.json"), _tensors(folder / "sae_weights.safetensors")
    where = folder / "sae_weights.safetensors"
    _need(t, ("W_enc", "b_enc", "W_dec", "b_dec"), where)
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    hook = cfg.get("hook_name", meta.get("hook_name"))
    m = _SAELENS_HOOK.match(str(hook))
    if m is None:
        raise InputError(f"{folder}: hook_name {hook!r} is not a hook point autointerp reads (blocks.N."
                         "hook_resid_post / hook_resid_pre / hook_mlp_out, or a transcoder's ln2.hook_normalized)")
    arch = str(cfg.get("architecture") or ("topk" if cfg.get("activation_fn_str") == "topk" else "standard"))
    out_hook = cfg.get("hook_name_out", meta.get("hook_name_out"))
    point = m.group(2)
    if out_hook is not None or point in ("ln2.hook_normalized", "ln2.hook_out", "hook_mlp_in"):
        if out_hook != f"blocks.{m.group(1)}.hook_mlp_out":
            raise InputError(f"{folder}: a transcoder reading {hook!r} must write blocks.{m.group(1)}.hook_mlp_out, "
                             f"not {out_hook!r}")
        site: DictionarySite = "transcoder"
    else:
        site = "mlp-out" if point == "hook_mlp_out" else "resid"
    w_enc = t["W_enc"].T.contiguous()  # SAELens keeps W_enc as [d_in, d_sae]
    if t["W_dec"].shape[0] != w_enc.shape[0] or w_enc.shape[1] != _int(cfg, "d_in", folder):
        raise InputError(f"{where}: W_enc {tuple(t['W_enc'].shape)} and W_dec {tuple(t['W_dec'].shape)} do not "
                         f"fit d_in {cfg.get('d_in')}")
    norm = cfg.get("normalize_activations", "none") or "none"
    if norm not in ("none", "constant_norm_rescale", "layer_norm"):
        raise InputError(f"{folder}: normalize_activations {norm!r} needs its release's scaling factor folded into "
                         "the weights first (SAELens folds it when it loads from its hub)")
    layer = int(m.group(1)) - (1 if point == "hook_resid_pre" else 0)
    if layer < 0:
        raise InputError(f"{folder}: blocks.0.hook_resid_pre is the embedding, not a layer's output")
    kw: dict = {"subtract_b_dec": bool(cfg.get("apply_b_dec_to_input", site != "transcoder")), "normalize": norm}
    if arch in ("jumprelu", "batchtopk") or "threshold" in t or "topk_threshold" in t:
        thr = t.get("threshold")
        if thr is None and "topk_threshold" in t:
            thr = torch.full((w_enc.shape[0],), float(t["topk_threshold"].reshape(-1)[0]))
        if thr is None and "log_threshold" in t:
            thr = t["log_threshold"].exp()
        if thr is None:
            raise InputError(f"{where}: a {arch} dictionary needs its `threshold` tensor")
        return DictionaryWeights("saelens", site, layer, str(hook), w_enc, t["b_enc"], t["W_dec"], t["b_dec"],
                                 "jumprelu", threshold=thr, **kw)
    if arch == "topk":
        k = cfg.get("k", (cfg.get("activation_fn_kwargs") or {}).get("k"))
        if cfg.get("rescale_acts_by_decoder_norm"):
            raise InputError(f"{folder}: rescale_acts_by_decoder_norm is not supported")
        return DictionaryWeights("saelens", site, layer, str(hook), w_enc, t["b_enc"], t["W_dec"], t["b_dec"],
                                 "topk", k=_int({"k": k}, "k", folder), **kw)
    if arch != "standard":
        raise InputError(f"{folder}: architecture {arch!r} is not supported (standard, topk, jumprelu, batchtopk)")
    return DictionaryWeights("saelens", site, layer, str(hook), w_enc, t["b_enc"], t["W_dec"], t["b_dec"],
                             "relu", **kw)


def find_layout(path: Path) -> list[tuple[DictionaryLayout, Path, str]]:
    """(layout, folder, hook) for each dictionary under `path`: one SAELens folder, one sparsify
    hookpoint folder, or a sparsify run folder with one subfolder per hookpoint."""
    if not path.is_dir():
        raise InputError(f"{path}: not a directory (a dictionary is a folder with cfg.json and its weights)")
    if all((path / f).is_file() for f in SAELENS_FILES):
        return [("saelens", path, "")]
    if all((path / f).is_file() for f in SPARSIFY_FILES):
        return [("sparsify", path, path.name)]
    subs = sorted(p for p in path.iterdir() if p.is_dir() and all((p / f).is_file() for f in SPARSIFY_FILES))
    if not subs:
        raise InputError(f"{path}: neither a SAELens folder ({' + '.join(SAELENS_FILES)}) nor a sparsify folder "
                         f"({' + '.join(SPARSIFY_FILES)}, or one subfolder per hookpoint)")
    return [("sparsify", p, p.name) for p in subs]


def read(layout: DictionaryLayout, folder: Path, hook: str) -> DictionaryWeights:
    w = read_sparsify(folder, hook) if layout == "sparsify" else read_saelens(folder)
    bad = [n for n, x in (("encoder", w.w_enc), ("decoder", w.w_dec)) if not bool(torch.isfinite(x).all())]
    if bad:
        raise InputError(f"{folder}: the {bad[0]} holds NaN or infinite weights")
    if w.k is not None and not 0 < w.k <= w.n_latents:
        raise InputError(f"{folder}: k {w.k} must be between 1 and the {w.n_latents} latents")
    return w
