"""Reranked multi-query retrieval, composed from LlamaIndex parts:

    variants (LLM or heuristic) -> VectorIndexRetriever + BM25Retriever per variant
      -> QueryFusionRetriever (reciprocal rank) -> SpanMerger -> SentenceTransformerRerank

One question asked several ways, against two retrievers that fail differently (vectors
blur names, BM25 misses paraphrases), finds the code that each alone ranks second.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.mock import MockLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from . import keyword_index
from .embedding import ModelUnavailable
from .keyword_index import chunk_metadata, is_whole_chunk, split_identifier, tokenize

MAX_VARIANTS = 4
RERANK_TOP = 100
"""More than fusion ever passes on; the caller cuts to k."""

log = logging.getLogger(__name__)


@dataclass
class Retrieval:
    hits: list[NodeWithScore]
    """Spans, best first: metadata path, start_line, end_line, symbol, language and
    focus_line (where the best-scoring part starts); text = the file's lines."""
    notes: list[str] = field(default_factory=list)
    """What the caller should know, e.g. that keyword search was off."""


def multi_query(index: Any, data_dir: Path, variants: list[str], k: int,
                read_lines: Callable[[str], list[str] | None],
                reranker: BaseNodePostprocessor | None = None,
                prefer: Callable[[list[str]], list[int]] | None = None) -> Retrieval:
    """The k best spans for variants[0] (the question), asked as every variant against the
    vector `index` (a VectorStoreIndex) and the keyword index in `data_dir`. `prefer`
    reorders the spans given their paths (what the question names, `mentions.py`)."""
    depth = max(3 * k, 20)
    vector = index.as_retriever(similarity_top_k=depth)
    retrievers: list[BaseRetriever] = [ChunkRetriever(vector)]
    notes = []
    try:
        keyword = keyword_retriever(data_dir, depth)
        if keyword is None:
            notes.append("keyword search off: the keyword index is missing "
                         "(`codeagent index` makes it)")
        else:
            retrievers.append(ChunkRetriever(keyword))
    except (OSError, ValueError) as exc:  # damaged files: numpy and json raise these
        notes.append(f"keyword search off: the keyword index is unreadable ({exc}); "
                     "`codeagent index --rebuild` remakes it")
    fused = VariantFusionRetriever(retrievers, variants, depth).retrieve(variants[0])
    spans = SpanMerger(read_lines).postprocess_nodes(fused)
    if reranker is not None and spans:
        spans = reranker.postprocess_nodes(spans, query_str=variants[0])
    if prefer is not None and spans:
        spans = [spans[i] for i in prefer([span.node.metadata["path"] for span in spans])]
    return Retrieval(spans[:k], notes)


def query_variants(question: str, llm: Any = None) -> tuple[list[str], str | None]:
    """The question first, then up to MAX_VARIANTS - 1 rewrites of it: from `llm` when
    given, heuristic otherwise or when the LLM fails (with a note saying so)."""
    if llm is not None:
        try:
            rewrites = _llm_rewrites(question, llm)
        except Exception as exc:  # unreachable, timed out, refused: search goes on without
            log.warning("query variants from the LLM failed (%s: %s); using heuristic ones",
                        type(exc).__name__, exc)
            return (heuristic_variants(question),
                    f"the LLM failed ({type(exc).__name__}), so heuristic variants were used")
        if rewrites:
            return _distinct([question, *rewrites])[:MAX_VARIANTS], None
        log.warning("the LLM's query variants were unusable; using heuristic ones")
        return (heuristic_variants(question),
                "the LLM gave no usable variants, so heuristic ones were used")
    return heuristic_variants(question), None


def heuristic_variants(question: str) -> list[str]:
    """The question; the identifiers in it (for BM25); its key words (without question
    words); and the identifiers spelled as words (`get user name`, for the embeddings)."""
    names = identifiers(question)
    words = [word for word in re.findall(r"[\w./-]*\w", question)
             if word in names or word.lower() not in _NOT_KEY]
    spelled = " ".join(piece for name in names for piece in split_identifier(name))
    return _distinct([question, " ".join(names), " ".join(words), spelled])[:MAX_VARIANTS]


def identifiers(question: str) -> list[str]:
    """Code names in a question: quoted or backticked text, dotted names and paths, and
    words in camelCase, PascalCase, snake_case, kebab-case or followed by `()`."""
    found = [m.group(1) or m.group(2) or m.group(3) for m in _QUOTED.finditer(question)]
    for match in _NAME.finditer(_QUOTED.sub(" ", question)):
        name, called = match.group(1).rstrip(".-"), match.group(2)
        parts = name.split(".")
        if len(parts) > 1 and (all(p.isdigit() for p in parts) or min(map(len, parts)) < 2):
            continue  # version numbers and abbreviations (3.11, e.g.)
        if called or _CAMEL.search(name) or any(mark in name for mark in "./_-"):
            found.append(name)
    return _distinct(found)


def _llm_rewrites(question: str, llm: Any) -> list[str]:
    from codeagent.prompts import load_prompt

    prompt = load_prompt("query_variants", question=question, count=MAX_VARIANTS - 1)
    answer = str(llm.complete(prompt).text)
    # Small models parrot their instructions; a line of the prompt (the question
    # included) is no rewrite.
    parroted = {_bare(line) for line in prompt.splitlines()}
    rewrites = []
    for line in answer.splitlines():
        line = _bare(line)
        # Preambles ("Here are the queries:"), fences and essays are not queries either.
        if (line and line not in parroted and not line.endswith(":") and len(line) <= 200
                and len(line.split()) <= 24):
            rewrites.append(line)
    return _distinct(rewrites)[:MAX_VARIANTS - 1]


def _bare(line: str) -> str:
    return _LIST_MARK.sub("", line.strip()).strip("`\"' ")


def _distinct(items: list[str]) -> list[str]:
    seen, kept = set(), []
    for item in items:
        key = " ".join(item.lower().split())
        if key and key not in seen:
            seen.add(key)
            kept.append(" ".join(item.split()))
    return kept


_QUOTED = re.compile(r"`([^`\n]+)`|\"([^\"\n]+)\"|(?<!\w)'([^'\n]+)'(?!\w)")
_NAME = re.compile(r"([\w$]+(?:[./-][\w$]+)*)(\(\))?")
_CAMEL = re.compile(r"[a-z0-9][A-Z]|[A-Z]{2,}[a-z]")
_LIST_MARK = re.compile(r"^(?:[-*\u2022]+|\d+[.)])\s*")
_NOT_KEY = keyword_index.STOPWORDS | {
    "can", "could", "would", "should", "please", "find", "show", "tell", "explain", "code",
    "happen", "happens", "there", "here", "anywhere", "somewhere"}


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


def keyword_retriever(data_dir: Path, top_k: int) -> CodeBM25Retriever | None:
    bm25 = keyword_index.load(data_dir)
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


def load_reranker(name: str, device: str) -> tuple[BaseNodePostprocessor | None, str | None]:
    """(SentenceTransformerRerank, None), or (None, why reranking is off). Never downloads:
    a tool call must not stall on a network, so the model is a directory or in the cache."""
    try:
        path = _local_model_dir(name)
    except ModelUnavailable as exc:
        return None, (f"reranking off: the cross-encoder '{name}' {exc}; results keep the "
                      "fused order")
    try:
        return _reranker(str(path), device), None
    except Exception as exc:  # sentence-transformers raises many kinds for a bad model
        detail = " ".join(str(exc).split())[:160]
        return None, (f"reranking off: the cross-encoder '{name}' cannot be loaded "
                      f"({type(exc).__name__}: {detail}); results keep the fused order")


def _local_model_dir(name: str) -> Path:
    given = Path(name).expanduser()
    if given.is_dir():
        return given
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached, or not a valid repository name: several kinds
        raise ModelUnavailable("is neither a local directory nor in the Hugging Face "
                               "cache") from None


@lru_cache(maxsize=2)
def _reranker(path: str, device: str) -> BaseNodePostprocessor:
    """Loaded once per process: loading takes seconds, keeping it costs little."""
    from llama_index.core.postprocessor import SentenceTransformerRerank

    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    # trust_remote_code off: a model from the cache must not run code of its own.
    return SentenceTransformerRerank(top_n=RERANK_TOP, model=path, device=device,
                                     trust_remote_code=False)
