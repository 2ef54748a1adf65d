"""Secrets never leave the process: every configured key is replaced by `***` in any text we print,
log, store or record (a server's error reply may echo the key it was sent)."""

from __future__ import annotations

import os
import re
import threading

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.I)
_MIN_LEN = 8
_registered: set[str] = set()
_lock = threading.Lock()


def register(secret: str | None) -> None:
    """Redact this value too (a key handed over by other means than the environment)."""
    if secret and len(secret) >= _MIN_LEN:
        with _lock:
            _registered.add(secret)


def secrets() -> list[str]:
    """Every value to hide: registered ones and environment variables named like keys; longest first."""
    found = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v and len(v) >= _MIN_LEN}
    with _lock:
        found |= _registered
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    for s in secrets():
        if s in text:
            text = text.replace(s, "***")
    return text
