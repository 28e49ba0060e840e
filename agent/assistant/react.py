"""The ReAct agent: LlamaIndex's workflow ReActAgent, with codeagent's rules and limits.

The loop and its rules are here; how a prompt is written and a reply read (the text
protocol) is in `react_text.py`.
- a malformed reply is shown to the model with the exact problem, and retried;
- tool calls to an unknown tool, or repeating a call already made, are refused the same way;
- the limits: tool steps, wall time and malformed replies in a row. At a limit the agent
  stops and answers with what it found (one last tool-free LLM call after the step limit;
  a summary of the tool results otherwise: `best_effort_answer`), and says it is incomplete
  (a `Stopped` event).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, List, Sequence

from llama_index.core.agent.react.output_parser import ReActOutputParser
from llama_index.core.agent.react.types import (ActionReasoningStep, BaseReasoningStep,
                                                ObservationReasoningStep, ResponseReasoningStep)
from llama_index.core.agent.workflow import ReActAgent
from llama_index.core.agent.workflow.workflow_events import AgentOutput
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field
from llama_index.core.workflow import Event

from codeagent.assistant.llm import ANSWER_TOKENS
from codeagent.assistant.react_text import CodeFormatter, Remembered, StrictReActParser, remembered
from codeagent.prompts import load_prompt, load_template
from codeagent.settings import Settings
from codeagent.textfile import CHARS_PER_TOKEN

STATE = "codeagent"  # our per-run state in the workflow's context store
# The places tool results name: path:start-end, read_file's header, grep's file headers.
LOCATION = re.compile(r"[\w./-]+\.\w+:\d+(?:-\d+)?")
READ_HEADER = re.compile(r"^(\S+) lines (\d+)-(\d+) of \d+:", re.M)
GREP_FILE = re.compile(r"^(\S+) \(\d+ match(?:es)?\)\n\s+(\d+)[:-]", re.M)


@dataclass(frozen=True)
class Limits:
    max_steps: int = 12
    """Tool calls per question."""
    seconds: float = 600.0
    """Wall time per question."""
    max_parse_failures: int = 3
    """Malformed replies (or refused calls) in a row."""
    context_tokens: int = 8192
    """The model's context window."""
    answer_tokens: int = ANSWER_TOKENS
    """Kept free in the context window for the model's reply."""
    grace_seconds: float = 5.0
    """Beyond `seconds`, for the agent to write its own best-effort answer before the
    session gives up on it and answers from the tool results alone."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(settings.max_steps, float(settings.question_seconds),
                   settings.max_parse_failures, settings.context_window)

    @property
    def iterations(self) -> int:
        """The workflow's own step cap, set high enough never to cut in before ours: every
        tool step may be preceded by refused replies, and the answer follows the last."""
        return (self.max_steps + 2) * (self.max_parse_failures + 2)


class Stopped(Event):
    """The agent hit a limit; the answer that follows is its best effort."""

    reason: str
    """steps, time or parse."""
    detail: str


class CodeReActAgent(ReActAgent):
    """ReActAgent whose steps keep codeagent's rules; see the module docstring."""

    limits: Limits = Field(default_factory=Limits)
    output_parser: ReActOutputParser = Field(default_factory=StrictReActParser)

    async def take_step(self, ctx: Any, llm_input: List[ChatMessage], tools: Sequence[Any],
                        memory: Any) -> AgentOutput:
        state = await ctx.store.get(STATE, default=None)
        if state is None:
            state = {"started": time.monotonic(), "steps": 0, "failures": 0, "calls": []}
        if time.monotonic() - state["started"] > self.limits.seconds:
            return await self._stop(ctx, state, "time", f"the time limit of "
                                    f"{self.limits.seconds:.0f} s was reached", None, tools)
        if state["steps"] >= self.limits.max_steps:
            return await self._stop(ctx, state, "steps", f"all {self.limits.max_steps} tool "
                                    "steps were used", llm_input, tools)
        output = await super().take_step(ctx, llm_input, tools, memory)
        if output.tool_calls:
            call = output.tool_calls[0]
            refusal = self._refuse(call.tool_name, call.tool_kwargs, tools, state["calls"])
            if refusal:
                await self._forget_last_step(ctx)
                output = AgentOutput(response=output.response, raw=output.raw,
                                     current_agent_name=self.name, retry_messages=[
                                         output.response,
                                         ChatMessage(role="user", content=refusal)])
            else:
                state["calls"].append(_call_key(call.tool_name, call.tool_kwargs))
                state["steps"] += 1
        if output.retry_messages:
            state["failures"] += 1
            if state["failures"] >= self.limits.max_parse_failures:
                await ctx.store.set(STATE, state)
                return await self._stop(ctx, state, "parse", f"{state['failures']} malformed "
                                        "replies in a row", None, tools)
        else:
            state["failures"] = 0
        await ctx.store.set(STATE, state)
        return output

    async def finalize(self, ctx: Any, output: AgentOutput, memory: Any) -> AgentOutput:
        """The base class files the whole reasoning into the conversation memory; file it
        compact instead: actions as JSON, each observation cut to its first lines. A
        follow-up question needs to know what was looked at, not to read it all again."""
        reasoning = await ctx.store.get(self.reasoning_key, default=[])
        if reasoning and isinstance(reasoning[-1], ResponseReasoningStep):
            await ctx.store.set(self.reasoning_key,
                                [Remembered(text=remembered(step)) for step in reasoning[:-1]]
                                + reasoning[-1:])
        return await super().finalize(ctx, output, memory)

    def _refuse(self, name: str, kwargs: dict[str, Any], tools: Sequence[Any],
                calls: list[str]) -> str | None:
        names = [t.metadata.get_name() for t in tools]
        if name not in names:
            return (f"Error: there is no tool '{name}'. The tools are: {', '.join(names)}. "
                    "Reply again in the format, with one of them.")
        if _call_key(name, kwargs) in calls:
            return (f"Error: you already called {name} with these arguments; its observation "
                    "is above. Use other arguments or another tool, or give the Answer.")
        return None

    async def _forget_last_step(self, ctx: Any) -> None:
        reasoning = await ctx.store.get(self.reasoning_key, default=[])
        if reasoning and isinstance(reasoning[-1], ActionReasoningStep):
            reasoning.pop()
            await ctx.store.set(self.reasoning_key, reasoning)

    async def _stop(self, ctx: Any, state: dict, reason: str, detail: str,
                    llm_input: List[ChatMessage] | None, tools: Sequence[Any]) -> AgentOutput:
        """Answer with what was found: one tool-free LLM call after the step limit, else (or
        if that fails) a summary of the tool results."""
        ctx.write_event_to_stream(Stopped(reason=reason, detail=detail))
        reasoning = await ctx.store.get(self.reasoning_key, default=[])
        answer = None
        if llm_input is not None:
            answer = await self._final_answer(llm_input, tools, reasoning)
        answer = answer or best_effort_answer(detail, _calls(reasoning))
        reasoning.append(ResponseReasoningStep(thought=f"Stopped: {detail}.", response=answer))
        await ctx.store.set(self.reasoning_key, reasoning)
        return AgentOutput(response=ChatMessage(role="assistant", content=f"Answer: {answer}"),
                           current_agent_name=self.name)

    async def _final_answer(self, llm_input: List[ChatMessage], tools: Sequence[Any],
                            reasoning: list) -> str | None:
        history = llm_input[1:] if llm_input and llm_input[0].role == "system" else llm_input
        messages = self.formatter.format(tools, chat_history=history, current_reasoning=reasoning)
        messages.append(ChatMessage(role="user", content=load_prompt(
            "final_answer", steps=self.limits.max_steps)))
        try:
            reply = await self.llm.achat(messages)
            step = self.output_parser.parse(reply.message.content or "")
        except Exception:  # the best effort must not fail: the summary takes over
            return None
        return step.response if isinstance(step, ResponseReasoningStep) else None


def best_effort_answer(detail: str, calls: list[tuple[str, dict[str, Any], str]]) -> str:
    """An answer made without the model, from (tool, arguments, observation) of each call:
    which tools were asked what, and the places their results named."""
    lines = [f"I could not finish ({detail}). What the tools found so far:"]
    for tool, arguments, observation in calls:
        places = locations(observation)[:6]
        lines.append(f"- {tool} {json.dumps(arguments, ensure_ascii=False)}: "
                     f"{', '.join(places) if places else 'nothing located'}")
    if len(lines) == 1:
        lines.append("- nothing yet: no tool returned before the stop")
    return "\n".join(lines)


def locations(observation: str) -> list[str]:
    """path:line or path:start-end of every place a tool result names, in order."""
    found = [f"{path}:{start}-{end}" for path, start, end in READ_HEADER.findall(observation)]
    found += [f"{path}:{line}" for path, line in GREP_FILE.findall(observation)]
    found += LOCATION.findall(observation)
    return list(dict.fromkeys(found))


def _calls(reasoning: list[BaseReasoningStep]) -> list[tuple[str, dict[str, Any], str]]:
    calls = []
    for step, following in zip(reasoning, reasoning[1:]):
        if isinstance(step, ActionReasoningStep) and isinstance(following,
                                                                ObservationReasoningStep):
            calls.append((step.action, step.action_input, following.observation))
    return calls


def _call_key(name: str, kwargs: dict[str, Any]) -> str:
    return f"{name} {json.dumps(kwargs, sort_keys=True, ensure_ascii=False)}"


def build_agent(tools: list[Any], llm: Any, limits: Limits,
                header: str = "react_header") -> CodeReActAgent:
    """The agent for one question (cheap: made per question, so its LLM client belongs to
    the event loop that runs it). `header` names the system prompt in prompts/: chat, ask
    and run use react_header, review its own; the agent is the same."""
    budget = int((limits.context_tokens - limits.answer_tokens) * CHARS_PER_TOKEN)
    formatter = CodeFormatter(system_header=load_template(header, {"tool_desc", "tool_names"}),
                              budget_chars=budget)
    return CodeReActAgent(tools=tools, llm=llm, formatter=formatter, limits=limits,
                          streaming=True, timeout=None)
