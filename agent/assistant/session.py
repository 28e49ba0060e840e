"""A conversation about one repository: questions in, checked answers out.

`Session.ask` runs one question through the ReAct agent (or, with mode="rag", one
retrieval and one generation), turns the workflow's event stream into recorded steps and
live events for the screen, enforces the wall time around it (a request that hangs cannot
outlast the limit), and checks every citation of the answer against the repository. The
memory carries the conversation, so a follow-up question can build on the last answer.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .citations import Citation, check_citations
from .errors import CodeagentError
from .settings import Settings

OBSERVATION_EXCERPT = 600
GRACE_SECONDS = 5.0  # beyond the limit, for the agent to write its own best-effort answer


@dataclass
class Step:
    """One reply of the model that led somewhere: a tool call, or a refused reply."""

    thought: str
    tool: str | None
    arguments: dict[str, Any]
    observation: str = ""
    """The start of what the tool returned."""
    ms: float = 0.0
    """Time in the tool."""
    llm_ms: float = 0.0
    """Time the model took to write this reply."""
    prompt_tokens: int | None = None
    error: str | None = None
    """For a refused reply: what the model was told."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    question: str
    answer: str
    status: str
    """ok, incomplete (a limit was hit: best effort) or error (nothing could be answered)."""
    mode: str
    model: str
    citations: list[Citation] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    """Why the answer is incomplete, or the error."""
    hint: str | None = None
    """For an error: how to fix it."""
    sources: list[str] = field(default_factory=list)
    """In rag mode, the snippets the answer was written from (path:start-end)."""

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "status": self.status,
                "reason": self.reason, "hint": self.hint, "mode": self.mode,
                "model": self.model, "citations": [c.to_json() for c in self.citations],
                "sources": self.sources, "steps": [s.to_json() for s in self.steps],
                "timings": self.timings}


@dataclass(frozen=True)
class Event:
    """What the screen shows while a question runs."""

    kind: str
    """tool, observation, retry, answer (a piece of the answer), stopped."""
    text: str
    data: dict[str, Any] = field(default_factory=dict)


Emit = Callable[[Event], None]


class Session:
    def __init__(self, repo: Path, settings: Settings, *, embedding: Any = None,
                 llm_factory: Callable[[Settings], Any] | None = None,
                 tool_names: list[str] | None = None, header: str = "react_header") -> None:
        from llama_index.core.memory import ChatMemoryBuffer

        from .llm import make_llm
        from .tools import ToolContext, build_tools

        self.repo, self.settings = repo, settings
        self.make_llm = llm_factory or make_llm
        self.header = header
        self.ctx = ToolContext(repo, settings, embedding=embedding)
        self.tools = build_tools(self.ctx, tool_names)
        self.memory = ChatMemoryBuffer.from_defaults(token_limit=settings.context_window // 2)
        self.answers: list[Answer] = []

    def ask(self, question: str, mode: str = "agent", emit: Emit | None = None) -> Answer:
        """Answer one question; Ctrl-C cancels it (KeyboardInterrupt) and keeps the session."""
        emit = emit or (lambda event: None)
        started = time.monotonic()
        self.ctx.refresh()
        before = self.memory.get_all()
        try:
            if mode == "rag":
                answer = asyncio.run(self._rag(question, emit))
            else:
                answer = asyncio.run(self._agent(question, emit))
        except CodeagentError as exc:
            answer = Answer(question, "", "error", mode, self.settings.llm_model,
                            reason=exc.message, hint=exc.hint)
        except KeyboardInterrupt:
            self.memory.set(before)  # the question never happened, as far as follow-ups see
            raise
        if answer.status == "error":
            self.memory.set(before)
        answer.timings["total_ms"] = round((time.monotonic() - started) * 1000, 1)
        answer.citations = check_citations(answer.answer, self.ctx)
        self.answers.append(answer)
        return answer

    def reset(self) -> None:
        """Forget the conversation (not the index)."""
        self.memory.reset()
        self.answers.clear()

    def close(self) -> None:
        self.ctx.close()

    async def _agent(self, question: str, emit: Emit) -> Answer:
        from .react import Limits, build_agent

        llm = self.make_llm(self.settings)
        self.ctx.llm = llm
        limits = Limits(self.settings.max_steps, float(self.settings.question_seconds),
                        self.settings.max_parse_failures, self.settings.context_window)
        agent = build_agent(self.tools, llm, limits, self.header)
        handler = agent.run(user_msg=question, memory=self.memory,
                            max_iterations=(limits.max_steps + 2) * (limits.max_parse_failures + 2))
        record = _Recorder(emit)
        try:
            await asyncio.wait_for(record.follow(handler), limits.seconds + GRACE_SECONDS)
            result = await handler
        except asyncio.TimeoutError:
            await _cancel(handler)
            return record.unfinished(question, self.settings.llm_model,
                                     f"the time limit of {limits.seconds:.0f} s was reached")
        except asyncio.CancelledError:
            await _cancel(handler)
            raise
        except Exception as exc:  # the model server failed mid-question
            problem = self._llm_problem(exc)
            answer = record.unfinished(question, self.settings.llm_model, problem.message)
            answer.status = "error" if not record.steps else "incomplete"
            answer.hint = problem.hint
            return answer
        text = (result.response.content or "").strip()
        return Answer(question, text, "incomplete" if record.stopped else "ok", "agent",
                      self.settings.llm_model, steps=record.steps,
                      timings=record.timings(), reason=record.stopped)

    async def _rag(self, question: str, emit: Emit) -> Answer:
        from .rag import rag_answer

        llm = self.make_llm(self.settings)
        self.ctx.llm = None  # one retrieval, no LLM rewrites: this is the fast path
        try:
            return await rag_answer(self.ctx, question, llm, emit)
        except CodeagentError:
            raise
        except Exception as exc:
            problem = self._llm_problem(exc)
            return Answer(question, "", "error", "rag", self.settings.llm_model,
                          reason=problem.message, hint=problem.hint)

    def _llm_problem(self, exc: BaseException) -> CodeagentError:
        from .llm import explain_llm_error

        return explain_llm_error(exc, self.settings) or CodeagentError(
            f"the question failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


class _Recorder:
    """Turns the workflow's events into Steps and screen Events."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.steps: list[Step] = []
        self.stopped: str | None = None
        self._llm_started = time.monotonic()
        self._tool_started = 0.0
        self._shown = 0  # characters of the current reply's answer already emitted
        self._llm_ms = 0.0
        self._tools_ms = 0.0

    async def follow(self, handler: Any) -> None:
        from llama_index.core.agent.workflow.workflow_events import (AgentOutput, AgentStream,
                                                                      ToolCall, ToolCallResult)

        from .react import Stopped

        async for event in handler.stream_events():
            if isinstance(event, AgentStream):
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
        thought = re.search(r"Thought:\s*(.*?)(?=^\s*(?:Action|Answer):|\Z)", text, re.S | re.M)
        raw = event.raw if isinstance(event.raw, dict) else {}
        step = Step(thought.group(1).strip() if thought else "", None, {}, llm_ms=round(llm_ms, 1),
                    prompt_tokens=raw.get("prompt_eval_count"))
        if event.retry_messages:
            step.error = event.retry_messages[-1].content
            self.steps.append(step)
            self.emit(Event("retry", step.error or ""))
        elif event.tool_calls:
            step.tool, step.arguments = event.tool_calls[0].tool_name, event.tool_calls[0].tool_kwargs
            self.steps.append(step)

    def _result(self, event: Any) -> None:
        now = time.monotonic()
        spent = (now - self._tool_started) * 1000
        self._tools_ms += spent
        self._llm_started = now
        observation = str(event.tool_output.content)
        for step in reversed(self.steps):
            if step.tool == event.tool_name and not step.observation:
                step.observation, step.ms = observation[:OBSERVATION_EXCERPT], round(spent, 1)
                break
        self.emit(Event("observation", observation.split("\n", 1)[0][:200],
                        {"tool": event.tool_name}))

    def timings(self) -> dict[str, float]:
        return {"llm_ms": round(self._llm_ms, 1), "tools_ms": round(self._tools_ms, 1)}

    def unfinished(self, question: str, model: str, why: str) -> Answer:
        """The best answer without the model: what the tools found before the stop."""
        from .react import findings

        self.emit(Event("stopped", why))
        text = findings(why, [(s.tool, s.arguments, s.observation) for s in self.steps if s.tool])
        return Answer(question, text, "incomplete", "agent", model, steps=self.steps,
                      timings=self.timings(), reason=why)


async def _cancel(handler: Any) -> None:
    try:
        await handler.cancel_run()
    except Exception:  # already finished or broken: nothing left to stop
        pass
