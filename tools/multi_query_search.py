"""multi_query_search: one question asked several ways, vectors and keywords fused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from codeagent.errors import IndexProblem
from codeagent.textfile import decode, printable, split_lines

from .context import Budget, ToolContext, ToolError, snippet

SNIPPET_LINES = 6
MAX_K = 20


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
    Slower than semantic_search; for one exact name use grep or find_symbol. Answers
    path:start-end, the symbol and the first lines; then read_file for more."""
    found = find_spans(ctx, question, k)
    if isinstance(found, str):
        return found
    question = question.strip()
    asked = "variants: " + " | ".join(f'"{variant}"' for variant in found.variants)
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


@dataclass
class Spans:
    hits: list[Any]
    """LlamaIndex NodeWithScore spans, best first (metadata: path, start_line, end_line,
    symbol, focus_line; text: the file's lines)."""
    variants: list[str]
    notes: list[str]
    reranked: bool


def find_spans(ctx: ToolContext, question: str, k: int) -> Spans | str:
    """The k best spans for a question (the retrieval behind the tool and `ask --mode rag`);
    a string when there is nothing to search, saying why."""
    if not question or not question.strip():
        raise ToolError("question is empty: ask it in words, with any names you know")
    if not 1 <= k <= MAX_K:
        raise ToolError(f"k must be between 1 and {MAX_K}")
    from codeagent.fusion import load_reranker, multi_query, query_variants
    from codeagent.indexer import data_dir

    try:
        searcher = ctx.searcher()
    except IndexProblem as exc:
        raise ToolError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from None
    if not searcher.manifest.counts()[1]:
        return ("the index holds no code yet, so there is nothing to search; list_files and "
                "grep read the files directly")
    variants, variant_note = query_variants(question.strip(), ctx.llm)
    notes = [variant_note] if variant_note else []
    reranker = None
    if ctx.settings.rerank_model:
        from codeagent.embedding import pick_device

        reranker, rerank_note = load_reranker(ctx.settings.rerank_model,
                                              pick_device(ctx.settings.embed_device))
        notes += [rerank_note] if rerank_note else []
    mentions = _mentions(ctx, searcher)
    found = multi_query(searcher._index, data_dir(ctx.repo), variants, k,
                        read_lines=lambda path: _lines(ctx, path), reranker=reranker,
                        prefer=lambda paths: mentions.reorder(question, paths))
    return Spans(found.hits, variants, notes + found.notes, reranker is not None)


def _mentions(ctx: ToolContext, searcher: Any) -> Any:
    """The index's files and definitions for matching what a question names, kept for the
    session while the index stays the same (built in ~0.1 s per 10k definitions)."""
    from codeagent.mentions import Mentions

    cached = ctx.cache.get("mentions")
    if cached is None or cached[0] != searcher.generation:
        cached = ctx.cache["mentions"] = (searcher.generation, Mentions(searcher.manifest))
    return cached[1]


def _lines(ctx: ToolContext, path: str) -> list[str] | None:
    """A hit's file as it is now, through the jail (the index may be older than a symlink)."""
    try:
        absolute, _ = ctx.resolve(path)
        decoded = decode(absolute.read_bytes())
    except (ToolError, OSError):
        return None
    return split_lines(decoded[0]) if decoded is not None else None
