"""How a review is shown: Markdown for people, JSON for scripts, SARIF for code scanning,
and GitHub Actions workflow commands (annotations on the pull request).

Everything a report holds came from files or a model, so it is treated as hostile: terminal
escapes are neutralised wherever the output may reach a terminal, Markdown cannot break the
document's structure, and workflow commands cannot be split or forged.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any, Callable
from urllib.parse import quote

from codeagent import __version__
from codeagent.review.findings import SEVERITIES, Finding, Impact, Reference, ReviewReport
from codeagent.textfile import printable

FORMATS = ("markdown", "json", "sarif", "github")
SHOWN_REFERENCES = 10
"""References listed per changed symbol; the rest are counted ("... and N more")."""

_DESCENDING = tuple(reversed(SEVERITIES))
_UNREVIEWED = ("binary", "skipped")


def render(report: ReviewReport, fmt: str = "markdown") -> str:
    renderers: dict[str, Callable[[ReviewReport], str]] = {
        "markdown": _markdown, "json": _json, "sarif": _sarif, "github": _github}
    if fmt not in renderers:
        raise ValueError(f"unknown review format {fmt!r}; one of {', '.join(FORMATS)}")
    return renderers[fmt](report)


def _counts(report: ReviewReport) -> dict[str, int]:
    """Findings per severity, most severe first, zeros included (a stable shape)."""
    return {s: sum(f.severity == s for f in report.findings) for s in _DESCENDING}


def _where(path: str, line: int, end_line: int | None = None) -> str:
    return f"{path}:{line}" + (f"-{end_line}" if end_line and end_line != line else "")


def _references(n: int) -> str:
    return f"{n} reference" + ("" if n == 1 else "s")


def _use(ref: Reference) -> str:
    """A reference as plain text: where, and the definition it sits in."""
    return _where(ref.path, ref.line) + (f" in {ref.symbol}" if ref.symbol else "")


def _used(impact: Impact) -> list[Reference]:
    return sorted(impact.references, key=lambda r: (r.path, r.line))


def _anchor(impact: Impact, used: list[Reference]) -> tuple[str, int, str]:
    """Where CI shows a used symbol, and what it is. A removed symbol's definition is gone
    from the tree that CI annotates, so it is shown where it is still used."""
    if impact.change == "removed" and used:
        return (used[0].path, used[0].line, f"{impact.symbol} (removed {impact.kind}, was at "
                f"{_where(impact.path, impact.line)})")
    return impact.path, impact.line, f"{impact.symbol} ({impact.change} {impact.kind})"


# --- Markdown ---------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&])")


def _md_text(text: str) -> str:
    """One line of inline text that renders literally, in a heading too (a title ending in
    "#" or holding "[x](y)" or "<b>" must not change the document)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(printable(text).split()))


def _code(text: str) -> str:
    """An inline code span that holds any text: its fence is longer than any backtick run
    inside, and padded where the text starts or ends with a backtick or a space."""
    text = " ".join(printable(text).split("\n"))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(text: str, path: str) -> list[str]:
    """A code block that no backtick run inside the suggestion can close early."""
    body = printable(text).rstrip("\n")
    fence = "`" * max(3, max((len(r) for r in re.findall(r"`+", body)), default=0) + 1)
    info = PurePosixPath(path).suffix[1:]
    return [fence + (info if info.isalnum() else ""), *body.split("\n"), fence]


def _quoted(text: str) -> list[str]:
    """The model's explanation as a block quote: it may use Markdown, but a stray heading
    or an unclosed fence ends with the quote instead of swallowing the rest of the report."""
    return [f"> {line}".rstrip() for line in printable(text).strip().split("\n")]


def _markdown(report: ReviewReport) -> str:
    out = _markdown_head(report)
    for path in sorted({f.path for f in report.findings}):
        out += [f"## {_code(path)}", ""]
        for f in sorted((f for f in report.findings if f.path == path), key=lambda f: f.line):
            out += [f"### {f.severity.upper()}: {_md_text(f.title)}", "",
                    _code(_where(f.path, f.line, f.end_line)), ""]
            out += [*_quoted(f.explanation), ""] if f.explanation.strip() else []
            if f.suggestion:
                out += [f"Suggested replacement for lines {f.line}-{f.end_line}:", "",
                        *_fenced(f.suggestion, f.path), ""]
    out += _markdown_impact(report)
    skipped = [r for r in report.files if r.status in _UNREVIEWED]
    if skipped:
        out += ["## Skipped", ""]
        out += [f"- {_code(r.path)} ({r.status})" + (f": {_md_text(r.note)}" if r.note else "")
                for r in skipped]
        out.append("")
    if report.notes:
        out += ["## Notes", "", *(f"- {_md_text(note)}" for note in report.notes), ""]
    return "\n".join(out).rstrip("\n")


def _markdown_head(report: ReviewReport) -> list[str]:
    """The verdict first: a change (or a file of it) that no model judged says so before
    anything else, so an empty list of findings never reads as a clean review."""
    base = _code(report.base)
    reason = report.not_reviewed()
    if report.model is None:
        return [f"# Not reviewed: the impact of the change against {base}", "",
                f"No model judged this change: {_md_text(reason or '')}. Below are the "
                "symbols it adds, changes or removes and where the rest of the repository "
                "uses them.", ""]
    tally = " · ".join(f"{n} {s}" for s, n in _counts(report).items())
    if report.judged_nothing():
        out = [f"# Not reviewed: the change against {base}", ""]
    elif reason:
        out = [f"# Review against {base}, incomplete: {tally}", ""]
    else:
        out = [f"# Review against {base}: {tally}", ""]
    out += [f"Model: {_code(report.model)}", ""]
    if reason:
        out += [f"Not reviewed: {_md_text(reason)}:", ""]
        out += [f"- {_code(path)}: {_md_text(why)}" for path, why in report.unjudged.items()]
        out.append("")
    if not report.findings and not report.judged_nothing():
        out += ["No findings in the files reviewed." if reason else "No findings.", ""]
    return out


def _markdown_impact(report: ReviewReport) -> list[str]:
    if not report.impact:
        return ["## Impact", "", "The change adds, alters or removes no known symbol.", ""] \
            if report.judged_nothing() else []
    out = ["## Impact", ""]
    for impact in report.impact:
        used = _used(impact)
        out.append(f"- {_code(impact.symbol)} ({impact.change} {_md_text(impact.kind)}) at "
                   f"{_code(_where(impact.path, impact.line))}: "
                   + (_references(len(used)) if used else "no references elsewhere"))
        out += [f"  - {_code(_where(r.path, r.line))}"
                + (f" in {_code(r.symbol)}" if r.symbol else "") + f" ({_md_text(r.kind)})"
                for r in used[:SHOWN_REFERENCES]]
        if len(used) > SHOWN_REFERENCES:
            out.append(f"  - ... and {len(used) - SHOWN_REFERENCES} more")
    return out + [""]


# --- JSON -------------------------------------------------------------------------------

def _json(report: ReviewReport) -> str:
    # ensure_ascii: C1 controls (\x9b is a CSI on some terminals) come out as \u escapes.
    return json.dumps({**report.to_json(), "counts": _counts(report), "worst": report.worst()},
                      indent=2)


# --- SARIF ------------------------------------------------------------------------------

_SARIF_LEVEL = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
_IMPACT_RULE = "codeagent.impact"
_RULES = [*({"id": f"codeagent.review.{s}",
             "shortDescription": {"text": f"A {s}-severity finding of a code review"},
             "defaultConfiguration": {"level": _SARIF_LEVEL[s]}} for s in _DESCENDING),
          {"id": _IMPACT_RULE,
           "shortDescription": {"text": "A changed symbol that the rest of the repository uses"},
           "defaultConfiguration": {"level": "note"}}]
_RULE_INDEX = {rule["id"]: i for i, rule in enumerate(_RULES)}


def _artifact(path: str) -> dict[str, Any]:
    # A URI reference relative to the checkout: spaces, "%" and non-ASCII percent-encoded.
    return {"uri": quote(path, safe="/"), "uriBaseId": "%SRCROOT%"}


def _region(line: int, end_line: int | None = None) -> dict[str, int]:
    # Whole lines, no columns: SARIF then spans startLine to the end of endLine's text.
    start = max(line, 1)
    return {"startLine": start, "endLine": max(end_line or start, start)}


def _location(path: str, line: int, end_line: int | None = None) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": _artifact(path),
                                 "region": _region(line, end_line)}}


def _finding_result(f: Finding) -> dict[str, Any]:
    rule = f"codeagent.review.{f.severity}"
    result: dict[str, Any] = {
        "ruleId": rule, "ruleIndex": _RULE_INDEX[rule], "level": _SARIF_LEVEL[f.severity],
        "message": {"text": f"{f.title}\n\n{f.explanation}".strip()},
        "locations": [_location(f.path, f.line, f.end_line)]}
    if f.suggestion:
        # The suggestion replaces the finding's lines: a deletedRegion over them (their text,
        # not the final newline) and the new text inserted there.
        result["fixes"] = [{
            "description": {"text": f"Replace lines {f.line}-{f.end_line}"},
            "artifactChanges": [{"artifactLocation": _artifact(f.path), "replacements": [{
                "deletedRegion": _region(f.line, f.end_line),
                "insertedContent": {"text": f.suggestion.removesuffix("\n")}}]}]}]
    return result


def _sarif_plain(text: str) -> str:
    # In a message with embedded links, literal brackets are escaped (SARIF 3.11.6).
    return re.sub(r"([\[\]])", r"\\\1", text)


def _impact_result(impact: Impact) -> dict[str, Any]:
    """A used symbol as a note, its references as related locations linked from the text."""
    used = _used(impact)
    shown = used[:SHOWN_REFERENCES]
    path, line, what = _anchor(impact, used)
    links = ", ".join(f"[{_sarif_plain(_where(r.path, r.line))}]({i})"
                      + (f" in {_sarif_plain(r.symbol)}" if r.symbol else "")
                      for i, r in enumerate(shown, 1))
    more = f" and {len(used) - len(shown)} more" if len(used) > len(shown) else ""
    text = f"{_sarif_plain(what)}: {_references(len(used))}: {links}{more}"
    return {"ruleId": _IMPACT_RULE, "ruleIndex": _RULE_INDEX[_IMPACT_RULE], "level": "note",
            "message": {"text": text}, "locations": [_location(path, line)],
            "relatedLocations": [_related(i, r) for i, r in enumerate(shown, 1)]}


def _related(number: int, ref: Reference) -> dict[str, Any]:
    """A reference, with the definition it sits in as its logical location."""
    related = {"id": number, **_location(ref.path, ref.line),
               "message": {"text": ref.kind + (f" in {ref.symbol}" if ref.symbol else "")}}
    if ref.symbol:
        related["logicalLocations"] = [{"name": ref.symbol.rsplit(".", 1)[-1],
                                        "fullyQualifiedName": ref.symbol}]
    return related


def _sarif(report: ReviewReport) -> str:
    results = [_finding_result(f) for f in report.findings]
    if report.judged_nothing():
        # The impact as results, not only as run properties, because GitHub code scanning
        # shows results (as alerts on the lines) and ignores run.properties; a note per used
        # symbol is what a reviewer needs to see there.
        results += [_impact_result(i) for i in report.impact if i.references]
    run = {"tool": {"driver": {"name": "codeagent", "version": __version__, "rules": _RULES}},
           "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root"}}},
           "invocations": [_invocation(report)], "results": results,
           "properties": {"base": report.base, "model": report.model,
                          "reviewed": report.reviewed()}}
    return json.dumps({"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
                       "version": "2.1.0", "runs": [run]}, indent=2)


def _invocation(report: ReviewReport) -> dict[str, Any]:
    """Whether the run did its job: a review no model made (or made only in part) is not a
    successful one, and the first notification says why; search-only asked for is."""
    notifications = []
    reason = report.not_reviewed()
    if reason:
        notifications.append({"level": "note" if report.search_only else "error",
                              "message": {"text": f"Not reviewed: {reason}"}})
    notifications += [{"level": "error", "message": {"text": f"{path} not reviewed: {why}"},
                       "locations": [{"physicalLocation": {"artifactLocation": _artifact(path)}}]}
                      for path, why in report.unjudged.items()]
    notifications += [{"level": "note", "message": {"text": f"{r.path} not reviewed ({r.status})"
                                                    + (f": {r.note}" if r.note else "")},
                       "locations": [{"physicalLocation": {"artifactLocation": _artifact(r.path)}}]}
                      for r in report.files if r.status in _UNREVIEWED]
    notifications += [{"level": "note", "message": {"text": note}} for note in report.notes]
    invocation: dict[str, Any] = {"executionSuccessful": report.reviewed() or report.search_only}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation


# --- GitHub Actions workflow commands -----------------------------------------------------

_GITHUB_LEVEL = {"high": "error", "medium": "warning", "low": "notice", "info": "notice"}


def _escape_data(text: str) -> str:
    # printable first: the runner log is a terminal emulator, and a raw ESC would reach it.
    return printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, message: str, **props: object) -> str:
    given = ",".join(f"{k}={_escape_property(str(v))}" for k, v in props.items())
    return f"::{name}{' ' + given if given else ''}::{_escape_data(message)}"


def _github(report: ReviewReport) -> str:
    lines = []
    reason = report.not_reviewed()
    if reason:
        # An error unless no model was asked for: a review that did not look must show up.
        said = f"Not reviewed: {reason}." + (" The notices show where the change's symbols "
                                              "are used." if report.judged_nothing() else "")
        lines.append(_command("notice" if report.search_only else "error", said,
                              title="codeagent review"))
    lines += [_command("error", f"not reviewed: {why}", file=path, title="codeagent review")
              for path, why in report.unjudged.items()]
    if report.judged_nothing():
        lines += _github_impact(report.impact)
    for f in report.findings:
        message = f.explanation + (f"\n\nSuggested replacement:\n{f.suggestion}"
                                   if f.suggestion else "")
        lines.append(_command(_GITHUB_LEVEL[f.severity], message, file=f.path, line=f.line,
                              endLine=f.end_line, title=f.title))
    lines += [_command("notice", f"not reviewed ({r.status})" + (f": {r.note}" if r.note else ""),
                       file=r.path, title="codeagent review")
              for r in report.files if r.status in _UNREVIEWED]
    lines += [_command("notice", note, title="codeagent review") for note in report.notes]
    return "\n".join(lines)


def _github_impact(impacts: list[Impact]) -> list[str]:
    """A notice per used symbol: the title says what changed, the message lists the uses."""
    lines = []
    for impact in impacts:
        used = _used(impact)
        if not used:
            continue
        path, line, what = _anchor(impact, used)
        listed = [_use(r) for r in used[:SHOWN_REFERENCES]]
        more = [f"... and {len(used) - SHOWN_REFERENCES} more"] * (len(used) > SHOWN_REFERENCES)
        lines.append(_command("notice", "\n".join(listed + more), file=path, line=line,
                              title=f"{what}: {_references(len(used))}"))
    return lines
