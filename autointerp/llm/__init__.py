"""LLM backends behind langchain chat models: `local` (bundled SmolLM2), `openai:<model>`,
`openai-compatible:<model>@<base_url>`, and any a package registers (see `autointerp.llm.registry`)."""

from autointerp.llm.backends import LLM, Capabilities, LLMError, Reply, Usage
from autointerp.llm.registry import (
    Backend,
    backend_for,
    backends,
    check_llm,
    discover_backends,
    is_local,
    llm_name,
    make_llm,
    register_backend,
    unregister_backend,
)

__all__ = ["LLM", "Backend", "Capabilities", "LLMError", "Reply", "Usage", "backend_for", "backends", "check_llm",
           "discover_backends", "is_local", "llm_name", "make_llm", "register_backend",
           "unregister_backend"]
