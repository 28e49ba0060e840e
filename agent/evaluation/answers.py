"""The answer modes of `codeagent eval`: the agent (`agent`) or the one-shot RAG answer
(`rag`) answers each task through the configured Ollama model, and the files its answer
cites are its ranking, scored like the retrieval modes' rankings.

Only citations that pass the check count: the file and lines exist, and a tool result (or a
RAG snippet) showed those lines; invalid and unseen citations count against the answer (a
task whose answer cites nothing checked ranks no file). Per task the record also keeps how
the answer came about: its status and protocol, citations valid / invalid / unseen, steps,
tool calls, LLM seconds, prompt tokens, and citations of paths the prompts themselves hold
(a model copying an example instead of reading the code).
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from codeagent.prompts import load_prompt
from codeagent.settings import Settings

MODES = ("agent", "rag")
CHECK = "the citation check failed"  # how Recorder.checked records a correction turn
PROMPT_PATH = re.compile(r"(?<![\w/.-])(?:[\w.-]+/)+[\w.-]+\.\w+")
"""A path with a directory, as a prompt could show one."""


class Asker:
    """One session on one checkout, ready to answer many tasks (each on its own: the
    conversation is reset before every task)."""

    def __init__(self, repo: Path, settings: Settings, embedding: Any = None) -> None:
        from codeagent.assistant.session import Session

        self.session = Session(repo, settings, embedding=embedding)

    def close(self) -> None:
        self.session.close()

    def answer(self, task: Any, mode: str) -> tuple[Any, float]:
        """(Answer, seconds) for the task."""
        self.session.reset()
        question = task.query if task.kind == "question" else load_prompt(
            "localize_report", report=task.query.strip())
        started = time.perf_counter()
        answer = self.session.ask(question, mode, search=task.query)
        return answer, time.perf_counter() - started


def cited_spans(answer: Any) -> list[tuple[str, int, int]]:
    """The checked citations of an answer, in its order: (path, start, end). A failed
    question, or a best-effort summary written without the model, ranks nothing: it lists
    where the tools looked, and would score the retrieval as the model's answer."""
    from codeagent.assistant.limits import made_by_tools

    if answer.status == "error" or made_by_tools(answer.answer):
        return []
    return [(c.path, c.start, c.end) for c in answer.citations
            if c.valid and c.seen is not False]


def details(answer: Any, prompt_text: str) -> dict[str, Any]:
    """What a prediction records about how its answer came about."""
    from codeagent.assistant.limits import made_by_tools

    citations = answer.citations
    steps = answer.steps
    in_prompts = set(PROMPT_PATH.findall(prompt_text))
    return {
        "status": answer.status, "protocol": answer.protocol, "reason": answer.reason,
        "made_by_tools": made_by_tools(answer.answer),
        "citations": {"valid": sum(c.valid and c.seen is not False for c in citations),
                      "invalid": sum(not c.valid for c in citations),
                      "unseen": sum(c.valid and c.seen is False for c in citations),
                      "named": sum(c.named is not None for c in citations)},
        "prompt_paths_cited": sum(c.path in in_prompts for c in citations),
        "located": len(answer.located),
        "located_places": list(answer.located),
        "llm_calls": int(answer.timings.get("llm_calls", 0)),
        "tool_calls": [s.tool for s in steps if s.tool],
        "refused": sum(1 for s in steps if s.error and not s.error.startswith(CHECK)),
        "corrections": sum(1 for s in steps if s.error and s.error.startswith(CHECK)),
        "llm_seconds": round(answer.timings.get("llm_ms", 0.0) / 1000, 2),
        "prompt_tokens": int(answer.timings.get("prompt_tokens", 0)),
        "max_prompt_tokens": int(answer.timings.get("max_prompt_tokens", 0)),
        "answer": answer.answer[:2000],
        "cited": [c.location for c in citations],
    }


def prompt_text(session: Any) -> str:
    """Everything the prompts show the model that is not the question: the system prompt
    of either protocol and the tool descriptions."""
    from codeagent.prompts import load_template

    parts = [load_template("react_header", {"tool_desc", "tool_names"}),
             load_prompt("native_header"), load_prompt("rag_answer", question="", snippets="")]
    parts += [tool.metadata.description + str(tool.metadata.get_parameters_dict())
              for tool in session.tools]
    return "\n".join(parts)


def summary_rows(predictions: list[Any], modes: list[str]) -> list[dict[str, Any]]:
    """Per answer mode: how its answers came about, over the tasks it answered."""
    rows = []
    for mode in modes:
        mine = [p for p in predictions if p.mode == mode and p.details]
        if not mine:
            continue
        d = [p.details for p in mine]
        statuses = [x["status"] for x in d]
        rows.append({
            "mode": mode, "tasks": len(mine),
            "ok": statuses.count("ok"), "unverified": statuses.count("unverified"),
            "incomplete": statuses.count("incomplete"), "error": statuses.count("error"),
            "made_by_tools": sum(bool(x.get("made_by_tools")) for x in d),
            # a summary of the tool results is not the model's answer, whatever it lists
            "with_valid_citation": sum(x["citations"]["valid"] > 0
                                       and not x.get("made_by_tools") for x in d),
            "located": sum(x.get("located", 0) > 0 for x in d),
            "invalid_reported_ok": sum(x["status"] == "ok" and x["citations"]["invalid"] > 0
                                       for x in d),
            "invalid": sum(x["citations"]["invalid"] for x in d),
            "unseen": sum(x["citations"]["unseen"] for x in d),
            "prompt_paths_cited": sum(x["prompt_paths_cited"] for x in d),
            "llm_calls_p50": statistics.median(x["llm_calls"] for x in d),
            "tool_calls_p50": statistics.median(len(x["tool_calls"]) for x in d),
            "llm_seconds_p50": statistics.median(x["llm_seconds"] for x in d),
            "prompt_tokens_p50": statistics.median(x["max_prompt_tokens"] for x in d),
            "seconds_p50": statistics.median(p.seconds for p in mine),
        })
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    head = ("| mode | tasks | ok | unverified | incomplete | error | summaries | "
            ">= 1 valid citation | located | "
            "invalid reported ok | invalid | unseen | prompt paths cited | LLM calls p50 | "
            "tool calls p50 | LLM s p50 | prompt tokens p50 | s/task p50 |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        lines.append("| " + " | ".join(str(v) for v in [
            r["mode"], r["tasks"], r["ok"], r["unverified"], r["incomplete"], r["error"],
            r["made_by_tools"],
            r["with_valid_citation"], r["located"], r["invalid_reported_ok"], r["invalid"],
            r["unseen"],
            r["prompt_paths_cited"], r["llm_calls_p50"], r["tool_calls_p50"],
            f"{r['llm_seconds_p50']:.1f}", f"{r['prompt_tokens_p50']:.0f}",
            f"{r['seconds_p50']:.0f}"]) + " |")
    return "\n".join(lines)
