"""LLM backends added without editing autointerp: one registered by prefix through the public API,
one found through the `autointerp.llm_backends` entry point group; both against the real local
OpenAI-protocol server."""

from __future__ import annotations

import importlib.metadata
import os

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from autointerp.config import Settings
from autointerp.errors import InputError
from autointerp.llm import (
    LLM,
    Capabilities,
    backend_for,
    backends,
    check_llm,
    is_local,
    llm_name,
    make_llm,
    register_backend,
    registry,
    unregister_backend,
)


class LabServer:
    """`lab:<model>`: the lab's OpenAI-compatible server, whose URL is in LAB_URL."""

    prefix = "lab"
    usage = "lab:<model>"
    capabilities = Capabilities(tool_calls=True)
    local = False

    def check(self, spec: str, settings: Settings) -> None:
        if not os.environ.get("LAB_URL"):
            raise InputError("the LLM lab:... needs LAB_URL in the environment")

    def make(self, spec: str, settings: Settings) -> LLM:
        self.check(spec, settings)
        chat = ChatOpenAI(model=spec.partition(":")[2], base_url=os.environ["LAB_URL"],
                          api_key=SecretStr(os.environ.get("OPENAI_API_KEY", "none")), max_retries=0)
        return LLM(spec, chat, price=None, capabilities=self.capabilities)

    def record_name(self, spec: str) -> str:
        return spec


@pytest.fixture()
def lab():
    register_backend(LabServer)
    yield
    unregister_backend("lab")


def test_a_registered_backend_is_made_by_its_prefix(lab, openai_server, settings, monkeypatch):
    monkeypatch.delenv("LAB_URL", raising=False)
    with pytest.raises(InputError, match="needs LAB_URL"):
        check_llm("lab:m", settings)
    monkeypatch.setenv("LAB_URL", openai_server.url)
    llm = make_llm("lab:tiny", settings)
    reply = llm.invoke([HumanMessage("hello lab")])
    assert reply.text == "you said: hello lab" and openai_server.requests[0]["model"] == "tiny"
    assert llm.name == llm_name("lab:tiny") == "lab:tiny" and llm.capabilities.tool_calls
    assert not is_local("lab:tiny", settings) and is_local("local", settings)
    assert "lab" in [b.prefix for b in backends()]
    with pytest.raises(InputError, match="already registered"):
        register_backend(type("Other", (LabServer,), {}))


def test_unknown_prefixes_name_every_backend(lab, settings):
    with pytest.raises(InputError, match=r"unknown LLM 'martian:x': use local, .*lab:<model>"):
        make_llm("martian:x", settings)
    unregister_backend("lab")
    with pytest.raises(InputError, match="unknown LLM 'lab:m'"):
        make_llm("lab:m", settings)


def _entry_points(value: str):
    def entry_points(group: str | None = None, **_):
        eps = [importlib.metadata.EntryPoint(name="plugin", value=value, group="autointerp.llm_backends")]
        return [ep for ep in eps if ep.group == group]
    return entry_points


def test_an_installed_package_adds_a_backend_through_an_entry_point(openai_server, settings, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", _entry_points("tests.llm.plugin_backend:PluginBackend"))
    monkeypatch.setattr(registry._REGISTRY, "_discovered", False)  # as in a fresh process: found on first use
    try:
        llm = make_llm(f"plugin:m@{openai_server.url}", settings)
        assert llm.invoke([HumanMessage("hi")]).text == "you said: hi"
        assert type(backend_for("plugin:x")).__module__ == "tests.llm.plugin_backend"
        assert llm_name(f"plugin:m@{openai_server.url}") == "plugin:m"  # the URL is never recorded
    finally:
        unregister_backend("plugin")


def test_a_broken_plugin_is_one_error_naming_it(settings, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", _entry_points("tests.llm.no_such_module:Backend"))
    with pytest.raises(InputError, match="plugin 'plugin' .* failed to load: ModuleNotFoundError"):
        registry.discover_backends()
