"""The `autointerp` command: a thin typer layer over the library.

One module per command group (`neurons`, `scoring`, `agent`, `store`, `batch`, `evals`, `dictionaries`), the shared
options and choice Enums in `options`, the consoles in `output`. Each command opens its Workbench
at the edge and passes it down; nothing below the CLI imports `autointerp.cli`."""

from __future__ import annotations

import sys

import typer

from autointerp.cli import agent, batch, dictionaries, evals, neurons, scoring, serve, store
from autointerp.cli.output import err, lit
from autointerp.errors import AutointerpError
from autointerp.secrets import redact

# show_locals off: a traceback (a bug) must never print a key held in a local variable
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Explain the neurons of transformer language models (offline by default).")

for _group in (neurons, scoring, agent, store, batch, evals, serve, dictionaries):
    _group.register(app)


def _interrupted(exit_: SystemExit) -> bool:
    """Did typer turn a Ctrl-C into this exit? (It raises `Exit(130) from KeyboardInterrupt`.)"""
    ctx = exit_.__context__
    return isinstance(ctx, typer.Exit) and isinstance(ctx.__cause__, KeyboardInterrupt)


def _saved_and_stopped(e: AutointerpError) -> bool:
    interrupts = sys.modules.get("autointerp.interrupts")  # loaded whenever it raised; keeps startup light
    return interrupts is not None and isinstance(e, interrupts.Interrupted)


def main(args: list[str] | None = None) -> None:
    """Run the app. Usage errors (unknown option or command, missing argument, a value outside its
    choices) print typer's usage message and exit 2; a library error prints one `error: ...` line
    and exits 2; interrupted resumable work (a cache build, training) exits 130 (its progress is saved); Ctrl-C prints
    "aborted" and exits 130. Error text is printed as data, never as Rich markup."""
    try:
        app(args=args, prog_name="autointerp")  # standalone: typer shows usage errors and exits
    except SystemExit as e:
        if _interrupted(e):
            err.print("aborted", markup=False, highlight=False)
            sys.exit(130)
        raise
    except AutointerpError as e:
        message = redact(" ".join(str(e).split()))  # one line, never a configured key
        if _saved_and_stopped(e):
            err.print(f"[yellow]{lit(message)}[/]", highlight=False, soft_wrap=True)
            sys.exit(130)
        err.print(f"[red]error:[/] {lit(message)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:  # outside typer's own handling (e.g. while importing)
        err.print("aborted", markup=False, highlight=False)
        sys.exit(130)


__all__ = ["app", "main"]
