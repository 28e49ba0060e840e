"""What the chat REPL prints: the live lines of a turn, the check of an answer, and the
/sources and /trace listings. Pure text in, lines out, except `Screen`, which writes them
to the REPL's prompt-toolkit output (a terminal, or a test's buffer)."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from prompt_toolkit import print_formatted_text
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.styles import Style

from codeagent.textfile import printable

STYLE = Style.from_dict({
    "tool": "ansicyan", "observation": "ansibrightblack", "retry": "ansiyellow",
    "stopped": "ansiyellow", "answer": "", "ok": "ansigreen", "bad": "ansired",
    "error": "ansired bold", "hint": "ansiyellow", "note": "ansibrightblack",
})
ARGUMENTS_WIDTH = 160  # a tool line stays one terminal line or so; /trace shows them whole
PREVIEW_LINES = 3


class Screen:
    """Lines and streamed pieces on one output, never two pieces of text on one line by
    accident: a line after streamed text starts on a line of its own."""

    def __init__(self, output: Any) -> None:
        self.output = output
        self._mid_line = False

    def line(self, text: str = "", style: str = "") -> None:
        self.end_piece()
        self._print(text, style, "\n")

    def lines(self, texts: list[str], style: str = "") -> None:
        for text in texts:
            self.line(text, style)

    def piece(self, text: str, style: str = "class:answer") -> None:
        """Part of a line (the answer as it streams)."""
        if text:
            self._print(text, style, "")
            self._mid_line = not text.endswith("\n")

    def end_piece(self) -> None:
        if self._mid_line:
            self._print("", "", "\n")
            self._mid_line = False

    def problem(self, message: str, hint: str | None = None) -> None:
        self.line(f"error: {message}", "class:error")
        if hint:
            self.line(f"  -> {hint}", "class:hint")

    def _print(self, text: str, style: str, end: str) -> None:
        print_formatted_text(FormattedText([(style, text)]), end=end, style=STYLE,
                             output=self.output)


def event_line(event: Any) -> tuple[str, str] | None:
    """(style, text) of a live event of a turn; None for answer pieces (streamed as is)."""
    if event.kind == "tool":
        arguments = json.dumps(event.data.get("arguments", {}), ensure_ascii=False)
        return "class:tool", f"→ {event.text} {_cut(arguments, ARGUMENTS_WIDTH)}"
    if event.kind == "observation":
        return "class:observation", f"  ← {printable(event.text)}"
    if event.kind == "retry":
        return "class:retry", f"! retry: {_first_line(event.text)}"
    if event.kind == "check":
        return "class:retry", f"! {_first_line(event.text)}; the model corrects its answer"
    if event.kind == "stopped":
        return "class:stopped", f"(stopped: {event.text})"
    return None


def citation_summary(citations: list[Any]) -> str:
    """`citations: 3 verified, 1 not found: a.py:9 (no such file in the repository)`."""
    if not citations:
        return "citations: none in the answer"
    good = [c for c in citations if c.valid and c.seen is not False]
    bad = [c for c in citations if not c.valid]
    unseen = [c for c in citations if c.valid and c.seen is False]
    text = f"citations: {len(good)} verified"
    if bad:
        text += f", {len(bad)} not found: " + "; ".join(f"{c.location} ({c.reason})"
                                                        for c in bad)
    if unseen:
        text += f", {len(unseen)} of lines no tool showed: " + "; ".join(
            c.location for c in unseen)
    return text


def outcome_lines(answer: Any) -> list[tuple[str, str]]:
    """(style, text) lines after an answer: its citations, then its status when not ok."""
    lines = []
    if answer.answer:
        bad = any(not c.valid or c.seen is False for c in answer.citations)
        lines.append(("class:bad" if bad else "class:ok", citation_summary(answer.citations)))
    if answer.status == "unverified":
        lines.append(("class:stopped", f"(unverified: {answer.reason})"))
    elif answer.status == "incomplete":
        lines.append(("class:stopped", f"(incomplete: {answer.reason})"))
    elif answer.status == "error":
        lines.append(("class:error", f"error: {answer.reason}"))
        if answer.hint:
            lines.append(("class:hint", f"  -> {answer.hint}"))
    steps = sum(1 for s in answer.steps if s.tool)
    seconds = answer.timings.get("total_ms", 0.0) / 1000
    lines.append(("class:note", f"({steps} tool step{'s' if steps != 1 else ''}, "
                                f"{seconds:.1f} s, {answer.model})"))
    return lines


def sources_lines(answer: Any | None) -> list[str]:
    if answer is None:
        return ["no answer yet: ask a question first"]
    if answer.mode == "search":
        return [f"code the search-only reply showed ({len(answer.sources)}):"] + (
            [f"  {source}" for source in answer.sources] or ["  none"])
    lines = [f"{'✓' if c.valid else '✗'} {c.label}" + ("" if c.valid else f"  ({c.reason})")
             for c in answer.citations]
    if not lines:
        lines.append("the last answer cites no code")
    if answer.mode == "rag":
        lines.append(f"sources the answer was written from ({len(answer.sources)}):")
        lines += [f"  {source}" for source in answer.sources] or ["  none"]
    return lines


def trace_lines(answer: Any | None) -> list[str]:
    if answer is None:
        return ["no answer yet: ask a question first"]
    if not answer.steps:
        return [f"the last answer ({answer.mode} mode) took no tool steps"]
    lines = []
    for n, step in enumerate(answer.steps, 1):
        if step.tool is None:
            error = _first_line(step.error or "")
            lines.append(f"{n}. refused reply (model {step.llm_ms:.0f} ms): {error}")
        else:
            arguments = json.dumps(step.arguments, ensure_ascii=False)
            lines.append(f"{n}. {step.tool} {arguments}  (model {step.llm_ms:.0f} ms, "
                         f"tool {step.ms:.0f} ms)")
        if step.thought:
            lines.append(f"   thought: {_cut(_first_line(step.thought), 200)}")
        if step.tool is not None:
            lines.append(f"   ← {printable(_first_line(step.observation)) or '(no result)'}")
    return lines


def span_lines(hits: list[Any]) -> list[tuple[str, str]]:
    """(style, text) lines of search results (LlamaIndex nodes of code spans): location,
    symbol, and the first lines from where the span's best part starts."""
    lines = []
    for hit in hits:
        meta = hit.node.metadata
        lines.append(("class:tool", f"{meta['path']}:{meta['start_line']}-{meta['end_line']}  "
                                    f"{meta.get('symbol') or '-'}"))
        start = meta.get("focus_line", meta["start_line"]) - meta["start_line"]
        body = [line for line in hit.node.get_content().split("\n")[start:] if line.strip()]
        # Indentation is structure: shown as in the file, less what the lines share.
        shown = textwrap.dedent("\n".join(body[:PREVIEW_LINES])).split("\n") if body else []
        lines += [("", "    " + printable(line.rstrip())[:100]) for line in shown]
    return lines


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def filling_state(filling: Any) -> str:
    """The status bar's word on a background index run (`index.background`)."""
    if filling.running():
        return filling.progress()
    if filling.phase in ("failed", "stopped"):
        return f"{filling.phase} (/index retries)"
    return "up to date"


def filling_outcome(repo: Any, filling: Any) -> list[tuple[str, str]]:
    """(style, text) lines once a background index run has ended: its error, or what it
    changed (nothing when it had nothing to do)."""
    from codeagent.cli.console import index_summary_lines

    if filling.error is not None:
        return [("class:error", f"error: the index run failed: {filling.error.message}")] + (
            [("class:hint", f"  -> {filling.error.hint}")] if filling.error.hint else [])
    summary = filling.summary
    if summary is None or not (summary.added or summary.changed or summary.removed
                               or filling.first):
        return []
    lines = [("class:note", text) for text in index_summary_lines(repo, summary, False)]
    if filling.first:
        lines.append(("class:ok", "the index is in: semantic search is on"))
    return lines
