"""The embedded chat LLM decoding replies for several callers at once (batch workers are threads
sharing one model): transformers' `generate` one reply at a time (the path before batching), the
batch decoder one reply at a time (what `explain` of one unit does), and the batch decoder with
every reply asked from its own thread at once.

The replies are agent-like: `--replies` conversations over corpus text of mixed lengths, half
asked for a begun JSON step (stop string `}}`), half for a free sentence; no prefix reuse, so
this is decoding alone. Rounds alternate the order of the paths (ABC, CBA, ...) so a busy machine
slows all alike. Figures: seconds and generated tokens/s per path, `batched_speedup` (generate's
seconds over the batched path's), `alone_ratio` (the decoder alone over generate: not above 1 if
one unit's explain is not slower) and how many replies are token for token generate's
(`same_alone`, `same_batched`). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import threading
import time


def _corpus_ids(tok, n: int) -> list[int]:
    from autointerp.corpus import embedded_documents

    ids: list[int] = []
    for doc in embedded_documents():
        ids += tok.encode(doc + "\n", add_special_tokens=False)
        if len(ids) >= n:
            break
    return ids[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replies", type=int, default=8)
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    import torch
    from langchain_core.messages import HumanMessage

    from autointerp.config import get_settings
    from autointerp.llm.local import LocalChatModel
    from autointerp.targets.embedded import load_chat_model

    model, tok = load_chat_model(get_settings().data_dir)
    chat = LocalChatModel(model, tok, prefix_cache=False)
    lengths = [200 + (i * 977) % 1300 for i in range(args.replies)]
    ids = _corpus_ids(tok, sum(lengths))
    cases, at = [], 0
    for i, n in enumerate(lengths):
        text = tok.decode(ids[at:at + n])
        at += n
        if i % 2:
            hints = {"prefill": "The text is about", "max_tokens": args.max_new}
            ask = f"{text}\n\nSay in one sentence what this text is about."
        else:
            hints = {"prefill": '{"tool": "', "max_tokens": args.max_new, "stop_strings": ["}}"]}
            ask = f"{text}\n\nReply with one JSON object naming a tool and its args: " \
                  '{"tool": "probe", "args": {"texts": [...]}}'
        cases.append(([HumanMessage(ask)], hints))

    def generate() -> list[list[int]]:
        out = []
        for messages, hints in cases:
            full = chat.encode_chat(messages) + tok.encode(hints["prefill"], add_special_tokens=False)
            x = torch.tensor([full])
            with torch.inference_mode():
                seq = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                                     max_new_tokens=hints["max_tokens"], stop_strings=hints.get("stop_strings"),
                                     tokenizer=tok, pad_token_id=tok.eos_token_id)
            out.append(seq[0, len(full):].tolist())
        return out

    def alone() -> list[list[int]]:
        return [chat.invoke(m, **h).response_metadata["generated_ids"] for m, h in cases]

    def batched() -> list[list[int]]:
        got: list = [None] * len(cases)

        def go(i: int) -> None:
            got[i] = chat.invoke(cases[i][0], **cases[i][1]).response_metadata["generated_ids"]

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(cases))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return got

    paths = {"generate": generate, "alone": alone, "batched": batched}
    seconds = dict.fromkeys(paths, 0.0)
    tokens: dict[str, list[list[int]]] = {}
    chat.invoke([HumanMessage("warm up")], max_tokens=4)
    decoder = chat._decoder
    for r in range(args.rounds):
        for name in (list(paths) if r % 2 == 0 else list(paths)[::-1]):
            decoder.steps = decoder.rows = 0
            t = time.perf_counter()
            tokens[name] = paths[name]()
            seconds[name] += time.perf_counter() - t
            if name == "batched":
                sharing = decoder.rows / max(decoder.steps, 1)
    made = sum(len(t) for t in tokens["generate"])
    out: dict[str, object] = {"replies": args.replies, "max_new": args.max_new, "rounds": args.rounds,
                              "prompt_tokens": sum(lengths), "generated_tokens": made}
    for name in paths:
        out[f"{name}_seconds"] = round(seconds[name] / args.rounds, 2)
        out[f"{name}_tok_s"] = round(made * args.rounds / seconds[name], 1)
        print(f"{name:9s} {seconds[name] / args.rounds:7.2f} s a round  {out[f'{name}_tok_s']:6.1f} tok/s", flush=True)
    out["replies_per_forward"] = round(sharing, 2)
    out["batched_speedup"] = round(seconds["generate"] / seconds["batched"], 2)
    out["alone_ratio"] = round(seconds["alone"] / seconds["generate"], 3)
    out["same_alone"] = sum(a == b for a, b in zip(tokens["alone"], tokens["generate"]))
    out["same_batched"] = sum(a == b for a, b in zip(tokens["batched"], tokens["generate"]))
    print(f"batched {out['batched_speedup']}x generate ({out['replies_per_forward']} replies a forward); "
          f"alone {out['alone_ratio']}x generate's time; same tokens: alone {out['same_alone']}/{args.replies}, "
          f"batched {out['same_batched']}/{args.replies}", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
