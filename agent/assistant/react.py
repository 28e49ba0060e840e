"""The ReAct agent: LlamaIndex's workflow ReActAgent, with codeagent's rules and limits.

What is ours, all in this module:
- a strict reply parser: a reply without `Thought:`, without `Action:`/`Answer:`, with
  Action Input that is not a JSON object, or empty, is a parse error that the model is shown
  and retries; it is never taken as the answer;
- tool calls to an unknown tool, or repeating a call already made, are refused the same way;
- the prompt: a compact tool list, actions echoed back as JSON (never Python dicts, which a
  weak model copies), observations trimmed oldest first to fit the context window, the
  system prompt and the question always intact;
- the limits: tool steps, wall time and malformed replies in a row. At a limit the agent
  stops and answers with what it found (one last tool-free LLM call after the step limit;
  a summary of the tool results otherwise), and says it is incomplete (a `Stopped` event).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from llama_index.core.agent.react.formatter import ReActChatFormatter
from llama_index.core.agent.react.output_parser import ReActOutputParser
from llama_index.core.agent.react.types import (ActionReasoningStep, BaseReasoningStep,
                                                ObservationReasoningStep,
                                                ResponseReasoningStep)
from llama_index.core.agent.workflow import ReActAgent
from llama_index.core.agent.workflow.workflow_events import AgentOutput
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.workflow import Event

from codeagent.prompts import load_prompt, load_template

CHARS_PER_TOKEN = 3.5
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
    answer_tokens: int = 1024
    """Kept free in the context window for the model's reply."""


class Stopped(Event):
    """The agent hit a limit; the answer that follows is its best effort."""

    reason: str
    """steps, time or parse."""
    detail: str


class StrictReActParser(ReActOutputParser):
    """The ReAct protocol and nothing else; every deviation is a ValueError whose message
    the model reads in its retry."""

    def parse(self, output: str, is_streaming: bool = False) -> BaseReasoningStep:
        text = (output or "").strip()
        if not text:
            raise ValueError("your reply was empty")
        thought = re.search(r"^\s*Thought:", text, re.M)
        action = re.search(r"^\s*Action:[ \t]*(.*)$", text, re.M)
        answer = re.search(r"^\s*Answer:", text, re.M)
        if thought is None:
            raise ValueError("your reply has no 'Thought:' line; always begin with 'Thought:'")
        if action is not None and (answer is None or action.start() < answer.start()):
            name = action.group(1).strip().strip("`")
            thought_text = text[thought.end():action.start()].strip()
            return ActionReasoningStep(thought=thought_text, action=name,
                                       action_input=_action_input(text[action.end():], name))
        if answer is not None:
            response = text[answer.end():].strip()
            if not response:
                raise ValueError("your 'Answer:' is empty")
            return ResponseReasoningStep(thought=text[thought.end():answer.start()].strip(),
                                         response=response, is_streaming=is_streaming)
        raise ValueError("your reply has neither an 'Action:' line (to use a tool) nor an "
                         "'Answer:' line (to answer)")


def _action_input(rest: str, name: str) -> dict[str, Any]:
    found = re.search(r"^\s*Action Input:[ \t]*", rest, re.M)
    if found is None:
        raise ValueError(f"'Action: {name}' has no 'Action Input:' line; give the arguments "
                         'as a JSON object, e.g. Action Input: {"query": "..."}')
    raw = rest[found.end():].strip()
    start = raw.find("{")
    if start < 0:
        raise ValueError(f"the Action Input of {name} is not a JSON object: {raw[:120]!r}")
    try:
        value, _ = json.JSONDecoder().raw_decode(raw[start:])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the Action Input of {name} is not valid JSON ({exc.msg} at "
                         f"character {exc.pos}): {raw[start:start + 200]!r}; use double "
                         "quotes and no trailing commas") from None
    if not isinstance(value, dict):
        raise ValueError(f"the Action Input of {name} must be a JSON object")
    return value


class CodeFormatter(ReActChatFormatter):
    """Builds each prompt: our system header with a compact tool list, the conversation,
    and the reasoning so far, trimmed to the context budget oldest observation first."""

    budget_chars: int = 20000
    _headers: dict = PrivateAttr(default_factory=dict)

    def format(self, tools: Sequence[Any], chat_history: List[ChatMessage],
               current_reasoning: Optional[List[BaseReasoningStep]] = None) -> List[ChatMessage]:
        key = tuple(id(tool) for tool in tools)
        if key not in self._headers:  # the tool schemas are the same at every step
            self._headers[key] = self.system_header.format(
                tool_desc=describe_tools(tools),
                tool_names=", ".join(t.metadata.get_name() for t in tools))
        header = self._headers[key]
        steps = [_step_text(step) for step in current_reasoning or []]
        observations = [i for i, step in enumerate(current_reasoning or [])
                        if isinstance(step, ObservationReasoningStep)]
        history = list(chat_history)
        # The question is the last user message of the history; earlier turns may go.
        size = lambda: len(header) + sum(len(m.content or "") for m in history) + sum(
            len(s) for s in steps)  # noqa: E731
        for i in observations[:-1]:  # the newest observation is what the model acts on
            if size() <= self.budget_chars:
                break
            steps[i] = _trimmed(steps[i])
        while size() > self.budget_chars and len(history) > 1:
            history.pop(0)
        reasoning = [ChatMessage(role=self.observation_role if isinstance(
            step, ObservationReasoningStep) else MessageRole.ASSISTANT, content=text)
            for step, text in zip(current_reasoning or [], steps)]
        return [ChatMessage(role=MessageRole.SYSTEM, content=header), *history, *reasoning]


def describe_tools(tools: Sequence[Any]) -> str:
    """One block per tool: its call signature, what it is for, what each argument means."""
    blocks = []
    for tool in tools:
        schema = tool.metadata.get_parameters_dict()
        required = set(schema.get("required", []))
        args, docs = [], []
        for name, prop in schema.get("properties", {}).items():
            kind = prop.get("type") or next((t.get("type") for t in prop.get("anyOf", [])
                                             if t.get("type") != "null"), "any")
            args.append(name if name in required else f"{name}={json.dumps(prop.get('default'))}")
            args[-1] += f": {kind}" if name in required else ""
            if prop.get("description"):
                docs.append(f"    {name}: {prop['description']}")
        blocks.append(f"- {tool.metadata.get_name()}({', '.join(args)})\n"
                      f"  {tool.metadata.description}\n" + "\n".join(docs))
    return "\n".join(blocks)


def _step_text(step: BaseReasoningStep) -> str:
    if isinstance(step, ActionReasoningStep):
        return (f"Thought: {step.thought}\nAction: {step.action}\n"
                f"Action Input: {json.dumps(step.action_input, ensure_ascii=False)}")
    return step.get_content()


class _Remembered(BaseReasoningStep):
    """A reasoning step as the conversation memory keeps it."""

    text: str

    def get_content(self) -> str:
        return self.text

    @property
    def is_done(self) -> bool:
        return False


REMEMBERED_LINES = 6


def _remembered(step: BaseReasoningStep) -> str:
    if isinstance(step, ObservationReasoningStep):
        lines = step.observation.split("\n")
        left = len(lines) - REMEMBERED_LINES
        more = f"\n[{left} more lines]" if left > 0 else ""
        return "Observation: " + "\n".join(lines[:REMEMBERED_LINES]) + more
    return _step_text(step)


def _trimmed(observation: str) -> str:
    lines = observation.split("\n")
    if len(lines) <= 3:
        return observation
    return "\n".join(lines[:2]) + (f"\n[{len(lines) - 2} more lines trimmed to fit the "
                                   "context window; call the tool again to see them]")


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
                                [_Remembered(text=_remembered(step)) for step in reasoning[:-1]]
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
        answer = answer or findings(detail, _calls(reasoning))
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


def findings(detail: str, calls: list[tuple[str, dict[str, Any], str]]) -> str:
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
