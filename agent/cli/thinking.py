"""Something moves while the model thinks: a spinner line with the seconds, the step and
the tool (`thinking… 12 s · step 2 · grep`), as Aider shows one. A large model on a CPU
takes minutes a reply; without it the screen looks hung.

`Thinking` reads the turn's events (the same stream the screen shows) and says what the
turn is doing; `Spinner` draws that with rich's Live display on a terminal, and is hidden
whenever anything else is printed, so a line never lands in the middle of it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TextIO


class Thinking:
    """What a turn is doing, from its events: the text of its status line."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.step = 1
        """The model's reply being waited for: one more after each tool result or refusal."""
        self.tool: str | None = None
        """The last tool called."""
        self.running = False
        """A tool is running now (not the model)."""
        self.answering = False
        """The answer is streaming: the text itself shows that something moves."""

    def update(self, event: Any) -> None:
        if event.kind == "tool":
            self.tool, self.running, self.answering = event.text, True, False
        elif event.kind == "observation":
            self.running, self.step = False, self.step + 1
        elif event.kind == "retry":
            self.step += 1
        elif event.kind == "answer":
            self.answering = True
        elif event.kind in ("check", "stopped"):  # the model writes again (a correction)
            self.running = self.answering = False

    @property
    def visible(self) -> bool:
        return not self.answering

    def text(self) -> str:
        seconds = int(self.clock() - self.started)
        if self.running:
            return f"running {self.tool}… {seconds} s · step {self.step}"
        return f"thinking… {seconds} s · step {self.step}" + (f" · {self.tool}"
                                                             if self.tool else "")


class Spinner:
    """A `Thinking` drawn as one transient spinner line on `stream` (a terminal); `hide`
    before printing anything else, `show` after. With `auto_refresh` the seconds tick on
    their own; without, the line is redrawn only when shown or updated (tests)."""

    def __init__(self, thinking: Thinking, stream: TextIO | None = None, *,
                 console: Any = None, auto_refresh: bool = True) -> None:
        from rich.console import Console
        from rich.spinner import Spinner as RichSpinner

        self.thinking = thinking
        self.console = console or Console(file=stream)
        self.auto_refresh = auto_refresh
        self._spinner = RichSpinner("dots", style="cyan")
        self._live: Any = None

    def __rich_console__(self, console: Any, options: Any) -> Any:
        self._spinner.update(text=self.thinking.text())
        yield self._spinner

    def update(self, event: Any) -> None:
        """Follow one event of the turn: hidden while the answer streams."""
        self.thinking.update(event)
        if self._live is not None:
            self._live.refresh()

    def show(self) -> None:
        from rich.live import Live

        if self._live is not None or not self.thinking.visible:
            return
        self._live = Live(self, console=self.console, transient=True,
                          auto_refresh=self.auto_refresh, refresh_per_second=4,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start(refresh=True)

    def hide(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class NoSpinner:
    """Where nobody watches (a pipe, a test's buffer): the turn's status is not drawn."""

    def __init__(self, thinking: Thinking) -> None:
        self.thinking = thinking

    def update(self, event: Any) -> None:
        self.thinking.update(event)

    def show(self) -> None:
        pass

    def hide(self) -> None:
        pass
