"""`probe`: run the target model on new texts and read one unit's activation on every token."""

from __future__ import annotations

import torch
from pydantic import BaseModel

from autointerp.errors import InputError
from autointerp.present import templates
from autointerp.records import ActivationRecord, UnitId
from autointerp.targets import Target, UnitSource
from autointerp.workbench import Workbench


class ProbeResult(BaseModel):
    neuron: str
    model: str
    records: list[ActivationRecord]

    def _repr_html_(self) -> str:
        """Jupyter's rich output: each text's tokens shaded by the activation (scale: the largest here)."""
        scale = max((abs(r.max_activation) for r in self.records), default=0.0)
        return templates.render("nb_probe.html", res=self, scale=scale)


def encode_texts(target: Target, texts: list[str]) -> list[list[int]]:
    """Token ids with the model's BOS; one clear error for empty or over-long text."""
    if not texts:
        raise InputError("no texts given")
    out = []
    for i, text in enumerate(texts):
        ids = target.encode(text)
        if not text.strip() or not ids:
            raise InputError(f"text {i + 1} is empty")
        ids = ([target.bos_id] if target.prepend_bos else []) + ids
        if len(ids) > target.n_ctx:
            raise InputError(f"text {i + 1} has {len(ids)} tokens, more than the context window of {target.n_ctx}")
        out.append(ids)
    return out


def run_ids(target: Target, seqs: list[list[int]], units: UnitSource | int, batch_size: int = 32) -> list[torch.Tensor]:
    """Per-token activations [len, n_units] of a unit source (a number: that layer's neurons) for
    each sequence, batched with right padding.

    Causal attention never looks right, and the attention mask hides the padding from the
    model as well, so padding changes no activation of a real token (a test checks it).
    """
    src = target.neurons(units) if isinstance(units, int) else units
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out: list[torch.Tensor | None] = [None] * len(seqs)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        acts = target.run_padded([seqs[i] for i in chunk], read=[src.read_point]).units(src)
        for row, i in enumerate(chunk):
            out[i] = acts[row, : len(seqs[i])]
    return out  # type: ignore[return-value]


def make_record(target: Target, ids: list[int], acts: list[float], window: int = -1) -> ActivationRecord:
    start = int(target.prepend_bos and ids and ids[0] == target.bos_id)
    tokens = target.token_strings(ids)
    body = acts[start:] or acts
    idx = start + max(range(len(body)), key=body.__getitem__)
    return ActivationRecord(window=window, tokens=tokens, token_ids=list(ids), activations=[round(a, 6) for a in acts],
                            max_index=idx, max_token=tokens[idx], max_activation=float(acts[idx]),
                            has_bos=bool(start))


def probe(wb: Workbench, neuron: UnitId | str, texts: list[str]) -> ProbeResult:
    """The unit's activation on every token of each text."""
    neuron, target = wb.unit(neuron), wb.target
    seqs = encode_texts(target, texts)
    acts = run_ids(target, seqs, target.units(neuron))
    return ProbeResult(neuron=str(neuron), model=target.name,
                       records=[make_record(target, s, a[:, neuron.index].tolist()) for s, a in zip(seqs, acts)])
