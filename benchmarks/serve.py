"""`autointerp serve` under load from one browser: neuron page and `/api/search` latency, warm server.

A throwaway data dir gets `--n` realistic synthetic explanations (benchmarks/search.py's generator,
inserted with `Store.add_many`, MiniLM embedding included) and a cache of `--layer` (linked from the
data dir of the environment when it has one, else built from `--tokens`). A real uvicorn server on
127.0.0.1 (a free port, in a thread) runs the real model; after a warm-up, `--requests` neuron pages
of random neurons of the layer (a third of them with stored explanations) and `--requests` varied
top-10 searches are timed over HTTP, one at a time. Goals: neuron page p95 <= 200 ms, search p95 <=
50 ms. Last line: one JSON object. `--keep DIR` builds (or reuses) the data dir there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _search_bench():
    spec = importlib.util.spec_from_file_location("search_bench", HERE / "search.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pct(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1000
    return round(float(np.percentile(ms, 50)), 1), round(float(np.percentile(ms, 95)), 1)


def prepare_home(home: Path, layer: int, tokens: int):
    """A data dir sharing the environment's weights and corpora (and its cache of the layer, if any)."""
    from autointerp.cache.build import build_cache
    from autointerp.config import Settings, get_settings

    src = get_settings().data_dir
    home.mkdir(parents=True, exist_ok=True)
    for sub in ("models", "corpora", "synonyms"):
        (src / sub).mkdir(parents=True, exist_ok=True)
        if not (home / sub).exists():
            (home / sub).symlink_to(src / sub)
    from autointerp.cache.store import read_manifest

    found = [m for p in sorted((src / "cache").glob(f"smollm2-135m/embedded/w64/layer{layer:02d}/manifest.json"))
             if (m := read_manifest(p.parent)) is not None and m.status == "complete"]
    linked = (home / "cache").is_symlink()  # a kept data dir linked before: never build into the shared cache
    if found and (linked or not (home / "cache").exists()):
        if not linked:
            (home / "cache").symlink_to(src / "cache")
        # the corpus planned as far as the cache reaches (its windows hold 63 tokens after BOS)
        settings = Settings(home=home, tokens=found[0].n_windows_target * (found[0].window - 1))
        try:
            from autointerp.workbench import Workbench

            Workbench.open(settings=settings, progress=False).layer(layer, build=False)
            return settings, "linked"
        except Exception:
            (home / "cache").unlink()
    if (home / "cache").is_symlink():
        raise SystemExit(f"{home / 'cache'} links to {src / 'cache'}, whose layer {layer} is incomplete: "
                         f"use a fresh data dir")
    settings = Settings(home=home, tokens=tokens)
    build_cache([layer], settings=settings, progress=False)
    return settings, f"built from {tokens:,} tokens"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000, help="synthetic explanations in the store")
    ap.add_argument("--layer", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=4096, help="cache size when the layer must be built")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="build the data dir here and leave it")
    args = ap.parse_args()

    import httpx
    import uvicorn

    from autointerp.store import open_store
    from autointerp.web import create_app
    from autointerp.workbench import Workbench

    sb = _search_bench()
    home = args.keep or Path(tempfile.mkdtemp(prefix="autointerp-serve-bench-"))
    try:
        t = time.perf_counter()
        settings, cache_note = prepare_home(home, args.layer, args.tokens)
        store = open_store(settings)
        have = store.count()
        for start in range(have, args.n, 1000):
            store.add_many(sb.records(start, min(args.n, start + 1000), args.seed))
            print(f"{min(args.n, start + 1000):,} stored", file=sys.stderr, flush=True)
        setup_s = time.perf_counter() - t

        wb = Workbench.open(settings=settings, progress=False)
        app = create_app(wb, store)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = "http://%s:%d" % sock.getsockname()

        rng = random.Random(args.seed + 2)
        d_mlp = wb.target.d_mlp
        neurons = [f"L{args.layer}.N{rng.randrange(d_mlp)}" for _ in range(args.requests)]
        queries = [sb.fill(rng.choice(sb.QUERIES), rng) for _ in range(args.requests)]
        with httpx.Client(base_url=url, timeout=60) as c:
            t = time.perf_counter()
            for path in ("/", f"/layers/{args.layer}", f"/neurons/L{args.layer}.N0", "/api/search?q=warm+up"):
                assert c.get(path).status_code == 200, path  # opens the cache, loads MiniLM
            warm_s = time.perf_counter() - t
            t = time.perf_counter()
            layer_page = c.get(f"/layers/{args.layer}")
            layer_ms = round((time.perf_counter() - t) * 1000, 1)
            page_t, sizes, with_expl = [], [], 0
            for n in neurons:
                t = time.perf_counter()
                r = c.get(f"/neurons/{n}")
                page_t.append(time.perf_counter() - t)
                assert r.status_code == 200, (n, r.status_code)
                sizes.append(len(r.content))
                with_expl += 'class="explanation"' in r.text
            search_t = []
            for q in queries:
                t = time.perf_counter()
                r = c.get("/api/search", params={"q": q, "k": 10})
                search_t.append(time.perf_counter() - t)
                assert r.status_code == 200 and len(r.json()) == 10, q
            filtered_t = []
            for q in queries[:50]:
                t = time.perf_counter()
                r = c.get("/api/search", params={"q": q, "k": 10, "model": "smollm2-135m"})
                filtered_t.append(time.perf_counter() - t)
                assert r.status_code == 200
        server.should_exit = True
        thread.join(timeout=10)

        page_p50, page_p95 = pct(page_t)
        search_p50, search_p95 = pct(search_t)
        fp50, fp95 = pct(filtered_t)
        print(f"{store.count():,} explanations; layer {args.layer} cache {cache_note}; setup {setup_s:.0f} s, "
              f"warm-up {warm_s:.1f} s")
        print(f"neuron page: p50 {page_p50} ms, p95 {page_p95} ms (goal p95 <= 200 ms), median "
              f"{int(np.median(sizes)) // 1024} KiB, {with_expl}/{len(neurons)} with stored explanations")
        print(f"/api/search top-10: p50 {search_p50} ms, p95 {search_p95} ms (goal p95 <= 50 ms); "
              f"filtered to one model p95 {fp95} ms")
        print(f"layer page ({len(layer_page.content) // 1024} KiB, {d_mlp} rows): {layer_ms} ms")
        print(json.dumps({"n": store.count(), "layer": args.layer, "requests": args.requests,
                          "neuron_page_p50_ms": page_p50, "neuron_page_p95_ms": page_p95,
                          "search_p50_ms": search_p50, "search_p95_ms": search_p95,
                          "search_model_filter_p50_ms": fp50, "search_model_filter_p95_ms": fp95,
                          "layer_page_ms": layer_ms}))
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
