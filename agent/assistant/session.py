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
from pathlib import Path
from typing import Any, Callable

from codeagent.assistant.answer import Answer, Emit, Event, Step
from codeagent.assistant.citations import check_citations
from codeagent.errors import CodeagentError
from codeagent.settings import Settings

OBSERVATION_EXCERPT = 600


class Session:
    def __init__(self, repo: Path, settings: Settings, *, embedding: Any = None,
                 llm_factory: Callable[[Settings], Any] | None = None,
                 tool_names: list[str] | None = None, header: str = "react_header") -> None:
        from llama_index.core.memory import ChatMemoryBuffer

        from codeagent.assistant.llm import make_llm
        from codeagent.tools import ToolContext, build_tools

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
        from codeagent.assistant.react import Limits, build_agent

        llm = self.make_llm(self.settings)
        self.ctx.llm = llm
        limits = Limits.from_settings(self.settings)
        agent = build_agent(self.tools, llm, limits, self.header)
        handler = agent.run(user_msg=question, memory=self.memory,
                            max_iterations=limits.iterations)
        record = _Recorder(emit)
        try:
            await asyncio.wait_for(record.follow(handler), limits.seconds + limits.grace_seconds)
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
        from codeagent.assistant.rag import rag_answer

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
        from codeagent.assistant.llm import explain_llm_error

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

        from codeagent.assistant.react import Stopped

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
        from codeagent.assistant.react import best_effort_answer

        self.emit(Event("stopped", why))
        text = best_effort_answer(why, [(s.tool, s.arguments, s.observation) for s in self.steps if s.tool])
        return Answer(question, text, "incomplete", "agent", model, steps=self.steps,
                      timings=self.timings(), reason=why)


async def _cancel(handler: Any) -> None:
    try:
        await handler.cancel_run()
    except Exception:  # already finished or broken: nothing left to stop
        pass
