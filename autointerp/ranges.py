"""The one range grammar for layers and neurons: comma-separated items, each `N`, `A-B` (both ends
included) or `A:B` (end excluded, as a Python slice). `6`, `6,7`, `0-3`, `0:100`, `0-3,10:12`."""

from __future__ import annotations

import re

from autointerp.errors import InputError

_ITEM = re.compile(r"^(\d+)(?:([-:])(\d+))?$")
GRAMMAR = "N, A-B (inclusive), A:B (end exclusive), comma-separated"
MAX_INDICES = 1_000_000  # more than any model's layers or neurons: a larger range is a typo, not a plan


def parse_indices(spec: str, what: str = "range") -> list[int]:
    """Sorted, de-duplicated indices; one InputError naming `what` and the grammar when malformed."""
    out: set[int] = set()
    items = [p.strip() for p in str(spec).split(",")]
    for part in items:
        m = _ITEM.match(part)
        if not m:
            raise InputError(f"malformed {what} {spec!r}: expected {GRAMMAR}, e.g. 6, 0-3 or 0:100")
        lo = int(m.group(1))
        if m.group(2) is None:
            out.add(lo)
            continue
        hi = int(m.group(3)) + (1 if m.group(2) == "-" else 0)
        if hi <= lo:
            raise InputError(f"empty {what} {part!r} in {spec!r}: the end must come after the start")
        if hi - lo > MAX_INDICES:
            raise InputError(f"{what} {part!r} in {spec!r} spans {hi - lo:,} indices, more than any model has "
                             f"(at most {MAX_INDICES:,})")
        out.update(range(lo, hi))
    return sorted(out)


def check_within(indices: list[int], size: int, what: str) -> list[int]:
    """The indices, or one InputError when any falls outside 0..size-1."""
    bad = [i for i in indices if not 0 <= i < size]
    if bad:
        raise InputError(f"{what} {bad[0]} is out of range: valid are 0..{size - 1}")
    return indices
