"""`codeagent chat`: a conversation about one repository in a prompt-toolkit REPL.

Each line is a question for the agent (the Session keeps the conversation, so follow-ups
build on earlier answers) or a /command. A command is a `cmd_*` method; its docstring is
its /help line. Input and output are injectable, so tests drive the real REPL through a
pipe and read what a user would see.

With `index`, the index is brought up to date in a thread while the prompt is open
(`index.background`): the status bar shows how far, the tools say what works until it is
done, and Ctrl-C, which reaches this thread only, never stops it.

When Ollama is not reachable the REPL still starts, in search-only mode: it says why and
how to fix it, and answers each question with the code that matches it. /model leaves
that mode once the model answers.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from prompt_toolkit.output import create_output

from codeagent.cli.repl_input import ReplCompleter, prompt_keys
from codeagent.cli.repl_render import (Screen, event_line, filling_outcome, filling_state,
                                       outcome_lines, sources_lines, span_lines, trace_lines)
from codeagent.cli.thinking import NoSpinner, Spinner, Thinking
from codeagent.errors import CodeagentError, LLMUnavailable, ModelNotPulled
from codeagent.settings import Settings

KEYS = ("Enter sends; Alt+Enter (or Esc then Enter) starts a new line; Tab completes "
        "/commands and paths; Ctrl-C cancels a running answer or clears the line; "
        "Ctrl-D leaves")
ALIASES = {"quit": "exit"}
ARGUMENTS = {"model": " [NAME]", "rag": " QUESTION"}
SEARCH_HITS = 6
STOP_SECONDS = 60.0
"""How long leaving waits for the background index run to stop at a batch boundary."""


def run_repl(repo: Path, settings: Settings, *, session: Any = None,
             offline_reason: LLMUnavailable | None = None, input: Any = None,
             output: Any = None, history_path: Path | None = None,
             embedding: Any = None, index: bool = False) -> int:
    """Run the REPL until /exit or Ctrl-D; the exit code. `offline_reason`: why Ollama is
    not usable (the check's error); the REPL then starts in search-only mode. `index`:
    bring the index up to date in the background while the prompt is open."""
    from codeagent.assistant.session import Session
    from codeagent.index.background import BackgroundIndex

    own = session is None
    session = session or Session(repo, settings, embedding=embedding)
    if index:
        session.ctx.filling = BackgroundIndex(repo.resolve(), settings, embedding)
    try:
        return Repl(repo, session, offline_reason=offline_reason, input=input, output=output,
                    history_path=history_path, embedding=embedding).run()
    finally:
        if own:
            session.close()


class Repl:
    def __init__(self, repo: Path, session: Any, *, offline_reason: LLMUnavailable | None,
                 input: Any, output: Any, history_path: Path | None, embedding: Any) -> None:
        from codeagent.index.layout import ensure_data_dir

        self.repo = repo.resolve()
        self.session = session
        self.settings: Settings = session.settings
        self.offline = offline_reason
        self.embedding = embedding
        self.filling = session.ctx.filling  # the background index run, if any
        self._announced = False
        self._terminal = output is None  # a progress bar only where a person watches
        self.make_spinner: Callable[[Thinking], Any] = (
            (lambda thinking: Spinner(thinking, sys.stdout))
            if self._terminal and sys.stdout.isatty() else NoSpinner)
        """The status line of a turn while the model works (a person watches: a spinner)."""
        self.screen = Screen(output or create_output())
        self._walk_memo: dict = {}
        history = history_path or ensure_data_dir(self.repo) / "chat_history"
        history.parent.mkdir(parents=True, exist_ok=True)
        names = [f"/{name}" for name in [*self.commands(), *ALIASES]]
        self.prompt = PromptSession(
            input=input, output=self.screen.output, history=FileHistory(str(history)),
            completer=ReplCompleter(names, self._paths), complete_while_typing=False,
            key_bindings=prompt_keys(), bottom_toolbar=self._toolbar, prompt_continuation="... ")

    def run(self) -> int:
        self._welcome()
        if self.filling is not None:
            self.filling.begin()
        try:
            return self._loop()
        finally:
            self._stop_filling()

    def _loop(self) -> int:
        while True:
            self._announce()
            filling = self.filling is not None and self.filling.running()
            try:
                # While the index fills, the status bar is redrawn to show how far it is.
                line = self.prompt.prompt("search> " if self.offline else "codeagent> ",
                                          refresh_interval=1.0 if filling else 0)
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt: the line being typed is dropped
            except EOFError:
                return 0
            text = line.strip()
            if not text:
                continue
            self._announce()  # the run may have ended while the line was typed
            try:
                if text.startswith("/"):
                    if self.dispatch(text) is False:
                        return 0
                else:
                    self.ask(text)
            except KeyboardInterrupt:
                self.screen.line("cancelled: back at the prompt (the conversation so far is "
                                 "kept; /reset forgets it)", "class:stopped")
            except CodeagentError as exc:
                self.screen.problem(exc.message, exc.hint)

    def commands(self) -> dict[str, Callable[[str], Any]]:
        """name -> method, in the order they are defined (the order of /help)."""
        return {name[4:]: getattr(self, name) for name in vars(type(self))
                if name.startswith("cmd_")}

    def dispatch(self, text: str) -> bool | None:
        """Run one /command; False when the REPL should end."""
        parts = text[1:].split(None, 1)
        name = parts[0].lower() if parts else ""
        args = parts[1].strip() if len(parts) > 1 else ""
        commands = self.commands()
        name = ALIASES.get(name, name)
        if name not in commands:
            # A unique prefix is enough (/tr for /trace), as in Aider.
            matches = [known for known in commands if name and known.startswith(name)]
            if len(matches) != 1:
                self.screen.line(f"unknown command /{name}: /help lists the commands",
                                 "class:error")
                return None
            name = matches[0]
        return commands[name](args)

    def ask(self, question: str, mode: str = "agent") -> None:
        """One turn: live steps, the streamed answer, then its citation check."""
        if self.offline:
            return self.search_only(question)
        streamed: list[str] = []
        spinner = self.make_spinner(Thinking())

        def emit(event: Any) -> None:
            spinner.hide()  # nothing is printed into the spinner's line
            spinner.update(event)
            if event.kind == "answer":
                streamed.append(event.text)
                self.screen.piece(event.text)
            elif (shown := event_line(event)) is not None:
                streamed.clear()  # the answer is what streams after the last step
                self.screen.line(shown[1], shown[0])
            spinner.show()

        spinner.show()
        try:
            answer = self.session.ask(question, mode=mode, emit=emit)
        finally:
            spinner.hide()
        self.screen.end_piece()
        # Answers written without streaming (a limit was hit, the model failed) or that
        # differ from what streamed are shown whole.
        if answer.answer and "".join(streamed).strip() != answer.answer.strip():
            self.screen.line(answer.answer, "class:answer")
        for style, text in outcome_lines(answer):
            self.screen.line(text, style)

    def search_only(self, question: str) -> None:
        """The code that matches the question, without a model; kept as the last answer
        (mode "search"), so /sources lists its hits and /trace its search."""
        from codeagent.assistant.answer import Answer, Step
        from codeagent.tools import ToolError

        self.session.ctx.llm = None  # no model: the question's variants are heuristic
        self.screen.line("(search-only mode: the code that matches the question)", "class:note")
        started = time.monotonic()
        try:
            found = self.session.ctx.spans(question, SEARCH_HITS)
        except ToolError as exc:
            return self.screen.problem(str(exc))
        hits = [] if found.unsearchable else found.hits
        locations = [f"{m['path']}:{m['start_line']}-{m['end_line']}"
                     for m in (hit.node.metadata for hit in hits)]
        result = found.unsearchable or "\n".join(
            [f"{len(hits)} spans: {', '.join(locations)}" if hits else "no code matches",
             *found.notes])
        ms = (time.monotonic() - started) * 1000
        step = Step("", "search", {"question": question, "k": SEARCH_HITS}, result, round(ms, 1))
        self.session.answers.append(Answer(question, "", "ok", "search", "", steps=[step],
                                           timings={"total_ms": ms}, sources=locations))
        if found.unsearchable:
            return self.screen.line(found.unsearchable)
        self.screen.lines(found.notes, "class:note")
        if not hits:
            return self.screen.line("no code matches; try other words, or exact names")
        for style, text in span_lines(hits):
            self.screen.line(text, style)

    def cmd_help(self, args: str) -> None:
        """Show the commands and the keys."""
        for name, method in self.commands().items():
            aliases = "".join(f", /{alias}" for alias, target in ALIASES.items()
                              if target == name)
            usage = f"/{name}{ARGUMENTS.get(name, '')}{aliases}"
            self.screen.line(f"{usage:<22} {' '.join((method.__doc__ or '').split())}")
        self.screen.line(f"keys: {KEYS}")

    def cmd_reset(self, args: str) -> None:
        """Forget the conversation (the index stays)."""
        self.session.reset()
        self.screen.line("the conversation is forgotten; the next question starts afresh")

    def cmd_sources(self, args: str) -> None:
        """Citations of the last answer, checked against the files (✓/✗ and why)."""
        self.screen.lines(sources_lines(self._last()))

    def cmd_trace(self, args: str) -> None:
        """Steps of the last answer: thought, tool, arguments, times, first line of the result."""
        self.screen.lines(trace_lines(self._last()))

    def cmd_index(self, args: str) -> None:
        """Re-index now: embed the files that changed since the last index."""
        from codeagent.cli.console import RichProgress, index_summary_lines
        from codeagent.index.run import run_index

        if self.filling is not None and self.filling.running():
            return self.screen.line(f"the index is being updated in the background "
                                    f"({self.filling.progress()}); /index again when it is done")
        self.screen.line("indexing...", "class:note")
        progress = RichProgress() if self._terminal and sys.stderr.isatty() else None
        try:
            summary = run_index(self.repo, self.settings, progress=progress,
                                embedding=self.embedding)
        finally:
            # An index run may rebuild (drop and re-create the collection the searcher
            # holds): the searcher reopens on its next use, on what the run left.
            self.session.ctx.close()
        self.screen.lines(index_summary_lines(self.repo, summary, verbose=False))

    def cmd_model(self, args: str) -> None:
        """Switch to the Ollama model NAME if Ollama has it (no NAME: recheck the current)."""
        from codeagent.assistant.llm import check_ollama

        name = args or self.settings.llm_model
        try:
            check_ollama(dataclasses.replace(self.settings, llm_model=name))
        except LLMUnavailable as exc:
            self.screen.problem(exc.message, exc.hint)
            # Still offline, for the reason of the model it keeps (not of the one refused).
            if self.offline and (name == self.settings.llm_model
                                 or not isinstance(exc, ModelNotPulled)):
                self.offline = exc
            self.screen.line(f"the model stays {self.settings.llm_model}"
                             + (" (search-only mode)" if self.offline else ""))
            return
        self.settings.llm_model = name
        self.screen.line(f"model: {name} (Ollama at {self.settings.ollama_host} has it)",
                         "class:ok")
        if self.offline:
            self.offline = None
            self.screen.line("Ollama answers: questions go to the agent again", "class:ok")

    def cmd_rag(self, args: str) -> None:
        """Answer QUESTION from one retrieval and one model reply (fast, no tools)."""
        if not args:
            return self.screen.line("usage: /rag QUESTION", "class:error")
        self.ask(args, mode="rag")

    def cmd_exit(self, args: str) -> bool:
        """Leave the chat (Ctrl-D does too)."""
        return False

    def _welcome(self) -> None:
        self.screen.line(f"codeagent chat: {self.repo} with {self.settings.llm_model}"
                         f"{' (search-only mode)' if self.offline else ''}")
        self.screen.line(f"{KEYS}; /help lists the commands.", "class:note")
        if self.filling is not None and self.filling.first:
            self.screen.line(
                "indexing in the background (the status bar shows how far): grep, read_file "
                "and list_files work now, find_symbol and keyword search once the files are "
                "chunked (seconds), semantic search when the index is in", "class:note")
        if self.offline:
            self.screen.line(f"search-only mode: {self.offline.message}", "class:error")
            if self.offline.hint:
                self.screen.line(f"  -> {self.offline.hint}", "class:hint")
            name = self.settings.llm_model
            fix = (f"pull the model (`ollama pull {name}`)" if isinstance(
                self.offline, ModelNotPulled) else f"start Ollama (`ollama serve`), pull the "
                f"model (`ollama pull {name}`)")
            self.screen.line("Each question is answered with the code that matches it. For "
                             f"the agent: {fix}, then type /model.", "class:hint")

    def _toolbar(self) -> str:
        if isinstance(self.offline, ModelNotPulled):
            name = self.offline.model
            mode = f"search-only (model {name} not pulled: ollama pull {name})"
        else:
            mode = "search-only (Ollama unavailable)" if self.offline else "agent"
        index = f" | index: {filling_state(self.filling)}" if self.filling else ""
        return f" {self.repo.name} | {self.settings.llm_model} | {mode}{index} | /help"

    def _announce(self) -> None:
        """Once, at the prompt after the background index run ended: how it went."""
        if self.filling is None or self.filling.running() or self._announced:
            return
        self._announced = True
        for style, text in filling_outcome(self.repo, self.filling):
            self.screen.line(text, style)

    def _stop_filling(self) -> None:
        if self.filling is None or not self.filling.running():
            return
        self.screen.line(f"stopping the index run ({self.filling.progress()}): what is in "
                         "stays; the next run goes on from there", "class:note")
        self.filling.stop(timeout=STOP_SECONDS)

    def _last(self) -> Any:
        return self.session.answers[-1] if self.session.answers else None

    def _paths(self) -> list[str]:
        from codeagent.index.walker import walk_cached

        walked = walk_cached(self.session.ctx.rules, self._walk_memo)
        return [f"{d}/" for d in walked.directories if d] + [f.path for f in walked.files]
