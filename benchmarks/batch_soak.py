"""Batch soak: does a long batch keep its memory flat? `--n` units (default 500) of one layer through
`run_batch` (the real path: explain, held-out scoring, store writes, failure ledger, progress) with
the cheapest explainer that needs no LLM (`heuristic`), on the embedded model, into a throwaway store
that shares the data dir's weights, corpora and caches (the layer's cache is built once, before
anything is timed).

A warm-up batch of `--warmup` other units first loads everything a unit touches (MiniLM, the first
forwards, the store), then the process's RSS is read every `--every` units. `growth_mib` is the RSS
after the last unit minus the RSS after the first `--every` (bounded caches fill during the first
ones: the simulator's window embeddings, `embeddings.embed_cached`, 60,000 texts, reported with their
size; oneDNN's primitives for MiniLM's batch shapes); `growth_per_100_units_mib` spreads it over the
units between, and `late_growth_per_100_units_mib` does the same from the first sample at or past
half the units: what a longer batch would still add once every cache is full. (Each unit ends by
handing freed heap pages back to the OS, `memory.give_back`: without it glibc kept
them and RSS grew without levelling off.) Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--explainer", default="heuristic")
    args = ap.parse_args()

    from scratch import scratch_settings

    from autointerp import embeddings
    from autointerp.batch import BatchOptions, ThreadExecutor, run_batch
    from autointerp.config import get_settings
    from autointerp.store import open_store
    from autointerp.workbench import Workbench

    base = get_settings()
    t0 = time.perf_counter()
    Workbench.open(settings=base).layer(args.layer)  # built in the real data dir (once), shared below
    setup = time.perf_counter() - t0
    samples: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = scratch_settings(base, Path(tmp), chroma_url=None)
        wb = Workbench.open(settings=settings)
        store = open_store(settings)
        warm = f"{args.n}:{args.n + args.warmup}"  # other units than the soak's
        run_batch(BatchOptions(layers=[args.layer], neurons=warm, method=args.explainer), wb=wb, store=store,
                  executor=ThreadExecutor(args.workers))
        gc.collect()
        start = {"units": 0, "rss_mib": round(rss_mib(), 1), "seconds": 0.0,
                 "embedding_cache": _embedding_cache_size(embeddings)}
        samples.append(start)
        print(f"after warm-up ({args.warmup} units): RSS {start['rss_mib']:.0f} MiB", flush=True)
        t1 = time.perf_counter()

        def on_progress(p: dict) -> None:
            n = p["done"] + p["failed"]
            if n % args.every == 0 or n == p["total"]:
                row = {"units": n, "rss_mib": round(rss_mib(), 1), "seconds": round(time.perf_counter() - t1, 1),
                       "embedding_cache": _embedding_cache_size(embeddings)}
                samples.append(row)
                print(f"{n} units: RSS {row['rss_mib']:.0f} MiB after {row['seconds']:.0f} s "
                      f"(embedding cache {row['embedding_cache']} texts)", flush=True)

        s = run_batch(BatchOptions(layers=[args.layer], neurons=f"0:{args.n}", method=args.explainer), wb=wb,
                      store=store, executor=ThreadExecutor(args.workers), on_progress=on_progress)
        stored = store.count()
    first = next((r for r in samples if r["units"] >= args.every), samples[-1])
    late = next((r for r in samples if r["units"] >= args.n // 2), samples[-1])
    last = samples[-1]
    growth = last["rss_mib"] - first["rss_mib"]
    span = last["units"] - first["units"]
    late_span = last["units"] - late["units"]
    out = {"layer": args.layer, "n": args.n, "explainer": args.explainer, "workers": args.workers,
           "done": s.done, "failed": s.failed, "stored": stored, "units_per_hour": round(s.neurons_per_hour, 1),
           "setup_seconds": round(setup, 1), "rss_mib": [r["rss_mib"] for r in samples],
           "rss_units": [r["units"] for r in samples], "embedding_cache": [r["embedding_cache"] for r in samples],
           "growth_mib": round(growth, 1), "growth_ratio": round(last["rss_mib"] / first["rss_mib"], 3),
           "growth_per_100_units_mib": round(100 * growth / span, 2) if span else None,
           "late_growth_per_100_units_mib": round(100 * (last["rss_mib"] - late["rss_mib"]) / late_span, 2)
           if late_span else None}
    print(json.dumps(out))


def _embedding_cache_size(embeddings) -> int:
    cache = getattr(embeddings, "_CACHE", None)
    return len(cache) if cache is not None else -1


if __name__ == "__main__":
    main()
