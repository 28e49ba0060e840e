"""Ranking a repository's files (and functions) for a bug report, one way per mode.

    vector       the report against the chunk embeddings
    bm25         the report against the keyword index (code-aware tokens)
    hybrid       both, fused by reciprocal rank (LlamaIndex's QueryFusionRetriever)
    multi-query  hybrid over heuristic query variants (no LLM)
    default      what multi_query_search does (without an LLM): multi-query, with
                 definitions ranked from the chunks, from what the report names (files,
                 modules, functions, traceback frames) and along the entity graph, and
                 files from all of it (`retrieval/functions.py`), tests and docs after
                 the library code

In the four plain modes chunks become files by their best chunk, and functions are the
definitions that the ranked chunks overlap, innermost first, then those of the ranked
files; the default mode ranks definitions itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeagent.retrieval.mentions import RRF_K
from codeagent.settings import Settings

MODES = ("vector", "bm25", "hybrid", "multi-query", "default")


@dataclass
class Ranking:
    files: list[tuple[str, float]]
    """Paths best first, with a score (higher is better; equal scores are ties)."""
    functions: list[str] = field(default_factory=list)
    """`path:Qualified.name` best first."""


class Localizer:
    """An open index, ready to rank its files for many reports."""

    def __init__(self, repo: Path, settings: Settings, embedding: Any = None) -> None:
        from codeagent.index.layout import data_dir
        from codeagent.retrieval.fusion import CANDIDATES, ChunkRetriever, keyword_retriever
        from codeagent.retrieval.semantic import Searcher
        from codeagent.tools.context import ToolContext

        self.searcher = Searcher(repo, settings, embedding=embedding)
        # Files read as multi_query_search reads them (through the tools' jail), so the
        # default mode ranks exactly as the tool does.
        self._reader = ToolContext(repo, settings)
        self.manifest = self.searcher.manifest
        # Chunks from each retriever: as many as multi_query_search takes.
        self._vector = ChunkRetriever(self.searcher.vector_index.as_retriever(
            similarity_top_k=CANDIDATES))
        keyword = keyword_retriever(data_dir(repo), CANDIDATES)
        self._keyword = ChunkRetriever(keyword) if keyword is not None else None
        self._definitions: dict[str, list[tuple[int, int, str]]] | None = None

    def close(self) -> None:
        self.searcher.close()

    def rank(self, query: str, mode: str) -> Ranking:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        spans = self.spans(query, "multi-query" if mode == "default" else mode)
        if mode == "default":
            # What multi_query_search does: files and definitions ranked from the chunks,
            # what the report names and the entity graph; files named but not retrieved
            # are ranked too.
            from codeagent.retrieval.functions import rank

            ranked = rank(query, spans, self.searcher.graph(), self.searcher.mentions(),
                          read_lines=self._reader.current_lines)
            return Ranking(ranked.files, [d for d, _ in ranked.definitions])
        files = files_by_best_chunk([path for path, _, _ in spans])
        return Ranking(files, self.functions(spans, [p for p, _ in files]))

    def spans(self, query: str, mode: str) -> list[tuple[str, int, int]]:
        """The chunks a retrieval mode finds, best first: (path, start_line, end_line)."""
        from codeagent.retrieval.fusion import CANDIDATES, VariantFusionRetriever
        from codeagent.retrieval.variants import heuristic_variants

        if mode == "vector":
            chunks = self._vector.retrieve(query)
        elif mode == "bm25":
            chunks = self._keyword.retrieve(query) if self._keyword else []
        else:
            variants = [query] if mode == "hybrid" else heuristic_variants(query)
            chunks = VariantFusionRetriever(self._retrievers(), variants,
                                            CANDIDATES).retrieve(query)
        return [(n.node.metadata["path"], int(n.node.metadata["start_line"]),
                 int(n.node.metadata["end_line"])) for n in chunks]

    def _retrievers(self) -> list[Any]:
        return [self._vector, *([self._keyword] if self._keyword else [])]

    def functions(self, spans: list[tuple[str, int, int]], files: list[str]) -> list[str]:
        """The definitions overlapping the ranked chunks, in chunk order, innermost first;
        then those of the ranked files not reached by a chunk, in file order."""
        defs = self._all_definitions()
        found: dict[str, None] = {}
        for path, start, end in spans:
            overlapping = [d for d in defs.get(path, ()) if d[0] <= end and d[1] >= start]
            for d_start, d_end, qualified in sorted(overlapping, key=lambda d: d[0] - d[1]):
                found.setdefault(f"{path}:{qualified}")
        for path in files:
            for _, _, qualified in defs.get(path, ()):
                found.setdefault(f"{path}:{qualified}")
        return list(found)

    def _all_definitions(self) -> dict[str, list[tuple[int, int, str]]]:
        if self._definitions is None:
            by_path: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
            for d in self.manifest.all_definitions():
                by_path[d.path].append((d.start_line, d.end_line, d.qualified))
            self._definitions = dict(by_path)
        return self._definitions


def files_by_best_chunk(paths: list[str]) -> list[tuple[str, float]]:
    """Distinct files in the order of their best chunk, scored 1/(RRF_K + rank)."""
    first: dict[str, int] = {}
    for rank, path in enumerate(paths, 1):
        first.setdefault(path, rank)
    return [(path, 1.0 / (RRF_K + rank)) for path, rank in first.items()]
