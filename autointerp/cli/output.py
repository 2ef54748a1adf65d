"""Where commands print: results on stdout (`out`), progress, notes and errors on stderr (`err`).
Text that comes from users, models, corpora or servers is data, never Rich markup: it goes
through `lit` (escaped) or is printed with `markup=False`."""

from __future__ import annotations

import sys

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True)


def lit(value: object) -> str:
    """Any value as literal text inside a markup string: `[/]` and `[bold]` print as themselves."""
    return escape(str(value))


def note(message: str) -> None:
    """One plain line on stderr (paths, counts), printed exactly as given."""
    err.print(message, markup=False, highlight=False, soft_wrap=True)


def emit_json(obj: BaseModel) -> None:
    """One JSON object on stdout."""
    sys.stdout.write(obj.model_dump_json() + "\n")
