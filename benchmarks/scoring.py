"""Seconds to score one explanation by simulation on the default held-out set (5 top + 5 random windows),
and its score under both rules: `raw` (the default, OpenAI's: Pearson with the raw activations) and
`discretised` (the old rule: Pearson with min(10, floor(10 * relu(x) / max))).

Model, cache and MiniLM are loaded first (reported as setup); then each simulator scores the same
explanation `--repeats` times, cold (the embedding cache cleared first), and the median is
reported; then `embedding_seconds_same_windows`: other explanations on the same windows, whose token
views are already embedded (the agent's case: many candidates, one validation set), and its ratio
to cold. Bar: embedding_seconds <= 2 on 2 cores.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def _fmt(v: float | None) -> str:
    return "undefined" if v is None else f"{v:+.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--neuron", default="L6.N74")
    ap.add_argument("--explanation", default="fires on the article 'a' and on place names like Andorra")
    ap.add_argument("--triggers", default="a,Andorra")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()

    from autointerp.embeddings import clear_cache, embed
    from autointerp.scoring.simulation import simulation_score
    from autointerp.workbench import Workbench

    t0 = time.perf_counter()
    wb = Workbench.open(args.model)
    wb.layer(wb.unit(args.neuron).layer)
    embed(["warm up"])
    setup = time.perf_counter() - t0
    out = {}
    for sim in ("embedding", "lexical"):
        times, value = [], None
        for _ in range(args.repeats):
            clear_cache()  # cold: the windows' token views are embedded too
            t = time.perf_counter()
            value = simulation_score(wb, args.neuron, args.explanation, sim, args.triggers.split(",")).value
            times.append(time.perf_counter() - t)
        old = simulation_score(wb, args.neuron, args.explanation, sim, args.triggers.split(","),
                               rule="discretised").value
        out[f"{sim}_seconds"] = round(statistics.median(times), 3)
        out[f"{sim}_score"] = value
        out[f"{sim}_score_discretised"] = old
        print(f"{sim}: median {out[f'{sim}_seconds']:.3f} s over {args.repeats} runs, score {_fmt(value)} "
              f"(discretised rule: {_fmt(old)})")
    # The agent's case: other explanations scored on windows already embedded for the first.
    warm = []
    for i in range(args.repeats):
        t = time.perf_counter()
        simulation_score(wb, args.neuron, f"{args.explanation} ({i})", "embedding", args.triggers.split(","))
        warm.append(time.perf_counter() - t)
    out["embedding_seconds_same_windows"] = round(statistics.median(warm), 3)
    out["same_windows_speedup"] = round(out["embedding_seconds"] / max(out["embedding_seconds_same_windows"], 1e-6), 2)
    print(f"embedding, another explanation on the same windows: median {out['embedding_seconds_same_windows']:.3f} s "
          f"({out['same_windows_speedup']}x faster than cold)")
    print(f"setup (model, cache check, MiniLM): {setup:.2f} s")
    print(json.dumps({"neuron": args.neuron, "setup_seconds": round(setup, 3), **out}))


if __name__ == "__main__":
    main()
