"""Semantic search over a large explanation store: insert throughput and top-10 query latency.

Builds `--n` realistic explanations (templates x vocab lists, seeded; each with a held-out score and
evidence), inserts them through `Store.add_many` in batches (MiniLM embedding included), then times
`--queries` varied top-10 searches (query embedding included). Filtered searches (one model, one
layer) and `Store.get` are timed as well. Bar: p95_ms <= 50 at 100k on 2 cores. Last line: one JSON
object. Runs in a temporary directory unless `--keep DIR`.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

TOPICS = ["legal contracts", "court rulings", "football matches", "cooking recipes", "stock prices", "weather reports",
          "Python code", "HTML markup", "chemical compounds", "medical symptoms", "religious texts", "military ranks",
          "song lyrics", "train stations", "bird species", "video games", "tax forms", "wedding ceremonies",
          "space missions", "university courses", "car engines", "fashion brands", "poetry", "election results",
          "mountain ranges", "Greek mythology", "chess openings", "dog breeds", "opera singers", "software licenses"]
TOKENS = ["the article 'a'", "the article 'an'", "commas", "closing parentheses", "capitalised names", "years like 1999",
          "plural nouns", "past-tense verbs", "adverbs ending in -ly", "the word 'not'", "question marks",
          "numbers with decimals", "quotation marks", "the token 'of'", "first names", "city names", "units like km",
          "currency symbols", "hyphenated compounds", "the pronoun 'she'", "modal verbs", "prepositions of place",
          "line breaks", "the suffix -tion", "dates", "abbreviations", "superlatives", "negations"]
ROLES = ["subjects of sentences", "the end of a clause", "the start of a quotation", "lists", "titles and headings",
         "the second word of a phrase", "repeated words", "dialogue", "tables", "footnotes"]
TEMPLATES = [
    "fires on {tok} in {topic}",
    "{tok}, mostly in text about {topic}",
    "activates on {role} in {topic}; strongest on {tok}",
    "text about {topic}, peaking on {tok}",
    "predicts {tok} as the next token after {role}",
    "{tok} within {role}, regardless of topic",
    "mentions of {topic} and {topic2}",
    "boosts the logits of {tok} in {topic} contexts",
]
QUERIES = ["neurons about {topic}", "{tok}", "which neurons detect {tok}?", "{topic} and {topic2}",
           "neurons that fire on {role}", "something related to {topic}", "{tok} in {topic}"]
MODELS = ["smollm2-135m", "gpt2-small", "pythia-70m"]


def fill(template: str, rng: random.Random) -> str:
    return template.format(topic=rng.choice(TOPICS), topic2=rng.choice(TOPICS), tok=rng.choice(TOKENS),
                           role=rng.choice(ROLES))


def records(start: int, stop: int, seed: int):
    from autointerp.records import Evidence, Explanation, HeldOutSplit, Score, TopToken

    rng = random.Random(seed * 1_000_003 + start)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    split = HeldOutSplit(kind="top-and-random", seed=0, explain_windows=list(range(20)),
                         score_top_windows=[20, 21, 22, 23, 24], score_random_windows=[1, 2, 3, 4, 5])
    out = []
    for i in range(start, stop):
        model = MODELS[i % len(MODELS)]
        neuron = f"L{i // 1536 % 30}.N{i % 1536}"
        text = fill(rng.choice(TEMPLATES), rng)
        value = round(rng.uniform(-0.2, 0.9), 4)
        score = Score(neuron=neuron, model=model, explanation=text, method="simulation", simulator="embedding",
                      value=value, per_example=[round(rng.uniform(-1, 1), 3) for _ in range(10)], n_tokens=630,
                      n_examples=10, split=split)
        out.append(Explanation(
            neuron=neuron, model=model, text=text, scores=[score], method="agent", explainer="local",
            prompt_version=f"agent_v{1 + i // 46_080}", steps=rng.randint(2, 8),  # 30 layers x 1536: ids unique
            evidence=Evidence(top_tokens=[TopToken(token=t, count=rng.randint(1, 20), max_activation=2.0)
                                          for t in rng.sample(TOKENS, 5)],
                              probes=[f"{fill('{tok} in {topic}', rng)!r} -> {rng.uniform(0, 3):.2f}"]),
            created_at=t0 + timedelta(seconds=i)))
    return out


def pct(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1000
    return round(float(np.percentile(ms, 50)), 2), round(float(np.percentile(ms, 95)), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="build the store in this data dir and leave it there")
    args = ap.parse_args()

    from autointerp.config import Settings
    from autointerp.store import open_store
    from autointerp.store.embedding import embed_texts

    home = args.keep or Path(tempfile.mkdtemp(prefix="autointerp-search-bench-"))
    try:
        store = open_store(Settings(home=home, chroma_url=None))
        embed_texts(["warm up"])
        have = store.count()
        insert_s = 0.0
        for start in range(have, args.n, args.batch):
            batch = records(start, min(args.n, start + args.batch), args.seed)
            t = time.perf_counter()
            store.add_many(batch)
            insert_s += time.perf_counter() - t
            if (start // args.batch) % 10 == 0:
                print(f"{start + len(batch):,} stored, {(start + len(batch) - have) / insert_s:.0f}/s",
                      file=sys.stderr, flush=True)
        n = store.count()
        assert n >= args.n, f"store holds {n} explanations, wanted {args.n}"
        insert_per_s = round((args.n - have) / insert_s, 1) if insert_s else None

        rng = random.Random(args.seed + 1)
        queries = [fill(rng.choice(QUERIES), rng) for _ in range(args.queries)]
        store.search(queries[0])
        times = []
        for q in queries:
            t = time.perf_counter()
            hits = store.search(q, k=10)
            times.append(time.perf_counter() - t)
            assert len(hits) == 10
        p50, p95 = pct(times)
        extra = {}
        layer = (args.n // 2) // 1536 % 30  # a layer the store holds (6 at 100k: ~3% of records)
        for name, kw in (("model", {"model": "gpt2-small"}), ("layer", {"layer": layer})):
            ft = []
            for q in queries[:50]:
                t = time.perf_counter()
                hits = store.search(q, k=10, **kw)
                ft.append(time.perf_counter() - t)
                assert hits and all(h.explanation.model == "gpt2-small" if name == "model"
                                    else h.explanation.layer == layer for h in hits)
            extra[f"{name}_filter_p50_ms"], extra[f"{name}_filter_p95_ms"] = pct(ft)
        gt = []
        for i in range(50):
            t = time.perf_counter()
            store.get(MODELS[i % 3], f"L{i % 30}.N{i * 7 % 1536}")
            gt.append(time.perf_counter() - t)
        extra["get_p50_ms"], extra["get_p95_ms"] = pct(gt)

        print(f"top query: {queries[0]!r} -> {store.search(queries[0], k=1)[0].explanation.text!r}")
        print(f"{n:,} explanations; insert {insert_per_s}/s (embedding included); "
              f"top-10 search p50 {p50} ms, p95 {p95} ms (bar: p95 <= 50 ms)")
        print(f"filtered by model p95 {extra['model_filter_p95_ms']} ms, by layer p95 {extra['layer_filter_p95_ms']} "
              f"ms; get(model, neuron) p95 {extra['get_p95_ms']} ms")
        print(json.dumps({"n": n, "p50_ms": p50, "p95_ms": p95, "insert_per_s": insert_per_s, **extra}))
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
