"""Reranked multi-query retrieval, composed from LlamaIndex parts:

    variants (LLM or heuristic) -> VectorIndexRetriever + BM25Retriever per variant
      -> QueryFusionRetriever (reciprocal rank) -> SpanMerger -> SentenceTransformerRerank

One question asked several ways, against two retrievers that fail differently (vectors
blur names, BM25 misses paraphrases), finds the code that each alone ranks second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.mock import MockLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from codeagent.index import keyword_index
from codeagent.index.keyword_index import chunk_metadata, is_whole_chunk, tokenize
from codeagent.retrieval.mentions import by_file_rank

CANDIDATES = 200
"""Chunks taken from each retriever (per query variant) and fused, for the entity ranking:
the file a fix needs is often not among the first few dozen chunks (on the 79 localization
tasks, ranking from the first 24 instead of 200 loses 0.11 of Acc@5; bench/README.md)."""


@dataclass
class Retrieval:
    hits: list[NodeWithScore]
    """Spans, best first: metadata path, start_line, end_line, symbol, language and
    focus_line (where the best-scoring part starts); text = the file's lines."""
    notes: list[str] = field(default_factory=list)
    """What the caller should know, e.g. that keyword search was off."""
    definitions: list[tuple[str, float]] = field(default_factory=list)
    """`path:Qualified.name` best first, when an entity ranking was given."""


def multi_query(index: Any, data_dir: Path, variants: list[str], k: int,
                read_lines: Callable[[str], list[str] | None],
                reranker: BaseNodePostprocessor | None = None,
                entities: Callable[[list[tuple[str, int, int]]], Any] | None = None,
                keywords: Any = None) -> Retrieval:
    """The k best spans for variants[0] (the question), asked as every variant against the
    vector `index` (a VectorStoreIndex; None: keywords only) and the keyword index in
    `data_dir` (or `keywords`, a bm25s.BM25 in memory). `entities` ranks files and
    definitions from the fused chunks ((path, start_line, end_line) best first; an
    `functions.EntityRanking`): the spans follow its file ranking, and its definitions are
    returned.

    Files and definitions are ranked from all CANDIDATES fused chunks, as `codeagent eval`
    measures it; spans are merged from the first few dozen only, plus the best chunk of
    each of the first k files where it lies deeper, so that a span stays a few windows of
    code, not a 200-line stretch of a file with many weak hits."""
    retrievers: list[BaseRetriever] = [] if index is None else [
        ChunkRetriever(index.as_retriever(similarity_top_k=CANDIDATES))]
    notes = []
    try:
        keyword = keyword_retriever(data_dir, CANDIDATES, keywords)
        if keyword is None:
            notes.append("keyword search off: the keyword index is missing "
                         "(`codeagent index` makes it)")
        else:
            retrievers.append(ChunkRetriever(keyword))
    except (OSError, ValueError) as exc:  # damaged files: numpy and json raise these
        notes.append(f"keyword search off: the keyword index is unreadable ({exc}); "
                     "`codeagent index --rebuild` remakes it")
    if not retrievers:
        return Retrieval([], notes)
    fused = VariantFusionRetriever(retrievers, variants, CANDIDATES).retrieve(variants[0])
    shown = fused[:max(3 * k, 20)]
    ranking = None
    if entities is not None and fused:
        ranking = entities([(n.node.metadata["path"], int(n.node.metadata["start_line"]),
                             int(n.node.metadata["end_line"])) for n in fused])
        shown = with_best_chunks(shown, fused, [path for path, _ in ranking.files[:k]])
    spans = SpanMerger(read_lines).postprocess_nodes(shown)
    if reranker is not None and spans:
        spans = reranker.postprocess_nodes(spans, query_str=variants[0])
    definitions: list[tuple[str, float]] = []
    if ranking is not None and spans:
        order = by_file_rank([span.node.metadata["path"] for span in spans], ranking.files)
        spans, definitions = [spans[i] for i in order], ranking.definitions
    return Retrieval(spans[:k], notes, definitions)


def with_best_chunks(shown: list[NodeWithScore], fused: list[NodeWithScore],
                     files: list[str]) -> list[NodeWithScore]:
    """`shown`, plus the best of `fused` of each of `files` that `shown` has no chunk of."""
    present = {hit.node.metadata["path"] for hit in shown}
    extra = []
    for path in files:
        if path not in present:
            best = next((hit for hit in fused if hit.node.metadata["path"] == path), None)
            if best is not None:
                extra.append(best)
                present.add(path)
    return shown + extra


class CodeBM25Retriever(BM25Retriever):
    """BM25Retriever over `keyword_index` tokens. Its own query tokenizer lowercases before
    splitting (camelCase is lost), so the query is cut by `tokenize` first and handed on as
    space-separated tokens, which `\\S+` splits back without stemming."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(token_pattern=r"\S+", skip_stemming=True, **kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        tokens = tokenize(query_bundle.query_str)
        if not tokens:
            return []
        hits = super()._retrieve(QueryBundle(" ".join(tokens)))
        # bm25s fills k places even when no document shares a token with the query.
        return [hit for hit in hits if (hit.score or 0.0) > 0.0]


def keyword_retriever(data_dir: Path, top_k: int, bm25: Any = None) -> CodeBM25Retriever | None:
    bm25 = bm25 if bm25 is not None else keyword_index.load(data_dir)
    if bm25 is None:
        return None
    # BM25Retriever warns (on stderr) when asked for more hits than there are documents.
    return CodeBM25Retriever(existing_bm25=bm25,
                             similarity_top_k=min(top_k, int(bm25.scores["num_docs"])))


class ChunkRetriever(BaseRetriever):
    """Another retriever's hits as bare chunk nodes (id, fixed metadata, no text).
    QueryFusionRetriever tells hits apart by a hash of text and metadata, and a chunk comes
    back from Chroma with its text and extra metadata but from BM25 without: made alike,
    the same chunk found by both is fused into one."""

    def __init__(self, inner: BaseRetriever) -> None:
        super().__init__()
        self._inner = inner

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=TextNode(id_=hit.node.node_id,
                                            metadata=chunk_metadata(hit.node.metadata)),
                              score=hit.score)
                for hit in self._inner.retrieve(query_bundle)
                if is_whole_chunk(hit.node.metadata)]


class VariantFusionRetriever(QueryFusionRetriever):
    """QueryFusionRetriever in reciprocal-rank mode over query variants made beforehand
    (its own generation asks an LLM on every call, unchecked, with no fallback)."""

    def __init__(self, retrievers: list[BaseRetriever], variants: list[str], top_k: int) -> None:
        # The LLM is never called (_get_queries is replaced); without one, the base class
        # would resolve LlamaIndex's global default, OpenAI.
        super().__init__(retrievers, llm=MockLLM(), mode="reciprocal_rerank",
                         similarity_top_k=top_k, num_queries=len(variants), use_async=False)
        self._variants = variants[1:]

    def _get_queries(self, original_query: str) -> list[QueryBundle]:
        return [QueryBundle(variant) for variant in self._variants]


class SpanMerger(BaseNodePostprocessor):
    """Hits in one file whose lines overlap, touch, or are apart by blank lines only become
    one span, the union of their lines, with the file's text; it keeps the best score.
    Windows of the same code are one answer, and citations name real lines."""

    max_lines: int = Field(default=200, description="Adjacent hits merge up to this span.")
    _read_lines: Callable[[str], list[str] | None] = PrivateAttr()

    def __init__(self, read_lines: Callable[[str], list[str] | None], max_lines: int = 200) -> None:
        super().__init__(max_lines=max_lines)
        self._read_lines = read_lines

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        by_path: dict[str, list[tuple[int, NodeWithScore]]] = {}
        for position, hit in enumerate(nodes):
            by_path.setdefault(hit.node.metadata["path"], []).append((position, hit))
        spans: list[tuple[float, int, NodeWithScore]] = []
        for path, hits in by_path.items():
            lines = self._read_lines(path)
            if lines is None:  # gone or unreadable since it was indexed: nothing to cite
                continue
            for group in self._groups(hits, lines):
                span = self._span(path, [hit for _, hit in group], lines)
                spans.append((-(span.score or 0.0), min(p for p, _ in group), span))
        return [span for *_, span in sorted(spans, key=lambda item: item[:2])]

    def _groups(self, hits: list[tuple[int, NodeWithScore]],
                lines: list[str]) -> list[list[tuple[int, NodeWithScore]]]:
        ordered = sorted((item for item in hits
                          if item[1].node.metadata["start_line"] <= len(lines)),
                         key=lambda item: item[1].node.metadata["start_line"])
        groups: list[list[tuple[int, NodeWithScore]]] = []
        start = end = 0
        for item in ordered:
            meta = item[1].node.metadata
            new_end = max(end, min(meta["end_line"], len(lines)))
            overlaps = meta["start_line"] <= end
            # lines[end:start-1] are the lines strictly between, 1-based end+1 .. start-1
            touches = not any(line.strip() for line in lines[end:meta["start_line"] - 1])
            if groups and (overlaps or (touches and new_end - start < self.max_lines)):
                groups[-1].append(item)
                end = new_end
            else:
                groups.append([item])
                start, end = meta["start_line"], min(meta["end_line"], len(lines))
        return groups

    @staticmethod
    def _span(path: str, hits: list[NodeWithScore], lines: list[str]) -> NodeWithScore:
        start = min(hit.node.metadata["start_line"] for hit in hits)
        end = min(max(hit.node.metadata["end_line"] for hit in hits), len(lines))
        symbols = list(dict.fromkeys(s for hit in hits if (s := hit.node.metadata["symbol"])))
        best = max(hits, key=lambda hit: hit.score or 0.0)
        node = TextNode(id_=f"{path}:{start}-{end}", text="\n".join(lines[start - 1:end]),
                        metadata={"path": path, "start_line": start, "end_line": end,
                                  "symbol": ", ".join(symbols),
                                  "language": best.node.metadata["language"],
                                  # where the best part starts: a snippet begins there
                                  "focus_line": best.node.metadata["start_line"]},
                        # the cross-encoder reads path and symbol with the code
                        excluded_embed_metadata_keys=["start_line", "end_line", "language",
                                                      "focus_line"])
        return NodeWithScore(node=node, score=best.score)
