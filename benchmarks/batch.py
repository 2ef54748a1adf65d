"""Batch throughput on the embedded defaults: neurons per hour for `one_shot`, and for `agent` with
and without the local model's prefix cache.

Each explainer labels the same `--n` neurons of one layer through `run_batch` (the real path:
store writes, failure ledger, progress) into a throwaway store that shares the data dir's weights,
corpora and caches. One untimed agent neuron (index `--n`) warms the process up first (synonym
index, first forward passes). The agent runs with and without prefix reuse then alternate neuron
by neuron, in ABBA order so neither always goes first on a neuron (one one-neuron batch each, a
fresh LLM, prefix cache and simulator embedding cache every time), and a busy shared machine
slows both alike;
`prefix_speedup` is their ratio, and `same_explanations` counts the neurons whose
stored agent explanation is the same text both ways (reuse must not change the output).
`llm_seconds` is each run's wait on the LLM (`BatchSummary.llm_seconds`). Two bounds on
`prefix_speedup`, from the same runs: `llm_prefix_speedup`, the LLM's own seconds without reuse
over with (reuse leaves the experiments and scoring as they are, so a whole neuron gains less
than its LLM part), and `prefix_speedup_ceiling`, the no-reuse run's seconds over what they would
be if every LLM call took no time at all (Amdahl's). The `cascade` explainer (heuristic first, the
agent where the heuristic validates under `cascade.THRESHOLD`) then labels the same neurons one by
one: `cascade.score_gap` is the agent's mean held-out score minus the cascade's, `time_share` its
seconds over the agent's (with prefix reuse, as the cascade runs it), `agent_units` how many of the
neurons it sent on to the agent. Last, the agent labels all the neurons in one batch with
`--shared-workers` threads, whose local-LLM replies are decoded together (`llm/decode.py`):
`shared_speedup` is its neurons/h over the one-at-a-time agent's (with prefix reuse), and
`shared_same_explanations` counts the same texts; one-shot does the same (`one_shot_speedup`: its
`--shared-workers` batch over its one-worker batch; `one_shot_same_explanations`). (Sharing the
target's forwards across units is not built: on 2 cores it has nothing to share, see
benchmarks/README.md; this is the LLM batching alone.) Last line: one JSON object.
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
    ap.add_argument("--shared-workers", type=int, default=2, help="worker threads of the shared run")
    args = ap.parse_args()

    from scratch import scratch_settings

    from autointerp.agent.cascade import THRESHOLD
    from autointerp.batch import BatchOptions, ThreadExecutor, run_batch
    from autointerp.config import get_settings
    from autointerp.embeddings import clear_cache
    from autointerp.store import open_store
    from autointerp.workbench import Workbench

    base = get_settings()
    d_mlp = Workbench.open(settings=base).layer(args.layer).manifest.d_mlp  # built in the real data dir, shared below
    out: dict[str, object] = {"layer": args.layer, "n": args.n, "workers": args.workers, "max_steps": args.max_steps}
    with tempfile.TemporaryDirectory() as tmp:
        settings = scratch_settings(base, Path(tmp))
        wb = Workbench.open(settings=settings)  # every explainer and worker thread; one loaded target
        no_reuse = Workbench(wb.target, settings.model_copy(update={"prefix_cache": False}))
        store = open_store(settings)
        texts: dict[str, list[str]] = {"agent_no_prefix": [], "agent": [], "agent_shared": [], "one_shot": [],
                                       "one_shot_shared": []}
        runs = {"one_shot": [("one-shot", wb, f"0:{args.n}")], "agent_shared": [("agent", wb, f"0:{args.n}")],
                "one_shot_shared": [("one-shot", wb, f"0:{args.n}")]}
        runs["agent_no_prefix"], runs["agent"], runs["cascade"] = [], [], []
        for i in range(args.n):
            runs["agent_no_prefix"].append(("agent", no_reuse, str(i)))
            runs["agent"].append(("agent", wb, str(i)))
            runs["cascade"].append(("cascade", wb, str(i)))
        scores: dict[str, list[float | None]] = {"agent": [], "cascade": []}
        stages: dict[str, int] = {}
        totals = {key: {"seconds": 0.0, "done": 0, "failed": 0, "tokens": 0, "llm_seconds": 0.0} for key in runs}
        run_batch(BatchOptions(layers=[args.layer], neurons=str(args.n), method="agent", max_steps=args.max_steps,
                               redo=True), wb=wb, store=store, executor=ThreadExecutor(args.workers))  # warm-up
        pair = ("agent_no_prefix", "agent")
        order = [("one_shot", 0)] + [(key, i) for i in range(args.n) for key in (pair if i % 2 else pair[::-1])] \
            + [("cascade", i) for i in range(args.n)] + [("agent_shared", 0), ("one_shot_shared", 0)]
        for key, i in order:
            method, bench, neurons = runs[key][i]
            opts = BatchOptions(layers=[args.layer], neurons=neurons, method=method, max_steps=args.max_steps,
                                redo=True)
            clear_cache()  # no run reads window embeddings the run before it left behind
            whole = key in ("agent_shared", "one_shot", "one_shot_shared")  # one batch of every neuron
            workers = args.shared_workers if key.endswith("_shared") else args.workers
            s = run_batch(opts, wb=bench, store=store, executor=ThreadExecutor(workers))
            if key in texts:
                for j in range(args.n) if whole else [i]:
                    texts[key] += [r.text for r in store.get(wb.model, f"L{args.layer}.N{j}") if r.method == method]
            if key in scores:
                scores[key] += [r.score for r in store.get(wb.model, f"L{args.layer}.N{i}") if r.method == method]
            for stage, k in s.stages.items():
                stages[stage] = stages.get(stage, 0) + k
            t = totals[key]
            t["seconds"] += s.seconds
            t["done"] += s.done
            t["failed"] += s.failed
            t["tokens"] += s.prompt_tokens + s.completion_tokens
            t["llm_seconds"] += s.llm_seconds
            print(f"{key} {neurons}: {s.done} done, {s.failed} failed in {s.seconds:.0f} s "
                  f"({s.prompt_tokens + s.completion_tokens:,} tokens, LLM {s.llm_seconds:.1f} s)", flush=True)
    for key, t in totals.items():
        rate = 3600 * t["done"] / t["seconds"] if t["seconds"] else 0.0
        out[key] = {"neurons_per_hour": round(rate, 1), "seconds": round(t["seconds"], 2), "done": t["done"],
                    "failed": t["failed"], "tokens": t["tokens"], "llm_seconds": round(t["llm_seconds"], 2)}
        print(f"{key}: {t['done']} neurons in {t['seconds']:.0f} s (LLM {t['llm_seconds']:.0f} s) -> "
              f"{rate:.0f} neurons/h", flush=True)
    rates = {k: out[k]["neurons_per_hour"] for k in totals}  # type: ignore[index]
    out["neurons_per_hour"] = rates
    out["prefix_speedup"] = round(rates["agent"] / rates["agent_no_prefix"], 3) if rates["agent_no_prefix"] else None
    base = totals["agent_no_prefix"]
    rest = base["seconds"] - base["llm_seconds"]  # experiments, scoring, store: what no LLM reuse touches
    out["llm_share_no_prefix"] = round(base["llm_seconds"] / base["seconds"], 3) if base["seconds"] else None
    out["prefix_speedup_ceiling"] = round(base["seconds"] / rest, 3) if rest > 0 else None
    reuse = totals["agent"]["llm_seconds"]
    out["llm_prefix_speedup"] = round(base["llm_seconds"] / reuse, 3) if reuse > 0 else None
    same = sum(a == b for a, b in zip(texts["agent_no_prefix"], texts["agent"]))
    out["same_explanations"] = f"{same}/{min(len(texts['agent']), len(texts['agent_no_prefix']))}"
    out["layer_hours"] = round(d_mlp / rates["agent"], 1) if rates["agent"] else None  # the whole layer, one process
    out["shared_speedup"] = round(rates["agent_shared"] / rates["agent"], 3) if rates["agent"] else None
    same = sum(a == b for a, b in zip(texts["agent"], texts["agent_shared"]))
    out["shared_same_explanations"] = f"{same}/{min(len(texts['agent']), len(texts['agent_shared']))}"
    out["one_shot_speedup"] = round(rates["one_shot_shared"] / rates["one_shot"], 3) if rates["one_shot"] else None
    same = sum(a == b for a, b in zip(texts["one_shot"], texts["one_shot_shared"]))
    out["one_shot_same_explanations"] = f"{same}/{min(len(texts['one_shot']), len(texts['one_shot_shared']))}"
    paired = [(a, c) for a, c in zip(scores["agent"], scores["cascade"]) if a is not None and c is not None]
    gap = round(sum(a - c for a, c in paired) / len(paired), 4) if paired else None
    share = round(totals["cascade"]["seconds"] / totals["agent"]["seconds"], 3) if totals["agent"]["seconds"] else None
    out["cascade"] = {"threshold": THRESHOLD, "score_gap": gap, "time_share": share,
                      "agent_units": stages.get("agent", 0), "heuristic_units": stages.get("heuristic", 0),
                      "paired": len(paired),
                      "agent_mean": round(sum(a for a, _ in paired) / len(paired), 4) if paired else None,
                      "cascade_mean": round(sum(c for _, c in paired) / len(paired), 4) if paired else None}
    print(f"cascade (threshold {THRESHOLD}): {stages.get('agent', 0)} of {args.n} neurons sent on to the agent; "
          f"mean held-out {out['cascade']['cascade_mean']} against the agent's {out['cascade']['agent_mean']} "
          f"(gap {gap}) in {share} of its time")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
