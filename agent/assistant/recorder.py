"""A question's run as it happens: the workflow's events turned into recorded Steps, screen
Events, timings, and the Evidence of what the model was shown.

With the ReAct protocol the answer streams as it is written (after `Answer:`); with native
tool calls a reply is the answer only when no tool call follows it, so it is shown whole
once the reply is done.
"""

from __future__ import annotations

import re
import time
from typing import Any

from codeagent.assistant.answer import Answer, Emit, Event, Step
from codeagent.assistant.evidence import Evidence

OBSERVATION_EXCERPT = 600
"""Characters of a tool result a Step keeps (the answer's JSON stays small); the summary
made at a stop reads the whole result (`unfinished`)."""


class Recorder:
    def __init__(self, emit: Emit, evidence: Evidence, native: bool = False) -> None:
        self.emit, self.evidence, self.native = emit, evidence, native
        self.steps: list[Step] = []
        self._results: dict[int, str] = {}  # id(step) -> the whole tool result
        self.stopped: str | None = None
        self._llm_started = time.monotonic()
        self._tool_started = 0.0
        self._shown = 0  # characters of the current reply's answer already emitted
        self._llm_ms = 0.0
        self._tools_ms = 0.0
        self._prompt_tokens: list[int] = []  # of every reply of the model, in order

    async def follow(self, handler: Any) -> None:
        from llama_index.core.agent.workflow.workflow_events import (AgentOutput, AgentStream,
                                                                     ToolCall, ToolCallResult)

        from codeagent.assistant.limits import Stopped

        self._llm_started = time.monotonic()
        async for event in handler.stream_events():
            if isinstance(event, AgentStream):
                if not self.native:
                    self._stream(event.response or "")
            elif isinstance(event, AgentOutput):
                self._output(event)
            elif isinstance(event, ToolCallResult):
                self._result(event)
            elif isinstance(event, ToolCall):
                self._tool_started = time.monotonic()
                self.emit(Event("tool", event.tool_name, {"arguments": event.tool_kwargs}))
            elif isinstance(event, Stopped):
                self.stopped = event.detail
                self.emit(Event("stopped", event.detail))

    def searched(self, tool: str, arguments: dict[str, Any], observation: str,
                 ms: float) -> None:
        """A tool call made for the question before the model's first step."""
        self.steps.append(Step("(searched for the question before the first step)", tool,
                               arguments, observation[:OBSERVATION_EXCERPT], round(ms, 1)))
        self._results[id(self.steps[-1])] = observation
        self._tools_ms += ms
        self.evidence.add(observation)
        self.emit(Event("tool", tool, {"arguments": arguments}))
        self.emit(Event("observation", observation.split("\n", 1)[0][:200], {"tool": tool}))

    def checked(self, problems: list[str]) -> None:
        """The citation check refused the answer; the model is shown why."""
        verdict = "the citation check failed: " + "; ".join(problems)
        self.steps.append(Step("", None, {}, error=verdict))
        self.emit(Event("check", verdict))

    def _stream(self, response: str) -> None:
        found = re.search(r"^\s*Answer:\s*", response, re.M)
        if found and re.search(r"^\s*Action:", response[:found.start()], re.M):
            return  # the parser takes an Action before an Answer: this reply is a tool call
        if found and len(response) > found.end() + self._shown:
            self.emit(Event("answer", response[found.end() + self._shown:]))
            self._shown = len(response) - found.end()

    def _output(self, event: Any) -> None:
        now = time.monotonic()
        llm_ms = (now - self._llm_started) * 1000
        self._llm_ms += llm_ms
        self._llm_started, self._shown = now, 0
        text = event.response.content or ""
        raw = event.raw if isinstance(event.raw, dict) else {}
        if self.native:
            thought = text.strip() if event.tool_calls else ""
        else:
            found = re.search(r"Thought:\s*(.*?)(?=^\s*(?:Action|Answer):|\Z)", text,
                              re.S | re.M)
            thought = found.group(1).strip() if found else ""
        step = Step(thought, None, {}, llm_ms=round(llm_ms, 1),
                    prompt_tokens=raw.get("prompt_eval_count"))
        self._prompt_tokens.append(int(raw.get("prompt_eval_count") or 0))
        if event.retry_messages:
            step.error = event.retry_messages[-1].content
            self.steps.append(step)
            self.emit(Event("retry", step.error or ""))
        elif event.tool_calls:
            step.tool, step.arguments = event.tool_calls[0].tool_name, event.tool_calls[0].tool_kwargs
            self.steps.append(step)
        elif self.native and text.strip() and not self.stopped:
            self.emit(Event("answer", text.strip()))

    def _result(self, event: Any) -> None:
        now = time.monotonic()
        spent = (now - self._tool_started) * 1000
        self._tools_ms += spent
        self._llm_started = now
        observation = str(event.tool_output.content)
        self.evidence.add(observation)
        for step in reversed(self.steps):
            if step.tool == event.tool_name and not step.observation:
                step.observation, step.ms = observation[:OBSERVATION_EXCERPT], round(spent, 1)
                self._results[id(step)] = observation
                break
        self.emit(Event("observation", observation.split("\n", 1)[0][:200],
                        {"tool": event.tool_name}))

    def timings(self) -> dict[str, float]:
        """Time in the model and in the tools; the model's replies and their prompt sizes."""
        return {"llm_ms": round(self._llm_ms, 1), "tools_ms": round(self._tools_ms, 1),
                "llm_calls": len(self._prompt_tokens),
                "prompt_tokens": sum(self._prompt_tokens),
                "max_prompt_tokens": max(self._prompt_tokens, default=0)}

    def unfinished(self, question: str, model: str, why: str) -> Answer:
        """The best answer without the model: what the tools found before the stop, read
        from their whole results (a search's places can come after the first 600
        characters, under a long question's variants)."""
        from codeagent.assistant.limits import best_effort_answer

        self.emit(Event("stopped", why))
        text = best_effort_answer(why, [(s.tool, s.arguments,
                                         self._results.get(id(s), s.observation))
                                        for s in self.steps if s.tool])
        return Answer(question, text, "incomplete", "agent", model, steps=self.steps,
                      timings=self.timings(), reason=why)
