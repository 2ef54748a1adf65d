"""LLM backends behind langchain chat models: `local` (bundled SmolLM2), `openai:<model>`,
`openai-compatible:<model>@<base_url>`."""

from autointerp.llm.backends import LLM, Capabilities, LLMError, Reply, Usage, make_llm

__all__ = ["LLM", "Capabilities", "LLMError", "Reply", "Usage", "make_llm"]
