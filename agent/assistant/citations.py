"""Citations in an answer (`path:line`, `path:start-end`) checked against the repository:
the file exists inside it, is not secret or ignored, and has those lines."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from codeagent.textfile import decode, split_lines

# A path, then :line or :start-end (an L before numbers is tolerated). To tell a path from
# prose ("note:1"), it has a directory, or an extension, or is a dotfile (.env).
CITATION = re.compile(
    r"(?<![\w/.-])("
    r"(?:\.{1,2}/)?(?:[\w.@+-]+/)+[\w.@+-]+"      # with directories
    r"|\.[\w@+-][\w.@+-]*"                         # a dotfile: .env, .gitignore
    r"|[\w@+-]+(?:\.[\w@+-]+)*\.[A-Za-z0-9_]+"     # a file name with an extension
    r"):L?(\d+)(?:-L?(\d+))?(?!\w)(?!\.\d)")      # a sentence's full stop may follow


@dataclass(frozen=True)
class Citation:
    path: str
    start: int
    end: int
    valid: bool
    reason: str | None = None
    """Why it is not valid."""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start}" + (f"-{self.end}" if self.end != self.start else "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_citations(answer: str, ctx: Any) -> list[Citation]:
    """Every distinct citation in `answer`, in order, checked; `ctx` is a ToolContext (its
    jail decides what is inside the repository)."""
    from codeagent.tools import ToolError

    seen, found = set(), []
    lines_of: dict[str, int | None] = {}
    for match in CITATION.finditer(answer):
        raw, start = match.group(1), int(match.group(2))
        end = int(match.group(3) or start)
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
        total = lines_of[rel]
        reason = None
        if total is None:
            reason = "no such file in the repository"
        elif start < 1 or end < start:
            reason = f"not a line range ({start}-{end})"
        elif end > total:
            reason = f"line {end} is past the end ({rel} has {total} lines)"
        found.append(Citation(rel, start, end, reason is None, reason))
    return found


def _line_count(path: Any) -> int | None:
    try:
        if not path.is_file():
            return None
        decoded = decode(path.read_bytes())
    except OSError:
        return None
    return len(split_lines(decoded[0])) if decoded else None
