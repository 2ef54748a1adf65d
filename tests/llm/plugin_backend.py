"""A backend as a third-party package would ship it, found through the `autointerp.llm_backends`
entry point group (tests/llm/test_registry.py points an EntryPoint here)."""

from autointerp.llm.remote import OpenAICompatibleBackend


class PluginBackend(OpenAICompatibleBackend):
    """`plugin:<model>@<url>`: an OpenAI-compatible server under a prefix of its own."""

    prefix = "plugin"
    usage = "plugin:<model>@<url>"
