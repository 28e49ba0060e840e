"""What a bug report says outright about where to look, as a ranking of files.

People who report bugs paste tracebacks (`File ".../site-packages/pkg/mod.py", line 12, in
f`) and name modules (`sphinx.ext.autodoc`). An embedding of the whole report blurs that,
and BM25 weighs it like any other word. `Mentions.rank_files` fuses, by reciprocal rank:

- retrieval: chunks become files by their best few chunks (AGG_CHUNKS), so a file with
  several good chunks beats one lucky chunk;
- the files the text names: a path or a path's tail (`mod.py`, `pkg/mod.py`) or a dotted
  module, scored by how often, a traceback frame counting double;

and ranks tests, docs, examples, benchmarks and scripts after the library
(`is_peripheral`): a report asks where the bug is, and they use the same names as the
code they exercise.

Measured on 79 SWE-bench Lite reports (bench/README.md): each of the three adds to
multi-query retrieval. A fourth signal, the code names of a report that the repository
defines voting for the files defining them, helped on the first 54 reports and hurt on
all 79 (Acc@5 0.886 with it, 0.911 without): it is not used.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import PurePosixPath
from typing import Callable

from codeagent.index.manifest import Manifest

RRF_K = 60  # the usual reciprocal-rank constant; LlamaIndex's fusion uses it too
AGG_CHUNKS = 3
"""A file's retrieval score is the sum of its best this many chunks' reciprocal ranks."""
PERIPHERAL_WEIGHT = 0.5
"""A test's (doc's, example's) fused score is multiplied by this: findable, after the code."""
FRAME_WEIGHT = 2.0
PERIPHERAL_DIRS = frozenset({"test", "tests", "testing", "doc", "docs", "example", "examples",
                             "benchmarks", "bench", "scripts"})

_FRAME = re.compile(r'File "([^"\n]+)", line \d+(?:, in ([\w<>.]+))?')
# The frames of IPython's tracebacks: `File ~/pkg/mod.py:12, in f(x)` (IPython 8) and
# `~/pkg/mod.py in f(x)` (before).
_IPYTHON_FRAME = re.compile(r'(?:File )?([\w.\-/\\~]*\w\.py)(?::\d+,)? in ([\w<>]+)\(')
_PATH = re.compile(r"[\w.\-/\\]*\w\.py\b")
_DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def is_peripheral(path: str) -> bool:
    """A test, doc, example, benchmark or script rather than the library itself."""
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (any(p in PERIPHERAL_DIRS for p in parts[:-1])
            or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")


def fuse(rankings: list[list[tuple[str, float]]], demote: Callable[[str], bool] | None = None,
         weights: list[float] | None = None) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of file rankings (best first), each counting its weight (1
    unless given); a demoted file's score is scaled by PERIPHERAL_WEIGHT. Files with equal
    scores in a ranking share its rank (a file name that two files have votes for both
    equally)."""
    scores: dict[str, float] = defaultdict(float)
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        rank, previous = 0, None
        for position, (path, score) in enumerate(ranking, 1):
            if score != previous:
                rank, previous = position, score
            scores[path] += weight / (RRF_K + rank)
    if demote is not None:
        for path in scores:
            if demote(path):
                scores[path] *= PERIPHERAL_WEIGHT
    return sorted(scores.items(), key=lambda item: -item[1])


def by_file_rank(retrieved: list[str], files: list[tuple[str, float]]) -> list[int]:
    """Indices of the retrieved items (`retrieved`: their files, best first), reordered: an
    item scores its file's score in `files` plus its own 1/(RRF_K + rank). Files come out
    nearly as `eval` ranks them, and a file's second-best span can still follow another
    file's best (measured: function recall better than grouping the spans file by file)."""
    score = dict(files)
    return sorted(range(len(retrieved)),
                  key=lambda i: -(score.get(retrieved[i], 0.0) + 1.0 / (RRF_K + i + 1)))


def files_of_chunks(paths: list[str], best: int = AGG_CHUNKS) -> list[tuple[str, float]]:
    """Files ranked by their `best` chunks (`paths`: each chunk's file, best chunk first):
    the sum of those chunks' 1/(RRF_K + rank)."""
    scores: dict[str, float] = defaultdict(float)
    counted: Counter[str] = Counter()
    for rank, path in enumerate(paths, 1):
        if counted[path] < best:
            scores[path] += 1.0 / (RRF_K + rank)
            counted[path] += 1
    return sorted(scores.items(), key=lambda item: -item[1])


class Mentions:
    """The repository's files, indexed by path tail and module name."""

    def __init__(self, manifest: Manifest) -> None:
        self.paths = [p for p, r in manifest.files().items() if r.skipped is None]
        self.by_tail: dict[str, list[str]] = defaultdict(list)
        """`c.py`, `b/c.py`, `a/b/c.py` -> the paths ending so."""
        self.by_module: dict[str, list[str]] = defaultdict(list)
        """`b.c`, `a.b.c` (two parts or more; a package is its __init__.py) -> paths."""
        for path in self.paths:
            parts = path.split("/")
            for i in range(len(parts)):
                self.by_tail["/".join(parts[i:])].append(path)
            if path.endswith(".py"):
                dotted = parts[:-1] + ([] if parts[-1] == "__init__.py" else [parts[-1][:-3]])
                for i in range(len(dotted) - 1):
                    self.by_module[".".join(dotted[i:])].append(path)

    def rank_files(self, text: str, retrieved: list[str]) -> list[tuple[str, float]]:
        """The files, best first: retrieval (`retrieved`: each retrieved chunk's file, best
        first) fused with the files `text` names, the peripheral ones after."""
        return fuse([files_of_chunks(retrieved), self.named_files(text)], demote=is_peripheral)

    def reorder(self, text: str, retrieved: list[str],
                files: list[tuple[str, float]] | None = None) -> list[int]:
        """The retrieved items (`retrieved`: their files, best first) in the order
        `by_file_rank` gives them under `rank_files` (or `files`, when already ranked)."""
        return by_file_rank(retrieved, files if files is not None
                            else self.rank_files(text, retrieved))

    def named_files(self, text: str) -> list[tuple[str, float]]:
        votes: Counter[str] = Counter()
        for match in _FRAME.finditer(text):
            for path in self._by_path(match.group(1)):
                votes[path] += FRAME_WEIGHT
        for match in _PATH.finditer(_FRAME.sub(" ", text)):
            for path in self._by_path(match.group(0)):
                votes[path] += 1.0
        for match in _DOTTED.finditer(text):
            for path in self._by_dotted(match.group(0)):
                votes[path] += 1.0
        return ranked(votes)

    def frames(self, text: str) -> list[tuple[str | None, str]]:
        """(repository path, function) of each traceback frame in `text`, in the order
        written (the innermost last); the path is None when it names no one file here (a
        file moved since the reporter's version, or the reporter's own script)."""
        found = []
        for pattern in (_FRAME, _IPYTHON_FRAME):
            for match in pattern.finditer(text):
                function = (match.group(2) or "").rsplit(".", 1)[-1]
                if function:
                    paths = self._by_path(match.group(1))
                    found.append((match.start(), paths[0] if len(paths) == 1 else None,
                                  function))
        return [(path, function) for _, path, function in sorted(found)]

    def _by_path(self, raw: str) -> list[str]:
        """The repository files a written path means: the longest tail of it that names
        any (site-packages/pkg/mod.py -> pkg/mod.py), if it names few."""
        parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
        for i in range(len(parts)):
            found = self.by_tail.get("/".join(parts[i:]))
            if found:
                return found if len(found) <= 3 else []
        return []

    def _by_dotted(self, name: str) -> list[str]:
        """`pkg.mod.Class.method` -> pkg/mod.py: the longest leading part that is a module."""
        parts = name.split(".")
        for end in range(len(parts), 1, -1):
            found = self.by_module.get(".".join(parts[:end]))
            if found:
                return found if len(found) <= 3 else []
        return []


def ranked(votes: dict[str, float]) -> list[tuple[str, float]]:
    """Scores as a ranking: best first, ties by name (so every run orders them alike)."""
    return sorted(votes.items(), key=lambda item: (-item[1], item[0]))
