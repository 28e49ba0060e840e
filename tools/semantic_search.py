"""semantic_search: chunks of code closest in meaning to a query."""

from __future__ import annotations

from typing import Annotated

from .context import Budget, ToolContext, ToolError, snippet

SNIPPET_LINES = 6


def semantic_search(
    ctx: ToolContext,
    query: Annotated[str, "What you are looking for, in words: 'where are redirects followed'."],
    k: Annotated[int, "How many chunks to return (1-20)."] = 8,
    path_glob: Annotated[str | None, "Only files matching this gitignore-style glob, e.g. 'src/'."] = None,
    language: Annotated[str | None, "Only this language, e.g. 'python', 'go', 'markdown'."] = None,
) -> str:
    """Find code by meaning: the indexed chunks closest to a description, best first, each as
    path:start-end, its symbol and its first lines. Use it for concepts and behaviour
    ("where is the cache evicted"). For exact names or strings use grep; for where a
    function is defined or called use find_symbol; for broad questions or bug reports,
    multi_query_search. Then read_file to see a hit in full."""
    if not query.strip():
        raise ToolError("query is empty: describe what the code does")
    if not 1 <= k <= 20:
        raise ToolError("k must be between 1 and 20")
    hits = ctx.searcher().search(query, k=k, language=language, path_glob=path_glob)
    if not hits:
        scope = " and ".join(filter(None, [path_glob and f"path_glob='{path_glob}'",
                                           language and f"language='{language}'"]))
        if scope:
            return f"no indexed code matches {scope}; drop the filter or check it with list_files"
        return "the index is empty; nothing to search (is the repository indexed?)"
    budget = Budget(ctx.settings.observation_tokens)
    budget.add(f"{len(hits)} chunks closest to \"{query}\":")
    if (partial := ctx.partial()) is not None:
        budget.add(partial)
    shown = budget.add_blocks([
        snippet(f"{hit.location}  {hit.symbol or '-'}  (similarity {hit.score:.2f})",
                hit.text.split("\n"), SNIPPET_LINES) for hit in hits])
    if shown < len(hits):
        budget.lines.append(f"({len(hits) - shown} more hits left out to stay short; "
                            "ask for fewer with k, or narrow with path_glob)")
    budget.lines.append("read_file(path, start_line) shows a hit in full.")
    return "\n".join(budget.lines)
