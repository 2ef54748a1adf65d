"""Realistic, varied Explanation records for store tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from autointerp.records import Evidence, Explanation, HeldOutSplit, Score, TopToken

MODEL = "smollm2-135m"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)

# (neuron, text, top tokens): one legal neuron among clearly different topics.
TOPICS = [
    ("L6.N74", "legal language in court rulings and contracts: plaintiff, defendant, statute, hereby",
     ["plaintiff", "statute", "hereby"]),
    ("L6.N12", "the indefinite article 'a' before a noun", [" a", " an"]),
    ("L3.N5", "Python source code: def, return and indented blocks", ["def", "return"]),
    ("L3.N900", "football match reports: goals, strikers and the final whistle", ["goal", "striker"]),
    ("L12.N7", "numbers and years in dates, e.g. 1999 or 2004", ["1999", "2004"]),
    ("L12.N301", "cooking recipes: ingredients like flour, butter and sugar", ["flour", "butter"]),
    ("L20.N44", "closing parentheses and brackets at the end of a clause", [")", "]"]),
    ("L20.N45", "French words and phrases inside English text", ["le", "de"]),
    ("L29.N720", "predicts the articles ' an' and ' a' as the next token", [" an", " a"]),
    ("L29.N3", "weather descriptions: rain, storms and cloudy skies", ["rain", "storm"]),
]


def score(neuron: str, text: str, value: float) -> Score:
    split = HeldOutSplit(kind="top-and-random", seed=0, explain_windows=[1, 2, 3], score_top_windows=[4, 5],
                         score_random_windows=[6, 7])
    return Score(neuron=neuron, model=MODEL, explanation=text, method="simulation", simulator="embedding",
                 value=value, per_example=[value, None, 0.25], n_tokens=256, n_examples=4, split=split,
                 details={"top_mean": 0.5})


def make(neuron: str = "L6.N74", text: str = "legal language in contracts", *, explainer: str = "local",
         prompt_version: str = "agent_v1", value: float | None = 0.5, minutes: int = 0, model: str = MODEL,
         tokens: list[str] | None = None) -> Explanation:
    return Explanation(
        neuron=neuron, model=model, text=text, kind="input", triggers=(tokens or [])[:2],
        evidence=Evidence(top_tokens=[TopToken(token=t, count=5 - i, max_activation=2.0 - i / 10)
                                      for i, t in enumerate(tokens or [])],
                          substitutions=["swapping the max word for a synonym keeps 80% of the activation"],
                          probes=[f"'{text[:20]}' -> 1.93"], promoted_tokens=[" the"]),
        scores=[] if value is None else [score(neuron, text, value)],
        method="agent", explainer=explainer, prompt_version=prompt_version, steps=4, prompt_tokens=1200,
        completion_tokens=150, cost_usd=None if explainer == "local" else 0.0012,
        created_at=T0 + timedelta(minutes=minutes), transcript=f"transcripts/{neuron}.jsonl")


def varied() -> list[Explanation]:
    """One explanation per topic, scores spread from 0.1 to 0.82."""
    return [make(n, text, value=round(0.1 + 0.08 * i, 2), minutes=i, tokens=toks)
            for i, (n, text, toks) in enumerate(TOPICS)]
