"""A search query's MiniLM embedding while other threads are busy in Python, as in `autointerp serve`.

The eager sentence-transformers model takes the GIL back between each of its operations, so with
another thread running Python (rendering a page, building a JSON reply) every operation may wait a
switch interval (5 ms) for it; the traced transformer (`embeddings.embed_traced`, what search uses)
runs its forward in C++. Times `--n` one-query embeddings each way, alone and with `--busy` threads
looping in pure Python, on one torch thread as search runs; prints medians, p99s and the ratios
eager / traced, and checks that both give the same vector. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np

QUERIES = ["neurons about legal contracts", "commas in Python code", "the word capital in contexts about cities",
           "months of the year", "text about football matches, peaking on first names", "negations"]


def timings(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        q = QUERIES[i % len(QUERIES)]
        t = time.perf_counter()
        fn([q])
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(ms: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=40, help="queries timed per path and setting")
    ap.add_argument("--busy", type=int, default=1, help="threads looping in Python meanwhile")
    args = ap.parse_args()

    import torch

    from autointerp import embeddings

    torch.set_num_threads(1)
    t = time.perf_counter()
    embeddings.embed(QUERIES)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    embeddings.embed_traced(QUERIES)
    trace_s = time.perf_counter() - t
    diff = float(np.abs(embeddings.embed(QUERIES) - embeddings.embed_traced(QUERIES)).max())
    print(f"MiniLM ({embeddings.PRECISION}) loaded in {load_s:.1f} s, traced in {trace_s:.1f} s; "
          f"largest difference between the two paths' vectors {diff:.1e}")

    paths = {"eager": embeddings.embed, "traced": embeddings.embed_traced}
    res: dict[str, dict] = {}
    for name, fn in paths.items():
        timings(fn, 3)  # warm
        res[f"alone_{name}"] = summary(timings(fn, args.n))
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            {i: str(i) for i in range(1000)}

    threads = [threading.Thread(target=spin, daemon=True) for _ in range(args.busy)]
    for th in threads:
        th.start()
    try:
        for name, fn in paths.items():
            res[f"busy_{name}"] = summary(timings(fn, args.n))
    finally:
        stop.set()
        for th in threads:
            th.join()
    for key, st in res.items():
        print(f"  {key:12s} p50 {st['p50_ms']:8.1f} ms   p99 {st['p99_ms']:8.1f} ms")
    alone = res["alone_eager"]["p50_ms"] / res["alone_traced"]["p50_ms"]
    busy = res["busy_eager"]["p50_ms"] / res["busy_traced"]["p50_ms"]
    busy99 = res["busy_eager"]["p99_ms"] / res["busy_traced"]["p99_ms"]
    print(f"eager / traced: alone {alone:.2f}x at p50; with {args.busy} busy thread(s) {busy:.2f}x at p50, "
          f"{busy99:.2f}x at p99")
    print(json.dumps({"n": args.n, "busy_threads": args.busy, "precision": embeddings.PRECISION,
                      "trace_s": round(trace_s, 2), "max_abs_diff": diff,
                      **{f"{k}_{m}": v for k, st in res.items() for m, v in st.items()},
                      "alone_ratio": round(alone, 2), "busy_ratio_p50": round(busy, 2),
                      "busy_ratio_p99": round(busy99, 2)}))


if __name__ == "__main__":
    main()
