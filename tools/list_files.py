"""list_files: the repository's tree, or the files matching a glob."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from codeagent.index.walker import walk_cached

from .context import Budget, ToolContext, ToolError, broader_glob, glob_matches


def list_files(
    ctx: ToolContext,
    path_glob: Annotated[str | None, "gitignore-style glob: '*.py', 'src/', 'tests/**/test_*.py'."] = None,
    depth: Annotated[int, "Directory levels to expand; deeper ones show as 'dir/ (N files)'."] = 2,
) -> str:
    """List the repository's files (the ones codeagent can see: ignored and secret files are
    left out). Without path_glob, a tree down to `depth` levels; with it, every matching
    path. Use it to learn the layout or find a file by name; to search inside files use
    grep (exact text) or semantic_search (concepts)."""
    if depth < 1:
        raise ToolError("depth must be 1 or more")
    files = [f.path for f in walk_cached(ctx.rules, ctx.cache.setdefault("walk", {})).files]
    if path_glob:
        matched = glob_matches(path_glob, files)
        if not matched:
            broader = broader_glob(path_glob, files)
            return f"no files match '{path_glob}'; " + (
                f"'{broader[0]}' matches {broader[1]} (list_files(path_glob='{broader[0]}'))"
                if broader else "list_files() shows the tree")
        return _capped(ctx, f"{len(matched)} files match '{path_glob}':", matched)
    if not files:
        return "the repository has no files codeagent can see"
    return _capped(ctx, f"{len(files)} files (tree to depth {depth}):", _tree(files, depth))


def _tree(files: list[str], depth: int) -> list[str]:
    """Paths up to `depth` levels; each deeper directory once, with its file count."""
    collapsed = Counter()
    entries: list[str] = []
    for path in files:
        parts = path.split("/")
        if len(parts) <= depth:
            entries.append(path)
        else:
            directory = "/".join(parts[:depth]) + "/"
            if directory not in collapsed:
                entries.append(directory)
            collapsed[directory] += 1
    return [f"{e} ({collapsed[e]} files)" if e in collapsed else e for e in sorted(entries)]


def _capped(ctx: ToolContext, header: str, lines: list[str]) -> str:
    budget = Budget(ctx.settings.observation_tokens)
    budget.add(header)
    shown = 0
    for line in lines:
        if not budget.add(line):
            break
        shown += 1
    if shown < len(lines):
        budget.lines.append(f"... {len(lines) - shown} more: narrow with path_glob "
                            "(e.g. 'src/' or '*.py') or a smaller depth")
    return "\n".join(budget.lines)
