"""The rules both agent loops keep, whatever the protocol (ReAct text or native tool calls):
tool steps, wall time and malformed replies in a row are limited; a call to a tool that
does not exist, or one already made, is refused (and the same refused call twice ends the
tool steps); at a limit the agent answers with what it found (`best_effort_answer` when
the model cannot be asked).

The per-run state is a plain dict in the workflow's context store (`STATE`), so that each
question starts afresh and a follow-up question's run does not inherit the last one's.

A refused reply and what was wrong with it go into the agent's own scratchpad, in order,
and the workflow is asked to run the step again with a marker message (`retry_marker`)
that the next step removes (`without_retry`). The base class would put its retry
messages, after a second copy of the question, before the scratchpad: out of order for
the model, and a prompt whose beginning differs from the last one's, so that a server
reusing the last prompt's computed prefix (llama.cpp, Ollama) computes all of it again.
"""

from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from llama_index.core.workflow import Event

from codeagent.assistant.llm import ANSWER_TOKENS
from codeagent.settings import Settings
from codeagent.textfile import CHARS_PER_TOKEN

STATE = "codeagent"  # our per-run state in the workflow's context store
RETRY = "codeagent_retry"
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
    answer_reserve: float = 0.1
    """The share of `seconds` kept for the last answer, at least: tool steps stop when less
    is left, or less than the slowest reply of the model so far took, and the model
    answers in what remains (stopped at the limit itself, there would be no time to ask
    it, and the answer would be the tools' summary)."""
    final_choice: bool = True
    """The last, tool-free turn answers as JSON whose places are picked from those the
    tools showed (`locate.final_choice`), so that even a stuck model's answer cites."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(settings.max_steps, float(settings.question_seconds),
                   settings.max_parse_failures, settings.context_window,
                   final_choice=settings.locate_answer)

    @property
    def iterations(self) -> int:
        """The workflow's own step cap, set high enough never to cut in before ours: every
        tool step may be preceded by refused replies, and the answer follows the last."""
        return (self.max_steps + 2) * (self.max_parse_failures + 2)

    @property
    def prompt_chars(self) -> int:
        """What the prompt may take of the context window, in characters."""
        return int((self.context_tokens - self.answer_tokens) * CHARS_PER_TOKEN)


class Stopped(Event):
    """The agent hit a limit; the answer that follows is its best effort."""

    reason: str
    """steps, time or parse."""
    detail: str


def new_state(made: Sequence[str] = ()) -> dict[str, Any]:
    """A run's state; `made` are calls already made for it (the first search)."""
    return {"started": time.monotonic(), "steps": 0, "failures": 0, "calls": list(made)}


def limit_reached(state: dict[str, Any], limits: Limits) -> tuple[str, str] | None:
    """(reason, detail) when the run must stop before asking the model again."""
    reserve = max(limits.seconds * limits.answer_reserve, state.get("slowest", 0.0))
    if time.monotonic() - state["started"] > limits.seconds - reserve:
        return "time", f"the time limit of {limits.seconds:.0f} s was near"
    if state["steps"] >= limits.max_steps:
        return "steps", f"all {limits.max_steps} tool steps were used"
    return None


LAST_TURN_MARGIN = 2.0
"""Seconds the last turn leaves of the session's wait, for its answer to reach it."""


def last_turn_seconds(state: dict[str, Any], limits: Limits) -> float:
    """How long the last, tool-free reply may take: until the session stops waiting for
    the run (the limit and its grace), less a margin."""
    elapsed = time.monotonic() - state["started"]
    return limits.seconds + limits.grace_seconds - LAST_TURN_MARGIN - elapsed


def refusal(name: str, kwargs: dict[str, Any], tool_names: Sequence[str],
            calls: list[str], retry: str) -> str | None:
    """Why this call is refused (told to the model), or None; `retry` says how to go on."""
    if name not in tool_names:
        return (f"Error: there is no tool '{name}'. The tools are: {', '.join(tool_names)}. "
                f"{retry}")
    if call_key(name, kwargs) in calls:
        return (f"Error: you already called {name} with these arguments; its result is above. "
                "Use other arguments or another tool, or answer.")
    return None


def retry_marker(problem: str) -> list[Any]:
    """The retry messages that make the workflow run the step again: one user message that
    says the problem (what the recorder shows) and that `without_retry` removes."""
    from llama_index.core.base.llms.types import ChatMessage

    return [ChatMessage(role="user", content=problem, additional_kwargs={RETRY: True})]


def without_retry(messages: list[Any]) -> list[Any]:
    """A step's input without the retry marker (and the copy of the question the base
    class puts before it): what was wrong is in the scratchpad already."""
    if messages and messages[-1].additional_kwargs.get(RETRY):
        return messages[:-2]
    return messages


def count_reply(state: dict[str, Any], call: tuple[str, dict[str, Any]] | None,
                refused: bool) -> None:
    """Book one reply of the model: a tool call made, or a refused (malformed) reply."""
    if refused:
        state["failures"] += 1
        key = call_key(*call) if call is not None else None
        # The same call refused twice in a row: the model is stuck on it, and at a low
        # temperature a third try writes it again.
        state["stuck"] = key is not None and key == state.get("refused")
        state["refused"] = key
        return
    state["failures"], state["refused"] = 0, None
    if call is not None:
        state["calls"].append(call_key(*call))
        state["steps"] += 1


RETRY_TEMPERATURE = 0.7
"""The temperature of a reply that follows a refused one. At the configured low temperature
a small model that wrote a refused call writes it again, word for word (run N: 7 of 16
questions ended on the same refused call twice)."""


@contextmanager
def one_reply(llm: Any, state: dict[str, Any]) -> Iterator[None]:
    """Around one reply of the model. Timed: the slowest so far is the least time kept for
    the last answer (a 3.5k-token prompt took 55 s a reply on a CPU, more than a tenth of
    the limit, and the last answer was cut off). And sampled more freely when it retries a
    refused one (never colder than configured); the client as it was afterwards, so no
    other call (a query rewrite, the last turn, the locate call) is sampled warm."""
    retry = state["failures"] > 0
    before = llm.additional_kwargs.get("temperature")
    if retry:
        llm.additional_kwargs["temperature"] = max(RETRY_TEMPERATURE, llm.temperature)
    started = time.monotonic()
    try:
        yield
    finally:
        state["slowest"] = max(state.get("slowest", 0.0), time.monotonic() - started)
        if retry and before is None:
            llm.additional_kwargs.pop("temperature", None)
        elif retry:
            llm.additional_kwargs["temperature"] = before


def gave_up(state: dict[str, Any], limits: Limits) -> str | None:
    """Why the model is asked no more for tool calls, or None: too many malformed replies
    in a row, or the same call refused twice."""
    if state.get("stuck"):
        return "the same refused call twice in a row"
    if state["failures"] >= limits.max_parse_failures:
        return f"{state['failures']} malformed replies in a row"
    return None


def call_key(name: str, kwargs: dict[str, Any]) -> str:
    return f"{name} {json.dumps(kwargs, sort_keys=True, ensure_ascii=False)}"


BEST_EFFORT = "I could not finish ("
"""How an answer made without the model begins (`made_by_tools` tells it apart)."""


SHOWN_CHARS = 100


def shown_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments as the model and the user are shown them: long strings cut (a
    first search's question is the whole bug report)."""
    return {k: v[:SHOWN_CHARS] + " ..." if isinstance(v, str) and len(v) > SHOWN_CHARS else v
            for k, v in arguments.items()}


def best_effort_answer(detail: str, calls: list[tuple[str, dict[str, Any], str]]) -> str:
    """An answer made without the model, from (tool, arguments, observation) of each call:
    which tools were asked what, and the places their results named."""
    lines = [f"{BEST_EFFORT}{detail}). What the tools found so far:"]
    for tool, arguments, observation in calls:
        places = locations(observation)[:6]
        lines.append(f"- {tool} {json.dumps(shown_arguments(arguments), ensure_ascii=False)}: "
                     f"{', '.join(places) if places else 'nothing located'}")
    if len(lines) == 1:
        lines.append("- nothing yet: no tool returned before the stop")
    return "\n".join(lines)


def made_by_tools(answer: str) -> bool:
    """The answer is `best_effort_answer`'s summary of the tool results, not the model's."""
    return answer.startswith(BEST_EFFORT)


def locations(observation: str) -> list[str]:
    """path:line or path:start-end of every place a tool result names, in order."""
    found = [f"{path}:{start}-{end}" for path, start, end in READ_HEADER.findall(observation)]
    found += [f"{path}:{line}" for path, line in GREP_FILE.findall(observation)]
    found += LOCATION.findall(observation)
    return list(dict.fromkeys(found))
