"""Citations in an answer (`path:line`, `path:start-end`) checked against the repository:
the file exists inside it, is not secret or ignored, and has those lines. A path that no
file has but exactly one file's path ends with (`brain/x.py`, `x.py`) cites that file. A
definition or a quoted line named beside its file cites those lines (`named_citations`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from codeagent.assistant.citation_forms import written_places
from codeagent.textfile import read_lines


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
    named: str | None = None
    """The definition or line the answer named instead of giving lines."""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start}" + (f"-{self.end}" if self.end != self.start else "")

    @property
    def label(self) -> str:
        """Its location, and the name the answer gave it by."""
        return self.location + (f" (`{self.named}`)" if self.named else "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_citations(answer: str, ctx: Any, evidence: Any = None) -> list[Citation]:
    """Every distinct citation in `answer`, in order, checked; `ctx` is a ToolContext (its
    jail decides what is inside the repository); with `evidence` (an `Evidence`), whether
    the model was shown those lines."""
    from codeagent.assistant.named_citations import named_places

    lines_of: dict[str, int | None] = {}
    checked = [(at, _check(raw, start, end, ctx, evidence, lines_of))
               for at, raw, start, end in written_places(answer)]
    checked += [(named.position, Citation(
        named.path, named.start, named.end, True, None,
        None if evidence is None else evidence.covers(named.path, named.line, named.line),
        named.name)) for named in named_places(answer, ctx, evidence)]
    distinct: dict[tuple[str, int, int], Citation] = {}
    for _, citation in sorted(checked, key=lambda item: item[0]):
        distinct.setdefault((citation.path, citation.start, citation.end), citation)
    return list(distinct.values())


def _check(raw: str, start: int, end: int, ctx: Any, evidence: Any,
           lines_of: dict[str, int | None]) -> Citation:
    from codeagent.tools import ToolError

    path = raw[2:] if raw.startswith("./") else raw
    try:
        absolute, rel = ctx.resolve(path)
    except ToolError as exc:
        return Citation(path, start, end, False, str(exc))
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
    return Citation(rel, start, end, reason is None, reason, shown)


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
    lines = read_lines(path) if path.is_file() else None
    return None if lines is None else len(lines)
