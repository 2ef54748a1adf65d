"""The agent's tools: typed functions whose schema comes from their signature and docstring.
Each returns compact text for the model; findings also land in the session's evidence."""

from __future__ import annotations

from typing import Literal

from langchain_core.tools import BaseTool, StructuredTool

from autointerp.agent.session import Session, ToolError
from autointerp.errors import InputError
from autointerp.records import ActivationRecord
from autointerp.tools import effects as effects_mod
from autointerp.tools import probe as probe_mod
from autointerp.tools import substitute as substitute_mod
from autointerp.tools import synonyms as synonyms_mod
from autointerp.tools.context import context as context_tool
from autointerp.tools.show import snippet

MAX_TEXTS = 8
MAX_TEXT_CHARS = 400


def marked(rec: ActivationRecord, words: int = 6) -> str:
    s = snippet(rec, words)
    return f"{s.left}{s.before}[[{s.token}]]{s.after}{s.right}".strip()


def _clean(items: list[str] | None) -> list[str]:
    return [t for t in (items or []) if isinstance(t, str) and t.strip()]


def make_tools(session: Session, store=None) -> list[BaseTool]:
    """The tool set for one session; `store` (optional) backs `search_similar`."""
    wb, neuron, model = session.wb, session.neuron, session.target.name
    explain_windows = {r.window for r in session.explain}

    def top_examples(start: int = 0, n: int = 8) -> str:
        """Top-activating text windows of the neuron (your share; held-out windows are hidden). The
        token where the neuron fires most is marked [[like this]]; activations are on a 0-10 scale.

        Args:
            start: index of the first example to show
            n: how many examples (at most 20)
        """
        if start < 0 or start >= len(session.explain):
            raise ToolError(f"start must be in 0..{len(session.explain) - 1}")
        rows = session.explain[start: start + max(1, min(n, 20))]
        return "\n".join(f"{start + i}. ({session.normalised(r.max_activation)}) {marked(r)}"
                         for i, r in enumerate(rows))

    def probe(texts: list[str]) -> str:
        """Run the real model on texts you write, to test a hypothesis: include texts that should
        activate the neuron and texts that should not. Returns each text's max activation (0-10,
        10 = the neuron's corpus max) and the token where it peaks.

        Args:
            texts: one to eight short texts
        """
        texts = [t[:MAX_TEXT_CHARS] for t in _clean(texts)][:MAX_TEXTS]
        if not texts:
            raise ToolError("give at least one non-empty text")
        res = probe_mod.probe(wb, neuron, texts)
        lines = []
        for t, r in zip(texts, res.records):
            line = f"{session.normalised(r.max_activation)} at {r.max_token!r}: {t!r}"
            lines.append(line)
            session.evidence.probes.append(line)
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
        """Swap the peak word of top examples for similar words and re-measure: does the neuron track
        the meaning or the exact token?

        Args:
            examples: how many top examples (at most 10)
            k: synonyms per example (at most 6)
        """
        res = substitute_mod.substitute(wb, neuron, max(1, min(examples, 10)), max(1, min(k, 6)),
                                        windows=explain_windows)
        lines = []
        for ex in res.examples:
            if ex.skipped:
                continue
            subs = ", ".join(f"{s.synonym} {session.normalised(s.activation)}" for s in ex.substitutions)
            lines.append(f"{ex.word} {session.normalised(ex.original_activation)} -> {subs}")
        session.evidence.substitutions.extend(lines)
        lines.append(f"mean retained activation {res.mean_retained:.2f}")
        return "\n".join(lines)

    def context(example: int = 0) -> str:
        """Delete each word of one of your top examples in turn and re-measure at the peak token: which
        context words does the activation depend on?

        Args:
            example: index of the example, as numbered by top_examples
        """
        if not 0 <= example < len(session.explain):
            raise ToolError(f"example must be in 0..{len(session.explain) - 1}")
        window = session.explain[example].window
        index = next(i for i, r in enumerate(session.layer.top(neuron.index)) if r.window == window)
        res = context_tool(wb, neuron, index)
        words = sorted((w for w in res.words if w.edited), key=lambda w: -abs(w.importance))[:6]
        line = (f"peak {res.max_token!r}; words that matter: "
                + ", ".join(f"{w.word.strip()!r} {w.importance:+.2f}" for w in words))
        session.evidence.context.append(line)
        return line + "\n(importance: the fraction of the activation lost when the word is deleted)"

    def effects() -> str:
        """Output side: tokens the neuron promotes and suppresses (direct logit attribution), and what
        replacing its activation by its mean changes in the next-token predictions."""
        res = session.effects or effects_mod.effects(wb, neuron, k=10, contexts=10, windows=explain_windows)
        session.effects = res
        session.evidence.promoted_tokens = [t.token for t in res.promoted]
        session.evidence.suppressed_tokens = [t.token for t in res.suppressed]
        fmt = lambda ts: ", ".join(repr(t.token) for t in ts[:8]) or "none (no output effect)"  # noqa: E731
        return (f"promotes: {fmt(res.promoted)}\nsuppresses: {fmt(res.suppressed)}\n"
                f"ablation lowers: {fmt(res.ablation_lost)}")

    def score(explanation: str, triggers: list[str] | None = None) -> str:
        """Simulate the neuron from an explanation on validation windows and correlate with its real
        activations (-1..1; higher is better). The best-scoring explanation is kept.

        Args:
            explanation: one sentence saying when the neuron fires
            triggers: optional exact words or phrases it fires on
        """
        cand = session.validate(explanation, _clean(triggers), "score")
        best = session.best
        return f"score {cand.validation:.3f} (best so far {best.validation:.3f}: {best.text!r})"

    def search_similar(query: str, k: int = 5) -> str:
        """Stored explanations of other neurons that are similar to `query`.

        Args:
            query: what to look for
            k: how many (at most 10)
        """
        if store is None:
            raise ToolError("no explanation store is open")
        hits = store.search(query, model=model, k=max(1, min(k, 10)))
        return "\n".join(f"{h.explanation.neuron}: {h.explanation.text}" for h in hits) or "no stored explanations"

    def submit(explanation: str, triggers: list[str] | None = None,
               kind: Literal["input", "output", "both"] = "input") -> str:
        """Submit your final explanation; this ends the session.

        Args:
            explanation: one sentence saying when the neuron fires (and what it promotes, if known)
            triggers: optional exact words or phrases it fires on
            kind: input (what it responds to), output (what it does to predictions), or both
        """
        session.submitted = session.validate(explanation, _clean(triggers), "submit")
        session.kind = kind
        return f"submitted (score {session.submitted.validation:.3f})"

    fns = [top_examples, probe, synonyms, substitute, context, effects, score, submit]
    if store is not None:
        fns.insert(-1, search_similar)
    return [StructuredTool.from_function(f, parse_docstring=True) for f in fns]
