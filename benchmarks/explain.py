"""The agent against the one-shot baseline on 10 fixed neurons: seconds and LLM tokens per neuron,
and the mean held-out simulation score (embedding simulator, windows no explainer saw).

Neurons: a seeded sample of one layer (default 6, built at the default token budget if missing), or
`--neurons L6.N25,L6.N62`. Model, cache, MiniLM and the LLM are loaded first (reported as setup).
Nothing is stored (the transcripts are kept). Tokens per neuron are what was sent to the LLM
(prompt + completion); `sent_prompt_tokens` and `computed_prompt_tokens` sum, over the run, the
prompt tokens sent and those the local model actually ran (the rest came from its prefix cache).
A run whose explainer yields nothing usable (`ExplanationFailed`, e.g. a refused one-shot reply)
counts in `failed` with its seconds and tokens and no score. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--llm", default="local")
    ap.add_argument("--max-steps", type=int, default=8)
    ap.add_argument("--neurons", default=None, help="comma-separated ids instead of the seeded sample")
    args = ap.parse_args()

    from autointerp.agent import AgentConfig, explain
    from autointerp.agent.explain import ExplanationFailed
    from autointerp.embeddings import embed
    from autointerp.llm import Usage, make_llm
    from autointerp.workbench import Workbench

    t0 = time.perf_counter()
    wb = Workbench.open()
    layer = wb.layer(args.layer)
    embed(["warm up"])
    llm = make_llm(args.llm, wb.settings)
    setup = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    neurons = [f"L{args.layer}.N{i}" for i in sorted(rng.choice(layer.manifest.d_mlp, args.n, replace=False))]
    if args.neurons:
        neurons = [n.strip() for n in args.neurons.split(",") if n.strip()]
    config = AgentConfig(max_steps=args.max_steps)
    out: dict[str, object] = {"llm": llm.name, "layer": args.layer, "neurons": neurons, "max_steps": args.max_steps,
                              "setup_seconds": round(setup, 2)}
    rows: dict[str, list[tuple[float, int, float | None]]] = {"one_shot": [], "agent": []}
    spent = {"one_shot": Usage(), "agent": Usage()}
    failed = {"one_shot": 0, "agent": 0}
    for neuron in neurons:
        # agent first: its one-shot seed would otherwise find the one-shot run's prompt in the prefix cache
        for key, method in (("agent", "agent"), ("one_shot", "one-shot")):
            t = time.perf_counter()
            meter = Usage()
            try:
                rec = explain(wb, neuron, llm=llm, method=method, config=config, usage=meter)
                value, text, steps = rec.scores[0].value, rec.text, rec.steps
                shown = "undefined" if value is None else f"{value:+.3f}"
            except ExplanationFailed as e:
                value, text, steps, shown = None, f"failed: {e}", 0, "none"
                failed[key] += 1
            secs = time.perf_counter() - t
            spent[key].add(meter)
            rows[key].append((secs, meter.prompt_tokens + meter.completion_tokens, value))
            print(f"{neuron} {key:8s} {secs:6.1f} s {rows[key][-1][1]:6d} tokens ({meter.computed_prompt_tokens:,} of "
                  f"{meter.prompt_tokens:,} prompt tokens run) score {shown} steps {steps}: {text[:90]}", flush=True)
    for key, r in rows.items():
        out[key] = {"median_seconds": round(statistics.median(x[0] for x in r), 2),
                    "median_tokens": int(statistics.median(x[1] for x in r)),
                    "mean_score": round(float(np.mean(defined)), 4) if (defined := [x[2] for x in r if x[2] is not None])
                    else None,
                    "failed": failed[key],
                    "undefined_scores": sum(x[2] is None for x in r) - failed[key],
                    "scores": [None if x[2] is None else round(x[2], 4) for x in r],
                    "sent_prompt_tokens": spent[key].prompt_tokens,
                    "computed_prompt_tokens": spent[key].computed_prompt_tokens,
                    "computed_ratio": round(spent[key].computed_prompt_tokens / spent[key].prompt_tokens, 3)
                    if spent[key].prompt_tokens else None}
    wins = sum(a[2] is not None and o[2] is not None and a[2] > o[2] for a, o in zip(rows["agent"], rows["one_shot"]))
    out["agent_beats_one_shot"] = f"{wins}/{len(neurons)}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
