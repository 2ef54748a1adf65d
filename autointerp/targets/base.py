"""The one interface every target model is used through: a TransformerLens bridge plus its tokenizer.

Nothing outside `targets/` touches the bridge: forwards go through `Target.run` (padding, masking,
reading and patching hook points, one forward at a time), units through their source
(`Target.units`, `autointerp.targets.units`) and weights through the accessors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autointerp.errors import InputError
from autointerp.records import UnitId
from autointerp.targets.units import Patch, UnitSource, hook_name, resolve

UnitsFn = Callable[[UnitSource, torch.Tensor], None]


class _StopForward(Exception):
    """Raised from the last needed hook: nothing after it (later layers, unembedding) runs."""


def mlp_in_name(layer: int) -> str:
    """The MLP's input: the residual stream after the pre-MLP norm."""
    return f"blocks.{layer}.ln2.hook_out"


FINAL_SCALE = "ln_final.hook_scale"
"""The final norm's data-dependent scale, the RMS (or std) it divides by, [batch, pos, 1]."""

# Within a block, the hook points a unit source reads or patches, in the order the forward reaches them.
_IN_BLOCK = ("hook_resid_pre", "ln2.hook_out", "mlp.hook_post", "mlp.hook_out", "ln2_post.hook_scale",
             "hook_mlp_out", "hook_resid_post")


def point_layer(name: str) -> int:
    """The block a hook point belongs to (`blocks.6.mlp.hook_post` -> 6)."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "blocks" and parts[1].isdigit():
        return int(parts[1])
    raise ValueError(f"unknown hook point {name!r}")


def _order(name: str) -> tuple[float, int]:
    """Where a read point fires in the forward: blocks in order, and within a block as `_IN_BLOCK`."""
    if name == FINAL_SCALE:
        return (float("inf"), 0)
    rest = name.split(".", 2)[-1]
    return (point_layer(name), _IN_BLOCK.index(rest) if rest in _IN_BLOCK else len(_IN_BLOCK))


def _patcher(fn: Patch):
    def hook(act: torch.Tensor, hook) -> torch.Tensor:
        new = fn(act)
        return act if new is None else new

    return hook


def post_mlp_scale_name(layer: int) -> str:
    """The data-dependent scale of a norm applied to the MLP's output before the residual add
    (Gemma 2 / 3, OLMo 2: `post_feedforward_layernorm`)."""
    return f"blocks.{layer}.ln2_post.hook_scale"


def _norm_gain(ln, d_model: int) -> torch.Tensor:
    """[d_model]: what a norm multiplies each normalised coordinate by, as TransformerLens describes
    the norm: `1 + weight` where the weight is an offset from one (Gemma), ones without a weight."""
    if ln is None:
        return torch.ones(d_model)
    w = getattr(ln, "weight", None)
    if w is None:
        w = getattr(getattr(ln, "original_component", None), "weight", None)
    if not isinstance(w, torch.Tensor):
        return torch.ones(d_model)
    w = w.detach().float()
    return 1.0 + w if getattr(ln, "uses_weight_offset", False) else w


def _centres(ln) -> bool:
    """LayerNorm subtracts the mean (a linear map the derivative keeps); RMSNorm does not."""
    return ln is not None and not getattr(ln, "uses_rms_norm", True)


def _through_norm(ln, v: torch.Tensor, scale: torch.Tensor | None, d_model: int) -> torch.Tensor:
    """The norm's derivative applied to residual directions v [..., d_model] with its scale frozen
    at `scale` [..., 1] (the measured RMS or std; None leaves it out): centre, times gain, / scale."""
    if ln is None:
        return v
    if _centres(ln):
        v = v - v.mean(-1, keepdim=True)
    v = v * _norm_gain(ln, d_model)
    return v if scale is None else v / scale


def _describe(ln) -> str:
    if ln is None:
        return "no norm"
    kind = "LayerNorm (mean subtracted)" if _centres(ln) else "RMSNorm"
    return kind + (" x (1 + weight)" if getattr(ln, "uses_weight_offset", False) else " x weight")


@dataclass
class DirectLogits:
    """A neuron's direct logit attribution on some contexts (see `Target.direct_logit_attribution`)."""

    values: torch.Tensor  # [vocab] logits per unit activation, averaged over the contexts
    final_scale: float  # the final norm's measured scale (RMS or std), averaged over the contexts
    handling: str  # which norms, gains and caps the path went through


@dataclass
class RunOutput:
    """What one `Target.run` read: each requested point ([batch, pos, ...]) and the logits if asked for."""

    reads: dict[str, torch.Tensor] = field(default_factory=dict)
    logits: torch.Tensor | None = None

    def post(self, layer: int) -> torch.Tensor:
        return self.reads[hook_name(layer)]

    def units(self, source: UnitSource) -> torch.Tensor:
        """[batch, pos, n_units]: the source's units, from what the run read at its hook point."""
        return source.encode(self.reads[source.read_point])


class Target:
    """A loaded model whose units (MLP neurons; dictionary latents) we explain."""

    def __init__(self, name: str, bridge, tokenizer, data_dir: Path | None = None) -> None:
        self.name = name
        self.data_dir = data_dir  # where unit sources registered for it (dictionaries) are kept
        self.bridge = bridge.eval()
        self.tokenizer = tokenizer
        cfg = bridge.cfg
        self.n_layers: int = int(cfg.n_layers)
        self.d_mlp: int = int(cfg.d_mlp)
        self.n_ctx: int = int(cfg.n_ctx)
        self.d_model: int = int(cfg.d_model)
        self.bos_id: int | None = tokenizer.bos_token_id
        self.prepend_bos: bool = bool(getattr(cfg, "default_prepend_bos", True)) and self.bos_id is not None
        # Hooks live on the shared modules: one forward at a time (batch workers are threads).
        self.lock = threading.RLock()
        self._sources: dict[str, UnitSource] = {}

    def __repr__(self) -> str:
        return f"Target({self.name!r}, layers={self.n_layers}, d_mlp={self.d_mlp})"

    def check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.n_layers:
            raise InputError(
                f"layer {layer} is out of range for {self.name}: layers are 0..{self.n_layers - 1}"
            )

    def units(self, unit: UnitId) -> UnitSource:
        """The source of a unit id (its layer's neurons, or its dictionary), opened once and kept."""
        key = unit.source_id
        found = self._sources.get(key)
        if found is None:
            self.check_layer(unit.layer)
            found = self._sources.setdefault(key, resolve(self, unit))
        return found

    def neurons(self, layer: int) -> UnitSource:
        """Layer `layer`'s MLP neurons."""
        return self.units(UnitId(layer=layer, index=0))

    def check(self, unit: UnitId) -> None:
        """Raise one clear error when the unit does not exist in this model."""
        self.units(unit).check(unit.index)

    def encode(self, text: str) -> list[int]:
        """Token ids of text, without BOS."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """Each token decoded on its own, so joined they give back the text."""
        return [self.tokenizer.decode([int(i)]) for i in ids]

    @torch.inference_mode()
    def run(
        self,
        tokens: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        read: Sequence[str] = (),
        patch: Mapping[str, Patch] | None = None,
        logits: bool = False,
    ) -> RunOutput:
        """One forward under the model lock. `read`: hook points to copy out (a source's
        `read_point`, `mlp_in_name(layer)`, `FINAL_SCALE`); `patch`: hook point -> fn(activations)
        returning the new activations (or None after editing in place; `UnitSource.overwrite` makes
        them); without `logits` the forward stops after the last point read."""
        points = sorted(set(read), key=_order)
        out = RunOutput()
        hooks = []
        for name, fn in (patch or {}).items():
            self.check_layer(point_layer(name))
            hooks.append((name, _patcher(fn)))
        last = points[-1] if points and not logits else None

        def reader(name: str):
            def hook(act: torch.Tensor, hook) -> None:
                out.reads[name] = act.detach().clone()
                if name == last:
                    raise _StopForward

            return hook

        hooks += [(name, reader(name)) for name in points]
        kwargs = {"attention_mask": attention_mask} if attention_mask is not None else {}
        with self.lock:
            try:
                result = self.bridge.run_with_hooks(tokens, fwd_hooks=hooks,
                                                    return_type="logits" if logits else None, **kwargs)
                if logits:
                    out.logits = result
            except _StopForward:
                pass
        return out

    @torch.inference_mode()
    def run_units(
        self,
        tokens: torch.Tensor,
        sources: Sequence[UnitSource],
        fn: UnitsFn,
        attention_mask: torch.Tensor | None = None,
    ) -> None:
        """Forward `tokens`, calling fn(source, its units' activations) for each source; stop after
        the last one is read. (Streams into `fn` without a copy where a source's transform is the
        identity: the cache builder's path.)"""
        by_point: dict[str, list[UnitSource]] = {}
        for source in sources:
            by_point.setdefault(source.read_point, []).append(source)
        last = max(by_point, key=_order)

        def make_hook(name: str):
            def hook(act: torch.Tensor, hook) -> None:
                for source in by_point[name]:
                    fn(source, source.encode(act))
                if name == last:
                    raise _StopForward

            return hook

        hooks = [(name, make_hook(name)) for name in sorted(by_point, key=_order)]
        kwargs = {"attention_mask": attention_mask} if attention_mask is not None else {}
        with self.lock:
            try:
                self.bridge.run_with_hooks(tokens, fwd_hooks=hooks, return_type=None, **kwargs)
            except _StopForward:
                pass

    def activations(
        self, tokens: torch.Tensor, source: UnitSource, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[batch, pos, n_units] activations of one unit source."""
        return self.run(tokens, attention_mask, read=[source.read_point]).units(source)

    def layer_activations(
        self, tokens: torch.Tensor, layer: int, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[batch, pos, d_mlp] activations of one layer's neurons."""
        return self.activations(tokens, self.neurons(layer), attention_mask)

    def run_padded(self, seqs: Sequence[Sequence[int]], **kw) -> RunOutput:
        """`run` on sequences of different lengths, right-padded with an attention mask (causal
        attention never looks right, so padding changes no real token's values)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = torch.tensor(list(s), dtype=torch.long)
            mask[row, : len(s)] = 1
        return self.run(ids, mask if len(seqs) > 1 else None, **kw)

    # Weights: read-only views, detached from autograd.

    def w_out(self, layer: int) -> torch.Tensor:
        """[d_mlp, d_model]: the MLP's output projection, one row per neuron of `layer` (what it
        writes to the residual stream, before any post-MLP norm: see `direct_logit_attribution`)."""
        self.check_layer(layer)
        return self.bridge.blocks[layer].mlp.W_out.detach()

    def w_in(self, layer: int) -> torch.Tensor:
        """[d_model, d_mlp]: each neuron's input weights (the `up` projection of a gated MLP)."""
        self.check_layer(layer)
        return self.bridge.blocks[layer].mlp.W_in.detach()

    def final_norm_weight(self) -> torch.Tensor:
        """[d_model]: what the final norm multiplies each normalised coordinate by: its weight, or
        `1 + weight` for Gemma-style norms that store an offset from one (ones when it has none)."""
        return _norm_gain(getattr(self.bridge, "ln_final", None), self.d_model)

    def _post_mlp_norm(self, layer: int):
        return getattr(self.bridge.blocks[layer], "ln2_post", None)

    def _softcap(self) -> float | None:
        cap = getattr(self.bridge.cfg, "output_logits_soft_cap", None)
        return float(cap) if cap is not None and float(cap) > 0 else None

    def _post_norm_of(self, source: UnitSource):
        return self._post_mlp_norm(source.layer) if source.through_post_mlp_norm else None

    def weight_dla(self, source: UnitSource) -> torch.Tensor:
        """[n_units, vocab]: each unit's direct logit attribution from the weights alone: through
        every norm's gain and LayerNorm's centring, without their data-dependent scales (positive
        and the same for every token) or a logit softcap. Ranks tokens; sizes need contexts."""
        v = _through_norm(self._post_norm_of(source), source.output_directions().float(), None, self.d_model)
        v = _through_norm(getattr(self.bridge, "ln_final", None), v, None, self.d_model)
        return v @ self.unembedding().float()

    def dla_reads(self, source: UnitSource) -> list[str]:
        """The read points `direct_logit_attribution` measures (the scales of the norms on the
        unit's direct path), for a caller that runs the contexts anyway and passes its run."""
        return list(self._dla_points(source).values())

    def _dla_points(self, source: UnitSource) -> dict:
        ln, post = getattr(self.bridge, "ln_final", None), self._post_norm_of(source)
        # A norm bridge without a scale hook point cannot be measured: its scale is left out.
        return {norm: name for norm, name in ((post, post_mlp_scale_name(source.layer)), (ln, FINAL_SCALE))
                if norm is not None and hasattr(norm, "hook_scale")}

    def direct_logit_attribution(self, source: UnitSource, index: int, tokens: torch.Tensor,
                                 positions: torch.Tensor, measured: RunOutput | None = None) -> DirectLogits:
        """The unit's direct effect on the logits: d logits[i, p_i] / d activation[i, p_i] along
        the path from its output direction straight to the unembedding (not through later layers),
        with the scale of every norm on that path (the final norm; a post-MLP norm) held at its
        value measured on row i of `tokens` [B, T] at `positions` [B], and a logit softcap's slope
        taken at the measured logits; averaged over the rows. LayerNorm's mean subtraction is
        linear and kept; Gemma's norms multiply by 1 + weight. `measured`: a run of `tokens` that
        already read `dla_reads(source)` (and the logits), so the contexts are not run twice."""
        source.check(index)
        ln, post, cap = getattr(self.bridge, "ln_final", None), self._post_norm_of(source), self._softcap()
        points = self._dla_points(source)
        out = measured if measured is not None else self.run(tokens, read=list(points.values()), logits=cap is not None)
        if any(name not in out.reads for name in points.values()) or (cap is not None and out.logits is None):
            raise ValueError("the measured run lacks the norm scales or logits the DLA needs")
        rows = torch.arange(tokens.shape[0])

        def step(norm, v: torch.Tensor, where: str) -> tuple[torch.Tensor, torch.Tensor | None, str]:
            scale = out.reads[points[norm]][rows, positions].float() if norm in points else None
            said = f" -> {where} {_describe(norm)}" + (" at its measured scale" if scale is not None else
                                                       " (scale not measurable: left out)")
            return _through_norm(norm, v, scale, self.d_model), scale, said if norm is not None else ""

        v = source.output_directions()[index].float().expand(len(rows), -1)
        v, _, post_said = step(post, v, "post-MLP")
        v, scale, final_said = step(ln, v, "final")
        w_u = self.unembedding().float()
        handling = source.output_name + post_said + final_said + " -> W_U"
        if cap is None:
            values = v.mean(0) @ w_u
        else:  # d/dz cap * tanh(z / cap) = 1 - tanh^2 = 1 - (logit / cap)^2
            slope = 1 - (out.logits[rows, positions].float() / cap) ** 2
            values = ((v @ w_u) * slope).mean(0)
            handling += f" -> softcap {cap:g} (its slope at the measured logits)"
        return DirectLogits(values=values, final_scale=float(scale.mean()) if scale is not None else 1.0,
                            handling=handling)

    def unembedding(self) -> torch.Tensor:
        """W_U, [d_model, vocab]."""
        return self.bridge.W_U.detach()

    def embedding(self) -> torch.Tensor:
        """W_E, [vocab, d_model]."""
        return self.bridge.W_E.detach()
