"""Citations given by name instead of lines.

An answer that names a file and, in the same sentence, one of that file's definitions
("`Session.resolve_redirects` in `requests/sessions.py`") or one of its lines quoted
("`requests/sessions.py` has the line `method = builtin_str(method)`") points at code as
surely as `path:line` does, and a small model writes it so more often than with numbers.
Such a mention cites the definition's lines (from the index's definitions table, as
find_symbol shows them) or the quoted line, when the file has exactly one such definition
or line; anything less certain cites nothing. It counts as seen when a tool result showed
the line that defines it (a function list shows `path:line name`) or the quoted line.

A name in a sentence that names no file ("the `AsStringVisitor` class lacks ...") cites its
definition only when the repository has exactly one and a tool result showed it: the model
said nothing about where it is, so only what it was shown can say it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from codeagent.assistant.citation_forms import CITATION, PATH
from codeagent.errors import CodeagentError
from codeagent.textfile import read_lines

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")
MENTION = re.compile(r"(?<![\w/.-])[<`*]*(" + PATH + r")(?<!\.)(?![\w/])")
CODE = re.compile(r"`([^`\n]+)`")
NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
CALL = re.compile(r"\(.*\)$")  # `resolve_redirects()`, `send(request)`: the name is before it
MIN_QUOTE = 8
"""The shortest quoted line looked up (`x = 1` is in too many files to mean one)."""


@dataclass(frozen=True)
class NamedPlace:
    position: int
    """Where the answer names it (for the citations' order)."""
    path: str
    start: int
    end: int
    line: int
    """The line a tool result must have shown: the definition's first, or the quoted one."""
    name: str


def named_places(answer: str, ctx: Any, evidence: Any = None) -> list[NamedPlace]:
    """Every definition or line the answer names beside its file, and every definition it
    names alone that `evidence` (an `Evidence`) shows, resolved; `ctx` is a ToolContext
    (the jail decides which paths are files of the repository)."""
    found: list[NamedPlace] = []
    definitions = _Definitions(ctx)
    for offset, sentence in _sentences(answer):
        cited = [m.span() for m in CITATION.finditer(sentence)]
        files, elsewhere = {}, False
        for match in MENTION.finditer(sentence):
            if not any(s <= match.start(1) < e for s, e in cited):
                rel = _file(ctx, match.group(1))
                if rel:
                    files[rel] = match.span(1)
                elif "/" in match.group(1):
                    elsewhere = True  # a path that is no file here: the sentence is wrong
        if not files:
            if not elsewhere:
                found += _shown_names(sentence, offset, definitions, evidence)
            continue
        for code in CODE.finditer(sentence):
            if any(s <= code.start(1) < e for s, e in [*files.values(), *cited]):
                continue
            places = [place for rel in files for place in _resolve(ctx, definitions, rel,
                                                                    code.group(1).strip())]
            if len(places) == 1:
                start, end, line, rel = places[0]
                found.append(NamedPlace(offset + code.start(1), rel, start, end, line,
                                        code.group(1).strip()))
    return found


def _shown_names(sentence: str, offset: int, definitions: _Definitions,
                 evidence: Any) -> list[NamedPlace]:
    found = []
    for code in CODE.finditer(sentence) if evidence is not None else ():
        name = CALL.sub("", code.group(1).strip())
        spans = definitions.named(name) if NAME.fullmatch(name) else []
        if len(spans) == 1 and evidence.covers(spans[0][2], spans[0][0], spans[0][0]):
            start, end, rel = spans[0]
            found.append(NamedPlace(offset + code.start(1), rel, start, end, start,
                                    code.group(1).strip()))
    return found


def _resolve(ctx: Any, definitions: _Definitions, rel: str,
             text: str) -> list[tuple[int, int, int, str]]:
    """(start, end, line, path) of what `text` names in file `rel`: its definition when it
    is a name, the line holding it when it is code; one or none (ambiguous is none)."""
    name = CALL.sub("", text)
    if NAME.fullmatch(name):
        spans = definitions.named(name, rel)
        return [(s, e, s, rel) for s, e, _ in spans] if len(spans) == 1 else []
    if len(text) < MIN_QUOTE:
        return []
    lines = read_lines(ctx.repo / rel) or []
    holding = [number for number, line in enumerate(lines, 1) if text in line]
    return [(holding[0], holding[0], holding[0], rel)] if len(holding) == 1 else []


class _Definitions:
    """The index's definitions, looked up lazily (no index: no names resolve)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.manifest: Any = None

    def named(self, name: str, rel: str | None = None) -> list[tuple[int, int, str]]:
        """(start, end, path) of the definitions of `name` (in `rel`, if given): the dotted
        name as written, else shorter from the left (`requests.models.Response.iter_content`
        is the method `Response.iter_content`), stopping at the first that any definition
        has. Without a file a dotted name keeps two parts: `Foo.validate` is not any
        `validate`."""
        if self.manifest is None:
            try:
                self.manifest = self.ctx.manifest()
            except CodeagentError:
                self.manifest = False
        if self.manifest is False:
            return []
        parts = name.split(".")
        for first in range(len(parts) if rel or len(parts) == 1 else len(parts) - 1):
            found = [(d.start_line, d.end_line, d.path)
                     for d in self.manifest.definitions_named(".".join(parts[first:]))
                     if rel is None or d.path == rel]
            if found:
                return found
        return []


def _file(ctx: Any, raw: str) -> str | None:
    """The repository file a mention names (a path cut short that one file fits too)."""
    from codeagent.tools import ToolError

    try:
        absolute, rel = ctx.resolve(raw[2:] if raw.startswith("./") else raw)
    except ToolError:
        return None
    if absolute.is_file():
        return rel
    near = ctx.same_name(rel, 2)
    return near[0] if len(near) == 1 else None


def _sentences(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for end in SENTENCE_END.finditer(text):
        yield start, text[start:end.start()]
        start = end.end()
    yield start, text[start:]
