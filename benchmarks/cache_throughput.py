"""Cache pipeline throughput against the bare forward pass, and peak RSS at 1x and 4x corpus size.

Runs (a) the bare full forward pass with no hooks, (b) the cache pipeline for all layers and
(c) for one early layer, in one process on the same model and windows; then builds one layer at
1x and 4x the token budget in child processes and compares their peak RSS.
Last line: one JSON object with ratio_all_layers (b/a), ratio_one_layer (c/a) and rss_growth.
`bookkeeping_overhead` compares (b) with a forward that also stops after the last MLP but keeps
nothing, so the saving from skipping the unembedding is not mistaken for cheap bookkeeping.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def settings_for(home: Path, **kw):
    from autointerp.config import Settings

    return Settings(home=home, **kw)


def child_rss(home: Path, model: str, layer: int, tokens: int) -> None:
    """Build one layer cache; print this process' peak RSS in MiB."""
    from autointerp.cache.build import build_cache

    build_cache([layer], model=model, tokens=tokens, settings=settings_for(home), progress=False)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report the parent's peak.
    hwm_kib = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmHWM:"))
    print(json.dumps({"peak_rss_mib": hwm_kib / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--tokens", type=int, default=32_768, help="token budget for (a), (b), (c)")
    ap.add_argument("--early-layer", type=int, default=1)
    ap.add_argument("--rss-tokens", type=int, default=32_768, help="1x corpus size for the RSS runs")
    ap.add_argument("--rss-layer", type=int, default=3)
    ap.add_argument("--child", nargs=3, metavar=("HOME", "LAYER", "TOKENS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_rss(Path(args.child[0]), args.model, int(args.child[1]), int(args.child[2]))
        return

    from autointerp.cache.build import plan, run_plan
    from autointerp.targets import load_target

    shared_home = Path(os.environ.get("AUTOINTERP_HOME", "~/.autointerp")).expanduser()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        # Converted weights and tokenised corpus are shared; only the layer caches are fresh.
        for sub in ("models", "corpora"):
            src = shared_home / sub
            if src.exists():
                (home / sub).symlink_to(src)
        s = settings_for(home)
        target = load_target(args.model, s)
        p = plan(target, None, args.tokens, s)
        tokens = torch.from_numpy(p.windows.tokens[: p.n_windows]).long()
        n_tok = p.n_windows * (s.window - int(p.windows.has_bos))

        def timed(fn) -> float:
            t0 = time.perf_counter()
            fn()
            return n_tok / (time.perf_counter() - t0)

        def bare() -> None:
            for i in range(0, len(tokens), s.batch_size):
                target.run(tokens[i: i + s.batch_size], logits=True)

        def truncated() -> None:
            """The forward the pipeline needs (up to the last MLP's hook_post), with no bookkeeping."""
            for i in range(0, len(tokens), s.batch_size):
                target.run_layers(tokens[i: i + s.batch_size], range(target.n_layers), lambda layer, act: None)

        target.run(tokens[: s.batch_size], logits=True)  # warm-up
        a = timed(bare)
        t = timed(truncated)
        b = timed(lambda: run_plan(p, range(target.n_layers), progress=False))
        shutil.rmtree(home / "cache")  # (c) builds its layer afresh, not from (b)'s cache
        c = timed(lambda: run_plan(p, [args.early_layer], progress=False))
        a2 = timed(bare)  # the baseline again: machine noise shows as a1 != a2
        print(f"(a) bare forward, all layers + unembed: {a:,.0f} tok/s (again at the end: {a2:,.0f})")
        print(f"    forward to the last hook_post, no bookkeeping: {t:,.0f} tok/s")
        print(f"(b) cache pipeline, all {target.n_layers} layers:     {b:,.0f} tok/s")
        print(f"(c) cache pipeline, layer {args.early_layer}:           {c:,.0f} tok/s")

        rss = {}
        for mult in (1, 4):
            out = subprocess.run(
                [sys.executable, __file__, "--model", args.model, "--child", str(home), str(args.rss_layer),
                 str(args.rss_tokens * mult)], capture_output=True, text=True, check=True,
                env={**os.environ, "AUTOINTERP_HOME": str(home)},
            )
            rss[mult] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mib"]
            print(f"peak RSS building layer {args.rss_layer} at {mult}x ({args.rss_tokens * mult:,} tokens): "
                  f"{rss[mult]:,.0f} MiB")
    baseline = (a + a2) / 2
    print(json.dumps({
        "model": args.model, "tokens": n_tok, "bare_tok_s": round(baseline, 1), "all_layers_tok_s": round(b, 1),
        "one_layer_tok_s": round(c, 1), "truncated_forward_tok_s": round(t, 1),
        "bookkeeping_overhead": round(t / b - 1, 3), "ratio_all_layers": round(b / baseline, 3),
        "ratio_one_layer": round(c / baseline, 3), "rss_1x_mib": round(rss[1], 1), "rss_4x_mib": round(rss[4], 1),
        "rss_growth": round(rss[4] / rss[1], 3),
    }))


if __name__ == "__main__":
    main()
