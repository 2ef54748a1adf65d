"""The embedded chat LLM on two runtimes: the transformers path autointerp uses (the GGUF dequantised
to float) against llama.cpp (`llama-cpp-python`, not a dependency: install it to run this) on the
same Q4_1 GGUF, same prompts, greedy, 2 threads.

For each prompt length: seconds to read the prompt (a 1-token reply) and decode speed (tokens/s
of a `--new`-token reply, prompt time taken out). Neither runtime reuses a prefix here, so this is
raw speed. The two do not give the same tokens (llama.cpp computes in the quantised format), so
llama.cpp could only be an opt-in backend. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time


def _corpus_text(n_chars: int) -> str:
    from autointerp.corpus import embedded_documents

    text = ""
    for doc in embedded_documents():
        text += doc + "\n"
        if len(text) >= n_chars:
            return text[:n_chars]
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lengths", default="300,1500,3000", help="prompt lengths in tokens (approximate)")
    ap.add_argument("--new", type=int, default=64, help="tokens to decode")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    try:
        from llama_cpp import Llama
    except ImportError:
        raise SystemExit("error: llama-cpp-python is not installed (pip install llama-cpp-python; it builds from source)")
    import torch
    from langchain_core.messages import HumanMessage

    from autointerp.config import get_settings
    from autointerp.llm import make_llm
    from autointerp.targets.embedded import gguf_path

    torch.set_num_threads(args.threads)
    settings = get_settings().model_copy(update={"prefix_cache": False})
    hf = make_llm("local", settings)
    cpp = Llama(model_path=str(gguf_path()), n_ctx=8192, n_threads=args.threads, verbose=False)
    lengths = [int(x) for x in args.lengths.split(",")]
    text = _corpus_text(6 * max(lengths))
    tok = hf.chat._tok  # noqa: SLF001 - the same tokenizer sizes the prompts for both
    ids = tok.encode(text, add_special_tokens=False)

    def run_hf(prompt: str, n: int) -> tuple[float, int]:
        t = time.perf_counter()
        reply = hf.invoke([HumanMessage(prompt)], max_tokens=n)
        return time.perf_counter() - t, reply.usage.completion_tokens

    def run_cpp(prompt: str, n: int) -> tuple[float, int]:
        cpp.reset()
        t = time.perf_counter()
        out = cpp.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=n, temperature=0.0)
        return time.perf_counter() - t, out["usage"]["completion_tokens"]

    run_hf("warm up", 4), run_cpp("warm up", 4)
    out: dict[str, object] = {"new_tokens": args.new, "threads": args.threads, "gguf": gguf_path().name}
    for n in lengths:
        prompt = tok.decode(ids[:n])
        row = {}
        for name, run in (("transformers", run_hf), ("llama_cpp", run_cpp)):
            read, _ = run(prompt, 1)
            total, made = run(prompt, args.new)
            decode = max(total - read, 1e-9)
            row[name] = {"prompt_seconds": round(read, 3), "decode_tok_s": round(max(made - 1, 1) / decode, 1),
                         "decoded": made}
            print(f"{n:5d}-token prompt  {name:12s} read {read:6.2f} s  decode {row[name]['decode_tok_s']:6.1f} tok/s "
                  f"({made} tokens)", flush=True)
        row["prompt_speedup"] = round(row["transformers"]["prompt_seconds"] / row["llama_cpp"]["prompt_seconds"], 2)
        row["decode_speedup"] = round(row["llama_cpp"]["decode_tok_s"] / row["transformers"]["decode_tok_s"], 2)
        out[str(n)] = row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
