"""What a question produces: the answer with its checked citations and recorded steps,
and the events the screen shows while it runs. Plain data, shared by the agent, the RAG
mode, the CLI, the REPL, review and the evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from codeagent.assistant.citations import Citation


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
    """ok (answered, every citation checked and seen), unverified (answered, but a citation
    is invalid or of lines no tool showed, or there is none), incomplete (a limit was hit:
    best effort) or error (nothing could be answered)."""
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
    protocol: str | None = None
    """In agent mode, how the model called tools: react or native."""
    located: list[str] = field(default_factory=list)
    """The places the model picked when asked where an answer that cited nothing
    checkable rests (`locate.py`); empty when it was not asked."""

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "status": self.status,
                "reason": self.reason, "hint": self.hint, "mode": self.mode,
                "model": self.model, "protocol": self.protocol,
                "citations": [c.to_json() for c in self.citations],
                "sources": self.sources, "located": self.located,
                "steps": [s.to_json() for s in self.steps], "timings": self.timings}


@dataclass(frozen=True)
class Event:
    """What the screen shows while a question runs."""

    kind: str
    """tool, observation, retry (a reply refused), check (the citation check failed: a
    corrected answer follows), answer (a piece of the answer), stopped."""
    text: str
    data: dict[str, Any] = field(default_factory=dict)


Emit = Callable[[Event], None]
