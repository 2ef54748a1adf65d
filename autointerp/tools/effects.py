"""`effects`: what a unit does to the output (the "an" neuron paper's evidence), along its output
direction (a neuron's `W_out` row; a latent's decoder row).

- Direct logit attribution: d logits / d activation along the direct path (W_out[n], a post-MLP
  norm where the model has one, the final norm, W_U, a logit softcap), every norm's scale held at
  its value measured at each top context's max token, averaged over those contexts
  (`Target.direct_logit_attribution`: LayerNorm's centring and Gemma's 1 + weight included).
- Mean ablation: set the neuron to its corpus mean on its top contexts; change of next-token
  probabilities at the max tokens (which tokens lose or gain), and of the loss on the real next tokens.
- Activation patching: a top context against a minimal edit (its max token swapped for the
  replacement that lowers the activation most); patch the clean activation into the edited run
  and measure how much of the clean prediction comes back.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel

from autointerp.errors import InputError
from autointerp.records import UnitId
from autointerp.targets import Target
from autointerp.tools.probe import run_ids
from autointerp.tools.synonyms import synonyms
from autointerp.workbench import Workbench


class TokenEffect(BaseModel):
    token: str
    value: float


class Patching(BaseModel):
    window: int
    position: int
    clean_token: str
    corrupt_token: str
    predicted: str
    clean_activation: float
    corrupt_activation: float
    clean_logprob: float
    corrupt_logprob: float
    patched_logprob: float
    restored: float  # (patched - corrupt) / (clean - corrupt)


class EffectsResult(BaseModel):
    neuron: str
    model: str
    norm_handling: str
    promoted: list[TokenEffect]
    suppressed: list[TokenEffect]
    ablation_value: float
    ablation_contexts: int
    ablation_lost: list[TokenEffect]
    ablation_gained: list[TokenEffect]
    ablation_loss_change: float
    patching: Patching | None


def _logprobs(target: Target, ids: torch.Tensor, neuron: UnitId, value=None) -> torch.Tensor:
    """Log-probs [B, T, V]; with `value`, the unit's activation is overwritten first (by its source:
    the neuron's column at the MLP, a latent's decoder contribution at its hook)."""
    patch = None
    if value is not None:
        patch = target.units(neuron).overwrite(neuron.index, value)
    logits = target.run(ids, patch=patch, logits=True).logits
    return torch.log_softmax(logits.float(), dim=-1)


def _tok(target: Target, i: int) -> str:
    return target.tokenizer.decode([int(i)])


def _effects(target: Target, top) -> list[TokenEffect]:
    """The top-k entries that are effects at all: a token whose value rounds to zero is neither
    promoted nor lost (a neuron with zero output weights has none, not the vocabulary's first k)."""
    return [TokenEffect(token=_tok(target, i), value=round(float(v), 5)) for v, i in zip(top.values, top.indices)
            if round(float(v), 5) > 0]


def effects(wb: Workbench, neuron: UnitId | str, k: int = 20, contexts: int = 10,
            windows: set[int] | None = None) -> EffectsResult:
    """Output side: DLA, mean ablation on top contexts (only `windows` when given), and patching."""
    if k < 1 or contexts < 1:
        raise InputError("k and contexts must be >= 1")
    neuron, target = wb.unit(neuron), wb.target
    layer = wb.cache(neuron)
    top = [r for r in layer.top(neuron.index) if windows is None or r.window in windows][:contexts]
    if not top:
        raise InputError(f"{neuron} has no top contexts in the cache" + (" among the given windows" if windows else ""))
    mean = layer.stats(neuron.index).mean
    ids = torch.tensor([r.token_ids for r in top])
    pos = torch.tensor([r.max_index for r in top])
    rows = torch.arange(len(top))

    src = target.units(neuron)
    run = target.run(ids, read=target.dla_reads(src), logits=True)  # the clean run, norm scales read
    direct = target.direct_logit_attribution(src, neuron.index, ids, pos, measured=run)
    dla = direct.values
    up, down = dla.topk(k), (-dla).topk(k)
    promoted, suppressed = _effects(target, up), [TokenEffect(token=e.token, value=-e.value) for e in _effects(target, down)]

    clean = torch.log_softmax(run.logits.float(), dim=-1)
    ablated = _logprobs(target, ids, neuron, value=lambda a: torch.full_like(a, mean))
    # Probability, not log-prob: a log-prob swing on a token nobody predicts is noise.
    delta = (ablated[rows, pos].exp() - clean[rows, pos].exp()).mean(0)
    lost, gained = (-delta).topk(k), delta.topk(k)
    nxt = ids[:, 1:]
    start = int(top[0].has_bos)
    loss_change = float((clean[:, :-1].gather(2, nxt[..., None]) - ablated[:, :-1].gather(2, nxt[..., None]))[:, start:].mean())

    return EffectsResult(
        neuron=str(neuron), model=target.name,
        norm_handling=(f"{direct.handling}: d logits / d activation at the top contexts' max tokens, "
                       f"averaged (mean final-norm scale {direct.final_scale:.4g})"),
        promoted=promoted, suppressed=suppressed, ablation_value=round(mean, 6), ablation_contexts=len(top),
        ablation_lost=[TokenEffect(token=e.token, value=-e.value) for e in _effects(target, lost)],
        ablation_gained=_effects(target, gained),
        ablation_loss_change=round(loss_change, 6),
        patching=_patch(wb, neuron, top[0], clean[0, top[0].max_index]),
    )


def _patch(wb: Workbench, neuron: UnitId, rec, clean: torch.Tensor) -> Patching | None:
    """Clean top context vs the same window with its max token replaced; patch the neuron back in.
    `clean`: the log-probs at the max token from the clean run already made. The edited windows
    end at the max token: a causal model's prediction there reads nothing after it."""
    target = wb.target
    p = rec.max_index
    word = rec.max_token.strip()
    candidates = [" the", " and", " of", ".", ","]
    try:
        candidates = [" " + n.word for n in synonyms(wb, word, 10).neighbours] + candidates
    except InputError:
        pass
    singles = []
    for c in candidates:
        tid = target.encode(c)
        if len(tid) == 1 and tid[0] != rec.token_ids[p] and tid[0] not in singles:
            singles.append(tid[0])
    if not singles:
        return None
    variants = [rec.token_ids[:p] + [t] for t in singles]
    acts = run_ids(target, variants, target.units(neuron))
    best = min(range(len(singles)), key=lambda i: float(acts[i][p, neuron.index]))
    corrupt_ids = torch.tensor([variants[best]])
    predicted = int(clean.argmax())
    clean_act = rec.activations[p]
    corrupt = _logprobs(target, corrupt_ids, neuron)[0, p]

    def put(a):
        a = a.clone()
        a[:, p] = clean_act
        return a

    patched = _logprobs(target, corrupt_ids, neuron, value=put)[0, p]
    c, k, pt = float(clean[predicted]), float(corrupt[predicted]), float(patched[predicted])
    return Patching(
        window=rec.window, position=p, clean_token=rec.max_token, corrupt_token=_tok(target, singles[best]),
        predicted=_tok(target, predicted), clean_activation=round(clean_act, 5),
        corrupt_activation=round(float(acts[best][p, neuron.index]), 5), clean_logprob=round(c, 5),
        corrupt_logprob=round(k, 5), patched_logprob=round(pt, 5),
        restored=round((pt - k) / (c - k), 4) if abs(c - k) > 1e-9 else 0.0,
    )
