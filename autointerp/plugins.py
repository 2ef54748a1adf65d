"""Extensions installed packages declare as Python entry points (as simonw/llm's plugins do): a
package of one's own adds, say, an LLM backend without editing autointerp."""

from __future__ import annotations

import importlib.metadata

from autointerp.errors import InputError


def load_entry_points(group: str) -> list[object]:
    """What every entry point of `group` names, loaded; a plugin that fails to load is one error
    naming it (never a half-registered set)."""
    found = []
    for ep in importlib.metadata.entry_points(group=group):
        try:
            found.append(ep.load())
        except Exception as e:  # noqa: BLE001 - any failure of a third-party import, named once
            raise InputError(f"the {group} plugin {ep.name!r} ({ep.value}) failed to load: "
                             f"{type(e).__name__}: {e}") from None
    return found
