"""The best code spans for a question: the retrieval behind multi_query_search, `ask --mode
rag` and the REPL's search-only mode.

Variants of the question (variants.py) -> vector + BM25 per variant, fused (fusion.py) ->
overlapping hits merged into spans -> the optional cross-encoder (rerank.py) -> the files
the question names first (mentions.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from codeagent.settings import Settings


@dataclass
class Spans:
    hits: list[Any]
    """LlamaIndex NodeWithScore spans, best first (metadata: path, start_line, end_line,
    symbol, focus_line; text: the file's lines)."""
    variants: list[str]
    notes: list[str] = field(default_factory=list)
    definitions: list[tuple[Any, float]] = field(default_factory=list)
    """The definitions best first (`index.graph.Entity`, score): `functions.rank` of the
    fused chunks and the question."""
    reranked: bool = False
    unsearchable: str | None = None
    """Why nothing could be searched at all (an index without code), else None."""


def find_spans(searcher: Any, question: str, k: int, settings: Settings, *,
               read_lines: Callable[[str], list[str] | None], llm: Any = None) -> Spans:
    """The k best spans for `question` in the open index `searcher` (a Searcher).
    `read_lines` gives a file's current lines (the caller decides what may be read);
    `llm`, when given, writes the query variants, else they are heuristic."""
    from codeagent.retrieval import functions, fusion
    from codeagent.retrieval.variants import query_variants

    question = question.strip()
    if not searcher.manifest.counts()[1]:
        return Spans([], [question], unsearchable="the index holds no code yet, so there is "
                     "nothing to search")
    variants, variant_note = query_variants(question, llm)
    notes = [variant_note] if variant_note else []
    reranker = None
    if settings.rerank_model:
        from codeagent.index.embedding import pick_device
        from codeagent.retrieval.rerank import load_reranker

        reranker, rerank_note = load_reranker(settings.rerank_model,
                                              pick_device(settings.embed_device))
        notes += [rerank_note] if rerank_note else []
    mentions, graph = searcher.mentions(), searcher.graph()
    # The LLM's rewrites name the code it expects (`NewLRUCache`): names count from them
    # too. Heuristic variants are pieces of the question, which already counts.
    named_in = "\n".join(variants) if llm is not None and not variant_note else question
    found = fusion.multi_query(
        searcher.vector_index, searcher.repo_data, variants, k, read_lines=read_lines,
        reranker=reranker, keywords=searcher.keywords,
        entities=lambda chunks: functions.rank(named_in, chunks, graph, mentions,
                                               read_lines=read_lines))
    return Spans(found.hits, variants, notes + found.notes,
                 [(graph.entities[d], score) for d, score in found.definitions[:k]],
                 reranker is not None)


class KeywordSearcher:
    """A quick index (`index.quick.QuickIndex`: chunks in memory, no vectors) as
    `find_spans` reads a Searcher: keyword search only, while the vectors are made."""

    vector_index = None

    def __init__(self, repo: Path, quick: Any) -> None:
        from codeagent.index.layout import data_dir

        self.repo, self.repo_data = repo, data_dir(repo)
        self.manifest, self.keywords = quick.manifest, quick.keywords
        self._mentions: Any = None

    def mentions(self) -> Any:
        if self._mentions is None:
            from codeagent.retrieval.mentions import Mentions

            self._mentions = Mentions(self.manifest)
        return self._mentions

    def graph(self) -> Any:
        """The quick index's graph (`load_graph` keeps it: this searcher is made again for
        every search, the quick index is not)."""
        from codeagent.index.graph import load_graph

        return load_graph(self.manifest)
