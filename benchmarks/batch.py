"""Batch throughput on the embedded defaults: neurons per hour for `one_shot` and `agent`.

Each explainer labels the same `--n` neurons of one layer through `run_batch` (the real path:
store writes, failure ledger, progress) into a throwaway store that shares the data dir's weights,
corpora and caches. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=8)
    args = ap.parse_args()

    from autointerp.batch import BatchOptions, ThreadExecutor, run_batch
    from autointerp.config import Settings, get_settings
    from autointerp.workbench import Workbench

    base = get_settings()
    Workbench.open(settings=base).layer(args.layer)  # built in the real data dir, shared below
    out: dict[str, object] = {"layer": args.layer, "n": args.n, "workers": args.workers, "max_steps": args.max_steps}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for sub in ("models", "corpora", "cache"):
            (base.data_dir / sub).mkdir(parents=True, exist_ok=True)
            (home / sub).symlink_to(base.data_dir / sub)
        settings = Settings(**{**base.model_dump(), "home": home})
        wb = Workbench.open(settings=settings)  # both explainers, all worker threads
        for key, method in (("one_shot", "one-shot"), ("agent", "agent")):
            opts = BatchOptions(layers=[args.layer], neurons=f"0:{args.n}", method=method, max_steps=args.max_steps)
            s = run_batch(opts, wb=wb, executor=ThreadExecutor(args.workers))
            out[key] = {"neurons_per_hour": round(s.neurons_per_hour, 1), "seconds": s.seconds, "done": s.done,
                        "failed": s.failed, "tokens": s.prompt_tokens + s.completion_tokens}
            print(f"{key}: {s.done} neurons in {s.seconds:.0f} s -> {s.neurons_per_hour:.0f} neurons/h "
                  f"({s.failed} failed, {s.prompt_tokens + s.completion_tokens:,} tokens)", flush=True)
    out["neurons_per_hour"] = {k: out[k]["neurons_per_hour"] for k in ("one_shot", "agent")}  # type: ignore[index]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
