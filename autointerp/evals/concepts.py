"""The concepts file of the planted-neuron eval: a JSON list of `{name, description, words}`."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from autointerp.errors import InputError

DEFAULT_CONCEPTS = Path(__file__).resolve().parents[2] / "evals" / "concepts.json"
MIN_WORDS = 5


class ConceptsError(InputError):
    """The concepts file is missing, not JSON, or not a list of valid concepts."""


class Concept(BaseModel):
    name: str = Field(min_length=1)
    description: str = Field(min_length=1, description="what a correct explanation should say, in words")
    words: list[str] = Field(min_length=MIN_WORDS, description="words that express the concept")

    @field_validator("words")
    @classmethod
    def _clean(cls, words: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(w.strip() for w in words if w.strip()))
        if len(cleaned) < MIN_WORDS:
            raise ValueError(f"needs at least {MIN_WORDS} distinct non-empty words")
        return cleaned


def load_concepts(path: Path | None = None) -> list[Concept]:
    """Concepts from a file; any problem is one ConceptsError line naming the file and the entry."""
    path = path or DEFAULT_CONCEPTS
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConceptsError(f"cannot read concepts file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConceptsError(f"concepts file {path} is not UTF-8 text (a binary file?)") from None
    except json.JSONDecodeError as e:
        raise ConceptsError(f"concepts file {path} is not JSON: {e.msg} at line {e.lineno}") from None
    except RecursionError:
        raise ConceptsError(f"concepts file {path} is nested too deeply to be a list of concepts") from None
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConceptsError(f"concepts file {path} must hold a JSON list of at least 2 "
                            "{name, description, words} objects")
    concepts = []
    for i, item in enumerate(raw):
        try:
            concepts.append(Concept.model_validate(item))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "entry"
            raise ConceptsError(f"concepts file {path}, entry {i + 1}: {where}: {first['msg']}") from None
    names = [c.name for c in concepts]
    if len(set(names)) != len(names):
        raise ConceptsError(f"concepts file {path} repeats a concept name")
    seen: dict[str, str] = {}
    for c in concepts:
        for w in c.words:
            other = seen.setdefault(w.lower(), c.name)
            if other != c.name:
                raise ConceptsError(f"concepts file {path}: the word {w!r} is in both {other!r} and {c.name!r}")
    return concepts
