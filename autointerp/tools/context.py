"""`context`: counterfactual context edits (the seed paper's future work). Delete or replace each
word of a top example, one at a time, and see how the neuron's activation on its max token moves."""

from __future__ import annotations

from pydantic import BaseModel

from autointerp.errors import InputError
from autointerp.present import templates
from autointerp.records import ActivationRecord, ContextMode, UnitId
from autointerp.tools.probe import make_record, run_ids
from autointerp.tools.words import span_of, word_spans
from autointerp.workbench import Workbench

Mode = ContextMode


class WordEffect(BaseModel):
    index: int
    word: str
    is_max_word: bool
    edited: bool
    activation: float
    delta: float
    importance: float  # -delta / |original|: > 0 where the word helps the neuron fire


class ContextResult(BaseModel):
    neuron: str
    model: str
    example: int
    window: int
    mode: Mode
    max_token: str
    original_activation: float
    words: list[WordEffect]

    def _repr_html_(self) -> str:
        """Jupyter's rich output: the words shaded as in `context --html`."""
        return templates.render("nb_context.html", res=self)


def context(wb: Workbench, neuron: UnitId | str, example: int = 0, mode: Mode = "delete",
            include_max: bool = False, filler: str = " the") -> ContextResult:
    """Edit each context word of top example `example` and re-measure the activation at its max token.
    A causal model's activation there reads nothing after it: words after the max word are listed
    unedited (no run can move it), and each edited window ends at the token measured."""
    neuron, target = wb.unit(neuron), wb.target
    top = wb.cache(neuron).top(neuron.index)
    if not 0 <= example < len(top):
        raise InputError(f"example {example} is out of range: the cache holds {len(top)} top examples (0..{len(top) - 1})")
    rec = top[example]
    spans = word_spans(rec.tokens, int(rec.has_bos))
    mw = span_of(spans, rec.max_index)
    filler_ids = target.encode(filler)
    seqs, where, kept = [], [], []
    for w, (a, b) in enumerate(spans):
        if w > mw or (w == mw and not include_max):
            continue  # listed below, unedited, so the page shows the whole window
        new = [] if mode == "delete" else filler_ids
        ids = rec.token_ids[:a] + new + rec.token_ids[b:]
        if w == mw:  # the max word itself edited: read the edit's own tokens (or the next one)
            pos = min(a + max(len(new), 1) - 1, len(ids) - 1)
        else:
            pos = rec.max_index + len(new) - (b - a)
        seqs.append(ids[: pos + 1])
        where.append(pos)
        kept.append(w)
    acts = run_ids(target, seqs, target.units(neuron)) if seqs else []
    orig = rec.max_activation
    measured = {w: float(act[pos, neuron.index]) for w, pos, act in zip(kept, where, acts)}
    words = []
    for w, (a, b) in enumerate(spans):
        new_act = measured.get(w, orig)
        delta = new_act - orig
        words.append(WordEffect(index=w, word="".join(rec.tokens[a:b]), is_max_word=w == mw, edited=w in measured,
                                activation=round(new_act, 5), delta=round(delta, 5),
                                importance=round(-delta / abs(orig), 5) if orig else 0.0))
    return ContextResult(neuron=str(neuron), model=target.name, example=example, window=rec.window, mode=mode,
                         max_token=rec.max_token, original_activation=orig, words=words)


def render_context_html(res: ContextResult) -> str:
    """Words shaded by importance: orange where deleting them lowers the activation, blue where it raises it."""
    return templates.render("context.html", title=f"{res.neuron} context", res=res)


def without_word(wb: Workbench, neuron: UnitId | str, rec: ActivationRecord, word: int) -> ActivationRecord:
    """Window `rec` with its `word`-th word deleted, and the neuron's activation on every token: a
    counterexample when the deletion silences the peak (the peak word alone does not fire it)."""
    neuron, target = wb.unit(neuron), wb.target
    a, b = word_spans(rec.tokens, int(rec.has_bos))[word]
    ids = rec.token_ids[:a] + rec.token_ids[b:]
    [acts] = run_ids(target, [ids], target.units(neuron))
    return make_record(target, ids, acts[:, neuron.index].tolist(), window=rec.window)
