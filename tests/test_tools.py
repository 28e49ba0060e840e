"""The tools the model sees: right files and lines, caps, empty results, and the jail."""

from __future__ import annotations

import inspect
import os
import re
import typing

import pytest

from codeagent.tools import TOOLS, ToolContext, bind, build_tools, description
from support import write_files

SECRET_VALUE = "supersecret-token-value"  # the fixture's .env


@pytest.fixture
def ctx(repo, settings_for):
    """A context on a fresh fixture copy, with extra traps for the jail."""
    outside = repo.parent / "outside-dir"
    write_files(outside, {"stolen.py": "STOLEN = 1\n"})
    os.symlink(outside, repo / "linked_dir")
    os.symlink(repo / ".env", repo / "innocent.txt")
    write_files(repo, {".git/config": "[remote]\n url = https://token@example.com\n",
                       "certs/server.pem": "-----BEGIN CERTIFICATE-----\n",
                       "id_rsa": "key material\n",
                       "escape.py": "BANNER = '\x1b[2J\x1b]0;pwned\x07'\n"})
    context = ToolContext(repo, settings_for(repo))
    yield context
    context.close()


def call(ctx, tool, **kwargs):
    return bind(TOOLS[tool], ctx)(**kwargs)


HOSTILE_PATHS = [
    "../etc/passwd", "../../../../../../etc/passwd", "/etc/passwd", "~/.ssh/id_rsa",
    "~root/.bashrc", "net/../../outside.py", "net/\x00.py", "outside_link.py",
    "linked_dir/stolen.py", ".env", "./.env", "net/../.env", "innocent.txt", ".git/config",
    "node_modules/lib/index.js", ".codeagent/manifest.sqlite", "generated/models.py",
    "certs/server.pem", "id_rsa", "C:\\Windows\\win.ini", "..\\..\\etc\\passwd",
    "file:///etc/passwd", "", "   ",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_every_escape_and_secret_is_refused(ctx, path):
    output = call(ctx, "read_file", path=path)
    assert output.startswith("error:") and "\n" not in output
    assert SECRET_VALUE not in output and "STOLEN" not in output and "token@" not in output


def test_hostile_globs_never_reveal_secrets_or_outside_files(ctx):
    for glob in ("*", "**/*", ".env", "../*", "/etc/*", "linked_dir/", ".git/"):
        output = call(ctx, "list_files", path_glob=glob)
        assert ".env" not in output.split() and "stolen.py" not in output
        assert ".git/config" not in output and "server.pem" not in output


def test_read_file_shows_numbered_lines_and_how_to_read_on(ctx):
    output = call(ctx, "read_file", path="net/redirects.py", start_line=17, end_line=20)
    lines = output.splitlines()
    assert lines[0] == "net/redirects.py lines 17-20 of 33:"
    assert re.match(r"^17  +def resolve_redirects", lines[1])
    assert "start_line=21" in lines[-1]
    whole = call(ctx, "read_file", path="net/redirects.py")
    assert whole.splitlines()[-1] == "(end of file)" and "33  " in whole


def test_read_file_of_a_file_name_alone_names_the_paths_that_end_so(ctx):
    output = call(ctx, "read_file", path="redirects.py")
    assert output.startswith("error: no file 'redirects.py'") and "net/redirects.py" in output
    # only files the tools may show are named (the walk leaves secrets and ignored files out)
    assert "list_files or grep" in call(ctx, "read_file", path="no_such_name.py")


def test_read_file_window_is_capped_and_points_onwards(ctx):
    write_files(ctx.repo, {"long.py": "".join(f"x_{i} = {i}\n" for i in range(1, 1001))})
    output = call(ctx, "read_file", path="long.py")
    shown = [line for line in output.splitlines() if re.match(r"^\s*\d+  ", line)]
    assert 0 < len(shown) <= 200
    last = int(shown[-1].split()[0])
    assert f"start_line={last + 1}" in output.splitlines()[-1]
    assert len(output) <= ctx.settings.observation_tokens * 3.5 + 200


@pytest.mark.parametrize("kwargs,fragment", [
    ({"path": "net/missing.py"}, "no file"),
    ({"path": "net"}, "directory"),
    ({"path": "net/redirects.py", "start_line": 500}, "past the end"),
    ({"path": "net/redirects.py", "start_line": 0}, "1 or more"),
    ({"path": "net/redirects.py", "start_line": 10, "end_line": 5}, "before"),
    ({"path": "net/redirects.py", "start_line": "ten"}, "whole number"),
    ({"path": "net/redirects.py", "line": 3}, "no argument"),
    ({}, "needs the argument"),
])
def test_bad_arguments_get_one_actionable_line(ctx, kwargs, fragment):
    output = call(ctx, "read_file", **kwargs)
    assert output.startswith("error:") and fragment in output and "\n" not in output


def test_arguments_arrive_as_strings_from_the_model(ctx):
    output = call(ctx, "read_file", path="net/redirects.py", start_line="3", end_line="3")
    assert output.splitlines()[1].startswith("3  MAX_REDIRECTS")


def test_terminal_escapes_in_files_are_neutralised(ctx):
    output = call(ctx, "read_file", path="escape.py")
    assert "\x1b" not in output and "\x07" not in output and "\\x1b[2J" in output


def test_list_files_tree_and_glob(ctx):
    tree = call(ctx, "list_files", depth=1)
    assert "net/ (1 files)" in tree.splitlines() and "broken.py" in tree.splitlines()
    assert ".env" not in tree.split() and "node_modules" not in tree
    assert call(ctx, "list_files", path_glob="*.go").splitlines()[1:] == ["storage/cache.go"]
    empty = call(ctx, "list_files", path_glob="*.nothing")
    assert empty.startswith("no files match") and "list_files()" in empty


@pytest.mark.slow
def test_semantic_search_returns_the_right_file_with_lines(tool_ctx):
    output = call(tool_ctx, "semantic_search", query="follow HTTP redirects to a new location")
    first = output.splitlines()[1]
    assert re.match(r"^net/redirects\.py:\d+-\d+  ", first)
    assert call(tool_ctx, "semantic_search", query="cache",
                language="go").splitlines()[1].startswith("storage/cache.go:")
    none = call(tool_ctx, "semantic_search", query="cache", path_glob="nowhere/")
    assert none.startswith("no indexed code matches")


@pytest.mark.slow
def test_semantic_search_output_stays_within_the_budget(tool_ctx):
    tool_ctx.settings.observation_tokens = 120
    try:
        output = call(tool_ctx, "semantic_search", query="code", k=20)
    finally:
        tool_ctx.settings.observation_tokens = 1500
    assert len(output) <= 120 * 3.5 + 200 and "more hits left out" in output


@pytest.mark.slow
def test_find_symbol_definitions_and_references(tool_ctx):
    output = call(tool_ctx, "find_symbol", name="get_redirect_target")
    assert "net/redirects.py:11-15  method  RedirectMixin.get_redirect_target" in output
    assert "net/redirects.py:20, 27" in output
    qualified = call(tool_ctx, "find_symbol", name="PriceTag.render")
    assert "web/format.js:" in qualified and "PriceTag.render" in qualified
    assert "method" in call(tool_ctx, "find_symbol", name="Put", kind="method")
    # a method asked for as a function is shown, not reported missing
    wrong_kind = call(tool_ctx, "find_symbol", name="get_redirect_target", kind="function")
    assert "net/redirects.py:11-15  method  RedirectMixin.get_redirect_target" in wrong_kind
    assert "none of kind function" in wrong_kind and "no definition" not in wrong_kind
    missing = call(tool_ctx, "find_symbol", name="resolve_redirect")
    assert "resolve_redirects" in missing and "grep" in missing


def test_find_symbol_without_an_index_points_to_grep(ctx):
    output = call(ctx, "find_symbol", name="anything")
    assert output.startswith("error:") and "grep" in output


def test_every_tool_is_registered_described_and_annotated():
    assert set(TOOLS) == {"semantic_search", "multi_query_search", "grep", "find_symbol",
                          "read_file", "list_files"}
    for name, fn in TOOLS.items():
        assert 80 < len(description(fn)) < 1024, name
        for param in list(inspect.signature(fn, eval_str=True).parameters.values())[1:]:
            assert typing.get_origin(param.annotation) is typing.Annotated, (name, param.name)


def test_build_tools_gives_llamaindex_tools_with_argument_schemas(ctx):
    tools = build_tools(ctx, ["read_file", "grep"])
    schema = tools[0].metadata.get_parameters_dict()
    assert tools[0].metadata.name == "read_file" and schema["required"] == ["path"]
    assert "1-based" in schema["properties"]["start_line"]["description"]
    output = tools[0].call(path="net/redirects.py", start_line=1, end_line=1)
    assert "MAX_REDIRECTS" not in output.content and "Following HTTP" in output.content
    with pytest.raises(ValueError):
        build_tools(ctx, ["rm_rf"])


# --- Every hint, followed, works ---------------------------------------------------------

def hinted(output: str, argument: str = "path_glob") -> str:
    found = re.search(rf"{argument}='((?:[^'\\]|\\.)*)'", output)
    assert found, f"no {argument} suggested in: {output}"
    return found.group(1)


def test_a_file_too_large_to_index_is_read_and_says_grep_skips_it(tmp_path, settings_for):
    big = "filler line\n" * 300 + "NEEDLE = 1\n"
    write_files(tmp_path, {"data/huge.log": big})
    ctx = ToolContext(tmp_path, settings_for(tmp_path, max_file_bytes=200))
    try:
        shown = call(ctx, "read_file", path="data/huge.log")
        assert shown.startswith("data/huge.log lines 1-200 of 301:")
        assert "skip" in shown.split("\n")[-1]  # grep would not find what it shows
        assert "no matches" in call(ctx, "grep", pattern="NEEDLE")  # and it does not
        read_on = int(re.search(r"start_line=(\d+)", shown).group(1))  # the hint, followed
        rest = call(ctx, "read_file", path=hinted(shown, "path"), start_line=read_on)
        assert "301  NEEDLE = 1" in rest
        # Asked by its name alone, read_file names it, as for any other file.
        assert "data/huge.log" in call(ctx, "read_file", path="huge.log")
    finally:
        ctx.close()


def test_a_file_too_large_for_any_tool_suggests_none(tmp_path, settings_for, monkeypatch):
    import importlib

    # The package exports the function under the module's name: patch the module.
    monkeypatch.setattr(importlib.import_module("codeagent.tools.read_file"), "READ_MAX_BYTES",
                        300)
    write_files(tmp_path, {"huge.txt": "NEEDLE\n" * 100})
    ctx = ToolContext(tmp_path, settings_for(tmp_path, max_file_bytes=200))
    try:
        refused = call(ctx, "read_file", path="huge.txt")
        assert refused.startswith("error:") and "path_glob" not in refused
        assert "no matches" in call(ctx, "grep", pattern="NEEDLE")  # as it says
    finally:
        ctx.close()


def test_a_directory_points_at_a_list_files_that_lists_just_it(tmp_path, settings_for):
    write_files(tmp_path, {"src/a.py": "A = 1\n", "src/deep/b.py": "B = 1\n",
                           "pkg/src/c.py": "C = 1\n", "odd [x]/d.py": "D = 1\n",
                           "odd x/e.py": "E = 1\n"})
    ctx = ToolContext(tmp_path, settings_for(tmp_path))
    try:
        for directory, inside in (("src", ["src/a.py", "src/deep/b.py"]),
                                  ("odd [x]", ["odd [x]/d.py"])):
            refused = call(ctx, "read_file", path=directory)
            listed = call(ctx, "list_files", path_glob=hinted(refused))
            assert listed.split("\n")[1:] == inside, listed
        assert "list_files()" in call(ctx, "read_file", path=".")
    finally:
        ctx.close()


def test_a_glob_that_matches_nothing_offers_only_a_glob_that_matches(tmp_path, settings_for):
    write_files(tmp_path, {"net/redirects.py": "REDIRECTS = 1\n", "docs/guide.md": "x\n"})
    ctx = ToolContext(tmp_path, settings_for(tmp_path))
    try:
        for tool, kwargs in (("list_files", {}), ("grep", {"pattern": "REDIRECTS"})):
            output = call(ctx, tool, path_glob="lib/redirects.py", **kwargs)
            followed = call(ctx, tool, path_glob=hinted(output), **kwargs)
            assert "net/redirects.py" in followed, (tool, output, followed)
            nothing = call(ctx, tool, path_glob="lib/nowhere.py", **kwargs)
            assert "path_glob='" not in nothing, (tool, nothing)  # nothing to offer
    finally:
        ctx.close()
