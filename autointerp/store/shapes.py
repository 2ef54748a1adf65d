"""A model's MLP shape (layers, neurons per layer) without loading its weights: to check neuron ids
that arrive from outside (imports) against the model they name."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from autointerp.config import EMBEDDED_MODEL, Settings, get_settings
from autointerp.errors import AutointerpError, InputError

# autointerp.targets.embedded.load_tiny_random builds exactly this model (2 layers, d_mlp 128).
TINY_RANDOM = ("tiny-random", 2, 128)

_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_MLP_KEYS = ("intermediate_size", "n_inner", "ffn_dim", "d_mlp")
_WIDTH_KEYS = ("hidden_size", "n_embd", "d_model")


def shape_from_config(path: Path) -> tuple[int, int]:
    """(n_layers, d_mlp) from a Hugging Face `config.json`."""
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"cannot read the model config {path}: {e}") from None
    cfg = cfg.get("text_config", cfg) if isinstance(cfg, dict) else {}
    layers = next((cfg[k] for k in _LAYER_KEYS if isinstance(cfg.get(k), int)), None)
    mlp = next((cfg[k] for k in _MLP_KEYS if isinstance(cfg.get(k), int)), None)
    if mlp is None and cfg.get("n_inner", 0) is None:  # GPT-2 style: None means 4 x the width
        width = next((cfg[k] for k in _WIDTH_KEYS if isinstance(cfg.get(k), int)), None)
        mlp = None if width is None else 4 * width
    if not layers or not mlp:
        raise InputError(f"the model config {path} names no layer count and MLP width")
    return layers, mlp


_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def shape_from_gguf(path: Path) -> tuple[int, int]:
    """(n_layers, d_mlp) from a GGUF file's header (`<arch>.block_count`, `<arch>.feed_forward_length`),
    reading only the metadata that precedes them: milliseconds, where parsing the whole file takes seconds."""
    found: dict[str, int] = {}
    try:
        with open(path, "rb") as fh:
            def read(fmt: str):
                size = struct.calcsize(fmt)
                data = fh.read(size)
                if len(data) != size:
                    raise EOFError("the header ends early")
                return struct.unpack(fmt, data)

            def string() -> bytes:
                (n,) = read("<Q")
                return fh.read(n)

            def skip(vtype: int) -> None:
                if vtype == 8:
                    string()
                elif vtype == 9:
                    etype, n = read("<IQ")
                    for _ in range(n) if etype in (8, 9) else ():
                        skip(etype)
                    if etype not in (8, 9):
                        fh.seek(struct.calcsize("<" + _GGUF_SCALARS[etype]) * n, 1)
                else:
                    fh.seek(struct.calcsize("<" + _GGUF_SCALARS[vtype]), 1)

            magic, _version, _tensors, n_kv = read("<4sIQQ")
            if magic != b"GGUF":
                raise ValueError("not a GGUF file")
            for _ in range(n_kv):
                key = string().decode("utf-8", "replace")
                (vtype,) = read("<I")
                if vtype in _GGUF_SCALARS and key.endswith((".block_count", ".feed_forward_length")):
                    (found[key.rsplit(".", 1)[1]],) = read("<" + _GGUF_SCALARS[vtype])
                    if len(found) == 2:
                        return found["block_count"], found["feed_forward_length"]
                else:
                    skip(vtype)
    except (OSError, EOFError, ValueError, KeyError, struct.error) as e:
        raise InputError(f"cannot read the model header {path}: {e}") from None
    raise InputError(f"the model file {path} names no layer count and MLP width")


def _cached_config(name: str) -> Path | None:
    """A config.json for `name` in the local Hugging Face cache (the name, or its TransformerLens alias)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    names = [name]
    try:
        from autointerp.targets.hub import official_name

        names.append(official_name(name))
    except Exception:  # an alias registry that cannot load only loses the alias
        pass
    for repo in dict.fromkeys(names):
        try:
            hit = try_to_load_from_cache(repo, "config.json")
        except Exception:  # a name that is no valid repo id
            continue
        if isinstance(hit, str):
            return Path(hit)
    return None


def model_shape(model: str, settings: Settings | None = None) -> tuple[int, int]:
    """(n_layers, d_mlp) of a model, read from a config file, never from its weights: the embedded
    model (its converted config, else the bundled GGUF's header: nothing is converted), tiny-random, a
    local Hugging Face directory or planted model, or a model in the local Hugging Face cache.
    InputError naming the model when none of these knows it."""
    settings = settings or get_settings()
    if model == TINY_RANDOM[0]:
        return TINY_RANDOM[1], TINY_RANDOM[2]
    if model == EMBEDDED_MODEL:
        config = settings.data_dir / "models" / EMBEDDED_MODEL / "config.json"
        if config.is_file():
            return shape_from_config(config)
        from autointerp.targets.embedded import gguf_path

        try:
            return shape_from_gguf(gguf_path())
        except AutointerpError as e:
            raise InputError(f"cannot check neuron ids for model {model!r}: {e}") from None
    from autointerp.targets.local import local_dir

    try:
        path = local_dir(model, settings.data_dir)
    except AutointerpError as e:  # a planted-* name with no planted model behind it
        raise InputError(str(e)) from None
    config = path / "config.json" if path is not None else _cached_config(model)
    if config is None:
        raise InputError(f"cannot check neuron ids for model {model!r}: it is not {EMBEDDED_MODEL}, tiny-random, "
                         f"a local model directory or a model in the Hugging Face cache")
    return shape_from_config(config)
