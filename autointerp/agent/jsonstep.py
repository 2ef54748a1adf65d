"""The JSON-step format of models without native tool calls: `{"tool": NAME, "args": {...}}`.
`parse_step` reads a reply (repairing one cut off at the end); `wrong_at` finds where a reply being
written stops being a call of a known tool with known arguments, so generation can end there."""

from __future__ import annotations

import json
import re


class StepError(ValueError):
    """A reply that is not a usable JSON step."""


_CLOSERS = ("", "}", "}}", '"}}', '"]}}', "]}}", '"}', '"]}')


def _objects(text: str):
    """Each JSON object that starts at a `{` of `text`; one cut off at the end is closed first."""
    dec = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch != "{":
            continue
        for closer in _CLOSERS:
            try:
                obj, _ = dec.raw_decode(text[i:].rstrip().rstrip(",") + closer)
            except json.JSONDecodeError:
                continue
            yield obj
            break


def parse_step(text: str) -> tuple[str, dict]:
    """The first JSON object in `text` with a string "tool" and an object "args" (optional)."""
    for obj in _objects(text):
        if isinstance(obj, dict) and isinstance(obj.get("tool"), str):
            args = obj.get("args", {})
            if not isinstance(args, dict):
                raise StepError('"args" must be a JSON object')
            return obj["tool"], args
    raise StepError('no JSON object with a "tool" field')


_HEAD = re.compile(r'\s*\{\s*"tool"\s*:\s*"([^"\\]*)("?)')
_ARGS = re.compile(r'\s*,\s*"args"\s*:\s*\{')
_BARE = re.compile(r"[-+.\w]+")  # a number, true/false/null, or a word written unquoted


def wrong_at(text: str, tools: dict[str, frozenset[str]]) -> int | None:
    """Where `text` (a JSON step, possibly unfinished) went wrong: the end of a tool name no tool
    has or begins with, or, inside "args", the start of the first pair that is not `"name": value`
    with a name the tool takes and a string, number, word or list of them as the value (no tool
    takes an object). None while it can still become a valid call; other shapes are left to
    `parse_step`. Cutting there keeps the call begun before it."""
    head = _HEAD.match(text)
    if head is None:
        return None
    name, closed = head.group(1), head.group(2)
    if not (name in tools if closed else any(t.startswith(name) for t in tools)):
        return head.end(1)
    args = _ARGS.match(text, head.end()) if closed else None
    return None if args is None else _bad_pair(text, args.end(), tools[name])


def _bad_pair(text: str, start: int, names: frozenset[str]) -> int | None:
    """The start of the first malformed pair of the object body beginning at `start`."""
    state, pair, i = "key", start, start  # key -> colon -> value -> after -> key ...
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if state in ("key", "after") and ch == "}":
            return None  # closed: the stop string ends the reply
        if state == "key":
            if ch != '"':
                return i
            end = _string_end(text, i)
            if end is not None and text[i + 1:end] not in names:
                return i
            pair, state, i = i, "colon", (len(text) if end is None else end + 1)
        elif state == "colon":
            if ch != ":":
                return pair
            state, i = "value", i + 1
        elif state == "value":
            end = _value_end(text, i)
            if end == -1:
                return pair
            state, i = "after", (len(text) if end is None else end)
        else:
            if ch != ",":
                return i
            state, i = "key", i + 1
    return None


def _string_end(text: str, i: int) -> int | None:
    """Index of the quote closing the string opened at i; None when it is still open."""
    escaped = False
    for j in range(i + 1, len(text)):
        if escaped:
            escaped = False
        elif text[j] == "\\":
            escaped = True
        elif text[j] == '"':
            return j
    return None


def _value_end(text: str, i: int) -> int | None:
    """Index just past the value starting at i (a string, a bare number or word, or a list of those);
    None when it is not finished yet; -1 when it cannot be one."""
    ch = text[i]
    if ch == '"':
        end = _string_end(text, i)
        return None if end is None else end + 1
    if ch == "[":
        j, want_item = i + 1, True
        while j < len(text):
            c = text[j]
            if c.isspace():
                j += 1
            elif c == "]":
                return j + 1
            elif want_item and c != ",":
                end = _value_end(text, j) if c != "[" else -1
                if end in (-1, None):
                    return end
                j, want_item = end, False
            elif not want_item and c == ",":
                j, want_item = j + 1, True
            else:
                return -1
        return None
    m = _BARE.match(text, i)
    if m is None:
        return -1
    return None if m.end() == len(text) else m.end()
