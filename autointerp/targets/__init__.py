"""Target models and their unit sources: the embedded SmolLM2 by default, a local HF directory (or a `planted-*` copy), any
TransformerLens / HF name where a hub is reachable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from autointerp.config import EMBEDDED_MODEL, Settings, get_settings
from autointerp.targets import embedded
from autointerp.targets.base import FINAL_SCALE, RunOutput, Target, mlp_in_name
from autointerp.targets.hub import load_hub_bridge
from autointerp.targets.local import load_hf_dir, local_dir
from autointerp.targets.units import (
    MlpNeurons,
    SourceKind,
    UnitSource,
    hook_name,
    register_source_kind,
    source_kinds,
    unregister_source_kind,
)

EMBEDDED = {EMBEDDED_MODEL: "smollm2", "tiny-random": "tiny"}

__all__ = ["EMBEDDED", "FINAL_SCALE", "MlpNeurons", "RunOutput", "SourceKind", "Target", "UnitSource", "hook_name",
           "load_target", "mlp_in_name", "register_source_kind", "source_kinds", "unregister_source_kind"]


def load_target(name: str | None = None, settings: Settings | None = None) -> Target:
    """Load (once per process) the named target model."""
    settings = settings or get_settings()
    return _load(name or settings.model, settings.data_dir, settings.hub_timeout)


@lru_cache(maxsize=4)
def _load(name: str, data_dir: Path, hub_timeout: float) -> Target:
    import torch

    torch.set_grad_enabled(False)
    if name in EMBEDDED:
        from transformer_lens.model_bridge import TransformerBridge

        loader = embedded.load_smollm2 if EMBEDDED[name] == "smollm2" else embedded.load_tiny_random
        model, tok = loader(data_dir)
        bridge = TransformerBridge.boot_transformers(
            embedded.SMOLLM2_REPO, hf_model=model, tokenizer=tok, device="cpu"
        )
        return Target(name, bridge, tok, data_dir)
    path = local_dir(name, data_dir)
    if path is not None:
        from transformer_lens.model_bridge import TransformerBridge

        model, tok = load_hf_dir(path)
        bridge = TransformerBridge.boot_transformers(str(path), hf_model=model, tokenizer=tok, device="cpu")
        return Target(name, bridge, tok, data_dir)
    bridge = load_hub_bridge(name, hub_timeout)
    return Target(name, bridge, bridge.tokenizer, data_dir)
