"""What a bug report says outright about where to look, as file rankings.

People who report bugs paste tracebacks (`File ".../site-packages/pkg/mod.py", line 12, in
f`), name modules (`sphinx.ext.autodoc`), and quote the functions and classes they call
(`caplog.set_level`, `PolyFit`). An embedding of the whole report blurs all of that, and
BM25 weighs it like any other word. Here each kind of mention becomes a ranking of the
repository's files, fused with retrieval by reciprocal rank (`Mentions.rank_files`):

- retrieval: chunks become files by their best few chunks (AGG_CHUNKS), so a file with
  several good chunks beats one lucky chunk;
- files: a path or a path's tail (`mod.py`, `pkg/mod.py`), or a dotted module, named in
  the text: scored by how often, a traceback frame counting double;
- symbols: names the repository defines that appear as code in the text (shaped like
  code: `snake_case`, `camelCase`, `f()`, `a.b`, or in backticks or a traceback frame;
  not Python's keywords and builtins, not the prose and program output pasted into code
  blocks): each name votes for the files defining it, a rare name more than a common one.

Tests, docs, examples, benchmarks and scripts come after the library (`is_peripheral`): a
report asks where the bug is, and they use the same names as the code they exercise.

Measured on 79 SWE-bench Lite reports (bench/README.md), each signal alone adds to
multi-query retrieval, and together they add most.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections import Counter, defaultdict
from pathlib import PurePosixPath
from typing import Callable

from .manifest import Manifest

RRF_K = 60  # the usual reciprocal-rank constant; LlamaIndex's fusion uses it too
AGG_CHUNKS = 3
"""A file's retrieval score is the sum of its best this many chunks' reciprocal ranks."""
PERIPHERAL_WEIGHT = 0.5
"""A test's (doc's, example's) fused score is multiplied by this: findable, after the code."""
FRAME_WEIGHT = 2.0
MIN_NAME = 3
COMMON_NAME_FILES = 12
"""A name defined in more files than this (`run`, `get`, `__init__`) says nothing."""
NOT_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins))
"""`def`, `list`, `range`, `object`: code, but every file's."""
PERIPHERAL_DIRS = frozenset({"test", "tests", "testing", "doc", "docs", "example", "examples",
                             "benchmarks", "bench", "scripts"})

_FRAME = re.compile(r'File "([^"\n]+)", line \d+(?:, in ([\w<>.]+))?')
_PATH = re.compile(r"[\w.\-/\\]*\w\.py\b")
_DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_WORD = re.compile(r"[A-Za-z_]\w*")
_CODE_SHAPED = re.compile(r"_|[a-z0-9][A-Z]|[A-Z]{2,}[a-z]")
_CALLED = re.compile(r"([A-Za-z_]\w*)\s*\(")


def is_peripheral(path: str) -> bool:
    """A test, doc, example, benchmark or script rather than the library itself."""
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (any(p in PERIPHERAL_DIRS for p in parts[:-1])
            or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")


def fuse(rankings: list[list[tuple[str, float]]], demote: Callable[[str], bool] | None = None,
         ) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of file rankings (best first); a demoted file's score is
    scaled by PERIPHERAL_WEIGHT. Files with equal scores in a ranking share its rank (a
    name defined in two files votes for both equally)."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        rank, previous = 0, None
        for position, (path, score) in enumerate(ranking, 1):
            if score != previous:
                rank, previous = position, score
            scores[path] += 1.0 / (RRF_K + rank)
    if demote is not None:
        for path in scores:
            if demote(path):
                scores[path] *= PERIPHERAL_WEIGHT
    return sorted(scores.items(), key=lambda item: -item[1])


def files_of_chunks(paths: list[str]) -> list[tuple[str, float]]:
    """Files ranked by their best AGG_CHUNKS chunks (`paths`: each chunk's file, best
    chunk first): the sum of those chunks' 1/(RRF_K + rank)."""
    scores: dict[str, float] = defaultdict(float)
    counted: Counter[str] = Counter()
    for rank, path in enumerate(paths, 1):
        if counted[path] < AGG_CHUNKS:
            scores[path] += 1.0 / (RRF_K + rank)
            counted[path] += 1
    return sorted(scores.items(), key=lambda item: -item[1])


class Mentions:
    """The repository's files and definitions, indexed for matching mentions."""

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
        self.defined_in: dict[str, set[str]] = defaultdict(set)
        for d in manifest.all_definitions():
            if len(d.name) >= MIN_NAME:
                self.defined_in[d.name].add(d.path)

    def rank_files(self, text: str, retrieved: list[str]) -> list[tuple[str, float]]:
        """The files, best first: retrieval (`retrieved`: each retrieved chunk's file, best
        first) fused with the files and symbols `text` names, the peripheral ones after."""
        return fuse([files_of_chunks(retrieved), self.named_files(text),
                     self.defined_symbols(text)], demote=is_peripheral)

    def reorder(self, text: str, retrieved: list[str],
                files: list[tuple[str, float]] | None = None) -> list[int]:
        """The retrieved items (`retrieved`: their files, best first), reordered: an item
        scores its file's score by `rank_files` (or `files`, when already ranked) plus its
        own 1/(RRF_K + rank). Files come out nearly as `eval` ranks them, and a file's
        second-best span can still follow another file's best (measured: function recall
        better than grouping the spans file by file)."""
        files = files if files is not None else self.rank_files(text, retrieved)
        score = dict(files)
        return sorted(range(len(retrieved)),
                      key=lambda i: -(score.get(retrieved[i], 0.0) + 1.0 / (RRF_K + i + 1)))

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
        return _ranked(votes)

    def defined_symbols(self, text: str) -> list[tuple[str, float]]:
        votes: Counter[str] = Counter()
        for name in code_names(text):
            files = self.defined_in.get(name)
            if files and len(files) <= COMMON_NAME_FILES:
                for path in files:
                    votes[path] += math.log(1 + len(self.paths) / len(files))
        return _ranked(votes)

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


def code_names(text: str) -> set[str]:
    """Names written as code: shaped like code (snake_case, camelCase, called, part of
    a.b) anywhere; any word in backticks or a traceback frame's function. Plain words in a
    code block are not enough: blocks also hold program output, pip freeze lists and
    prose. Keywords and builtins are left out."""
    names: set[str] = set()
    for match in _FRAME.finditer(text):
        names.update(_WORD.findall(match.group(2) or ""))
    for match in _BACKTICKED.finditer(_FENCE.sub(" ", text)):
        names.update(_WORD.findall(match.group(1)))
    names.update(w for w in _WORD.findall(text) if _CODE_SHAPED.search(w))
    names.update(_CALLED.findall(text))
    for dotted in _DOTTED.findall(text):
        names.update(dotted.split("."))
    return {n for n in names if len(n) >= MIN_NAME and n not in NOT_NAMES}


def _ranked(votes: Counter[str]) -> list[tuple[str, float]]:
    return sorted(votes.items(), key=lambda item: (-item[1], item[0]))
