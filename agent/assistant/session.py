"""A conversation about one repository: questions in, checked answers out.

`Session.ask` runs one question:
1. with `first_search`, a multi_query_search for it, put where the model keeps its own
   steps: even a model that answers after one step answers from the best retrieval;
2. the agent (ReAct text or native tool calls, by the model: `llm.choose_protocol`), or,
   with mode="rag", one retrieval and one generation;
3. the citation check: every `path:line` must exist, and must be lines some tool result
   showed. An answer that fails it is shown the verdict and may correct itself
   (`citation_retries` times); one that still cites nothing checkable is asked for the
   places it rests on, chosen among those the tools showed (`locate.py`,
   `locate_answer`); one that still fails is `unverified`, never `ok`. So is an answer that
   pastes tool results back: it is not sent back, as a small model repastes (measured in
   bench/README.md).
The wall time is enforced around the model's runs (a request that hangs cannot outlast
the limit; the first search, a local retrieval, runs before), and the memory carries the
conversation, so a follow-up can build on an answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from codeagent.assistant.answer import Answer, Emit, Event
from codeagent.assistant.citations import check_citations, citation_problems
from codeagent.assistant.evidence import Evidence
from codeagent.assistant.limits import Limits, made_by_tools
from codeagent.assistant.recorder import Recorder
from codeagent.errors import CodeagentError
from codeagent.settings import Settings

FIRST_SEARCH = "multi_query_search"
FIRST_SEARCH_K = 8
CORRECTION_STEPS = 3
"""Tool steps a correction turn may take (to read what it wants to cite)."""
MIN_CORRECTION_SECONDS = 20.0
"""Below this much time left, no correction is tried (a small model on a CPU needs it)."""
MIN_LOCATE_SECONDS = 5.0
"""Below this much time left, an answer is not asked for its places."""


REPEATED = ("the answer repeats tool results word for word: say in a few sentences of your "
            "own what the code does and where, citing the lines as path:line")


def repeated(text: str, evidence: Evidence) -> list[str]:
    """The problem of an answer that pastes tool results back (no judgment made)."""
    return [REPEATED] if evidence.repeated(text) else []


class Session:
    def __init__(self, repo: Path, settings: Settings, *, embedding: Any = None,
                 tool_names: list[str] | None = None, header: str | None = None,
                 protocol: str | None = None, verify: bool = True) -> None:
        """`header` and `protocol` fix the system prompt and the protocol (review's);
        `verify` holds answers to the citation check (review checks its findings itself)."""
        from llama_index.core.memory import ChatMemoryBuffer

        from codeagent.tools import ToolContext, build_tools

        self.repo, self.settings = repo, settings
        self.header, self.verify = header, verify
        self._protocol = protocol
        self.ctx = ToolContext(repo, settings, embedding=embedding)
        self.tools = build_tools(self.ctx, tool_names)
        self.memory = ChatMemoryBuffer.from_defaults(token_limit=settings.context_window // 2)
        self.answers: list[Answer] = []

    @property
    def protocol(self) -> str:
        """react or native: what the settings ask, for what the model can do."""
        if self._protocol is None:
            from codeagent.assistant.llm import capabilities, choose_protocol

            # Only auto and native need to know what the model can do (an HTTP request).
            known = capabilities(self.settings) if self.settings.agent_protocol != "react" \
                else set()
            self._protocol = choose_protocol(self.settings, known)
        return self._protocol

    def ask(self, question: str, mode: str = "agent", emit: Emit | None = None,
            search: str | None = None) -> Answer:
        """Answer one question; Ctrl-C cancels it (KeyboardInterrupt) and keeps the session.
        `search` is the text the first search looks for (default: the question)."""
        emit = emit or (lambda event: None)
        started = time.monotonic()
        self.ctx.refresh()
        before = list(self.memory.get_all())  # a copy: the store's list grows in place
        evidence = Evidence()
        try:
            if mode == "rag":
                answer = asyncio.run(self._rag(question, emit, evidence, search or question))
            else:
                answer = asyncio.run(self._agent(question, emit, evidence, search or question))
        except CodeagentError as exc:
            answer = Answer(question, "", "error", mode, self.settings.llm_model,
                            reason=exc.message, hint=exc.hint)
        except KeyboardInterrupt:
            self.memory.set(before)  # the question never happened, as far as follow-ups see
            raise
        if answer.status == "error":
            self.memory.set(before)
        answer.timings["total_ms"] = round((time.monotonic() - started) * 1000, 1)
        answer.citations = check_citations(answer.answer, self.ctx, evidence)
        problems = citation_problems(answer.citations) + repeated(answer.answer, evidence)
        if self.verify and answer.status == "ok" and problems:
            answer.status, answer.reason = "unverified", "; ".join(problems)
        self.answers.append(answer)
        return answer

    def reset(self) -> None:
        """Forget the conversation (not the index)."""
        self.memory.reset()
        self.answers.clear()

    def close(self) -> None:
        self.ctx.close()

    async def _agent(self, question: str, emit: Emit, evidence: Evidence,
                     search: str) -> Answer:
        from codeagent.assistant.llm import make_llm

        limits = Limits.from_settings(self.settings)
        deadline = time.monotonic() + limits.seconds
        native = self.protocol == "native"
        llm = make_llm(self.settings, native=native)
        self.ctx.llm = llm
        record = Recorder(emit, evidence, native)
        first = self._first_search(search, record)
        answer = await self._run(question, llm, limits, record, [first] if first else [], first)
        problems = self._problems(answer.answer, evidence)
        for _ in range(self.settings.citation_retries if self.verify else 0):
            left = deadline - time.monotonic()
            # An answer the model wrote at a limit is corrected too; a summary made without
            # it, or a failed question, has nothing to correct.
            if (answer.status not in ("ok", "incomplete") or made_by_tools(answer.answer)
                    or not problems or left < MIN_CORRECTION_SECONDS):
                break
            from codeagent.prompts import load_prompt

            record.checked(problems)
            # The turn may read again what it wants to cite: memory keeps only the start of
            # each earlier result, so earlier calls are not refused as repeats.
            turn = replace(limits, seconds=left, max_steps=CORRECTION_STEPS)
            corrected = await self._run(load_prompt("citation_check", problems="\n".join(
                f"- {p}" for p in problems)), llm, turn, record, [])
            left_over = self._problems(corrected.answer, evidence)
            # Kept only if it is better: a correction that failed, timed out into a summary,
            # or cites no better, leaves the answer as it was.
            if (corrected.status == "error" or made_by_tools(corrected.answer)
                    or len(left_over) >= len(problems)):
                break
            answer, problems = corrected, left_over
        answer = await self._locate(question, answer, llm, evidence, deadline, emit)
        answer.question = question
        return answer

    def _problems(self, text: str, evidence: Evidence) -> list[str]:
        """What a correction turn is shown: the citations' problems. A pasted answer is
        not among them: on qwen2.5-coder:1.5b none of 8 sent back came back in words, and
        each try cost a minute; `ask` marks it unverified."""
        return citation_problems(check_citations(text, self.ctx, evidence))

    async def _locate(self, question: str, answer: Answer, llm: Any, evidence: Evidence,
                      deadline: float, emit: Emit) -> Answer:
        """An answer of the model that cites nothing checkable, asked once for the places
        it rests on (`locate.py`); any other answer as it is."""
        from codeagent.assistant.locate import locate, with_places

        left = deadline - time.monotonic()
        if (not (self.settings.locate_answer and self.verify) or left < MIN_LOCATE_SECONDS
                or answer.status not in ("ok", "incomplete") or made_by_tools(answer.answer)
                or any(c.valid and c.seen is not False
                       for c in check_citations(answer.answer, self.ctx, evidence))):
            return answer
        try:
            places, cost = await locate(llm, question, answer.answer, evidence.shown, left)
        except Exception:  # noqa: BLE001 - the answer stands; the check says what it lacks
            return answer
        timings = dict(answer.timings)
        if cost:
            tokens = cost["prompt_tokens"]
            timings.update(llm_ms=round(timings.get("llm_ms", 0.0) + cost["llm_ms"], 1),
                           llm_calls=timings.get("llm_calls", 0) + 1,
                           prompt_tokens=timings.get("prompt_tokens", 0) + tokens,
                           max_prompt_tokens=max(timings.get("max_prompt_tokens", 0), tokens))
        if not places:
            return replace(answer, timings=timings)
        text = with_places(answer.answer, places, evidence.shown)
        emit(Event("answer", text[len(answer.answer.rstrip()):]))
        return replace(answer, answer=text, timings=timings, located=places)

    def _first_search(self, search: str, record: Recorder) -> tuple[str, dict, str] | None:
        """The question's best retrieval, made before the model's first step: (tool,
        arguments, result)."""
        if not self.settings.first_search or FIRST_SEARCH not in [
                t.metadata.get_name() for t in self.tools]:
            return None
        from codeagent.tools import TOOLS, bind

        arguments = {"question": search, "k": FIRST_SEARCH_K}
        llm, self.ctx.llm = self.ctx.llm, None  # heuristic variants: no model call for it
        started = time.monotonic()
        try:
            observation = bind(TOOLS[FIRST_SEARCH], self.ctx)(**arguments)
        finally:
            self.ctx.llm = llm
        record.searched(FIRST_SEARCH, arguments, observation,
                        (time.monotonic() - started) * 1000)
        return FIRST_SEARCH, arguments, observation

    async def _run(self, message: str, llm: Any, limits: Limits, record: Recorder,
                   made: list[tuple[str, dict]],
                   first: tuple[str, dict, str] | None = None) -> Answer:
        """One run of the agent on `message`, with the conversation so far; `made` are the
        calls it must not make again, `first` a call to show as its first step."""
        from llama_index.core.workflow import Context

        from codeagent.assistant.agents import build_agent, seed

        agent = build_agent(self.protocol, self.tools, llm, limits, self.header,
                            [(tool, arguments) for tool, arguments, *_ in made])
        record.stopped = None  # this run's limits, not an earlier run's
        ctx = Context(agent)
        if first is not None:
            await seed(ctx, agent, self.protocol, *first)
        handler = agent.run(user_msg=message, memory=self.memory, ctx=ctx,
                            max_iterations=limits.iterations)
        model = self.settings.llm_model
        try:
            await asyncio.wait_for(record.follow(handler), limits.seconds + limits.grace_seconds)
            result = await handler
        except asyncio.TimeoutError:
            await _cancel(handler)
            return record.unfinished(message, model,
                                     f"the time limit of {limits.seconds:.0f} s was reached")
        except asyncio.CancelledError:
            await _cancel(handler)
            raise
        except Exception as exc:  # the model server failed mid-question
            problem = self._llm_problem(exc)
            answer = record.unfinished(message, model, problem.message)
            answer.status = "error" if not any(s.llm_ms for s in record.steps) else "incomplete"
            answer.hint = problem.hint
            return answer
        text = (result.response.content or "").strip()
        return Answer(message, text, "incomplete" if record.stopped else "ok", "agent", model,
                      steps=record.steps, timings=record.timings(), reason=record.stopped,
                      protocol=self.protocol)

    async def _rag(self, question: str, emit: Emit, evidence: Evidence, search: str) -> Answer:
        from codeagent.assistant.llm import make_llm
        from codeagent.assistant.rag import rag_answer

        llm = make_llm(self.settings)
        self.ctx.llm = None  # one retrieval, no LLM rewrites: this is the fast path
        deadline = time.monotonic() + self.settings.question_seconds
        try:
            answer = await rag_answer(self.ctx, question, llm, emit, evidence, search)
            return await self._locate(question, answer, llm, evidence, deadline, emit)
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


async def _cancel(handler: Any) -> None:
    try:
        await handler.cancel_run()
    except Exception:  # already finished or broken: nothing left to stop
        pass
