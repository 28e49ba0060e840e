"""The ReAct text protocol: how each prompt is built and how each reply is read.

- `StrictReActParser`: a reply without `Thought:`, without `Action:`/`Answer:`, with
  Action Input that is not a JSON object, or empty, is a ValueError that the model is
  shown and retries; it is never taken as the answer. One deviation has a single meaning
  and is read, not refused: a quoted string as the Action Input of a tool that has one
  required argument (`Action Input: "redirects"` is `{"query": "redirects"}`); small
  models write it often, and each refusal costs a reply.
- `CodeFormatter`: our system header with a compact tool list, actions echoed back as JSON
  (never Python dicts, which a weak model copies), observations trimmed oldest first to
  fit the context window, the system prompt and the question always intact.
- `remembered`: a step as the conversation memory keeps it (observations cut short).
- `Refused` and `Told`: a reply that was not taken and what was wrong with it, kept in the
  reasoning in order (the model's own message, then a user message).
"""

from __future__ import annotations

import json
import re
from typing import Any, List, Optional, Sequence

from llama_index.core.agent.react.formatter import ReActChatFormatter
from llama_index.core.agent.react.output_parser import ReActOutputParser
from llama_index.core.agent.react.types import (ActionReasoningStep, BaseReasoningStep,
                                                ObservationReasoningStep, ResponseReasoningStep)
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import PrivateAttr

from codeagent.assistant.citation_forms import cited_places


class StrictReActParser(ReActOutputParser):
    """The ReAct protocol and nothing else; every deviation is a ValueError whose message
    the model reads in its retry. `sole_arguments` names, per tool, its one required
    argument, which a quoted string as the Action Input is taken for."""

    def __init__(self, sole_arguments: dict[str, str] | None = None) -> None:
        self.sole_arguments = dict(sole_arguments or {})

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
                                       action_input=_action_input(text[action.end():], name,
                                                                  self.sole_arguments.get(name)))
        if answer is not None:
            response = text[answer.end():].strip()
            if not response:
                raise ValueError("your 'Answer:' is empty")
            return ResponseReasoningStep(thought=text[thought.end():answer.start()].strip(),
                                         response=response, is_streaming=is_streaming)
        raise ValueError("your reply has neither an 'Action:' line (to use a tool) nor an "
                         "'Answer:' line (to answer)")


def _action_input(rest: str, name: str, sole: str | None = None) -> dict[str, Any]:
    found = re.search(r"^\s*Action Input:[ \t]*", rest, re.M)
    if found is None:
        raise ValueError(f"'Action: {name}' has no 'Action Input:' line; give the arguments "
                         'as a JSON object, e.g. Action Input: {"query": "..."}')
    raw = rest[found.end():].strip()
    if sole and raw.startswith('"'):
        try:
            value, _ = json.JSONDecoder().raw_decode(raw)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, str) and value.strip():
            return {sole: value}
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
        steps = [step_text(step) for step in current_reasoning or []]
        observations = [i for i, step in enumerate(current_reasoning or [])
                        if isinstance(step, ObservationReasoningStep)]
        history = list(chat_history)
        # The question is the last user message of the history; earlier turns may go.
        size = lambda: len(header) + sum(len(m.content or "") for m in history) + sum(
            len(s) for s in steps)  # noqa: E731
        for i in observations[:-1]:  # the newest observation is what the model acts on
            if size() <= self.budget_chars:
                break
            steps[i] = trimmed(steps[i])
        while size() > self.budget_chars and len(history) > 1:
            history.pop(0)
        reasoning = [ChatMessage(role=self.observation_role if isinstance(
            step, (ObservationReasoningStep, Told)) else MessageRole.ASSISTANT, content=text)
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


def sole_arguments(tools: Sequence[Any]) -> dict[str, str]:
    """Tool name -> its one required argument, for the tools that have exactly one and it
    is a string: what a quoted Action Input stands for."""
    found = {}
    for tool in tools:
        schema = tool.metadata.get_parameters_dict()
        required = schema.get("required", [])
        if len(required) == 1 and schema.get("properties", {}).get(
                required[0], {}).get("type") == "string":
            found[tool.metadata.get_name()] = required[0]
    return found


def final_reply(parser: ReActOutputParser, text: str) -> str | None:
    """The answer in a reply to the tool-free last turn, or None when there is none. No
    tool can follow that turn, so a reply in prose is the answer as well as one in the
    protocol, provided it cites a place (without one, the summary of what the tools found
    says more); a reply that asks for a tool is none."""
    try:
        step = parser.parse(text)
    except ValueError:
        step = None
    if isinstance(step, ResponseReasoningStep):
        return step.response
    prose = re.sub(r"^\s*Thought:\s*", "", text or "").strip()
    return prose if step is None and cited_places(prose) else None


def step_text(step: BaseReasoningStep) -> str:
    if isinstance(step, ActionReasoningStep):
        return (f"Thought: {step.thought}\nAction: {step.action}\n"
                f"Action Input: {json.dumps(step.action_input, ensure_ascii=False)}")
    return step.get_content()


class Remembered(BaseReasoningStep):
    """A reasoning step as the conversation memory keeps it."""

    text: str

    def get_content(self) -> str:
        return self.text

    @property
    def is_done(self) -> bool:
        return False


class Refused(Remembered):
    """A reply of the model that was not taken (malformed, or a refused call), as written."""


class Told(Remembered):
    """What was wrong with the reply before it; the model reads it as a user message."""


REMEMBERED_LINES = 6


def remembered(step: BaseReasoningStep) -> str:
    if isinstance(step, ObservationReasoningStep):
        lines = step.observation.split("\n")
        left = len(lines) - REMEMBERED_LINES
        more = f"\n[{left} more lines]" if left > 0 else ""
        return "Observation: " + "\n".join(lines[:REMEMBERED_LINES]) + more
    return step_text(step)


def trimmed(observation: str) -> str:
    lines = observation.split("\n")
    if len(lines) <= 3:
        return observation
    return "\n".join(lines[:2]) + (f"\n[{len(lines) - 2} more lines trimmed to fit the "
                                   "context window; call the tool again to see them]")
