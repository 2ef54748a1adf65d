"""The agent's tools: typed functions whose schema comes from their signature and docstring.
Each returns a compact table for the model (top rows, short contexts); the full result goes to the
transcript (`session.detail`) and the typed findings (`session.findings`) that compose.py reads."""

from __future__ import annotations

from typing import Literal

from langchain_core.tools import BaseTool, StructuredTool

from autointerp.agent.compose import CONTRAST_SHARE, peer_share, top_words
from autointerp.agent.findings import (
    DRIVER,
    SILENT,
    ContextEdit,
    Driver,
    ProbeRun,
    Silent,
    Swap,
    left_words,
    peak_word,
    whole_word,
)
from autointerp.agent.session import Session, ToolError
from autointerp.errors import InputError
from autointerp.records import ActivationRecord
from autointerp.tools import contrast as contrast_mod
from autointerp.tools import effects as effects_mod
from autointerp.tools import probe as probe_mod
from autointerp.tools import substitute as substitute_mod
from autointerp.tools import synonyms as synonyms_mod
from autointerp.tools.context import context as context_tool
from autointerp.tools.context import without_word
from autointerp.tools.show import snippet

MAX_TEXTS = 8
N_CONTRASTS = 6  # windows where a peak word stays silent, scored with the validation windows
CONTRAST_SPAN = 16  # tokens kept before the silent word: what the causal neuron read there
MAX_TEXT_CHARS = 400
SHOWN_CHARS = 60  # a probe text or context as echoed back to the model


def marked(rec: ActivationRecord, words: int = 4) -> str:
    """The peak token's word with `words` words either side, the peak token between asterisks."""
    s = snippet(rec, words)
    return f"{s.left}{s.before}*{s.token}*{s.after}{s.right}".strip()


def peak_label(session: Session, rec: ActivationRecord) -> str:
    p = peak_word(rec, session.normalised(rec.max_activation))
    if p.piece == "whole" or p.word == p.token.strip():
        return repr(p.token.strip() or p.token)
    return f'{p.token.strip()!r} ({p.piece} piece of "{p.word}")'


def examples_table(session: Session, start: int = 0, n: int = 6) -> str:
    rows = session.explain[start: start + n]
    return "\n".join(f"{start + i}|{session.normalised(r.max_activation)}|{peak_label(session, r)}|{marked(r)}"
                     for i, r in enumerate(rows))


def record_peaks(session: Session) -> None:
    session.findings.peaks = [peak_word(r, session.normalised(r.max_activation)) for r in session.explain]


def _silent_places(session: Session, words: set[str], floor: float) -> list[tuple[Silent, list[int]]]:
    """Candidate silent places: (finding, token ids of the CONTRAST_SPAN tokens ending at the word,
    BOS kept), at most twice N_CONTRASTS. In an explainer window the cut starts after its peak, so
    validation never holds a peak the explainer read."""
    held = {r.window for r in session.validation + session.test}
    shown = {r.window for r in session.explain}
    pool = session.explain + [r for r in session.layer.random(session.neuron.index) if r.window not in held]
    found: list[tuple[Silent, list[int]]] = []
    for rec in pool:
        bos = int(rec.has_bos)
        for i, tok in enumerate(rec.tokens):
            if i <= bos or rec.activations[i] >= floor or tok.strip().lower() not in words:
                continue  # a window's first token has no context to read: its silence says nothing
            word, _ = whole_word(rec, i)
            start = max(bos, i - CONTRAST_SPAN + 1)
            if rec.window in shown and start <= rec.max_index < i:
                start = rec.max_index + 1
            if word.lower() != tok.strip().lower() or i - start < 2:
                continue  # a piece of another word, or too little context left to read
            phrase = " ".join(left_words(rec, i, 2) + (word,)).strip()
            found.append((Silent(rec.window, word, phrase), rec.token_ids[:bos] + rec.token_ids[start: i + 1]))
            if len(found) == 2 * N_CONTRASTS:
                return found
    return found


def record_silent(session: Session) -> None:
    """Where the neuron's peak words occur and it stays silent (the explainer's windows, then random
    windows that neither validation nor the test set holds): the word alone does not fire it. Each
    such place, cut to the CONTRAST_SPAN tokens ending at the word and run again (it must stay silent
    on that text alone), joins validation, up to N_CONTRASTS, so a candidate that says the word alone
    fires is wrong there; the findings keep the phrases for the composition rules."""
    floor = SILENT * session.max_activation
    found = _silent_places(session, {w.lower() for w, _ in top_words(session.findings)}, floor)
    if not found:
        return
    runs = probe_mod.run_ids(session.target, [ids for _, ids in found], session.target.units(session.neuron))
    for (silent, ids), acts in zip(found, runs):
        col = acts[:, session.neuron.index].tolist()
        if col[-1] >= floor:
            continue
        session.findings.silent.append(silent)
        session.contrasts.append(probe_mod.make_record(session.target, ids, col, window=silent.window))
        session.evidence.context.append(f"{silent.word!r} silent in {silent.phrase!r}")
        if len(session.contrasts) >= N_CONTRASTS:
            break


SENSE_PEAK_WORDS = 2  # peak words whose corpus contexts are contrasted: the commonest, and the next if it holds
# CONTRAST_SHARE of the peaks


def run_senses(session: Session) -> str:
    """Contrast evidence for the commonest peak words: their other corpus
    occurrences (none in a validation or test window), where the neuron fires and where it stays
    silent, the preceding words that separate the two, and edits that test them."""
    f = session.findings
    held = [w for w, _ in top_words(f)]
    counts = {w: sum(p.word.lower() == w.lower() for p in f.peaks) for w in held}
    words = held[:1] + [w for w in held[1:SENSE_PEAK_WORDS] if counts[w] >= CONTRAST_SHARE * len(f.peaks)]
    if not words:
        return "no whole peak word: nothing to contrast"
    res = contrast_mod.contrast(session.wb, session.neuron, words=words,
                                windows={r.window for r in session.validation + session.test})
    session.detail = res.model_dump(mode="json")
    f.senses = [c for c in res.words if c.occurrences]
    session.evidence.context += [c.summary() for c in f.senses]
    return "\n".join(c.summary() for c in res.words)


def _pairs(items: tuple[tuple[str, float], ...]) -> str:
    """Substitutes and their activations, as the model and the evidence read them: "cat 7.5, cow 6.0"."""
    return ", ".join(f"{w} {a}" for w, a in items)


def run_substitute(session: Session, examples: int = 5, k: int = 4) -> str:
    explain_windows = {r.window for r in session.explain}
    peers = [w for w, _ in top_words(session.findings)]
    res = substitute_mod.substitute(session.wb, session.neuron, examples, k, windows=explain_windows, peers=peers)
    session.detail = res.model_dump(mode="json")
    seen = {s.word for s in session.findings.swaps}
    lines = []
    for ex in res.examples:
        if ex.skipped:
            continue
        swap = Swap(ex.word, session.normalised(ex.original_activation),
                    tuple((s.synonym, session.normalised(s.activation)) for s in ex.substitutions),
                    tuple((s.synonym, session.normalised(s.activation)) for s in ex.peers))
        if swap.word not in seen:
            session.findings.swaps.append(swap)
            seen.add(swap.word)
        line = f"{swap.word} {swap.original} -> {_pairs(swap.synonyms)}"
        if swap.peers:
            line += f"; other peak words: {_pairs(swap.peers)}"
        session.evidence.substitutions.append(line)
        lines.append(line)
    lines.append(f"similar words keep {max(res.mean_retained, 0.0):.0%} of the activation")
    if (share := peer_share(session.findings)) is not None:
        lines.append(f"the other peak words keep {share:.0%} in one another's place")
    return "\n".join(lines)


def run_context(session: Session, example: int = 0, counterexample: bool = False) -> str:
    """`counterexample`: when a context word drives the peak, keep the window with that word deleted
    as a counterexample the candidates are validated on too, if no other token of it took over (the
    up-front edits only, so every candidate is scored on the same windows)."""
    if not 0 <= example < len(session.explain):
        raise ToolError(f"example must be in 0..{len(session.explain) - 1}")
    rec = session.explain[example]
    index = next(i for i, r in enumerate(session.layer.top(session.neuron.index)) if r.window == rec.window)
    res = context_tool(session.wb, session.neuron, index)
    session.detail = res.model_dump(mode="json")
    mw = next(w.index for w in res.words if w.is_max_word)
    peak = peak_word(rec, session.normalised(rec.max_activation)).word
    drivers = tuple(Driver(w.word.strip(), round(w.importance, 2), mw - w.index)
                    for w in sorted(res.words, key=lambda w: -w.importance)
                    if w.edited and w.importance >= DRIVER and w.word.strip())[:3]
    session.findings.contexts.append(ContextEdit(rec.window, peak, drivers))
    if counterexample and drivers:
        edited = without_word(session.wb, session.neuron, rec, mw - drivers[0].before)
        if edited.max_activation <= (1 - DRIVER) * rec.max_activation:  # the whole window went quiet
            session.counterexamples.append(edited)
    moved = sorted((w for w in res.words if w.edited and w.word.strip()), key=lambda w: -abs(w.importance))[:4]
    line = f"{peak!r}: " + (", ".join(f"{w.word.strip()!r} {-w.importance:+.0%}" for w in moved) or "no context words")
    session.evidence.context.append(line)
    return line + " (activation change when the word is deleted)"


def run_effects(session: Session) -> str:
    res = session.effects or effects_mod.effects(session.wb, session.neuron, k=10, contexts=10,
                                                 windows={r.window for r in session.explain})
    session.effects = res
    session.detail = res.model_dump(mode="json")
    session.evidence.promoted_tokens = [t.token for t in res.promoted]
    session.evidence.suppressed_tokens = [t.token for t in res.suppressed]
    lost = {t.token.strip().lower() for t in res.ablation_lost}
    session.findings.output = list(dict.fromkeys(t.token.strip() for t in res.promoted
                                                 if t.token.strip() and t.token.strip().lower() in lost))
    fmt = lambda ts: ", ".join(repr(t.token) for t in ts[:5]) or "none"  # noqa: E731
    return f"promotes {fmt(res.promoted)}; ablation lowers {fmt(res.ablation_lost)}"


def findings_table(session: Session) -> str:
    """What the up-front experiments showed, in a few lines."""
    f = session.findings
    words = ", ".join(f'"{w}"' + ("" if p == "whole" else f" ({p} piece peaks)") for w, p in top_words(f))
    lines = [f"peak words: {words or 'none'}"]
    lines += [f"swap {s.word} {s.original} -> {_pairs(s.synonyms[:4])}"
              + (f"; peak words: {_pairs(s.peers[:3])}" if s.peers else "") for s in f.swaps[:4]]
    if f.silent:
        lines.append("silent on: " + ", ".join(f'"{s.phrase}"' for s in f.silent[:4]))
    lines += [f"context {c.peak!r}: " + (", ".join(f"{d.word!r} -{d.importance:.0%}" for d in c.drivers) or "none")
              for c in f.contexts[:3]]
    lines += [f"corpus contexts: {c.summary()}" for c in f.senses if any(c.separating())]
    if f.output:
        lines.append("promotes (DLA and ablation agree): " + ", ".join(repr(t) for t in f.output[:3]))
    return "\n".join(lines)


def _clean(items: list[str] | None) -> list[str]:
    return [t for t in (items or []) if isinstance(t, str) and t.strip()]


def make_tools(session: Session, store=None, names: frozenset[str] = frozenset()) -> list[BaseTool]:
    """The tool set for one session; `store` (optional) backs `search_similar`; `names` are category
    names the evidence supports (a written candidate may use them)."""
    wb, neuron, model = session.wb, session.neuron, session.target.name

    def top_examples(start: int = 0, n: int = 6) -> str:
        """Top-activating windows (your share; held-out windows are hidden), one per line:
        index|activation 0-10|peak token|context with the peak token between asterisks.

        Args:
            start: index of the first example to show
            n: how many examples (at most 12)
        """
        if start < 0 or start >= len(session.explain):
            raise ToolError(f"start must be in 0..{len(session.explain) - 1}")
        return examples_table(session, start, max(1, min(n, 12)))

    def probe(texts: list[str]) -> str:
        """Run the real model on texts you write: some that should activate the neuron, some that
        should not. One line per text: activation 0-10|peak token|text.

        Args:
            texts: one to eight short texts
        """
        texts = [t[:MAX_TEXT_CHARS] for t in _clean(texts)][:MAX_TEXTS]
        if not texts:
            raise ToolError("give at least one non-empty text")
        res = probe_mod.probe(wb, neuron, texts)
        session.detail = [{"text": t, "max_activation": r.max_activation, "max_token": r.max_token}
                          for t, r in zip(texts, res.records)]
        lines = []
        for t, r in zip(texts, res.records):
            run = ProbeRun(t, session.normalised(r.max_activation), r.max_token)
            session.findings.probes.append(run)
            session.evidence.probes.append(f"{run.activation} at {r.max_token!r}: {t!r}")
            lines.append(f"{run.activation}|{r.max_token!r}|{t[:SHOWN_CHARS]}")
        return "\n".join(lines)

    def synonyms(word: str, k: int = 5) -> str:
        """Words similar in meaning to `word` (from the target model's own vocabulary).

        Args:
            word: one word
            k: how many (at most 10)
        """
        try:
            res = synonyms_mod.synonyms(wb, word.strip(), max(1, min(k, 10)))
        except InputError as e:
            raise ToolError(str(e)) from None
        return ", ".join(n.word for n in res.neighbours)

    def substitute(examples: int = 5, k: int = 4) -> str:
        """Swap the peak word of top examples for similar words and re-measure (0-10): does the
        neuron track the meaning or the exact word?

        Args:
            examples: how many top examples (at most 10)
            k: similar words per example (at most 6)
        """
        return run_substitute(session, max(1, min(examples, 10)), max(1, min(k, 6)))

    def context(example: int = 0) -> str:
        """Delete each word of one of your top examples in turn: which context words does the
        activation at the peak depend on?

        Args:
            example: index of the example, as numbered by top_examples
        """
        return run_context(session, example)

    def effects() -> str:
        """Output side: tokens the neuron promotes (direct logit attribution) and what replacing its
        activation by its mean lowers in the next-token predictions."""
        return run_effects(session)

    def score(explanation: str, triggers: list[str] | None = None) -> str:
        """Score an explanation on validation windows (correlation of simulated with real
        activations, -1..1). It must name real tokens or words from the evidence.

        Args:
            explanation: one sentence saying when the neuron fires
            triggers: optional exact words or phrases it fires on
        """
        cand = session.propose(explanation, _clean(triggers), "score", names)
        best = session.best
        return f"score {cand.validation:.3f}; best {best.validation:.3f}: {best.text[:80]!r}"

    def search_similar(query: str, k: int = 5) -> str:
        """Stored explanations of other neurons that are similar to `query`.

        Args:
            query: what to look for
            k: how many (at most 10)
        """
        if store is None:
            raise ToolError("no explanation store is open")
        hits = store.search(query, model=model, k=max(1, min(k, 10)))
        return "\n".join(f"{h.explanation.neuron}: {h.explanation.text[:100]}" for h in hits) or "no stored explanations"

    def submit(explanation: str, triggers: list[str] | None = None,
               kind: Literal["input", "output", "both"] = "input") -> str:
        """Submit your final explanation; this ends the session. The best-scoring candidate wins.

        Args:
            explanation: one sentence saying when the neuron fires (and what it promotes, if known)
            triggers: optional exact words or phrases it fires on
            kind: input (what it responds to), output (what it does to predictions), or both
        """
        session.submitted = session.propose(explanation, _clean(triggers), "submit", names)
        session.kind = kind
        return f"submitted (score {session.submitted.validation:.3f})"

    fns = [top_examples, probe, synonyms, substitute, context, effects, score, submit]
    if store is not None:
        fns.insert(-1, search_similar)
    return [StructuredTool.from_function(f, parse_docstring=True) for f in fns]
