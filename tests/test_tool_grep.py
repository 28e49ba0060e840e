"""The grep tool: the right files and line numbers, the repository's rules, and ripgrep and
Python giving the same answer."""

from __future__ import annotations

import os
import re
import time

import pytest

from codeagent.executables import find_executable
from codeagent.tools import ToolContext, bind
from codeagent.tools.grep import ENGINE_ENV, PER_FILE, find_matches, grep
from support import SOURCES, write_files

HAS_RG = find_executable("rg") is not None
needs_rg = pytest.mark.skipif(not HAS_RG, reason="ripgrep (rg) is not on PATH: pip install "
                                                 "-e '.[test]' installs it")


@pytest.fixture
def ctx(repo, settings_for):
    return ToolContext(repo, settings_for(repo))


def structured(ctx, pattern, **kwargs):
    files, _ = find_matches(ctx, pattern, **kwargs)
    return [(f.path, f.count, [(line.number, line.text, line.matched) for line in f.lines])
            for f in files]


def matching_lines(ctx, pattern, **kwargs):
    """{path: [line numbers of matches]} as the structured result gives them."""
    return {path: [n for n, _, matched in lines if matched]
            for path, _, lines in structured(ctx, pattern, **kwargs)}


def lines_containing(text, needle):
    """An oracle independent of the tool: 1-based numbers of lines holding `needle`."""
    return [n for n, line in enumerate(text.split("\n"), 1) if needle in line.lower()]


ENGINES = ["python", pytest.param("rg", marks=needs_rg)]


@pytest.mark.parametrize("engine", ENGINES)
def test_literal_search_names_files_and_line_numbers(ctx, engine):
    expected = lines_containing(SOURCES["net/redirects.py"], "redirect")
    assert matching_lines(ctx, "redirect", engine=engine) == {"net/redirects.py": expected}
    out = bind(grep, ctx)(pattern="redirect")
    assert out.splitlines()[0].startswith(f"{len(expected)} matches in 1 file")
    assert f"net/redirects.py ({len(expected)} matches)" in out
    assert "  3: MAX_REDIRECTS = 30" in out
    assert "  24:                 raise RedirectError" in out


@pytest.mark.parametrize("engine", ENGINES)
def test_literal_is_not_a_regex_unless_asked(ctx, repo, engine):
    write_files(repo, {"dots.txt": "axb\na.b\n"})
    assert matching_lines(ctx, "a.b", engine=engine) == {"dots.txt": [2]}
    assert matching_lines(ctx, "a.b", regex=True, engine=engine)["dots.txt"] == [1, 2]
    assert matching_lines(ctx, r"^def \w+\(\):", regex=True, engine=engine) == {
        "broken.py": [5]}


@pytest.mark.parametrize("engine", ENGINES)
def test_case_sensitivity(ctx, engine):
    assert "net/redirects.py" in matching_lines(ctx, "max_redirects", engine=engine)
    assert matching_lines(ctx, "max_redirects", case_sensitive=True, engine=engine) == {}
    assert matching_lines(ctx, "MAX_REDIRECTS", case_sensitive=True, engine=engine) == {
        "net/redirects.py": [3, 23, 24]}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("glob, expected", [
    ("*.go", {"storage/cache.go"}),
    ("net/", {"net/redirects.py"}),
    ("**/cache.go", {"storage/cache.go"}),
    ("*.py", {"net/redirects.py"}),
])
def test_path_glob_is_gitignore_style(ctx, engine, glob, expected):
    assert set(matching_lines(ctx, "the", path_glob=glob, engine=engine)) == expected


def test_glob_matching_nothing_says_so(ctx):
    out = bind(grep, ctx)(pattern="the", path_glob="*.nothing")
    assert "no files match path_glob" in out


@pytest.mark.parametrize("engine", ENGINES)
def test_context_lines(ctx, engine):
    [(path, count, lines)] = structured(ctx, "MAX_REDIRECTS = 30", context_lines=2,
                                        engine=engine)
    assert (path, count) == ("net/redirects.py", 1)
    assert [(n, matched) for n, _, matched in lines] == [
        (1, False), (2, False), (3, True), (4, False), (5, False)]
    out = bind(grep, ctx)(pattern="def ", path_glob="broken.py", context_lines=1)
    assert "  1: def broken(:" in out and "  2-     return 1" in out
    assert "  --" in out  # lines 3 and 4 are not shown: the groups are apart
    assert "  5: def fine():" in out and "  6-     return 2" in out


def test_context_lines_are_clamped(ctx):
    [(_, _, lines)] = structured(ctx, "MAX_REDIRECTS = 30", context_lines=500)
    assert lines[0][0] == 1 and len(lines) == 1 + 2 + 10


@pytest.mark.parametrize("engine", ENGINES)
def test_caps_per_file_and_by_budget(repo, settings_for, engine, monkeypatch):
    monkeypatch.setenv(ENGINE_ENV, engine)
    write_files(repo, {f"many/f{i:02}.txt": "needle here\n" * 30 for i in range(40)})
    ctx = ToolContext(repo, settings_for(repo, observation_tokens=400))
    files, _ = find_matches(ctx, "needle")
    assert len(files) == 40 and all(f.count == 30 for f in files)
    assert all(len(f.lines) == PER_FILE for f in files)
    out = grep(ctx, "needle")
    assert out.splitlines()[0].startswith("1200 matches in 40 files")
    assert len(out) <= 400 * 3.5
    shown = len(re.findall(r"^  \d+: needle here$", out, re.M))
    more = re.search(r"^(\d+) more matches in (\d+) files: narrow your search", out, re.M)
    assert more and int(more.group(1)) == 1200 - shown
    assert int(more.group(2)) == 40  # the first file too: only 20 of its 30 lines fit


@pytest.mark.parametrize("case_sensitive", [True, False])
def test_no_match_suggests_what_to_try(ctx, case_sensitive):
    out = grep(ctx, "nothing_like_this", case_sensitive=case_sensitive)
    assert out.startswith("no matches")
    assert "semantic_search" in out
    assert ("case_sensitive=False" in out) == case_sensitive
    assert "regex=True" in grep(ctx, "foo.*bar")


@pytest.mark.parametrize("args", [
    {"pattern": "a(b", "regex": True},
    {"pattern": "[unclosed", "regex": "true"},
    {"pattern": ""},
    {"pattern": "two\nlines"},
    {"pattern": "[[:alpha:]]+", "regex": True},
])
def test_bad_patterns_answer_one_error_line(ctx, args):
    out = bind(grep, ctx)(**args)
    assert out.startswith("error:") and "\n" not in out


@pytest.mark.parametrize("engine", ENGINES)
def test_secrets_ignored_binary_and_outside_files_are_never_searched(ctx, engine):
    for hidden in ("supersecret", "module.exports", "GENERATED = True", "noise", "OUTSIDE_SECRET",
                   "binary", "xxxxxxxx"):
        assert matching_lines(ctx, hidden, engine=engine) == {}, hidden
    assert matching_lines(ctx, "a log file", engine=engine) == {"keep.log": [1]}


@pytest.mark.parametrize("engine", ENGINES)
def test_latin1_file_matches_its_text(ctx, engine):
    assert matching_lines(ctx, "café", engine=engine) == {"legacy.py": [1]}
    assert matching_lines(ctx, "OLÉ", engine=engine) == {"legacy.py": [2]}
    assert "legacy.py (1 match)\n  1: # café au lait" in grep(ctx, "café")


def test_python_engine_without_rg_on_path(ctx, monkeypatch):
    import importlib

    grep_tool = importlib.import_module("codeagent.tools.grep")  # the package's `grep` is the function
    expected = structured(ctx, "redirect", engine="python")
    monkeypatch.setattr(grep_tool, "find_executable", lambda name: None)
    assert structured(ctx, "redirect") == expected


HOSTILE = {
    "win/crlf.py": b"def crlf_func():\r\n\treturn 'value'\r\n\r\n# caf\xc3\xa9 done\r\n",
    "tabs.txt": "\tindented\twith\ttabs\n    spaces   \n",
    "unicode/names.txt": "İstanbul ıi\nKelvin \u212a sign\nlong \u017f\ncombining e\u0301x\n"
                         "Ωmega Straße\n",
    "long/minified.js": "var a=1;" * 4000 + "needle" + ";x" * 100 + "\nend\n",
    "mac/lone_cr.txt": b"first\rsecond line\nthird\r\r\n",
    "ctrl/sep.txt": b"a\x1cb field\nplain line\n",
    "enc/utf16.txt": "\ufeffutf sixteen needle\nsecond\n".encode("utf-16-le"),
    "enc/bom8.txt": "\ufeffbom first line\nneedle two\n".encode("utf-8"),
    "enc/cp1252.txt": "smart \u201cquotes\u201d needle\n".encode("cp1252"),
    "enc/late_nul.txt": b"x" * 9000 + b"\nnul\x00needle\n",
    "braces.txt": "aa\na{ 2}\na<b\nword<b\n[:alpha:]\nxyz\naaa\n",
    "no_newline.txt": "last line has no newline needle",
}

PARITY_CASES = [
    ("needle", {}),
    ("Kelvin", {"case_sensitive": True}),
    ("return", {"context_lines": 2}),
    ("café", {}),
    ("CAFÉ", {}),
    ("i", {"path_glob": "unicode/"}),
    ("k", {}),
    ("s", {"path_glob": "unicode/*.txt"}),
    ("straße", {}),
    ("ı", {}),
    ("def", {"path_glob": "*.py", "context_lines": 1}),
    (r"def \w+\(", {"regex": True}),
    (r"\w+_func\(\)", {"regex": True, "case_sensitive": True}),
    (r"^$", {"regex": True}),
    (r"done$", {"regex": True}),
    (r"^\s+\S", {"regex": True}),
    (r"a.b", {"regex": True}),
    (r"first.second", {"regex": True}),
    (r"e\w", {"regex": True, "path_glob": "unicode/"}),
    (r"[^a-z ]", {"regex": True, "path_glob": "unicode/"}),
    (r"a\sb", {"regex": True}),
    (r"a{ 2}", {"regex": True}),
    (r"a\<b", {"regex": True}),
    (r"[a[:]]", {"regex": True}),
    (r"a++a", {"regex": True}),
    (r"(?x) a [ ] ", {"regex": True}),
    (r"(?x)spaces[ x]", {"regex": True}),
    (r"(?<=def )\w+", {"regex": True}),
    (r"(\w)\1", {"regex": True}),
    (r"x{3,}", {"regex": True}),
    (r"needle|İ", {"regex": True}),
    (r"line\Z", {"regex": True}),
    ("e", {"context_lines": 3}),
]


@needs_rg
def test_ripgrep_and_python_give_identical_results(repo, settings_for):
    write_files(repo, HOSTILE)
    ctx = ToolContext(repo, settings_for(repo))
    for pattern, kwargs in PARITY_CASES:
        by_python = structured(ctx, pattern, engine="python", **kwargs)
        assert by_python or pattern == "a++a", (pattern, kwargs)  # possessive: none
        assert structured(ctx, pattern, engine="rg", **kwargs) == by_python, (pattern, kwargs)
        chunked = structured(ctx, pattern, engine="rg", arg_bytes=900, **kwargs)
        assert chunked == by_python, ("chunked", pattern, kwargs)


@needs_rg
def test_what_python_finds_on_hostile_lines(repo, settings_for):
    """The reference itself, on the lines where the dialects differ, both engines agreeing."""
    write_files(repo, HOSTILE)
    ctx = ToolContext(repo, settings_for(repo))
    for engine in ("python", "rg"):
        found = matching_lines(ctx, "needle", engine=engine)
        assert found["enc/utf16.txt"] == [1] and found["enc/cp1252.txt"] == [1]
        assert found["enc/late_nul.txt"] == [2] and found["long/minified.js"] == [1]
        assert matching_lines(ctx, r"first.second", regex=True, engine=engine) == {
            "mac/lone_cr.txt": [1]}  # a lone \r is an ordinary character to Python
        assert matching_lines(ctx, r"done$", regex=True, engine=engine) == {"win/crlf.py": [4]}
        assert matching_lines(ctx, r"a\sb", regex=True, engine=engine) == {"ctrl/sep.txt": [1]}
        assert matching_lines(ctx, r"a{ 2}", regex=True, engine=engine) == {"braces.txt": [2]}
        assert matching_lines(ctx, "bom first", engine=engine) == {"enc/bom8.txt": [1]}


@needs_rg
def test_sniff_verdicts_follow_edits(repo, settings_for):
    """rg cannot see "café" in latin-1 bytes: only a fresh sniff sends the line to Python."""
    ctx = ToolContext(repo, settings_for(repo))
    old = time.time() - 3600
    write_files(repo, {"edit.txt": b"plain cafe\n", "recent.txt": b"plain cafe\n"})
    os.utime(repo / "edit.txt", (old, old))
    assert matching_lines(ctx, "café", engine="rg") == {"legacy.py": [1]}
    write_files(repo, {"edit.txt": b"other caf\xe9 plus\n"})
    os.utime(repo / "edit.txt", (old + 1, old + 1))
    assert "edit.txt" in matching_lines(ctx, "café", engine="rg")
    # Same size, same mtime: an edit within the clock tick of a recent modification.
    before = os.stat(repo / "recent.txt")
    write_files(repo, {"recent.txt": b"plain caf\xe9\n"})
    os.utime(repo / "recent.txt", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert "recent.txt" in matching_lines(ctx, "café", engine="rg")


def test_docstring_tells_the_model_when_to_use_it():
    from codeagent.tools import description

    text = description(grep)
    assert len(text) < 700
    assert "semantic_search" in text and "find_symbol" in text
