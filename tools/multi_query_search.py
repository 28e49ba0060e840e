"""multi_query_search: one question asked several ways, vectors and keywords fused."""

from __future__ import annotations

from typing import Annotated

from codeagent.textfile import printable

from .context import Budget, ToolContext, ToolError, snippet

SNIPPET_LINES = 6
FUNCTIONS = 5
MAX_K = 20
ECHO_CHARS = 100


def multi_query_search(
    ctx: ToolContext,
    question: Annotated[str, "The whole question or bug report, in words and names: "
                             "'why does resolve_redirects loop forever?'"],
    k: Annotated[int, "How many code spans to return (1-20)."] = 8,
) -> str:
    """Find code for a broad or many-sided question, a bug report or an error message:
    asks it several ways (its identifiers, its key words, rewrites), each by meaning and
    by keyword, fuses the rankings, merges overlapping hits into spans (and reranks them
    when a cross-encoder is configured).
    Use it when a question mixes names and behaviour, or when semantic_search missed.
    Slower than semantic_search; for one exact name use grep or find_symbol. Answers the
    best functions (path:line name), then the spans: path:start-end, the symbol and the
    first lines; then read_file for more."""
    if not question or not question.strip():
        raise ToolError("question is empty: ask it in words, with any names you know")
    if not 1 <= k <= MAX_K:
        raise ToolError(f"k must be between 1 and {MAX_K}")
    found = ctx.spans(question, k)
    if found.unsearchable:
        return f"{found.unsearchable}; list_files and grep read the files directly"
    # A bug report can be the question: echoed whole (and once per variant), it would cost
    # the model more tokens than the code found for it.
    question = _short(question.strip())
    asked = "variants: " + " | ".join(f'"{_short(variant)}"' for variant in found.variants)
    if not found.hits:
        return printable("\n".join([f'nothing found for "{question}" ({asked})', *found.notes,
                                    "try other words or names, grep for an exact string, "
                                    "or list_files to see what the repository holds"]))
    budget = Budget(ctx.settings.observation_tokens)
    ranked_by = "cross-encoder" if found.reranked else "fused rank"
    budget.add(f"{len(found.hits)} spans for \"{question}\", best first by {ranked_by}")
    budget.add(asked)
    for note in found.notes:
        budget.add(note)
    if found.definitions:
        # Where a fix would go, one line each: the functions ranked from the spans, what
        # the question names and the code's call graph.
        budget.add("functions, best first: " + ", ".join(
            f"{d.path}:{d.start_line} {d.qualified}" for d, _ in found.definitions[:FUNCTIONS]))
    blocks = []
    for hit in found.hits:
        meta = hit.node.metadata
        # A merged span can be long: show it from where its best part starts.
        skipped = meta["focus_line"] - meta["start_line"]
        block = snippet(f"{meta['path']}:{meta['start_line']}-{meta['end_line']}  "
                        f"{meta['symbol'] or '-'}",
                        hit.node.get_content().split("\n")[skipped:], SNIPPET_LINES)
        if skipped:
            block.insert(1, f"    ... (from line {meta['focus_line']})")
        blocks.append(block)
    shown = budget.add_blocks(blocks)
    if shown < len(found.hits):
        budget.lines.append(f"({len(found.hits) - shown} more spans left out to stay short; "
                            "ask for fewer with k, or narrow the question)")
    budget.lines.append("read_file(path, start_line) shows a span in full.")
    return "\n".join(budget.lines)


def _short(text: str, width: int = ECHO_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width] + " ..."
