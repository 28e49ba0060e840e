"""grep: exact text in the files the index sees, answered by ripgrep or by Python's `re`
(codeagent.retrieval.grep_engine holds both engines and what keeps their answers identical)."""

from __future__ import annotations

import os
import re
from typing import Annotated

from codeagent.executables import find_executable
from codeagent.index.walker import walk_cached
from codeagent.retrieval.grep_engine import (ENGINE_ENV, PER_FILE, FileMatches, PatternError, Query,
                                             search)
from codeagent.textfile import holds_private_key, printable

from .context import Budget, ToolContext, ToolError, broader_glob, clip, glob_matches

__all__ = ["ENGINE_ENV", "PER_FILE", "find_matches", "grep"]

MAX_CONTEXT = 10
_FOOTER_CHARS = 120


def grep(
    ctx: ToolContext,
    pattern: Annotated[str, "Text to find, on one line; a literal string unless regex=True."],
    regex: Annotated[bool, "Treat pattern as a Python regular expression."] = False,
    case_sensitive: Annotated[bool, "Match case exactly (default: ignore case)."] = False,
    path_glob: Annotated[str | None, "Only files matching this gitignore-style glob: "
                                     "'*.py', 'src/', 'src/**/test_*.py'."] = None,
    context_lines: Annotated[int, "Lines shown before and after each match (0-10)."] = 0,
) -> str:
    """Find exact text in the repository's files: identifiers, strings, error messages,
    config keys. Returns the matching lines as path:line with a total count, files in path
    order. Literal and case-insensitive by default; regex=True takes a Python regular
    expression. Narrow with path_glob; context_lines shows the lines around each match.
    For concepts or behaviour ('where are retries handled') use semantic_search; for where
    a function or class is defined use find_symbol."""
    files, searched = find_matches(ctx, pattern, regex, case_sensitive, path_glob, context_lines)
    query = Query(pattern, regex, case_sensitive, _clamp(context_lines))
    if not files:
        if path_glob and not searched:
            return _no_files(ctx, path_glob)
        return _no_matches(query, path_glob, searched)
    return _render(ctx, query, path_glob, files)


def find_matches(ctx: ToolContext, pattern: str, regex: bool = False,
                 case_sensitive: bool = False, path_glob: str | None = None,
                 context_lines: int = 0, *, per_file: int = PER_FILE,
                 engine: str | None = None,
                 arg_bytes: int | None = None) -> tuple[list[FileMatches], int]:
    """(files with matches, sorted by path; number of files searched). `engine` overrides
    $CODEAGENT_GREP_ENGINE; `arg_bytes` caps one rg command line (tests force chunks)."""
    if not pattern:
        raise ToolError("pattern is empty: give the text to find")
    if any(char in pattern for char in "\n\r\0"):
        raise ToolError("pattern must be one line (no newline, carriage return or NUL): "
                        "grep matches within single lines")
    query = Query(pattern, regex, case_sensitive, _clamp(context_lines), per_file)
    try:
        query.compile()
    except PatternError as exc:
        raise ToolError(str(exc)) from None
    files = walk_cached(ctx.rules, ctx.cache.setdefault("walk", {})).files
    if path_glob and path_glob.strip():
        chosen = set(glob_matches(path_glob, [f.path for f in files]))
        files = [f for f in files if f.path in chosen]
    engine = (engine or os.environ.get(ENGINE_ENV) or "auto").lower()
    rg = find_executable("rg") if engine != "python" else None
    if engine == "rg" and rg is None:
        raise RuntimeError(f"{ENGINE_ENV}=rg but ripgrep (rg) is not on PATH")
    # The sniff is the dearest rg pass and files rarely change within a session: its
    # answers live as long as the tool context.
    found = search(ctx.repo, files, query, rg, arg_bytes, ctx.cache.setdefault("grep.sniffed", {}))
    _drop_private_keys(ctx, found)
    return [found[path] for path in sorted(found)], len(files)


def _drop_private_keys(ctx: ToolContext, found: dict[str, FileMatches]) -> None:
    """A file holding a private key is never indexed, whatever its name; grep must not show
    it either. Only files with matches are read, once per version in a session."""
    memo = ctx.cache.setdefault("grep.private_keys", {})
    for path in list(found):
        try:
            info = os.stat(ctx.repo / path)
            key = (path, info.st_size, info.st_mtime_ns)
            if key not in memo:
                memo[key] = holds_private_key((ctx.repo / path).read_bytes())
        except OSError:
            continue
        if memo[key]:
            del found[path]


def _clamp(context_lines: int) -> int:
    return max(0, min(int(context_lines), MAX_CONTEXT))


def _describe(query: Query, path_glob: str | None) -> str:
    mode = ["regex" if query.regex else "literal",
            "case-sensitive" if query.case_sensitive else "case-insensitive"]
    if path_glob:
        mode.append(f"path_glob {clip(path_glob, 80)!r}")
    return f'"{clip(query.pattern, 100)}" ({", ".join(mode)})'


def _render(ctx: ToolContext, query: Query, path_glob: str | None,
            files: list[FileMatches]) -> str:
    total = sum(f.count for f in files)
    budget = Budget(ctx.settings.observation_tokens)
    budget.chars_left -= _FOOTER_CHARS  # room for the "N more matches" line
    budget.add(f"{_n(total, 'match')} in {_n(len(files), 'file')} for "
               f"{_describe(query, path_glob)}:")
    shown = dict.fromkeys((f.path for f in files), 0)
    previous = 0
    for file in files:
        block = [(f"{file.path} ({_n(file.count, 'match')})", False)]
        for line in file.lines:
            if query.context and len(block) > 1 and line.number > previous + 1:
                block.append(("  --", False))
            mark = ":" if line.matched else "-"
            block.append((f"  {line.number}{mark} {clip(printable(line.text))}", line.matched))
            previous = line.number
        if not budget.fits([text for text, _ in block[:2]]):
            break  # a file name without a line says nothing
        for text, matched in block:
            if not budget.add(text):
                break
            shown[file.path] += matched
        if budget.full:
            break
    budget.chars_left, budget.full = budget.chars_left + _FOOTER_CHARS, False
    left = [f.count - shown[f.path] for f in files]
    if any(left):
        budget.add(f"{sum(left)} more matches in {_n(sum(1 for n in left if n), 'file')}: "
                   "narrow your search (a more specific pattern or path_glob)")
    return budget.text()


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 'es' if noun.endswith('ch') else 's'}"


def _no_files(ctx: ToolContext, path_glob: str) -> str:
    files = walk_cached(ctx.rules, ctx.cache.setdefault("walk", {})).files
    broader = broader_glob(path_glob, [f.path for f in files])
    try_this = f"path_glob='{broader[0]}' matches {broader[1]} files, " if broader else ""
    return (f"no files match path_glob {path_glob!r}; {try_this}no path_glob searches every "
            "file, list_files shows the layout")


def _no_matches(query: Query, path_glob: str | None, searched: int) -> str:
    tips = ["a shorter pattern (one distinctive word)"]
    if query.case_sensitive:
        tips.insert(0, "case_sensitive=False")
    if query.regex:
        tips.insert(0, "regex=False if the pattern is plain text")
    elif re.search(r"[.*+?|()\[\]\\]", query.pattern):
        tips.insert(0, "regex=True if the pattern is a regular expression")
    if path_glob:
        tips.append("no path_glob")
    tips.append("semantic_search to find code by what it does, find_symbol for definitions")
    return (f"no matches for {_describe(query, path_glob)} in {searched} files. "
            f"Try {'; '.join(tips)}.")
