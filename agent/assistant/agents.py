"""The agent for one question, by protocol: ReAct text (`react.py`) or native tool calls
(`native.py`); both keep the rules of `limits.py`. A call made for the question before the
loop (the first search) is put where the protocol keeps the model's own steps, so the model
reads it as its first observation."""

from __future__ import annotations

from typing import Any

from codeagent.assistant.limits import Limits, call_key, shown_arguments

HEADERS = {"react": "react_header", "native": "native_header"}
"""The system prompt in prompts/ of a question-answering agent, by protocol."""


def build_agent(protocol: str, tools: list[Any], llm: Any, limits: Limits,
                header: str | None = None, made: list[tuple[str, dict]] = ()) -> Any:
    """The agent for one question (cheap: made per question, so its LLM client belongs to
    the event loop that runs it). `header` names another system prompt (review's)."""
    # A first search is shown with its arguments cut (`seed`); a model that copies that
    # form repeats it too, with a worse query.
    keys = list(dict.fromkeys(call_key(name, shown) for name, arguments in made
                              for shown in (arguments, shown_arguments(arguments))))
    if protocol == "native":
        from codeagent.assistant.native import build_native_agent

        return build_native_agent(tools, llm, limits, header or HEADERS["native"], keys)
    from codeagent.assistant.react import build_react_agent

    return build_react_agent(tools, llm, limits, header or HEADERS["react"], keys)


async def seed(ctx: Any, agent: Any, protocol: str, tool: str, arguments: dict[str, Any],
               observation: str) -> None:
    """Put one call and its result into the run's context as the model's first step. A long
    argument (a bug report searched whole) is shown cut: the question above holds it."""
    arguments = shown_arguments(arguments)
    if protocol == "native":
        from llama_index.core.base.llms.types import ChatMessage, TextBlock, ToolCallBlock

        await ctx.store.set(agent.scratchpad_key, [
            ChatMessage(role="assistant", blocks=[
                TextBlock(text=""), ToolCallBlock(tool_name=tool, tool_kwargs=arguments)]),
            ChatMessage(role="tool", content=observation)])
        return
    from llama_index.core.agent.react.types import ActionReasoningStep, ObservationReasoningStep

    await ctx.store.set(agent.reasoning_key, [
        ActionReasoningStep(thought="First, search the code for the question.", action=tool,
                            action_input=arguments),
        ObservationReasoningStep(observation=observation)])
