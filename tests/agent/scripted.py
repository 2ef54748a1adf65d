"""The one fake the project allows: a chat model that replays a script, for agent-loop unit tests."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    """Replies are taken from `script` in order; every prompt it was sent is kept in `seen`.
    `native=False` models a chat model without tool calling (the JSON-step fallback)."""

    script: list[AIMessage]
    native: bool = True
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools, **kw):
        if not self.native:
            raise NotImplementedError
        return self

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kw: Any) -> ChatResult:
        self.seen.append(list(messages))
        if not self.script:
            raise AssertionError("the script ran out: the loop took more steps than allowed")
        msg = self.script.pop(0)
        msg.usage_metadata = {"input_tokens": sum(len(str(m.content)) for m in messages) // 4,
                              "output_tokens": max(1, len(str(msg.content)) // 4), "total_tokens": 0}
        return ChatResult(generations=[ChatGeneration(message=msg)])


def call(name: str, i: int, **args) -> dict:
    return {"name": name, "args": args, "id": f"call-{i}", "type": "tool_call"}
