"""The commands that talk to the model: ask, run (a batch), chat (the REPL), doctor.

Each first brings the index up to date (a no-op run costs a fraction of a second), then
checks Ollama, so that a problem is one clear message before any question is asked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from codeagent.cli.common import (CONTEXT, agent_options, emit_json, repo_option, settings_from,
                                  store_options, update_index)
from codeagent.errors import EXIT_INCOMPLETE, EXIT_SOME_FAILED, EXIT_UNVERIFIED, LLMUnavailable


@click.command(context_settings=CONTEXT)
@click.argument("question")
@repo_option
@agent_options
@store_options
@click.option("--mode", type=click.Choice(["agent", "rag"]), default="agent", show_default=True,
              help="agent: the model picks tools step by step; rag: one retrieval, one answer "
                   "(fast, for simple questions).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: answer, citations, steps, timings, status.")
@click.option("--no-index", is_flag=True, help="Do not update the index first.")
def ask(question: str, repo: Path, mode: str, as_json: bool, no_index: bool,
        **flags: Any) -> None:
    """Answer QUESTION about the repository, citing path:start-end for its claims.

    The answer streams to stdout as it is written; the agent's steps (which tool, with
    what) go to stderr. Citations are checked against the files afterwards. Exit status:
    0 answered with every citation checked, 6 answered incompletely (a step or time limit
    was hit), 8 answered but unverified (a citation invalid or of lines no tool showed, or
    none), 3 index problem, 4 Ollama unreachable or model missing.
    """
    from codeagent.assistant.llm import check_ollama
    from codeagent.assistant.session import Session

    settings = settings_from(repo, **flags)
    check_ollama(settings)
    if not no_index:
        update_index(repo, settings, quiet=as_json)
    session = Session(repo, settings)
    printer = None if as_json else _Printer(sys.stdout, sys.stderr)
    try:
        answer = session.ask(question, mode, emit=printer)
    finally:
        if printer:
            printer.spinner.hide()
        session.close()
    if as_json:
        emit_json(answer.to_json())
    else:
        _print_outcome(answer, sys.stdout, sys.stderr)
    if answer.status == "error":
        raise LLMUnavailable(answer.reason or "the question failed", answer.hint)
    if answer.status == "incomplete":
        sys.exit(EXIT_INCOMPLETE)
    if answer.status == "unverified":
        sys.exit(EXIT_UNVERIFIED)


@click.command(context_settings=CONTEXT)
@click.argument("questions", type=click.File("r", encoding="utf-8"))
@repo_option
@agent_options
@store_options
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Where the JSONL results go (default: stdout).")
@click.option("--mode", type=click.Choice(["agent", "rag"]), default="agent", show_default=True,
              help="Mode for questions that do not name their own.")
@click.option("--no-index", is_flag=True, help="Do not update the index first.")
def run(questions: TextIO, repo: Path, output: TextIO, mode: str, no_index: bool,
        **flags: Any) -> None:
    """Answer every question in QUESTIONS (JSONL objects with "question" and optionally
    "id" and "mode", or one question a line; "-" reads stdin), writing one JSON object a
    line, as soon as each is done.

    A question that fails is recorded (status "error") and the batch goes on. Exit
    status: 0 when every question was answered, 7 when some failed, 4 when Ollama is not
    usable at the start.
    """
    from codeagent.assistant.llm import check_ollama
    from codeagent.assistant.session import Session
    from codeagent.cli.console import BatchProgress

    settings = settings_from(repo, **flags)
    items = [_question(line, n, mode) for n, line in enumerate(questions, 1) if line.strip()]
    check_ollama(settings)
    if not no_index:
        update_index(repo, settings, quiet=True)
    session = Session(repo, settings)
    progress = BatchProgress(len(items)) if sys.stderr.isatty() else None
    failed = unverified = 0
    try:
        for item in items:
            session.reset()  # batch questions are independent
            answer = session.ask(item["question"], item["mode"])
            failed += answer.status == "error"
            unverified += answer.status == "unverified"
            output.write(json.dumps({"id": item["id"], **answer.to_json()},
                                    ensure_ascii=False) + "\n")
            output.flush()
            if progress:
                progress.advance(answer.status)
    finally:
        session.close()
        if progress:
            progress.stop()
    click.echo(f"{len(items)} questions, {failed} failed"
               + (f", {unverified} unverified" if unverified else ""), err=True)
    if failed:
        sys.exit(EXIT_SOME_FAILED)


def _question(line: str, number: int, default_mode: str) -> dict[str, Any]:
    text = line.strip()
    if text.startswith("{"):
        try:
            item = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"line {number} is not valid JSON: {exc.msg}") from None
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            raise click.BadParameter(f'line {number} has no "question"')
        return {"id": item.get("id", number), "question": str(item["question"]),
                "mode": item.get("mode", default_mode)}
    return {"id": number, "question": text, "mode": default_mode}


@click.command(context_settings=CONTEXT)
@click.argument("path", required=False, is_eager=True,  # --repo's default reads it
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@repo_option
@agent_options
@store_options
@click.option("--no-index", is_flag=True, help="Do not update the index first.")
def chat(path: Path | None, repo: Path, no_index: bool, **flags: Any) -> None:
    """Talk about the repository PATH (default: the current one) in a REPL.

    Opens at once and indexes what changed in the background (the status bar shows how
    far; grep, read_file, list_files and find_symbol work meanwhile, keyword search once
    the files are chunked, semantic search when the index is in). Follow-up questions see
    the conversation. Without a reachable Ollama it starts in search-only mode and says
    how to fix it. /help lists the commands; Ctrl-C cancels a turn, Ctrl-D leaves.
    """
    from codeagent.assistant.llm import check_ollama
    from codeagent.cli.repl import run_repl

    root = path.resolve() if path else repo
    settings = settings_from(root, **flags)
    offline = None
    try:
        check_ollama(settings)
    except LLMUnavailable as exc:
        offline = exc
    sys.exit(run_repl(root, settings, offline_reason=offline, index=not no_index))


@click.command(context_settings=CONTEXT)
@repo_option(optional=True)
@agent_options
@store_options
def doctor(repo: Path | None, **flags: Any) -> None:
    """Check everything codeagent needs and print a table: Python, torch and the embedding
    device, the embedding model, Ollama and its model, the index and its store, ripgrep,
    the tree-sitter grammars. Exit status 1 when a check fails."""
    from codeagent.cli.doctor import render, run_checks

    checks = run_checks(repo, settings_from(repo, **flags))
    click.echo(render(checks))
    if not all(check.ok for check in checks):
        sys.exit(1)


class _Printer:
    """Streams a question's progress: steps to stderr, the answer to stdout, and while the
    model works a spinner line on stderr when it is a terminal."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        from codeagent.cli.thinking import NoSpinner, Spinner, Thinking

        self.out, self.err = out, err
        self.spinner = Spinner(Thinking(), err) if err.isatty() else NoSpinner(Thinking())
        self.spinner.show()

    def __call__(self, event: Any) -> None:
        self.spinner.hide()  # nothing is written into the spinner's line
        self.spinner.update(event)
        self._write(event)
        self.spinner.show()

    def _write(self, event: Any) -> None:
        from codeagent.textfile import printable

        if event.kind == "answer":
            self.out.write(printable(event.text))
            self.out.flush()
        elif event.kind == "tool":
            arguments = json.dumps(event.data.get("arguments", {}), ensure_ascii=False)
            self.err.write(f"-> {event.text} {printable(arguments)[:200]}\n")
        elif event.kind == "observation":
            self.err.write(f"   {printable(event.text)}\n")
        elif event.kind == "retry":
            self.err.write(f"   (the model's reply was refused: "
                           f"{printable(event.text.splitlines()[0] if event.text else '')})\n")
        elif event.kind == "check":
            self.out.write("\n")  # the corrected answer follows on a line of its own
            self.err.write(f"   ({printable(event.text)}; the model corrects its answer)\n")
        elif event.kind == "stopped":
            self.err.write(f"   (stopped: {printable(event.text)})\n")
        self.err.flush()


def _print_outcome(answer: Any, out: TextIO, err: TextIO) -> None:
    """After the streamed answer: what was not streamed, and the citation check."""
    from codeagent.cli.console import citation_lines

    if answer.mode == "agent" and answer.status == "incomplete" and answer.answer:
        out.write(answer.answer)  # a best-effort answer is made after the stream
    out.write("\n")
    for line in citation_lines(answer):
        err.write(line + "\n")
    if answer.status != "ok" and answer.reason:
        err.write(f"status: {answer.status} ({answer.reason})\n")
