"""The native agent: LlamaIndex's workflow FunctionAgent, for models that call tools through
Ollama's API (`tools` in /api/show), with the same rules and limits as the ReAct agent.

What differs from ReAct is only the protocol: the tool list travels as JSON schemas, a call
comes back as `message.tool_calls`, a reply without one is the answer. The rules are the
same (`limits.py`):
- a call to a tool that does not exist, or one already made, is answered with the refusal
  as its tool result; a reply that is empty or a tool call written out as text is shown
  its problem; both count as malformed replies and the model tries again;
- the prompt is kept inside the context window: older tool results are cut to their first
  lines, the newest stays whole;
- at a limit the agent answers with what it found, as the ReAct agent does (its places
  picked from those shown: `locate.final_choice`).
Refusals are added to the scratchpad, in order, and the step is run again (`limits.py`
says why not as the base class does it).
"""

from __future__ import annotations

import json
from typing import Any, List, Sequence

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.agent.workflow.workflow_events import AgentOutput
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field

from codeagent.assistant.evidence import Evidence
from codeagent.assistant.limits import (STATE, Limits, Stopped, best_effort_answer, count_reply,
                                        gave_up, last_turn_seconds, limit_reached,
                                        new_state, one_reply, refusal, retry_marker,
                                        without_retry)
from codeagent.assistant.llm import reply_within
from codeagent.assistant.locate import final_choice
from codeagent.assistant.react_text import trimmed
from codeagent.prompts import load_prompt

REMEMBERED_LINES = 6
FINAL_FORM = "Reply with the answer only."


class CodeFunctionAgent(FunctionAgent):
    """FunctionAgent whose steps keep codeagent's rules; see the module docstring."""

    limits: Limits = Field(default_factory=Limits)
    made_calls: list[str] = Field(default_factory=list)
    """Calls made for the question before the loop (the first search): not made again."""
    allow_parallel_tool_calls: bool = False  # one call a step, as in ReAct: steps are counted

    async def take_step(self, ctx: Any, llm_input: List[ChatMessage], tools: Sequence[Any],
                        memory: Any) -> AgentOutput:
        llm_input = without_retry(llm_input)
        state = await ctx.store.get(STATE, default=None) or new_state(self.made_calls)
        stop = limit_reached(state, self.limits)
        if stop:
            return await self._stop(ctx, *stop, llm_input, state)
        await self._fit(ctx, llm_input, tools)
        with one_reply(self.llm, state):
            output = await super().take_step(ctx, llm_input, tools, memory)
        if len(output.tool_calls) > 1:
            await self._one_call(ctx, output)
        call, problem = None, None
        text = (output.response.content or "").strip()
        if output.tool_calls:
            call = (output.tool_calls[0].tool_name, output.tool_calls[0].tool_kwargs)
            problem = refusal(*call, [t.metadata.get_name() for t in tools], state["calls"],
                              "Call one of them.")
        elif not text:
            problem = "Error: your reply was empty. Call a tool, or answer."
        elif _looks_like_a_call(text):
            problem = ("Error: you wrote a tool call as text; call the tool through the "
                       "tool-calling interface instead, or answer in words.")
        if problem:
            await self._tell(ctx, problem, as_tool_result=call is not None)
            output = AgentOutput(response=output.response, raw=output.raw,
                                 current_agent_name=self.name,
                                 retry_messages=retry_marker(problem))
        count_reply(state, call, problem is not None)
        await ctx.store.set(STATE, state)
        if (why := gave_up(state, self.limits)) is not None:
            return await self._stop(ctx, "parse", why, llm_input, state)
        return output

    async def finalize(self, ctx: Any, output: AgentOutput, memory: Any) -> AgentOutput:
        """File the exchange into the conversation memory compact: each tool result cut to
        its first lines (a follow-up question needs to know what was looked at)."""
        scratchpad = await ctx.store.get(self.scratchpad_key, default=[])
        for message in scratchpad:
            if message.role == "tool":
                lines = (message.content or "").split("\n")
                more = f"\n[{len(lines) - REMEMBERED_LINES} more lines]" if len(
                    lines) > REMEMBERED_LINES else ""
                message.content = "\n".join(lines[:REMEMBERED_LINES]) + more
        await ctx.store.set(self.scratchpad_key, scratchpad)
        return await super().finalize(ctx, output, memory)

    async def _one_call(self, ctx: Any, output: AgentOutput) -> None:
        """Keep the first of several calls in one reply: steps are counted and checked one
        at a time (Ollama's client does not cut a streamed reply to one call)."""
        from llama_index.core.base.llms.types import ToolCallBlock

        output.tool_calls = output.tool_calls[:1]
        scratchpad = await ctx.store.get(self.scratchpad_key, default=[])
        if scratchpad:
            blocks, calls = [], 0
            for block in scratchpad[-1].blocks:
                calls += isinstance(block, ToolCallBlock)
                if not isinstance(block, ToolCallBlock) or calls == 1:
                    blocks.append(block)
            scratchpad[-1].blocks = blocks
            await ctx.store.set(self.scratchpad_key, scratchpad)

    async def _tell(self, ctx: Any, problem: str, as_tool_result: bool) -> None:
        """The model's reply stays in the scratchpad, followed by what was wrong with it."""
        scratchpad = await ctx.store.get(self.scratchpad_key, default=[])
        role = "tool" if as_tool_result else "user"
        scratchpad.append(ChatMessage(role=role, content=problem))
        await ctx.store.set(self.scratchpad_key, scratchpad)

    async def _fit(self, ctx: Any, llm_input: List[ChatMessage], tools: Sequence[Any]) -> None:
        """Cut older tool results (oldest first, the newest never) until the prompt fits."""
        scratchpad = await ctx.store.get(self.scratchpad_key, default=[])
        schema = sum(len(t.metadata.description) + len(json.dumps(
            t.metadata.get_parameters_dict())) for t in tools)
        size = lambda: schema + sum(len(m.content or "") for m in [*llm_input, *scratchpad])  # noqa: E731
        results = [m for m in scratchpad if m.role == "tool"]
        for message in results[:-1]:
            if size() <= self.limits.prompt_chars:
                break
            message.content = trimmed(message.content or "")
        await ctx.store.set(self.scratchpad_key, scratchpad)

    async def _stop(self, ctx: Any, reason: str, detail: str, llm_input: List[ChatMessage],
                    state: dict[str, Any]) -> AgentOutput:
        """Answer with what was found: one tool-free LLM call, else (if that fails, or
        gets no answer in the time left) a summary of the tool results."""
        ctx.write_event_to_stream(Stopped(reason=reason, detail=detail))
        seconds = last_turn_seconds(state, self.limits)
        scratchpad = await ctx.store.get(self.scratchpad_key, default=[])
        shown = Evidence.of([m.content or "" for m in scratchpad if m.role == "tool"]).shown
        try:
            if self.limits.final_choice and shown:
                answer = await final_choice(self.llm, [*llm_input, *scratchpad], detail, shown,
                                            seconds)
            else:
                messages = [*llm_input, *scratchpad, ChatMessage(
                    role="user", content=load_prompt("final_answer", why=detail,
                                                     form=FINAL_FORM))]
                answer = (await reply_within(self.llm, messages, seconds))[0].strip()
        except Exception:  # the best effort must not fail: the summary takes over
            answer = None
        answer = answer or best_effort_answer(detail, _calls(scratchpad))
        message = ChatMessage(role="assistant", content=answer)
        scratchpad.append(message)
        await ctx.store.set(self.scratchpad_key, scratchpad)
        return AgentOutput(response=message, current_agent_name=self.name)


def _looks_like_a_call(text: str) -> bool:
    """A tool call written out instead of made: `<tool_call>` tags, or a bare JSON object
    with a name and arguments (small models do both)."""
    if "<tool_call>" in text:
        return True
    body = text.strip().strip("`").removeprefix("json").strip()
    if not body.startswith("{"):
        return False
    try:
        value = json.loads(body)
    except ValueError:
        return False
    return isinstance(value, dict) and "name" in value and (
        "arguments" in value or "parameters" in value)


def _calls(scratchpad: list[ChatMessage]) -> list[tuple[str, dict[str, Any], str]]:
    """(tool, arguments, result) of each call in the scratchpad."""
    from llama_index.core.base.llms.types import ToolCallBlock

    calls = []
    for message, following in zip(scratchpad, scratchpad[1:]):
        blocks = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
        if blocks and following.role == "tool":
            calls.append((blocks[0].tool_name, dict(blocks[0].tool_kwargs),
                          following.content or ""))
    return calls


def build_native_agent(tools: list[Any], llm: Any, limits: Limits, header: str,
                       made_calls: list[str]) -> CodeFunctionAgent:
    return CodeFunctionAgent(tools=tools, llm=llm, limits=limits, made_calls=made_calls,
                             system_prompt=load_prompt(header), streaming=True, timeout=None)
