"""GitHub Markdown tables, for the eval results and the batch report."""

from __future__ import annotations


def cell(text: str) -> str:
    """Text for one cell: `|` escaped, newlines folded into spaces."""
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table; `|` inside cells is escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]) + "\n"
