"""What sharing the target's forwards across units could save (issue 33, item 1), before building it.

The agent explains `--n` neurons of one layer one at a time (`run_batch`, a throwaway store), while
every forward of the target is logged: its rows (the unpadded token ids), whether it patched or read
logits, and its seconds. Two ways sharing could pay are then measured:
- **the same windows twice**: rows a forward ran that an earlier forward had already run, within a
  unit and across units (`duplicate_rows_within`, `duplicate_rows_across`), and the forward seconds
  those rows took (`dedup_ceiling`: their share of all forward seconds; only unpatched forwards can be
  reused, since a patch is a unit's own);
- **fuller batches**: seconds per row of random windows at batch sizes 4 to 64, short (24 tokens) and
  long (64), read at the layer (`per_row_ms`), and the forwards' own batch sizes (`rows_per_forward`).
  Gathering several units' small forwards into one pays where a short window's row costs less in a
  bigger batch; at 64 tokens a 2-core CPU is already saturated at 4 rows.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-steps", type=int, default=4)
    args = ap.parse_args()
    if args.n < 1 or args.max_steps < 1:
        ap.error("--n and --max-steps must be at least 1")

    import torch
    from scratch import scratch_settings

    from autointerp.batch import BatchOptions, ThreadExecutor, run_batch
    from autointerp.config import get_settings
    from autointerp.store import open_store
    from autointerp.targets import base as target_base
    from autointerp.workbench import Workbench

    log: list[dict] = []
    unit = {"i": -1}
    plain_run = target_base.Target.run

    def logged_run(self, tokens, attention_mask=None, read=(), patch=None, logits=False):
        start = time.perf_counter()
        out = plain_run(self, tokens, attention_mask, read, patch, logits)
        rows = [tokens[r] if attention_mask is None else tokens[r][attention_mask[r].bool()]
                for r in range(tokens.shape[0])]
        log.append({"unit": unit["i"], "seconds": time.perf_counter() - start, "patched": bool(patch),
                    "logits": logits, "rows": [hashlib.sha1(r.numpy().tobytes()).hexdigest() for r in rows]})
        return out

    base = get_settings()
    with tempfile.TemporaryDirectory() as tmp:
        settings = scratch_settings(base, Path(tmp))
        wb = Workbench.open(settings=settings)
        store = open_store(settings)
        run_batch(BatchOptions(layers=[args.layer], neurons=str(args.n), method="agent", max_steps=args.max_steps,
                               redo=True), wb=wb, store=store, executor=ThreadExecutor(1))  # warm-up, not logged
        target_base.Target.run = logged_run
        try:
            for i in range(args.n):
                unit["i"] = i
                s = run_batch(BatchOptions(layers=[args.layer], neurons=str(i), method="agent",
                                           max_steps=args.max_steps, redo=True),
                              wb=wb, store=store, executor=ThreadExecutor(1))
                print(f"L{args.layer}.N{i}: {s.seconds:.1f} s, {sum(e['seconds'] for e in log if e['unit'] == i):.1f} s "
                      f"in {sum(e['unit'] == i for e in log)} forwards", flush=True)
        finally:
            target_base.Target.run = plain_run

        seen: dict[str, int] = {}
        within = across = rows = 0
        dup_seconds = 0.0
        for e in log:
            per_row = e["seconds"] / len(e["rows"])
            for r in e["rows"]:
                rows += 1
                if e["patched"]:
                    continue
                if r in seen:
                    within += seen[r] == e["unit"]
                    across += seen[r] != e["unit"]
                    dup_seconds += per_row
                else:
                    seen[r] = e["unit"]
        total = sum(e["seconds"] for e in log)

        target = wb.target
        point = target.neurons(args.layer).read_point
        gen = torch.Generator().manual_seed(0)
        curve: dict[str, dict[str, float]] = {}
        for length in (24, 64):
            curve[str(length)] = {}
            for batch in (4, 8, 16, 32, 64):
                seqs = [torch.randint(100, 40_000, (length,), generator=gen).tolist() for _ in range(batch)]
                target.run_padded(seqs, read=[point])
                best = min(_timed(lambda s=seqs: target.run_padded(s, read=[point])) for _ in range(3))
                curve[str(length)][str(batch)] = round(1000 * best / batch, 2)
            print(f"{length}-token windows, ms a row at batch 4..64: {list(curve[str(length)].values())}", flush=True)

    out = {"layer": args.layer, "n": args.n, "forwards": len(log), "rows": rows,
           "forward_seconds": round(total, 2), "forward_seconds_per_unit": round(total / args.n, 2),
           "rows_per_forward": round(rows / len(log), 1) if log else None,
           "duplicate_rows_within": within, "duplicate_rows_across": across,
           "dedup_ceiling": round(dup_seconds / total, 4) if total else None, "per_row_ms": curve}
    print(f"{len(log)} forwards, {rows} rows, {total:.1f} s; rows run before: {within} within a unit, {across} "
          f"across units ({out['dedup_ceiling']} of the forward seconds)")
    print(json.dumps(out))


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
