"""Ranking definitions (classes, functions, methods) for a question, and files from them.

A bug is fixed in a function; the file is where that function lives. Evidence for a
definition, each turned into a ranking and fused by reciprocal rank (RRF_K):

- chunks: the retrieved chunks (vectors + BM25, best first) give their reciprocal rank to
  the innermost definitions they cover, each counting its best AGG_CHUNKS chunks;
- names: the definitions the text names (`Class.method`, `func()`, a backticked name, a
  traceback frame's function in its file), a name shared by several definitions split
  between them;
- the graph (`index.graph`): from those definitions one step along the code's edges, to
  what they invoke and what invokes them, and from a test to the code it exercises.

Files are ranked from their definitions as well as from their chunks and the files the
text names (`mentions.py`), and definitions then follow their file's rank, so the functions
listed first are those of the files listed first.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

from codeagent.index.graph import INHERITS, INVOKES, CodeGraph
from codeagent.retrieval.mentions import RRF_K, Mentions, files_of_chunks, fuse, is_peripheral

AGG_CHUNKS = 2
"""A definition's chunk score: its best this many chunks' reciprocal ranks."""
MAX_NAMED = 5
"""A name the text uses counts only when at most this many definitions have it."""
SPREAD = 0.5
"""What a definition passes to each one it is linked to: this share of its score."""
FRAME_WEIGHT = 2.0

_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class Levers:
    """Which evidence is used: all by default; the ablation turns each off in turn."""

    chunks: bool = True
    """Definitions scored by the chunks covering them."""
    names: bool = True
    """Definitions scored by the text naming them."""
    graph: bool = True
    """Scores spread one step along the entity graph."""
    files_from_definitions: bool = True
    """Files ranked by their best definition too."""
    follow_file: bool = True
    """Definitions ordered by their file's rank first (else by their own score)."""
    file_best_chunks: bool = True
    """Files ranked by their best AGG_CHUNKS chunks (else by their best one)."""
    named_files: bool = True
    """The files the text names (`Mentions.named_files`) ranked too."""
    peripheral_last: bool = True
    """Tests, docs and examples scaled down (`mentions.is_peripheral`)."""


@dataclass
class EntityRanking:
    files: list[tuple[str, float]]
    """Paths best first, with scores (ties share a score)."""
    definitions: list[tuple[str, float]] = field(default_factory=list)
    """`path:Qualified.name` best first, with scores."""


def rank(text: str, chunks: list[tuple[str, int, int]], graph: CodeGraph, mentions: Mentions,
         levers: Levers = Levers()) -> EntityRanking:
    """Files and definitions for `text`, from `chunks` ((path, start_line, end_line) best
    first), the repository's `graph` and the paths it has (`mentions`)."""
    demote = is_peripheral if levers.peripheral_last else None
    rankings = []
    if levers.chunks:
        rankings.append(chunk_scores(chunks, graph))
    if levers.names:
        rankings.append(named_definitions(text, graph, mentions))
    if levers.graph and rankings:
        rankings.append(spread(fuse(rankings), graph, demote))
    definitions = fuse(rankings, demote=demote) if rankings else []
    paths = [path for path, _, _ in chunks]
    file_rankings = [files_of_chunks(paths) if levers.file_best_chunks
                     else files_of_chunks(paths, best=1)]
    if levers.named_files:
        file_rankings.append(mentions.named_files(text))
    if levers.files_from_definitions and definitions:
        file_rankings.append(best_per_file(definitions, graph))
    files = fuse(file_rankings, demote=demote)
    if levers.follow_file:
        file_score = dict(files)
        definitions = sorted(
            ((d, file_score.get(graph.entities[d].path, 0.0) + s) for d, s in definitions),
            key=lambda item: -item[1])
    return EntityRanking(files, definitions)


def chunk_scores(chunks: list[tuple[str, int, int]], graph: CodeGraph) -> list[tuple[str, float]]:
    """Definitions by the chunks covering them: the innermost definitions of a chunk's
    lines share its reciprocal rank."""
    scores: dict[str, float] = defaultdict(float)
    counted: Counter[str] = Counter()
    for rank_, (path, start, end) in enumerate(chunks, 1):
        inside = {graph.enclosing(path, line) for line in range(start, end + 1)}
        for entity in inside:
            if entity != path and counted[entity] < AGG_CHUNKS:
                scores[entity] += 1.0 / (RRF_K + rank_)
                counted[entity] += 1
    return _ranked(scores)


def named_definitions(text: str, graph: CodeGraph, mentions: Mentions) -> list[tuple[str, float]]:
    """The definitions the text names: a traceback frame's function in its file counts
    FRAME_WEIGHT; any other name that at most MAX_NAMED definitions have counts 1 split
    between them (`Class.method` only those qualified so)."""
    votes: dict[str, float] = defaultdict(float)
    for path, function in mentions.frames(text):
        for entity in graph.definitions_in(path):
            if entity.name == function:
                votes[entity.id] += FRAME_WEIGHT
    for name in _NAME.findall(text):
        parts = name.split(".")
        found = [d for d in graph.by_name.get(parts[-1], ())
                 if graph.entities[d].qualified == name
                 or graph.entities[d].qualified.endswith("." + name)
                 or (len(parts) > 1 and graph.entities[d].qualified == parts[-1])]
        if 0 < len(found) <= MAX_NAMED:
            for d in found:
                votes[d] += 1.0 / len(found)
    return _ranked(votes)


def spread(seeds: list[tuple[str, float]], graph: CodeGraph,
           demote: Callable[[str], bool] | None, top: int = 20) -> list[tuple[str, float]]:
    """One step along the graph from the `top` seeds: each passes SPREAD of its score to
    the definitions it invokes or inherits from and to those invoking it; a test passes
    to the code it invokes only (its callers are other tests)."""
    scores: dict[str, float] = defaultdict(float)
    for entity, score in seeds[:top]:
        if entity not in graph.entities:
            continue
        test = demote is not None and demote(graph.entities[entity].path)
        for target, kind, outgoing in graph.neighbours(entity):
            if kind not in (INVOKES, INHERITS) or (test and not outgoing):
                continue
            if graph.entities[target].qualified:
                scores[target] += SPREAD * score
    return _ranked(scores)


def best_per_file(definitions: list[tuple[str, float]], graph: CodeGraph) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for entity, score in definitions:
        path = graph.entities[entity].path
        best.setdefault(path, score)
    return _ranked(best)


def _ranked(scores: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))

