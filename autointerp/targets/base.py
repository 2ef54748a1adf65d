"""The one interface every target model is used through: a TransformerLens bridge plus its tokenizer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import torch

from autointerp.errors import InputError
from autointerp.records import NeuronId

LayerFn = Callable[[int, torch.Tensor], None]


class _StopForward(Exception):
    """Raised from the last needed hook: nothing after it (later layers, unembedding) runs."""


def hook_name(layer: int) -> str:
    """The neuron activation: the MLP's output of the non-linearity."""
    return f"blocks.{layer}.mlp.hook_post"


class Target:
    """A loaded model whose MLP neurons we explain."""

    def __init__(self, name: str, bridge, tokenizer) -> None:
        self.name = name
        self.bridge = bridge.eval()
        self.tokenizer = tokenizer
        cfg = bridge.cfg
        self.n_layers: int = int(cfg.n_layers)
        self.d_mlp: int = int(cfg.d_mlp)
        self.n_ctx: int = int(cfg.n_ctx)
        self.bos_id: int | None = tokenizer.bos_token_id
        self.prepend_bos: bool = bool(getattr(cfg, "default_prepend_bos", True)) and self.bos_id is not None
        # Hooks live on the shared modules: one forward at a time (batch workers are threads).
        self.lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Target({self.name!r}, layers={self.n_layers}, d_mlp={self.d_mlp})"

    def check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.n_layers:
            raise InputError(
                f"layer {layer} is out of range for {self.name}: layers are 0..{self.n_layers - 1}"
            )

    def check(self, neuron: NeuronId) -> None:
        """Raise one clear error when the neuron does not exist in this model."""
        self.check_layer(neuron.layer)
        if not 0 <= neuron.index < self.d_mlp:
            raise InputError(
                f"neuron {neuron} is out of range for {self.name}: neurons are 0..{self.d_mlp - 1} per layer"
            )

    def encode(self, text: str) -> list[int]:
        """Token ids of text, without BOS."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """Each token decoded on its own, so joined they give back the text."""
        return [self.tokenizer.decode([int(i)]) for i in ids]

    @torch.inference_mode()
    def run_layers(
        self,
        tokens: torch.Tensor,
        layers: Sequence[int],
        fn: LayerFn,
        attention_mask: torch.Tensor | None = None,
    ) -> None:
        """Forward `tokens`, calling fn(layer, hook_post) for each layer; stop after the last one."""
        for layer in layers:
            self.check_layer(layer)

        last = max(layers)

        def make_hook(layer: int):
            def hook(act: torch.Tensor, hook) -> None:
                fn(layer, act)
                if layer == last:
                    raise _StopForward

            return hook

        hooks = [(hook_name(layer), make_hook(layer)) for layer in sorted(set(layers))]
        kwargs = {"attention_mask": attention_mask} if attention_mask is not None else {}
        with self.lock:
            try:
                self.bridge.run_with_hooks(tokens, fwd_hooks=hooks, return_type=None, **kwargs)
            except _StopForward:
                pass

    def layer_activations(
        self, tokens: torch.Tensor, layer: int, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[batch, pos, d_mlp] activations of one layer."""
        out: dict[int, torch.Tensor] = {}
        self.run_layers(tokens, [layer], lambda _, act: out.__setitem__(layer, act.detach().clone()), attention_mask)
        return out[layer]
