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
from autointerp.plugins import Registry

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


_REGISTRY: Registry[Backend] = Registry(GROUP, Backend, lambda b: b.prefix, "an LLM backend",
                                        "prefix, usage, capabilities, local, check, make and record_name")
register_backend = _REGISTRY.register
unregister_backend = _REGISTRY.unregister
discover_backends = _REGISTRY.discover


def backends() -> list[Backend]:
    return _REGISTRY.all()


def backend_for(spec: str) -> Backend:
    """The backend a spec's prefix names; InputError for an unknown one."""
    if (found := _REGISTRY.find(spec.partition(":")[0])) is None:
        raise InputError(f"unknown LLM {spec!r}: use " + ", ".join(b.usage for b in _REGISTRY.all()))
    return found


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
