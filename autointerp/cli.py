"""The `autointerp` command: a thin typer layer over the library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console

from autointerp.errors import AutointerpError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Explain the neurons of transformer language models (offline by default).")
out = Console()
err = Console(stderr=True)

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="target model (default smollm2-135m)")]
CorpusOpt = Annotated[Optional[str], typer.Option("--corpus", help="embedded, a .txt/.jsonl file, or a HF dataset")]


def parse_layers(spec: str) -> list[int]:
    """`6`, `6,7`, `0-3`, or a mix."""
    layers: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                layers.extend(range(lo, hi + 1))
            else:
                layers.append(int(part))
        except ValueError:
            raise InputError(f"malformed --layers {spec!r}: expected e.g. 6, 6,7 or 0-3") from None
    return sorted(set(layers))


@app.command()
def cache(
    layers: Annotated[str, typer.Option("--layers", "-l", help="layers to cache: 6 | 6,7 | 0-29")],
    model: ModelOpt = None,
    tokens: Annotated[Optional[int], typer.Option("--tokens", "-t", help="token budget (default 131072)")] = None,
    corpus: CorpusOpt = None,
) -> None:
    """Stream the corpus through the model once; keep top, random and quantile examples and stats per neuron."""
    from autointerp.cache.build import build_cache

    p = build_cache(parse_layers(layers), model=model, corpus=corpus, tokens=tokens, console=err)
    err.print(f"cached layers {layers} of {p.target.name}: {p.n_windows:,} windows of {p.settings.window} "
              f"tokens under {p.directory(0).parent}")


@app.command()
def show(
    neuron: Annotated[str, typer.Argument(help="neuron id: L6.N74, 6.74 or 6/74")],
    model: ModelOpt = None,
    corpus: CorpusOpt = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="write a self-contained HTML page")] = None,
    json_: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    n: Annotated[int, typer.Option("-n", help="top examples to print")] = 20,
) -> None:
    """A neuron's stats, top examples (max token highlighted, 3 words either side), unique top tokens."""
    from autointerp.fileio import atomic_write_text
    from autointerp.records import NeuronId
    from autointerp.tools.show import neuron_examples, render_html, render_text

    nid = NeuronId.parse(neuron)
    if n < 0:
        raise InputError(f"-n must be >= 0, got {n}")
    ex = neuron_examples(nid, model, corpus, console=err)
    if html is not None:
        atomic_write_text(html, render_html(ex))
        err.print(f"wrote {html}")
    if json_:
        sys.stdout.write(ex.model_dump_json() + "\n")
    else:
        render_text(ex, out, n)


def main() -> None:
    from autointerp.cache.build import CacheInterrupted

    try:
        app(standalone_mode=False)
    except CacheInterrupted as e:
        err.print(f"[yellow]{e}[/]")
        sys.exit(130)
    except AutointerpError as e:
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)


if __name__ == "__main__":
    main()
