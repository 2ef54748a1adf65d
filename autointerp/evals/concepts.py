"""The concepts file of the planted-neuron eval: a JSON list mixing two kinds of concept.

- a word list `{name, description, words}`: the planted neuron fires on those words wherever they are;
- a contextual concept `{name, description, positive, negative}`: sentences whose target tokens are
  marked `[[word]]`; the neuron fires on the marked tokens of the positive sentences and stays silent
  on those of the negative ones (the same word in another sense or grammatical role), so planting
  must read the context, not the token.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from autointerp.errors import InputError

DEFAULT_CONCEPTS = Path(__file__).resolve().parents[2] / "evals" / "concepts.json"
MIN_WORDS = 5
MIN_SENTENCES = 6  # per side: every third is held out, so at least 4 to fit and 2 to check
HELD_OUT_EVERY = 3
MARK = re.compile(r"\[\[([^\[\]]+)\]\]")


class ConceptsError(InputError):
    """The concepts file is missing, not JSON, or not a list of valid concepts."""


class Concept(BaseModel):
    """A word-list concept."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1, description="what a correct explanation should say, in words")
    words: list[str] = Field(min_length=MIN_WORDS, description="words that express the concept")

    @property
    def marked_words(self) -> set[str]:
        return {w.lower() for w in self.words}

    @field_validator("words")
    @classmethod
    def _clean(cls, words: list[str]) -> list[str]:
        cleaned = list(dict.fromkeys(w.strip() for w in words if w.strip()))
        if len(cleaned) < MIN_WORDS:
            raise ValueError(f"needs at least {MIN_WORDS} distinct non-empty words")
        return cleaned


class Marked(BaseModel):
    """One sentence with its marks removed: `text` and the character span of each marked word."""

    text: str
    spans: list[tuple[int, int]]

    @property
    def words(self) -> list[str]:
        return [self.text[a:b] for a, b in self.spans]


def parse_marked(sentence: str) -> Marked:
    """`The [[bank]] of the river` -> text without brackets and the span of each marked word."""
    parts, spans, pos = [], [], 0
    for m in MARK.finditer(sentence):
        before = sentence[pos:m.start()]
        parts.append(before)
        start = sum(map(len, parts))
        word = m.group(1)
        if word != word.strip():
            raise ValueError(f"the mark [[{word}]] has spaces at its ends: {sentence!r}")
        parts.append(word)
        spans.append((start, start + len(word)))
        pos = m.end()
    parts.append(sentence[pos:])
    text = "".join(parts)
    if not spans:
        raise ValueError(f"no [[word]] marked in {sentence!r}")
    if "[[" in text or "]]" in text:
        raise ValueError(f"an unbalanced or nested [[ ]] mark in {sentence!r}")
    return Marked(text=text, spans=spans)


class ContextConcept(BaseModel):
    """A concept defined by example sentences (word senses, grammatical roles, context-dependent tokens)."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1, description="what a correct explanation should say, in words")
    positive: list[str] = Field(min_length=MIN_SENTENCES, description="sentences where the marked tokens fire")
    negative: list[str] = Field(min_length=MIN_SENTENCES, description="sentences where the marked tokens stay silent")

    @field_validator("positive", "negative")
    @classmethod
    def _marked(cls, sentences: list[str]) -> list[str]:
        for s in sentences:
            parse_marked(s)
        return sentences

    def sentences(self, side: str, held_out: bool) -> list[Marked]:
        """One side's sentences ("positive" / "negative"): every third is held out from the fit."""
        chosen = getattr(self, side)
        return [parse_marked(s) for k, s in enumerate(chosen) if (k % HELD_OUT_EVERY == HELD_OUT_EVERY - 1) == held_out]

    @property
    def marked_words(self) -> set[str]:
        """The marked words (lower case) of both sides."""
        return {w.lower() for s in self.positive + self.negative for w in parse_marked(s).words}


AnyConcept = Concept | ContextConcept


def _parse(item) -> AnyConcept:
    if isinstance(item, dict) and ("positive" in item or "negative" in item):
        if "words" in item:
            raise ValueError("has both words and positive/negative sentences; a concept is one or the other")
        return ContextConcept.model_validate(item)
    return Concept.model_validate(item)


def load_concepts(path: Path | None = None) -> list[AnyConcept]:
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
                            "{name, description, words} or {name, description, positive, negative} objects")
    concepts: list[AnyConcept] = []
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        label = f"entry {i + 1}" + (f" ({name!r})" if isinstance(name, str) and name else "")
        try:
            concepts.append(_parse(item))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "entry"
            msg = first["msg"].removeprefix("Value error, ")
            raise ConceptsError(f"concepts file {path}, {label}: {where}: {msg}") from None
        except ValueError as e:
            raise ConceptsError(f"concepts file {path}, {label}: {e}") from None
    names = [c.name for c in concepts]
    if len(set(names)) != len(names):
        raise ConceptsError(f"concepts file {path} repeats a concept name")
    seen: dict[str, str] = {}
    for c in concepts:
        for w in c.words if isinstance(c, Concept) else []:
            other = seen.setdefault(w.lower(), c.name)
            if other != c.name:
                raise ConceptsError(f"concepts file {path}: the word {w!r} is in both {other!r} and {c.name!r}")
    return concepts


def siblings(concepts: list[AnyConcept], i: int) -> dict[int, set[str]]:
    """Other concepts sharing marked words with concept i (only contextual concepts share them): index -> shared."""
    mine = concepts[i].marked_words
    out = {}
    for j, c in enumerate(concepts):
        shared = mine & c.marked_words
        if j != i and shared and (isinstance(c, ContextConcept) or isinstance(concepts[i], ContextConcept)):
            out[j] = shared
    return out
