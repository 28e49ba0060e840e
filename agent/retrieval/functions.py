"""Ranking definitions (classes, functions, methods) for a question, and files from them.

A bug is fixed in a function; the file is where that function lives. Evidence for a
definition, each turned into a ranking and fused by reciprocal rank (RRF_K):

- chunks: the retrieved chunks (vectors + BM25, best first) give their reciprocal rank to
  the innermost definitions they cover (a closure counts for its function), each
  counting its best AGG_CHUNKS chunks;
- names: the definitions the text names (a traceback frame's function in its file,
  `Class.method`, `func()`, a backticked or snake_case name), a name shared by several
  definitions split between them;
- text: BM25 of the question over each definition's own text (its path, name and body),
  among the definitions of the files the first CANDIDATE_CHUNKS chunks are in, counted at
  TEXT_WEIGHT. A chunk is a window of lines; this scores the unit a fix changes.

Files are ranked from their best definition as well as from their chunks and the files
the text names (`mentions.py`), tests and docs last.

Each piece is a `Levers` field, and bench/localize_ablation.py measures each switched. Some
are off because they did not help on the benchmark: spreading scores along the entity graph
(to the callers of a named function; from a test to the code it invokes), splitting a
chunk's score by lines, the innermost frame counting most, frames of moved files, the
code that spells an error message the report quotes, and a definition's score raised by
its file's (bench/README.md has the figures).

Why this module is long: every piece of evidence is a lever of one ranking, switched and
measured together by the ablation; split apart, `Levers` and `rank` would import each
piece from elsewhere and the measured whole would no longer be readable in one place.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

from codeagent.index.graph import INVOKES, CodeGraph
from codeagent.retrieval.mentions import (RRF_K, Mentions, files_of_chunks, fuse, is_peripheral,
                                          ranked)

AGG_CHUNKS = 2
"""A definition's chunk score: its best this many chunks' reciprocal ranks."""
CANDIDATE_CHUNKS = 50
"""The text evidence scores the definitions of the files these first chunks are in."""
TEXT_WEIGHT = 0.5
"""The text evidence's share in the fusion, against the chunks' and the names' 1 each."""
MAX_NAMED = 5
"""A name the text uses counts only when at most this many definitions have it."""
SPREAD = 0.5
"""What a definition passes to each one it is linked to: this share of its score."""
FRAME_WEIGHT = 2.0
LAST_FRAME_WEIGHT = 4.0
MAX_AMBIGUOUS = 2
"""A frame's function whose file is not here counts when at most this many define it."""

# `ValueError: bad value 'x'`, the last line of a traceback: its text minus the parts that
# vary (quoted values, numbers) is what the code that raised it spells out.
_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception|Warning)\s*:\s*(.+?)\s*$", re.M)
_VARIABLE = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\b\d[\d.]*\b|\{[^}]*\}|<[^>]*>")
MAX_ERROR_SITES = 5
MAX_ERRORS = 3
"""Error lines looked up per text (each is a scan of the indexed text)."""
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class Levers:
    """Which evidence is used (the defaults are what was measured to help); the ablation
    switches each in turn."""

    chunks: bool = True
    """Definitions scored by the chunks covering them."""
    line_share: bool = False
    """A chunk's score split by the lines each definition holds of it. Off: measured, it
    changes one task's first file in one half and nothing else."""
    names: bool = True
    """Definitions scored by the text naming them (traceback frames, code names)."""
    definition_text: bool = True
    """Definitions scored by BM25 over their own text (`text_definitions`)."""
    code_names_only: bool = True
    """Of the words, only those that look like code name definitions."""
    last_frame: bool = False
    """The innermost library frame of a traceback counts most (its function, its file).
    Off: measured, no better than every frame counting alike."""
    moved_frames: bool = False
    """A frame whose file is not here names its function by name alone. Off: measured, it
    changes no task."""
    error_text: bool = False
    """An error message the report quotes votes for the code that spells it. Off:
    measured, it changes no task (the messages reports quote are mostly Python's own)."""
    graph_callers: bool = False
    """A named definition's score spread to its callers (entity graph, one step). Off:
    measured, it lowers function recall in both halves of the benchmark (bench/README.md)."""
    graph_tests: bool = False
    """A test's score spread to the library code it invokes (entity graph, one step). Off,
    for the same reason."""
    files_from_definitions: bool = True
    """Files ranked by their best definition too."""
    follow_file: bool = False
    """Definitions scored with their file's score added (else by their own alone). Off:
    measured, function recall is higher in both halves without it."""
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
         levers: Levers = Levers(),
         lines_containing: Callable[[str], list[tuple[str, int]]] | None = None,
         read_lines: Callable[[str], list[str] | None] | None = None,
         ) -> EntityRanking:
    """Files and definitions for `text`, from `chunks` ((path, start_line, end_line) best
    first), the repository's `graph` and the paths it has (`mentions`); `read_lines` gives
    a file's lines for the definitions' text (none: that evidence is left out);
    `lines_containing` finds an error message's text in the indexed files
    (`Manifest.lines_containing`; only for the error_text lever, which is off)."""
    demote = is_peripheral if levers.peripheral_last else None
    demote_entity = (lambda d: demote(graph.entities[d].path)) if demote else None
    found = chunk_scores(chunks, graph, levers.line_share) if levers.chunks else []
    frames = mentions.frames(text)
    named = ranked(_sum(frame_definitions(frames, graph, levers),
                        word_definitions(text, graph, levers))) if levers.names else []
    if levers.error_text and lines_containing is not None:
        named = ranked(_sum(named, error_sites(text, graph, lines_containing)))
    evidence = [r for r in (found, named) if r]
    if (levers.graph_callers or levers.graph_tests) and evidence:
        # The graph moves evidence between candidates; it adds none of its own (a caller
        # nothing else points at would push a found function out of the first places).
        known = {e for e, _ in found} | {e for e, _ in named}
        linked = spread(named if levers.graph_callers else [],
                        found + named if levers.graph_tests else [], graph)
        evidence.append([(e, v) for e, v in linked if e in known])
    weights = [1.0] * len(evidence)
    if levers.definition_text and read_lines is not None:
        evidence.append(text_definitions(text, chunks, graph, read_lines))
        weights.append(TEXT_WEIGHT)
    definitions = fuse(evidence, demote=demote_entity, weights=weights)
    paths = [path for path, _, _ in chunks]
    file_rankings = [files_of_chunks(paths) if levers.file_best_chunks
                     else files_of_chunks(paths, best=1)]
    if levers.named_files:
        file_rankings.append(mentions.named_files(text))
    if levers.last_frame and (innermost := innermost_frame(frames)) is not None:
        file_rankings.append([(frames[innermost][0], 1.0)])
    if levers.files_from_definitions and definitions:
        file_rankings.append(best_per_file(definitions, graph))
    files = fuse(file_rankings, demote=demote)
    if levers.follow_file:
        # a definition's score plus its file's: the first functions listed are mostly
        # those of the first files, and a strong one in the second file still comes early
        file_score = dict(files)
        definitions = sorted(
            ((d, file_score.get(graph.entities[d].path, 0.0) + s) for d, s in definitions),
            key=lambda item: -item[1])
    return EntityRanking(files, definitions)


def chunk_scores(chunks: list[tuple[str, int, int]], graph: CodeGraph,
                 line_share: bool = False) -> list[tuple[str, float]]:
    """Definitions by the chunks covering them: the innermost definitions of a chunk's
    lines get its reciprocal rank, each all of it (or in proportion to the lines it holds:
    `line_share`, so that a class is not found by the blank lines between its methods)."""
    scores: dict[str, float] = defaultdict(float)
    counted: Counter[str] = Counter()
    for rank_, (path, start, end) in enumerate(chunks, 1):
        lines = Counter(owner(graph, graph.enclosing(path, line)) for line in range(start, end + 1))
        total = sum(lines.values())
        for entity, held in lines.items():
            if entity != path and counted[entity] < AGG_CHUNKS:
                scores[entity] += (held / total if line_share else 1.0) / (RRF_K + rank_)
                counted[entity] += 1
    return ranked(scores)


def text_definitions(text: str, chunks: list[tuple[str, int, int]], graph: CodeGraph,
                     read_lines: Callable[[str], list[str] | None]) -> list[tuple[str, float]]:
    """Definitions by BM25 of `text` over their own lines (path and qualified name in
    front), among the definitions of the files of the first CANDIDATE_CHUNKS chunks: a
    few thousand lines tokenized per question, no index kept. Functions local to another
    are part of it and not ranked apart."""
    from codeagent.index.keyword_index import quiet_bm25s, tokenize

    ids, documents = [], []
    for path in dict.fromkeys(path for path, _, _ in chunks[:CANDIDATE_CHUNKS]):
        lines = read_lines(path)
        for entity in graph.definitions_in(path) if lines else ():
            if is_local(graph, entity.id):
                continue
            body = "\n".join(lines[entity.start_line - 1:entity.end_line])
            ids.append(entity.id)
            documents.append(tokenize(f"{path.replace('/', ' ')} {entity.qualified}\n{body}"))
    query = tokenize(text)
    if not ids or not query:
        return []
    bm25 = quiet_bm25s().BM25()
    bm25.index(documents, show_progress=False)
    found, scores = bm25.retrieve([query], k=len(ids), show_progress=False)
    return [(ids[i], float(score)) for i, score in zip(found[0], scores[0]) if score > 0]


def word_definitions(text: str, graph: CodeGraph,
                     levers: Levers = Levers()) -> list[tuple[str, float]]:
    """The definitions the prose names: a name counts 1, split between the definitions
    having it, when it looks like code (`is_code_name`) and at most MAX_NAMED do
    (`Class.method` only those qualified so); functions local to another function are
    never meant."""
    votes: dict[str, float] = defaultdict(float)
    for match in _NAME.finditer(text):
        name = match.group(0)
        if levers.code_names_only and not is_code_name(name, text, match.start(), match.end()):
            continue
        parts = name.split(".")
        found = [d for d in graph.by_name.get(parts[-1], ())
                 if (graph.entities[d].qualified == name
                     or graph.entities[d].qualified.endswith("." + name)
                     or (len(parts) > 1 and graph.entities[d].qualified == parts[-1]))
                 and not is_local(graph, d)]
        if 0 < len(found) <= MAX_NAMED:
            for d in found:
                votes[d] += 1.0 / len(found)
    return ranked(votes)


def frame_definitions(frames: list[tuple[str | None, str]], graph: CodeGraph,
                      levers: Levers = Levers()) -> list[tuple[str, float]]:
    """The definitions of traceback frames (`Mentions.frames`): a frame's function in its file
    counts FRAME_WEIGHT, the innermost frame in library code LAST_FRAME_WEIGHT; a frame
    whose file is not here (moved since the reporter's version) names its function if few
    places define it."""
    votes: dict[str, float] = defaultdict(float)
    innermost = innermost_frame(frames) if levers.last_frame else None
    for position, (path, function) in enumerate(frames):
        if path is not None:
            targets = [e.id for e in graph.definitions_in(path) if e.name == function]
        elif levers.moved_frames and not function.startswith("<"):
            targets = graph.by_name.get(function, [])
            targets = targets if len(targets) <= MAX_AMBIGUOUS else []
        else:
            targets = []
        weight = LAST_FRAME_WEIGHT if position == innermost else FRAME_WEIGHT
        for target in targets:
            votes[owner(graph, target)] += weight / len(targets)
    return ranked(votes)


def innermost_frame(frames: list[tuple[str | None, str]]) -> int | None:
    """The position in `frames` of the last one in the repository's library code (not a
    test's, not the reporter's script): where the error surfaced."""
    library = [i for i, (path, _) in enumerate(frames)
               if path is not None and not is_peripheral(path)]
    return library[-1] if library else None


def error_sites(text: str, graph: CodeGraph,
                lines_containing: Callable[[str], list[tuple[str, int]]],
                ) -> list[tuple[str, float]]:
    """The definitions holding the text of an error message the report quotes
    (`SomeError: text`): its longest literal pieces, when at most MAX_ERROR_SITES lines
    have them, vote for the definitions around those lines."""
    votes: dict[str, float] = defaultdict(float)
    for message in _ERROR_LINE.findall(text)[:MAX_ERRORS]:
        pieces = sorted((p.strip(" .,:;!?()[]{}") for p in _VARIABLE.split(message)),
                        key=len, reverse=True)
        for piece in pieces[:2]:
            if len(piece) < 16 or piece.count(" ") < 2:
                continue
            sites = lines_containing(piece)
            if 0 < len(sites) <= MAX_ERROR_SITES:
                for path, line in sites:
                    votes[owner(graph, graph.enclosing(path, line))] += 1.0 / len(sites)
    return ranked({e: v for e, v in votes.items() if graph.entities.get(e, None) is not None
                    and graph.entities[e].qualified})


def is_code_name(name: str, text: str, start: int, end: int) -> bool:
    """Whether a word of a report is meant as code: dotted, snake_case, camelCase or
    Capitalized, called (`name(`) or in backticks; not a plain word of the prose (`load`,
    `error`, `map` are defined in many repositories and mean nothing there)."""
    if len(name) < 3:
        return False
    if "." in name or "_" in name or any(c.isupper() for c in name):
        return True
    after = text[end:end + 1]
    return after == "(" or (text[start - 1:start] == "`" and after == "`")


def is_local(graph: CodeGraph, entity: str) -> bool:
    """A definition inside a function (a closure, a test's helper)."""
    return _parent(graph, entity) is not None


def owner(graph: CodeGraph, entity: str) -> str:
    """The definition a local one belongs to (`f.inner` -> `f`): where its code counts, as
    a change to a closure is a change to its function."""
    while (parent := _parent(graph, entity)) is not None:
        entity = parent
    return entity


def _parent(graph: CodeGraph, entity: str) -> str | None:
    """The function or method `entity` is defined in, if any."""
    e = graph.entities.get(entity)
    if e is None or "." not in e.qualified:
        return None
    parent = f"{e.path}:{e.qualified.rsplit('.', 1)[0]}"
    kind = graph.entities[parent].kind if parent in graph.entities else None
    return parent if kind in ("function", "method") else None


def spread(named: list[tuple[str, float]], seen: list[tuple[str, float]], graph: CodeGraph,
           top: int = 10) -> list[tuple[str, float]]:
    """One step along the graph: the `top` definitions the text names (`named`) pass
    SPREAD of their score, shared, to their callers (a bug shows in a function and is
    often in the one that calls it wrongly); the `top` tests among `seen` pass theirs,
    shared, to the library code they invoke (a failing test points at what it exercises).
    Scores are compared within each list only (they are ranks to `fuse`)."""
    scores: dict[str, float] = defaultdict(float)
    for entity, score in named[:top]:
        callers = {e.target for e in graph.callers(entity)
                   if graph.entities[e.target].qualified
                   and not is_peripheral(graph.entities[e.target].path)}
        for caller in callers:
            scores[caller] += SPREAD * score / len(callers)
    tests = [(e, s) for e, s in seen if is_peripheral(graph.entities[e].path)]
    for entity, score in sorted(tests, key=lambda item: -item[1])[:top]:
        used = {e.target for e in graph.out.get(entity, ()) if e.kind == INVOKES
                and graph.entities[e.target].qualified
                and not is_peripheral(graph.entities[e.target].path)}
        for target in used:
            scores[target] += SPREAD * score / len(used)
    return ranked(scores)


def best_per_file(definitions: list[tuple[str, float]],
                  graph: CodeGraph) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for entity, score in definitions:
        path = graph.entities[entity].path
        best.setdefault(path, score)
    return ranked(best)


def _sum(*rankings: list[tuple[str, float]]) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for entity, score in ranking:
            total[entity] += score
    return total



