"""Citations in an answer (`path:line`, `path:start-end`) checked against the repository:
the file exists inside it, is not secret or ignored, and has those lines. A path that no
file has but exactly one file's path ends with (`brain/x.py`, `x.py`) cites that file."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from codeagent.textfile import decode, split_lines

# A path, then its lines: `path:12`, `path:12-40` (an L before numbers is tolerated), and
# the forms models and people write as often: `path lines 12-40`, `path, line 12`,
# `path: Lines 12-40`, `path file at lines 12-40`, `path (lines 12-40)`, `path#L12-L40`,
# the path in backticks, **bold** or <angle brackets>. To tell
# a path from prose ("note:1"), it has a directory, or an extension, or is a dotfile.
PATH = (r"(?:\.{1,2}/|/)?(?:[\w.@+-]+/)+[\w.@+-]+"   # with directories (absolute too:
                                                   # the check says why that is wrong)
        r"|\.[\w@+-][\w.@+-]*"                         # a dotfile: .env, .gitignore
        r"|[\w@+-]+(?:\.[\w@+-]+)*\.[A-Za-z_]\w*")    # a file name with an extension
                                                      # (a letter first: 1.5 is no file)
CITATION = re.compile(
    r"(?<![\w/.-])[<`*]*(" + PATH + r")[>`*]*"
    r"(?::L?|#L|[,:]? ?\(?(?: file)?,? ?(?:(?:at|in|around|on) )?[Ll]ines? )"
    r"(\d+)(?:(?:-|\u2013| to )L?(\d+))?"
    r"(?!\w)(?!\.\d)")                                  # a sentence's full stop may follow
# The lines first: `line 12 of path`, `lines 12-40 in path`.
CITATION_LINES_FIRST = re.compile(
    r"\b[Ll]ines? (\d+)(?:(?:-|\u2013| to )(\d+))? (?:of|in) (?:the file )?[<`*]*(" + PATH
    + r")(?<!\.)(?![\w/])")


@dataclass(frozen=True)
class Citation:
    path: str
    start: int
    end: int
    valid: bool
    reason: str | None = None
    """Why it is not valid."""
    seen: bool | None = None
    """Whether a tool result showed these lines (None: not checked)."""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start}" + (f"-{self.end}" if self.end != self.start else "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_citations(answer: str, ctx: Any, evidence: Any = None) -> list[Citation]:
    """Every distinct citation in `answer`, in order, checked; `ctx` is a ToolContext (its
    jail decides what is inside the repository); with `evidence` (an `Evidence`), whether
    the model was shown those lines."""
    from codeagent.tools import ToolError

    seen, found = set(), []
    lines_of: dict[str, int | None] = {}
    for raw, start, end in cited_places(answer):
        path = raw[2:] if raw.startswith("./") else raw
        if (path, start, end) in seen:
            continue
        seen.add((path, start, end))
        try:
            absolute, rel = ctx.resolve(path)
        except ToolError as exc:
            found.append(Citation(path, start, end, False, str(exc)))
            continue
        if rel not in lines_of:
            lines_of[rel] = _line_count(absolute)
        if lines_of[rel] is None and len(near := ctx.same_name(rel, 2)) == 1:
            # A path given from inside its package (`brain/x.py` for `astroid/brain/x.py`)
            # that only one file fits names that file.
            absolute, rel = ctx.resolve(near[0])
            lines_of.setdefault(rel, _line_count(absolute))
        total = lines_of[rel]
        reason = None
        if total is None:
            reason = "no such file in the repository"
        elif start < 1 or end < start:
            reason = f"not a line range ({start}-{end})"
        elif end > total:
            reason = f"line {end} is past the end ({rel} has {total} lines)"
        shown = None if evidence is None or reason else evidence.covers(rel, start, end)
        found.append(Citation(rel, start, end, reason is None, reason, shown))
    return found


def cited_places(answer: str) -> list[tuple[str, int, int]]:
    """(path, start, end) of every citation in `answer`, in the order written."""
    found = [(m.start(), m.group(1), int(m.group(2)), int(m.group(3) or m.group(2)))
             for m in CITATION.finditer(answer)]
    found += [(m.start(), m.group(3), int(m.group(1)), int(m.group(2) or m.group(1)))
              for m in CITATION_LINES_FIRST.finditer(answer)]
    return [(path, start, end) for _, path, start, end in sorted(found)]


def citation_problems(citations: list[Citation]) -> list[str]:
    """What keeps an answer from being verified, one line each: citations that are not
    valid, valid ones of lines no tool result showed, or no valid citation at all."""
    problems = [f"{c.location}: {c.reason}" for c in citations if not c.valid]
    problems += [f"{c.location}: no tool result showed these lines" for c in citations
                 if c.valid and c.seen is False]
    if not any(c.valid for c in citations):
        problems.append("the answer cites no code: give the location of the lines it rests on")
    return problems


def _line_count(path: Any) -> int | None:
    try:
        if not path.is_file():
            return None
        decoded = decode(path.read_bytes())
    except OSError:
        return None
    return len(split_lines(decoded[0])) if decoded else None
