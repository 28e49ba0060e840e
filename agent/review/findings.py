"""What a review produces: findings, the impact of the change, and their validation.

A model's findings are suggestions about lines; they are kept only where they can be shown
on the change: the file must be one the diff changes (and exists after it), the lines must
exist; a finding on unchanged lines of a changed file is moved to the nearest change (and
says from where), duplicates are merged.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

SEVERITIES = ("info", "low", "medium", "high")  # in increasing order
NEAR = 2  # lines apart within which two findings with one title are the same finding


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    end_line: int
    severity: str
    title: str
    explanation: str
    suggestion: str | None = None
    """A replacement for the lines, when the model proposes one."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reference:
    path: str
    line: int
    kind: str
    """call, class, type... (from tree-sitter), or text (a grep match)."""
    symbol: str | None = None
    """The innermost definition around the line (`SessionRedirectMixin.resolve_redirects`);
    None at module level."""


@dataclass(frozen=True)
class Impact:
    """A symbol the change defines, alters or removes, and who uses it elsewhere."""

    path: str
    symbol: str
    kind: str
    change: str
    """added, modified or removed."""
    line: int
    references: tuple[Reference, ...] = ()


@dataclass
class FileReview:
    path: str
    status: str
    """added, modified, removed, renamed, binary or skipped."""
    old_path: str | None = None
    note: str | None = None
    """Why it was skipped, or that it is binary, or its mode change."""
    changed_lines: list[tuple[int, int]] = field(default_factory=list)
    """Ranges of added or modified lines in the new file."""


@dataclass
class ReviewReport:
    base: str
    """What the change was compared with: a ref, the index (staged), a diff file."""
    files: list[FileReview] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    impact: list[Impact] = field(default_factory=list)
    model: str | None = None
    """The model that was to judge the change; None when none was (the impact alone)."""
    search_only: bool = False
    """No model, by choice (--no-llm): the impact is the whole answer, not a failure."""
    unavailable: str | None = None
    """Why no model judged the change though one was asked for (Ollama unreachable)."""
    unjudged: dict[str, str] = field(default_factory=dict)
    """Files the model was to judge and gave no usable judgment on: path -> why."""
    notes: list[str] = field(default_factory=list)

    def to_judge(self) -> list[FileReview]:
        """The files a model judges: added, modified or renamed, with changed lines."""
        return [f for f in self.files if f.status in ("added", "modified", "renamed")
                and f.changed_lines]

    def reviewed(self) -> bool:
        """Whether a model judged every file it was to judge. A gate that did not look
        must not pass: findings alone cannot say so, an empty list is also what no look
        gives."""
        return self.model is not None and not self.unjudged

    def not_reviewed(self) -> str | None:
        """Why the change, or part of it, was not judged; None when all of it was."""
        if self.model is None:
            return "search-only mode (--no-llm)" if self.search_only else (
                self.unavailable or "no model was asked")
        if self.unjudged:
            return (f"{len(self.unjudged)} of {len(self.to_judge())} files got no usable "
                    f"judgment from {self.model}")
        return None

    def not_judged(self) -> dict[str, str]:
        """Each file a model was to judge and did not: path -> why."""
        if self.model is None:
            reason = self.not_reviewed() or ""
            return {f.path: reason for f in self.to_judge()}
        return dict(self.unjudged)

    def judged_nothing(self) -> bool:
        """No file got a judgment: the report is the impact, whatever was asked."""
        return self.model is None or (bool(self.unjudged)
                                      and len(self.unjudged) >= len(self.to_judge()))

    def worst(self) -> str | None:
        return max((f.severity for f in self.findings), key=SEVERITIES.index, default=None)

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "model": self.model, "reviewed": self.reviewed(),
                "search_only": self.search_only, "reason": self.not_reviewed(),
                "not_reviewed": [{"path": p, "reason": r} for p, r in self.not_judged().items()],
                "notes": self.notes, "files": [asdict(f) for f in self.files],
                "findings": [f.to_json() for f in self.findings],
                "impact": [asdict(i) for i in self.impact]}


def parse_findings(answer: str) -> tuple[list[dict[str, Any]], str | None]:
    """The findings a model wrote as a JSON array (fenced or bare) in its answer, and the
    error when there is none to read."""
    text = answer.strip()
    fenced = re.search(r"```(?:json)?\s*(\[.*?\])\s*```", text, re.S)
    candidate = fenced.group(1) if fenced else text[text.find("["):] if "[" in text else ""
    if not candidate:
        return [], "the answer holds no JSON array of findings"
    try:
        value, _ = json.JSONDecoder().raw_decode(candidate)
    except json.JSONDecodeError as exc:
        return [], f"the findings are not valid JSON ({exc.msg})"
    if not isinstance(value, list):
        return [], "the findings are not a JSON array"
    found = [item for item in value if isinstance(item, dict)]
    if value and not found:
        return [], "the findings are not JSON objects"
    return found, None


def validate(raw: list[dict[str, Any]], files: dict[str, FileReview],
             line_counts: dict[str, int]) -> tuple[list[Finding], list[str]]:
    """Findings that can be shown on the change, and a note for each one that was not."""
    kept: list[Finding] = []
    notes: list[str] = []
    for item in raw:
        path = str(item.get("path") or "").strip()
        path = path[2:] if path.startswith("./") else path
        review = files.get(path)
        if review is None or review.status in ("removed", "binary", "skipped"):
            notes.append(f"dropped a finding on {path or '(no path)'}: not a file this change "
                         "adds or modifies")
            continue
        try:
            line = int(item.get("line"))
            end = int(item.get("end_line") or line)
        except (TypeError, ValueError):
            notes.append(f"dropped a finding on {path}: its line is not a number")
            continue
        total = line_counts.get(path, 0)
        if line < 1 or line > total:
            notes.append(f"dropped a finding on {path}:{line}: the file has {total} lines")
            continue
        end = min(max(end, line), total)
        severity = str(item.get("severity", "info")).strip().lower()
        finding = Finding(path, line, end, severity if severity in SEVERITIES else "info",
                          " ".join(str(item.get("title") or "untitled").split())[:120],
                          str(item.get("explanation") or "").strip(),
                          str(item["suggestion"]) if item.get("suggestion") else None)
        kept.append(_anchor(finding, review.changed_lines))
    return merge(kept), notes


def _anchor(finding: Finding, changed: list[tuple[int, int]]) -> Finding:
    """Move a finding on unchanged lines to the nearest changed range, saying from where."""
    if not changed or any(a <= finding.end_line and finding.line <= b for a, b in changed):
        return finding
    start, end = min(changed, key=lambda r: min(abs(r[0] - finding.line), abs(r[1] - finding.line)))
    moved = f"(Reported at line {finding.line}, outside the change; shown at the nearest change.) "
    return replace(finding, line=start, end_line=end, explanation=moved + finding.explanation)


def merge(findings: list[Finding]) -> list[Finding]:
    """One finding per place and title: the most severe, with the other explanations. The
    same title on the same or nearly the same lines is one finding said twice."""
    kept: list[Finding] = []
    last: dict[tuple[str, str], int] = {}  # (path, title) -> its latest kept finding
    for finding in sorted(findings, key=lambda f: (f.path, f.line)):
        key = (finding.path, finding.title.lower())
        index = last.get(key)
        if index is None or finding.line > kept[index].end_line + NEAR:
            last[key] = len(kept)
            kept.append(finding)
            continue
        known = kept[index]
        worse = max(known, finding, key=lambda f: SEVERITIES.index(f.severity))
        text = known.explanation if finding.explanation in known.explanation else (
            f"{known.explanation}\n{finding.explanation}")
        kept[index] = replace(worse, line=known.line, end_line=max(known.end_line,
                                                                   finding.end_line),
                              explanation=text)
    return kept


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)
