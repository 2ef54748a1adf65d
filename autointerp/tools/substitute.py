"""`substitute`: the seed paper's synonym test. Swap each top example's max word for its nearest
words, re-run the model, and see whether the neuron still fires."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from autointerp.errors import InputError
from autointerp.records import UnitId
from autointerp.tools.probe import run_ids
from autointerp.tools.synonyms import synonyms
from autointerp.tools.words import alpha_run
from autointerp.workbench import Workbench


class Substitution(BaseModel):
    synonym: str
    activation: float


class SubstitutedExample(BaseModel):
    window: int
    word: str
    original_activation: float
    substitutions: list[Substitution]
    peers: list[Substitution] = []  # the given peer words (other words the neuron peaks on) in its place
    skipped: str | None = None


class SubstituteResult(BaseModel):
    neuron: str
    model: str
    k: int
    examples: list[SubstitutedExample]
    seed_score: float
    mean_retained: float
    n_substitutions: int


def substitute(wb: Workbench, neuron: UnitId | str, examples: int = 20, k: int = 5,
               windows: set[int] | None = None, peers: Sequence[str] = ()) -> SubstituteResult:
    """For each top example: the activation on its max word, and on each of k synonyms in its place;
    with `peers` (other words the neuron peaks on), each of them in its place too, reported apart:
    whether the neuron fires on its own peak words in one another's context tells a category of
    them from separate exact words, where the nearest words by meaning may be no category at all
    ("will" has "wish" for a neighbour, not "would").

    seed_score (our reading of the seed paper): the mean, over every checked phrase (originals
    and substitutions), of relu(activation) / neuron max; a neuron that also fires on synonyms
    scores higher. mean_retained: the mean of new / original activation over substitutions.
    """
    if examples < 1 or k < 1:
        raise InputError("examples and k must be >= 1")
    neuron, target = wb.unit(neuron), wb.target
    top = wb.cache(neuron).top(neuron.index)
    top = [r for r in top if windows is None or r.window in windows][:examples]
    jobs, plans = [], []
    peers = [w for w in dict.fromkeys(p.strip() for p in peers) if w]
    for rec in top:
        a, b = alpha_run(rec.tokens, rec.max_index, int(rec.has_bos))
        word = "".join(rec.tokens[a:b])
        try:
            if len(word.strip()) < 2:
                raise InputError(f"{word!r} is not a word")
            syns = [n.word for n in synonyms(wb, word, k).neighbours]
        except InputError as e:
            plans.append((rec, word.strip(), str(e)))
            continue
        lead, upper = word[: len(word) - len(word.lstrip())], word.strip()[:1].isupper()
        others = [w for w in peers if w.lower() != word.strip().lower()]
        for peer, subs in ((False, syns), (True, others)):
            for syn in subs:
                syn = syn[:1].upper() + syn[1:] if upper else syn
                new = target.encode(lead + syn)
                jobs.append((len(plans), peer, syn, rec.token_ids[:a] + new, len(new)))
        plans.append((rec, word.strip(), None))
    # A causal model's activation on the new word reads nothing after it: the window ends there.
    acts = run_ids(target, [pre for *_, pre, _ in jobs], target.units(neuron))
    results: list[dict[bool, list[Substitution]]] = [{False: [], True: []} for _ in plans]
    for (p, peer, syn, pre, n_new), act in zip(jobs, acts):
        col = act[:, neuron.index]
        value = round(float(col[len(pre) - n_new: len(pre)].max()), 5)
        results[p][peer].append(Substitution(synonym=syn, activation=value))
    out = [SubstitutedExample(window=rec.window, word=word, original_activation=rec.max_activation,
                              substitutions=results[i][False], peers=results[i][True], skipped=why)
           for i, (rec, word, why) in enumerate(plans)]
    scale = max((r.max_activation for r in top), default=1.0) or 1.0
    checked = [e.original_activation for e in out if not e.skipped] + [s.activation for e in out for s in e.substitutions]
    retained = [s.activation / e.original_activation for e in out for s in e.substitutions if e.original_activation > 0]
    return SubstituteResult(
        neuron=str(neuron), model=target.name, k=k, examples=out,
        seed_score=round(sum(max(a, 0.0) for a in checked) / scale / max(1, len(checked)), 5),
        mean_retained=round(sum(retained) / max(1, len(retained)), 5), n_substitutions=len(retained),
    )
