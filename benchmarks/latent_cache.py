"""A dictionary's cache stored as nonzeros against the dense layout neurons use: size on disk,
build time, and the time to read a latent's examples (`LayerCache.unit`) and the layer page's
summary of every latent (`web.views.layer_summary`).

Both caches are built in this process, one after the other, from the same registered dictionary,
corpus windows and token budget, into two throwaway data dirs that share the real one's weights,
corpora and dictionaries; the dense one by switching `DictionaryLatents.sparse_cache` off (the
format a dictionary's cache had before). Each read is timed on the same latents, alternating
sparse and dense. Last line: one JSON object (`size_ratio` = dense bytes / sparse bytes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def _bytes(cache) -> dict[str, int]:
    d = cache.plan.directory(cache.source) / cache.manifest.checkpoint
    sizes = {p.name: p.stat().st_size for p in d.glob("*.npy")}
    acts = sum(s for n, s in sizes.items() if n.split(".")[0] in ("top_acts", "q_acts", "r_acts"))
    return {"total": sum(sizes.values()), "activations": acts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dictionary", required=True, help="a registered dictionary (`autointerp sae list`)")
    ap.add_argument("--tokens", type=int, default=None, help="token budget of both caches (default: the setting)")
    ap.add_argument("--units", type=int, default=200, help="latents whose examples are read")
    args = ap.parse_args()

    from autointerp.config import Settings, get_settings
    from autointerp.dictionaries import DictionaryLatents
    from autointerp.tools.triage import source_of
    from autointerp.web.views import layer_summary
    from autointerp.workbench import Workbench

    base = get_settings()
    figs: dict[str, dict] = {}
    caches = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("sparse", "dense"):
            home = Path(tmp) / fmt
            home.mkdir()
            for sub in ("models", "corpora", "dictionaries"):
                (base.data_dir / sub).mkdir(parents=True, exist_ok=True)
                (home / sub).symlink_to(base.data_dir / sub)
            budget = {} if args.tokens is None else {"tokens": args.tokens}
            settings = Settings(**{**base.model_dump(), "home": home, **budget})
            DictionaryLatents.sparse_cache = fmt == "sparse"
            wb = Workbench.open(settings=settings, progress=False)
            src = source_of(wb, None, args.dictionary)
            t0 = time.perf_counter()
            caches[fmt] = wb.cache(src)  # built here: the data dir has no cache
            seconds = time.perf_counter() - t0
            figs[fmt] = {"build_seconds": round(seconds, 2), "bytes": _bytes(caches[fmt]),
                         "format": caches[fmt].manifest.format}
            print(f"{fmt}: built in {seconds:.1f} s, {figs[fmt]['bytes']['total'] / 2**20:.1f} MiB "
                  f"({figs[fmt]['bytes']['activations'] / 2**20:.1f} MiB of example activations)", flush=True)
        DictionaryLatents.sparse_cache = True
        n = caches["sparse"].source.n_units
        units = list(range(0, n, max(1, n // args.units)))[:args.units]
        reads = {"sparse": 0.0, "dense": 0.0}
        for i, u in enumerate(units):
            for fmt in (("sparse", "dense") if i % 2 else ("dense", "sparse")):
                c = caches[fmt]
                t0 = time.perf_counter()
                c.unit(c.source.unit(u))
                reads[fmt] += time.perf_counter() - t0
        summary = {}
        for fmt in ("dense", "sparse"):
            t0 = time.perf_counter()
            layer_summary(caches[fmt])
            summary[fmt] = time.perf_counter() - t0
        same = sum(caches["sparse"].unit(caches["sparse"].source.unit(u)).model_dump()
                   == caches["dense"].unit(caches["dense"].source.unit(u)).model_dump() for u in units)
    for fmt in ("sparse", "dense"):
        figs[fmt]["unit_ms"] = round(1000 * reads[fmt] / len(units), 2)
        figs[fmt]["summary_seconds"] = round(summary[fmt], 2)
        print(f"{fmt}: a latent's examples in {figs[fmt]['unit_ms']} ms, the layer summary in "
              f"{summary[fmt]:.2f} s", flush=True)
    sp, de = figs["sparse"], figs["dense"]
    out = {"dictionary": args.dictionary, **figs, "units": len(units), "same_examples": f"{same}/{len(units)}",
           "size_ratio": round(de["bytes"]["total"] / sp["bytes"]["total"], 2),
           "activation_size_ratio": round(de["bytes"]["activations"] / sp["bytes"]["activations"], 2),
           "unit_read_ratio": round(reads["sparse"] / reads["dense"], 3),
           "build_ratio": round(sp["build_seconds"] / de["build_seconds"], 3)}
    print(f"dense / sparse size: {out['size_ratio']}x in all, {out['activation_size_ratio']}x for the example "
          f"activations; sparse reads take {out['unit_read_ratio']}x the dense time, builds {out['build_ratio']}x; "
          f"same examples for {out['same_examples']} latents")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
