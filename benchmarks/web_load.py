"""`autointerp serve` under many clients at once: pages, search, the neuron API and probe together.

A throwaway data dir (benchmarks/serve.py's: the environment's cache of `--layer` linked, else built)
gets `--n` synthetic explanations; a real `autointerp serve` runs in its own process on 127.0.0.1.
After one warm-up request of each kind, `--clients` concurrent clients (aiohttp) loop for
`--seconds` over neuron pages, searches, `/api/neurons/...` and `/api/probe` (random neurons of the
layer, 1-4 short texts), each sending its next request as soon as one is answered (`--think S`:
pausing S seconds on average first; `--kinds`: a subset, e.g. the same load without probes). A 429
is honoured (its Retry-After slept) and counted, not an error; an error is any other status or a
failed connection. Prints per-kind p50/p99, errors, 429s, the server's RSS after the warm-up and
after the run (its anonymous and file-backed parts: the memory-mapped cache is file-backed) and
every 10 s, and the load average. `--baseline-src DIR` first runs the same load against a server
started from another source tree (e.g. `git archive HEAD | tar -x -C DIR`) and prints ratios.
Goals (issue 32): 0 errors; neuron page and search p99 <= 300 ms; probe p99 <= 3 s; RSS after the
run within 10 % of RSS after warm-up. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
KINDS = ("page", "search", "api", "probe")
SENTENCES = ["It was a long day at the office", "He is an engineer", "The smooth surface of the lake",
             "In 1999 the court ruled against the company", "She said: \"not now, maybe later\"",
             "def main():\n    return 0", "The football match ended 2-1 after extra time",
             "Prices rose by 3.5% in March", "Once upon a time there was a king", "A rough road, and an old car"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_bench", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rss_mib(pid: int) -> dict[str, float]:
    """The server's RSS, and its parts (Linux): anonymous memory (the heap: what a leak grows) and
    file-backed pages (the memory-mapped cache and libraries: the page cache, shared and reclaimable)."""
    import psutil

    out = {"rss": round(psutil.Process(pid).memory_info().rss / 2**20, 1)}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                out[key[3:].lower()] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def pct(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0, "p50_ms": None, "p99_ms": None}
    a = np.array(ms)
    return {"n": len(ms), "p50_ms": round(float(np.percentile(a, 50)), 1), "p99_ms": round(float(np.percentile(a, 99)), 1)}


def request(kind: str, rng: random.Random, layer: int, d_mlp: int, queries: list[str]) -> tuple[str, str, dict | None]:
    """(method, path, json body) of one request of `kind`."""
    n = f"L{layer}.N{rng.randrange(d_mlp)}"
    if kind == "page":
        return "GET", f"/neurons/{n}", None
    if kind == "search":
        return "GET", f"/api/search?q={rng.choice(queries).replace(' ', '+')}&k=10", None
    if kind == "api":
        return "GET", f"/api/neurons/{n}", None
    return "POST", "/api/probe", {"neuron": n, "texts": rng.sample(SENTENCES, rng.randint(1, 4))}


async def load(url: str, args, d_mlp: int, queries: list[str], pid: int) -> dict:
    import aiohttp

    kinds = args.kinds.split(",")
    lat: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: list[str] = []
    limited = {k: 0 for k in KINDS}
    deadline = time.monotonic() + args.seconds

    async def client(i: int, session) -> None:
        rng = random.Random(args.seed * 1000 + i)
        while time.monotonic() < deadline:
            kind = rng.choice(kinds)
            method, path, body = request(kind, rng, args.layer, d_mlp, queries)
            t = time.perf_counter()
            try:
                async with session.request(method, url + path, json=body) as r:
                    await r.read()
                    ms = (time.perf_counter() - t) * 1000
                    if r.status == 200:
                        lat[kind].append(ms)
                    elif r.status == 429:
                        limited[kind] += 1
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    else:
                        errors.append(f"{kind} {path}: HTTP {r.status}")
            except (TimeoutError, aiohttp.ClientError) as e:
                errors.append(f"{kind} {path}: {type(e).__name__}: {e}")
            if args.think:
                await asyncio.sleep(rng.uniform(0, 2 * args.think))

    rss: list[float] = []

    async def sample() -> None:
        """The server's anonymous RSS (else RSS) every 10 s of the run: flat, or still growing at the end?"""
        while time.monotonic() < deadline:
            await asyncio.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
            now = rss_mib(pid)
            rss.append(now.get("anon", now["rss"]))

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=args.clients)) as s:
        await asyncio.gather(*(client(i, s) for i in range(args.clients)), sample())
    return {"lat": lat, "errors": errors, "limited": limited, "rss": rss}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_and_load(args, home: Path, settings, src: Path | None, queries: list[str]) -> dict:
    """Start `autointerp serve` (from `src` when given), warm it up, run the load; the figures."""
    import httpx

    port = free_port()
    env = {**os.environ, "AUTOINTERP_HOME": str(home), "AUTOINTERP_TOKENS": str(settings.tokens)}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    with open(home / "serve.log", "w") as log:  # the child keeps its own copy of the descriptor
        # cwd: the data dir, so `-m` finds autointerp on PYTHONPATH (the baseline) or where it is installed
        proc = subprocess.Popen([sys.executable, "-m", "autointerp.cli", "serve", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    try:
        url, rng = f"http://127.0.0.1:{port}", random.Random(args.seed)
        with httpx.Client(base_url=url, timeout=120) as c:
            deadline = time.monotonic() + 300
            while True:
                assert proc.poll() is None, f"the server exited: see {home / 'serve.log'}"
                try:
                    if c.get("/").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start in 300 s"
                time.sleep(0.5)
            d_mlp = len(c.get(f"/api/layers/{args.layer}").json()["rows"])
            for kind in KINDS:  # one warm-up request of each kind: opens the cache, loads MiniLM
                method, path, body = request(kind, rng, args.layer, d_mlp, queries)
                r = c.request(method, path, json=body)
                assert r.status_code == 200, (kind, path, r.status_code, r.text[:200])
        rss_warm, load_before = rss_mib(proc.pid), os.getloadavg()[0]
        t = time.perf_counter()
        res = asyncio.run(load(url, args, d_mlp, queries, proc.pid))
        wall = time.perf_counter() - t
        rss_after, load_after = rss_mib(proc.pid), os.getloadavg()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    stats = {k: pct(v) for k, v in res["lat"].items()}
    return {"stats": stats, "errors": res["errors"], "limited": res["limited"], "wall": wall,
            "rss_warm": rss_warm, "rss_after": rss_after, "rss_every_10s": res["rss"],
            "load_before": load_before, "load_after": load_after,
            "answered": sum(st["n"] for st in stats.values()), "n_429": sum(res["limited"].values())}


def report(name: str, r: dict) -> None:
    print(f"{name}: {r['wall']:.0f} s, load average {r['load_before']:.2f} before, {r['load_after']:.2f} after "
          f"({os.cpu_count()} cores)")
    for k in KINDS:
        st = r["stats"][k]
        print(f"  {k:6s} n={st['n']:5d}  p50 {st['p50_ms']} ms  p99 {st['p99_ms']} ms  429s {r['limited'][k]}")
    print(f"  {r['answered']:,} answered, {len(r['errors'])} errors, {r['n_429']} answered 429")
    for e in r["errors"][:10]:
        print("  error:", e)
    w, a = r["rss_warm"], r["rss_after"]
    parts = " ".join(f"{k} {w.get(k)} -> {a.get(k)}" for k in ("anon", "file"))
    print(f"  server RSS: {w['rss']} MiB after warm-up, {a['rss']} MiB after the run ({a['rss'] / w['rss']:.3f}x; "
          f"MiB {parts}); anonymous every 10 s: {r['rss_every_10s']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--n", type=int, default=1000, help="synthetic explanations in the store")
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--tokens", type=int, default=4096, help="cache size when the layer must be built")
    ap.add_argument("--think", type=float, default=0.0, help="mean seconds a client pauses between requests "
                    "(0: each sends its next request at once, the server saturated)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="the request kinds the clients choose from "
                    "(e.g. page,search,api: the same load without probes)")
    ap.add_argument("--baseline-src", type=Path, help="a source tree to serve from first, as the baseline")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="build the data dir here and leave it")
    args = ap.parse_args()

    serve_bench, search_bench = _load("serve"), _load("search")
    home = args.keep or Path(tempfile.mkdtemp(prefix="autointerp-web-load-"))
    try:
        settings, cache_note = serve_bench.prepare_home(home, args.layer, args.tokens)
        from autointerp.store import open_store

        store = open_store(settings)
        for start in range(store.count(), args.n, 1000):
            store.add_many(search_bench.records(start, min(args.n, start + 1000), args.seed))
        del store
        rng = random.Random(args.seed)
        queries = [search_bench.fill(rng.choice(search_bench.QUERIES), rng) for _ in range(200)]
        print(f"{args.clients} clients (think {args.think} s) for {args.seconds:g} s on layer {args.layer} "
              f"(cache {cache_note}), {args.n:,} stored explanations")
        base = serve_and_load(args, home, settings, args.baseline_src, queries) if args.baseline_src else None
        if base is not None:
            report(f"baseline ({args.baseline_src})", base)
        cur = serve_and_load(args, home, settings, None, queries)
        report("this tree", cur)
        st, growth = cur["stats"], cur["rss_after"]["rss"] / cur["rss_warm"]["rss"]
        goals = {"no_errors": not cur["errors"],
                 "page_p99_le_300ms": (st["page"]["p99_ms"] or 0) <= 300,
                 "search_p99_le_300ms": (st["search"]["p99_ms"] or 0) <= 300,
                 "probe_p99_le_3s": (st["probe"]["p99_ms"] or 0) <= 3000,
                 "rss_within_10pct": growth <= 1.10}
        print("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in goals.items()))
        out = {"clients": args.clients, "think_s": args.think, "seconds": round(cur["wall"], 1), "layer": args.layer,
               "n": args.n, "answered": cur["answered"], "errors": len(cur["errors"]), "answered_429": cur["n_429"],
               **{f"{k}_{m}": st[k][m] for k in KINDS for m in ("n", "p50_ms", "p99_ms")},
               "rss_warm_mib": cur["rss_warm"]["rss"], "rss_after_mib": cur["rss_after"]["rss"],
               "rss_growth": round(growth, 3), "anon_warm_mib": cur["rss_warm"].get("anon"),
               "anon_after_mib": cur["rss_after"].get("anon"), "anon_every_10s_mib": cur["rss_every_10s"],
               "loadavg_before": round(cur["load_before"], 2), "loadavg_after": round(cur["load_after"], 2),
               "goals_met": all(goals.values())}
        if base is not None:
            bst = base["stats"]
            out["baseline_answered"], out["baseline_errors"] = base["answered"], len(base["errors"])
            for k in KINDS:
                out[f"baseline_{k}_p99_ms"] = bst[k]["p99_ms"]
                if bst[k]["p99_ms"] and st[k]["p99_ms"]:
                    out[f"{k}_p99_ratio"] = round(st[k]["p99_ms"] / bst[k]["p99_ms"], 3)
            out["baseline_rss_growth"] = round(base["rss_after"]["rss"] / base["rss_warm"]["rss"], 3)
            out["throughput_ratio"] = round(cur["answered"] / cur["wall"] / (base["answered"] / base["wall"]), 3)
        print(json.dumps(out))
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
