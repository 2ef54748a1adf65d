"""Versioned prompt templates (`<name>_v<N>.txt`), loaded by a strict loader: a missing or unused
variable is an error, never a silently wrong prompt."""

from __future__ import annotations

import re
import string
from functools import lru_cache
from importlib import resources

_VAR = re.compile(r"\$(?:(\w+)|\{(\w+)\})")


class PromptError(KeyError):
    pass


@lru_cache(maxsize=None)
def template(name: str, version: int) -> str:
    try:
        return resources.files(__package__).joinpath(f"{name}_v{version}.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"no prompt {name} v{version}") from None


def render(name: str, version: int, **values: object) -> str:
    """Fill the template; every variable must be given and every given value used."""
    text = template(name, version)
    wanted = {a or b for a, b in _VAR.findall(text)}
    if missing := wanted - values.keys():
        raise PromptError(f"prompt {name} v{version} needs {sorted(missing)}")
    if extra := values.keys() - wanted:
        raise PromptError(f"prompt {name} v{version} has no {sorted(extra)}")
    return string.Template(text).substitute({k: str(v) for k, v in values.items()})


def version_tag(name: str, version: int) -> str:
    return f"{name}_v{version}"
