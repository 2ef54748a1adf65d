"""Tiny random-weight Hugging Face models of several architectures, saved as model directories (what
`--model /path` loads), with the SmolLM2 tokenizer: gated MLPs (Llama, Gemma) and plain ones (GPT-2, NeoX)."""

from __future__ import annotations

from pathlib import Path

ARCHITECTURES = ("llama", "gemma", "gpt2", "neox")


def _config(arch: str, vocab: int, bos: int, eos: int):
    import transformers as tr

    common = dict(vocab_size=vocab, bos_token_id=bos, eos_token_id=eos)
    if arch == "llama":
        return tr.LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
                              num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True, **common)
    if arch == "gemma":
        return tr.GemmaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
                              num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                              hidden_activation="gelu_pytorch_tanh", **common)
    if arch == "gpt2":
        return tr.GPT2Config(n_embd=64, n_layer=3, n_head=4, n_positions=256, **common)
    if arch == "neox":
        return tr.GPTNeoXConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                                max_position_embeddings=256, **common)
    raise ValueError(arch)


def save_tiny(arch: str, folder: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """A tiny random `arch` model saved under folder/arch (reused when there); returns its directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = folder / arch
    if (path / "config.json").is_file():
        return path
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = _config(arch, len(tok), tok.bos_token_id, tok.eos_token_id)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():  # norms with non-trivial weights, so a mistake in how a norm is applied shows
        for name, p in model.named_parameters():
            if "norm" in name or "ln" in name:
                p.add_(0.3 * torch.randn_like(p))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
