"""The LLM backends, keyed by the prefix of an --llm spec (`local`, `openai:<model>`,
`openai-compatible:<model>@<url>`). Each backend is a class that declares what it is (`local`) and
what its models support (`capabilities`); call sites ask it, never compare spec strings.

A package of one's own adds a backend without editing autointerp: register it with
`register_backend`, or declare it under the entry point group `autointerp.llm_backends`
(`[project.entry-points."autointerp.llm_backends"] mine = "my_pkg.llm:MyBackend"`); entry points
are loaded the first time a spec's prefix is not yet known."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from autointerp.config import Settings, get_settings
from autointerp.errors import InputError
from autointerp.llm.backends import LLM, Capabilities
from autointerp.llm.local import LocalBackend
from autointerp.llm.remote import OpenAIBackend, OpenAICompatibleBackend
from autointerp.plugins import load_entry_points

GROUP = "autointerp.llm_backends"


@runtime_checkable
class Backend(Protocol):
    """One kind of LLM: `prefix` is the spec before its first ':' (or the whole spec)."""

    prefix: str
    usage: str  # the spec's form, for error messages: "openai:<model>"
    capabilities: Capabilities
    local: bool  # runs in this process: nothing is billed, and loading it is slow (checks never load it)

    def check(self, spec: str, settings: Settings) -> None:
        """Raise InputError on a malformed spec or a missing key, loading nothing heavy."""

    def make(self, spec: str, settings: Settings) -> LLM:
        """The LLM the spec names."""

    def record_name(self, spec: str) -> str:
        """The name records carry for the spec (never a URL or a key)."""


_BACKENDS: dict[str, Backend] = {}
_discovered = False


def register_backend(backend: type | Backend, replace: bool = False) -> type | Backend:
    """Add a backend (a class, made with no arguments, or an instance); usable as a decorator.
    A prefix already taken is an error unless `replace`."""
    obj = backend() if isinstance(backend, type) else backend
    if not isinstance(obj, Backend):
        raise TypeError(f"{backend!r} is not an LLM backend: it needs prefix, usage, capabilities, local, "
                        "check, make and record_name")
    if obj.prefix in _BACKENDS and not replace and type(_BACKENDS[obj.prefix]) is not type(obj):
        raise InputError(f"an LLM backend for {obj.prefix!r} is already registered")
    _BACKENDS[obj.prefix] = obj
    return backend


def unregister_backend(prefix: str) -> None:
    """Forget a backend (a test's, say); a prefix never registered is ignored."""
    _BACKENDS.pop(prefix, None)


def discover_backends() -> list[Backend]:
    """Register every backend installed packages declare under `autointerp.llm_backends`."""
    global _discovered
    _discovered = True
    found = [o() if isinstance(o, type) else o for o in load_entry_points(GROUP)]
    for b in found:
        register_backend(b, replace=True)
    return found


def backends() -> list[Backend]:
    if not _discovered:
        discover_backends()
    return list(_BACKENDS.values())


def backend_for(spec: str) -> Backend:
    """The backend a spec's prefix names; InputError for an unknown one."""
    prefix = spec.partition(":")[0]
    if prefix not in _BACKENDS and not _discovered:
        discover_backends()
    if prefix not in _BACKENDS:
        raise InputError(f"unknown LLM {spec!r}: use " + ", ".join(b.usage for b in _BACKENDS.values()))
    return _BACKENDS[prefix]


def make_llm(spec: str | None = None, settings: Settings | None = None) -> LLM:
    """The LLM an --llm spec names (default the settings')."""
    settings = settings or get_settings()
    spec = spec or settings.llm
    return backend_for(spec).make(spec, settings)


def check_llm(spec: str | None = None, settings: Settings | None = None) -> None:
    """A malformed spec or a missing key fails now, before anything heavy loads."""
    settings = settings or get_settings()
    spec = spec or settings.llm
    backend_for(spec).check(spec, settings)


def llm_name(spec: str) -> str:
    """The name records carry for an --llm spec: the server URL is left out."""
    return backend_for(spec).record_name(spec)


def is_local(spec: str | None = None, settings: Settings | None = None) -> bool:
    """Whether the spec's LLM runs here, billing nothing (so scoring with it as well is cheap)."""
    return backend_for(spec or (settings or get_settings()).llm).local


for _builtin in (LocalBackend, OpenAIBackend, OpenAICompatibleBackend):
    register_backend(_builtin)
