"""Triage of 100 neurons from an existing cache (the seed paper took 172 s for this; bar here: 5 s).

Builds the layer cache first if it is missing (not timed), loads the model, opens and verifies the
cache and loads MiniLM (reported separately, as a workbench does once), then times `triage` itself:
reading the top examples, decoding their context, embedding 2,000 snippets with MiniLM and scoring
relatedness. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--neurons", default="0:100")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()

    from autointerp.embeddings import embed
    from autointerp.ranges import parse_indices
    from autointerp.tools.triage import triage
    from autointerp.workbench import Workbench

    neurons = parse_indices(args.neurons, "neuron range")
    t0 = time.perf_counter()
    wb = Workbench.open(args.model)
    wb.layer(args.layer)
    embed(["warm up"])
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = triage(wb, args.layer, neurons)
    seconds = time.perf_counter() - t0
    flagged = sum(r.flagged for r in res.rows)
    print(f"setup (model, cache check, MiniLM): {setup:.2f} s")
    print(f"triage of {len(res.rows)} neurons of layer {args.layer}: {seconds:.2f} s ({flagged} flagged)")
    print(json.dumps({"neurons": len(res.rows), "layer": args.layer, "seconds": round(seconds, 3),
                      "setup_seconds": round(setup, 3), "seed_seconds": 172, "flagged": flagged}))


if __name__ == "__main__":
    main()
