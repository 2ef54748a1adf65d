"""Tiny random-weight models of each architecture family, saved as Hugging Face directories (what a
user passes as `--model /path`), and an independent reference for their direct logit attribution:
autograd through the real transformers forward, not through our bridge or our formula."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

D_MODEL = 64
FAMILIES = ("llama", "gpt2", "neox", "gemma2", "gemma3")
GATED = {"llama": True, "gpt2": False, "neox": False, "gemma2": True, "gemma3": True}
# A softcap near the logits' own size, so its derivative really bends them (Gemma 2's default, 30,
# barely touches a random model's logits).
GEMMA2_SOFTCAP = 0.5


def make_tokenizer():
    """A byte-level BPE trained here in a fraction of a second: no download, every text encodes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<bos>", "<eos>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    text = "The smooth surface of the lake was calm. He is an engineer and it was a long day in the city."
    tk.train_from_iterator([text] * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")


def make_config(family: str, vocab: int, tok):
    import transformers as T

    ids = {"vocab_size": vocab, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
           "pad_token_id": tok.pad_token_id}
    shape = {"hidden_size": D_MODEL, "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 256}
    gemma = {"intermediate_size": 128, "num_key_value_heads": 2, "head_dim": 16, "sliding_window": 16}
    if family == "llama":
        cfg = T.LlamaConfig(intermediate_size=128, num_key_value_heads=2, tie_word_embeddings=False, **shape, **ids)
    elif family == "gpt2":
        cfg = T.GPT2Config(n_embd=D_MODEL, n_layer=2, n_head=4, n_positions=256, **ids)
    elif family == "neox":
        cfg = T.GPTNeoXConfig(intermediate_size=256, use_parallel_residual=True, tie_word_embeddings=False,
                              **shape, **ids)
    elif family == "gemma2":
        cfg = T.Gemma2Config(final_logit_softcapping=GEMMA2_SOFTCAP, **gemma, **shape, **ids)
    elif family == "gemma3":
        cfg = T.Gemma3TextConfig(**gemma, **shape, **ids)
    else:
        raise ValueError(family)
    return cfg


def save_family(family: str, root: Path, tok, perturb_norms: bool = True, seed: int = 0) -> Path:
    """Save a random model; with `perturb_norms` every norm weight and bias gets noise, so reading a
    Gemma norm's `weight` instead of `1 + weight`, or dropping LayerNorm's centring, shows up."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(make_config(family, len(tok), tok))
    if perturb_norms:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "norm" in name or ".ln_" in name:
                    p.add_(torch.randn_like(p) * 0.3)
    path = root / family
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def load_hf(path: Path):
    """The same directory loaded straight into transformers: the reference model."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


# Where each family keeps its parts, written out by hand from the transformers modelling files.

def layers_of(model, family: str):
    return {"llama": lambda: model.model.layers, "gemma2": lambda: model.model.layers,
            "gemma3": lambda: model.model.layers, "gpt2": lambda: model.transformer.h,
            "neox": lambda: model.gpt_neox.layers}[family]()


def down_proj(model, family: str, layer: int):
    """The MLP's output projection: its input is the neuron activations."""
    block = layers_of(model, family)[layer]
    return {"gpt2": lambda: block.mlp.c_proj, "neox": lambda: block.mlp.dense_4h_to_h}.get(
        family, lambda: block.mlp.down_proj)()


def sublayers(model, family: str) -> list[torch.nn.Module]:
    """Every attention and MLP module: detaching their inputs leaves only the direct path."""
    out = []
    for block in layers_of(model, family):
        attn = {"gpt2": "attn", "neox": "attention"}.get(family, "self_attn")
        out += [getattr(block, attn), block.mlp]
    return out


def final_norm(model, family: str):
    return {"gpt2": lambda: model.transformer.ln_f, "neox": lambda: model.gpt_neox.final_layer_norm}.get(
        family, lambda: model.model.norm)()


def post_mlp_norm(model, family: str, layer: int):
    """Gemma 2 / 3 normalise the MLP output before adding it to the residual stream."""
    return layers_of(model, family)[layer].post_feedforward_layernorm if family.startswith("gemma") else None


def frozen_norm_forward(module, family: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The norm's forward with its data-dependent scale computed from a detached input: the same
    values as the module, but autograd sees the norm as the linear map it is at this input."""
    if family in ("gpt2", "neox"):
        def forward(x):
            c = x - x.mean(-1, keepdim=True)
            inv = torch.rsqrt(c.detach().pow(2).mean(-1, keepdim=True) + module.eps)
            return c * inv * module.weight + module.bias
    elif family == "llama":
        def forward(x):
            inv = torch.rsqrt(x.detach().pow(2).mean(-1, keepdim=True) + module.variance_epsilon)
            return module.weight * (x * inv)
    else:  # Gemma: the weight is stored as an offset from one
        def forward(x):
            inv = torch.rsqrt(x.detach().pow(2).mean(-1, keepdim=True) + module.eps)
            return (x * inv) * (1.0 + module.weight)
    return forward


@contextmanager
def _hooks(handles):
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _detach_inputs(module, args, kwargs):
    args = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
    kwargs = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    return args, kwargs


def reference_dla(model, family: str, layer: int, neuron: int, ids: torch.Tensor, pos: int) -> torch.Tensor:
    """[vocab] d logits[pos] / d activation[pos, neuron] along the direct path, by forward-mode
    autograd through the transformers model: every attention and MLP input detached (no path
    through later layers), the final norm's (and Gemma's post-MLP norm's) scale frozen."""
    import torch.autograd.forward_ad as fwAD

    norms = [final_norm(model, family)] + [m for m in [post_mlp_norm(model, family, layer)] if m is not None]
    saved = {m: m.forward for m in norms}
    with torch.enable_grad(), fwAD.dual_level():
        alpha = fwAD.make_dual(torch.zeros(()), torch.ones(()))

        def nudge(module, args):
            x = args[0].clone()
            x[0, pos, neuron] = x[0, pos, neuron] + alpha
            return (x,) + tuple(args[1:])

        handles = [down_proj(model, family, layer).register_forward_pre_hook(nudge)]
        handles += [m.register_forward_pre_hook(_detach_inputs, with_kwargs=True) for m in sublayers(model, family)]
        try:
            for m in norms:
                m.forward = frozen_norm_forward(m, family)
            with _hooks(handles):
                logits = model(ids).logits[0, pos]
                tangent = fwAD.unpack_dual(logits).tangent
        finally:
            for m, f in saved.items():
                m.forward = f
    return tangent.detach().clone()


def hf_logits_with(model, family: str, layer: int, edit: Callable[[torch.Tensor], None],
                   ids: torch.Tensor) -> torch.Tensor:
    """The reference model's logits with the neuron activations (the output projection's input)
    edited in place by `edit`."""
    def hook(module, args):
        x = args[0].clone()
        edit(x)
        return (x,) + tuple(args[1:])

    with torch.no_grad(), _hooks([down_proj(model, family, layer).register_forward_pre_hook(hook)]):
        return model(ids).logits


def hf_activations(model, family: str, layer: int, ids: torch.Tensor) -> torch.Tensor:
    got = []
    with torch.no_grad(), _hooks([down_proj(model, family, layer).register_forward_pre_hook(
            lambda m, a: got.append(a[0].detach().clone()))]):
        model(ids)
    return got[0]
