"""The condition an explanation states: `the word "bank" in contexts about river, water (not money)`
is a head (what fires: "the word "bank"") and a context it fires in ("river, water"), and perhaps one
it does not ("money"). The offline simulator matches tokens against the head only and reads each
matched token's preceding words against the condition (issue 31): a two-word view cannot score an
explanation that names a topic."""

from __future__ import annotations

import re
from dataclasses import dataclass

# What introduces a context condition. "after X" is not one: it names a phrase the simulator's
# two-word views already match ('the words "will" after "it"').
MARKER = re.compile(
    r"\s(?:only\s+)?(?:when(?:ever)?|in\s+(?:a\s+|the\s+)?(?:texts?|sentences?|passages?|contexts?|discussions?)"
    r"\s+(?:about|on|of|mentioning|with|where)|where\s+the\s+(?:text|context|sentence|passage))\b",
    re.IGNORECASE,
)
# What it does not fire in: "(not money, loan)", "(not when ...)", "but not when ...".
NEGATION = re.compile(
    r"\(\s*not\s+(?:(?:when|in|about|after)\s+)*(?P<paren>[^()]*)\)"
    r"|[,;]?\s+(?:but|and)\s+not\s+(?:(?:when|in|about|after)\s+)*(?P<tail>.*)$",
    re.IGNORECASE,
)
QUOTED = re.compile(r"[\"“”'`]([^\"“”'`]{1,40})[\"“”'`]")
ITEM_SPLIT = re.compile(r"[,;/]|\bor\b|\band\b")


@dataclass(frozen=True)
class Condition:
    head: str  # what fires, matched token by token
    when: str  # the context it fires in, read against the words before each matched token ("": only `unless`)
    unless: str = ""  # the context it stays silent in ("" when none is stated)

    @property
    def when_items(self) -> list[str]:
        return items(self.when)

    @property
    def unless_items(self) -> list[str]:
        return items(self.unless)


def items(text: str) -> list[str]:
    """The listed words of a condition ("river, water or shore" -> river, water, shore), lower case;
    a long clause ("the text is about rivers") lists its last word."""
    out = []
    for part in ITEM_SPLIT.split(text):
        words = re.findall(r"[\w'-]+", part.lower())
        if words:
            out.append(words[-1])
    return list(dict.fromkeys(w for w in out if len(w) > 1))


# Only what it stays silent in: 'the word "left" (not in contexts with "from")'. "(not similar
# words)" is no condition: it names no context.
SILENT_ONLY = re.compile(
    r"\s\(\s*not\s+(?:when|in\s+(?:a\s+|the\s+)?(?:texts?|sentences?|passages?|contexts?)\s+"
    r"(?:about|on|of|mentioning|with))\s+(?P<unless>[^()]+)\)\s*$",
    re.IGNORECASE,
)


def condition(explanation: str, triggers: list[str] = ()) -> Condition | None:
    """The explanation's condition, or None: none is stated, or its head names nothing a token can
    match (no quoted word and no triggers: "fires when the text is about money" is a topic, scored
    as a whole, as before)."""
    m, silent = MARKER.search(explanation), SILENT_ONLY.search(explanation)
    if m is not None and silent is not None and m.start() < silent.start():
        silent = None  # a context it fires in, then one it does not: "(not ...)" is read below
    elif silent is not None:
        m = None
    if m is None and silent is None:
        return None
    cut = (m or silent).start()
    head = explanation[:cut].strip(" ,;:")
    if not head or not (QUOTED.search(head) or any(t.strip() for t in triggers)):
        return None
    if silent is not None:
        return Condition(head, "", silent.group("unless").strip(" .,;"))
    rest = explanation[m.end():].strip()
    unless = ""
    if n := NEGATION.search(rest):
        unless = (n.group("paren") or n.group("tail") or "").strip(" .,;")
        rest = rest[: n.start()] + rest[n.end():]
    rest = rest.strip(" .,;:")
    return Condition(head, rest, unless) if rest else None
