"""Models saved as Hugging Face directories on this machine: a path, or a `planted-*` name (the
evals' copies of the embedded model with rewired neurons, kept under `$AUTOINTERP_HOME/planted/`)."""

from __future__ import annotations

from pathlib import Path

from autointerp.config import EMBEDDED_MODEL
from autointerp.errors import TargetError
from autointerp.targets.embedded import _quiet_transformers

PLANTED_PREFIX = "planted-"


def planted_root(data_dir: Path) -> Path:
    """Where planted models live: their own folder, so a `models` symlink shared between homes is never written."""
    return data_dir / "planted"


def local_dir(name: str, data_dir: Path) -> Path | None:
    """The HF directory a model name refers to, or None when the name is not a local model."""
    if name.startswith(PLANTED_PREFIX) and "/" not in name:
        path = planted_root(data_dir) / name
        if not (path / "config.json").is_file():
            raise TargetError(f"no planted model {name!r} under {planted_root(data_dir)}; "
                              "`autointerp eval planted` creates one")
        return path
    path = Path(name).expanduser()
    try:
        if path.is_dir() and (path / "config.json").is_file():
            return path.resolve()
        is_path = path.exists() or name.startswith(("/", "./", "../", "~")) or name in (".", "..")
    except OSError as e:  # a name too long to be a path...
        raise TargetError(f"cannot use {name!r} as a model: {(e.strerror or type(e).__name__).lower()}") from None
    if is_path:  # a path, never a hub name: say what is wrong with it
        what = "does not exist" if not path.exists() else "is not a directory" if not path.is_dir() else \
            "is not a Hugging Face model directory (no config.json)"
        raise TargetError(f"model directory {path} {what}; the embedded default {EMBEDDED_MODEL!r} works offline")
    return None


def load_hf_dir(path: Path):
    """(hf_model, tokenizer) in float32 with eager attention, as the embedded model is loaded."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32)
    except Exception as e:  # noqa: BLE001 - OSError, ValueError, a truncated file's SafetensorError...: one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TargetError(f"cannot load the model directory {path}: {first}") from e
    return model, tok
