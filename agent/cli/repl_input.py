"""What the chat prompt takes besides text: completion of /commands and paths, and the keys
that prompt-toolkit's defaults lack."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.key_binding import KeyBindings


class ReplCompleter(Completer):
    """/commands at the start of the line; repository paths for a word that looks like
    one (it holds a '/' or a '.'), matched by the path's start or by its file name."""

    def __init__(self, commands: list[str], paths: Callable[[], list[str]]) -> None:
        self.commands = commands
        self.paths = paths

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        if before.startswith("/") and not any(c.isspace() for c in before):
            for name in self.commands:
                if name.startswith(before.lower()):
                    yield Completion(name, -len(before))
            return
        word = document.get_word_before_cursor(WORD=True)
        if "/" not in word and "." not in word:
            return
        for path in self.paths():
            if path.startswith(word) or path.rstrip("/").rsplit("/", 1)[-1].startswith(word):
                yield Completion(path, -len(word))


def prompt_keys() -> KeyBindings:
    keys = KeyBindings()

    # A terminal sends Alt+Enter as Esc then Enter; prompt-toolkit's default for it is
    # "submit", so this binding (added after the defaults) takes precedence.
    @keys.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    return keys
