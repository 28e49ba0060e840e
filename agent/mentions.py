"""What a bug report says outright about where to look, as file rankings.

People who report bugs paste tracebacks (`File ".../site-packages/pkg/mod.py", line 12, in
f`), name modules (`sphinx.ext.autodoc`), and quote the functions and classes they call
(`caplog.set_level`, `PolyFit`). An embedding of the whole report blurs all of that, and
BM25 weighs it like any other word. Here each kind of mention becomes a ranking of the
repository's files, fused with retrieval by reciprocal rank:

- files: a path or a path's tail (`mod.py`, `pkg/mod.py`), or a dotted module, named in
  the text: scored by how often, a traceback frame counting double;
- symbols: names the repository defines that appear as code in the text (in backticks, a
  code block or a traceback, or shaped like code: `snake_case`, `camelCase`, `f()`,
  `a.b`): each name votes for the files defining it, a rare name more than a common one.

Test files come after the code they test (`demote`): a report asks where the bug is, and
tests use the same names as the code.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from pathlib import PurePosixPath
from typing import Callable

from .manifest import Manifest

RRF_K = 60  # the usual reciprocal-rank constant; LlamaIndex's fusion uses it too
TEST_WEIGHT = 0.5
"""A test file's fused score is multiplied by this: it stays findable, after the code."""
FRAME_WEIGHT = 2.0
MIN_NAME = 3
COMMON_NAME_FILES = 12
"""A name defined in more files than this (`run`, `get`, `__init__`) says nothing."""

_FRAME = re.compile(r'File "([^"\n]+)", line \d+(?:, in ([\w<>.]+))?')
_PATH = re.compile(r"[\w.\-/\\]*\w\.py\b")
_DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_FENCE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.S)
_WORD = re.compile(r"[A-Za-z_]\w*")
_CODE_SHAPED = re.compile(r"_|[a-z0-9][A-Z]|[A-Z]{2,}[a-z]")
_CALLED = re.compile(r"([A-Za-z_]\w*)\s*\(")


def is_test_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (any(p in ("test", "tests", "testing") for p in parts[:-1])
            or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")


def fuse(rankings: list[list[tuple[str, float]]], demote: Callable[[str], bool] | None = None,
         weights: list[float] | None = None) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of file rankings (best first); a demoted file's score is
    scaled by TEST_WEIGHT. Files with equal scores in a ranking share its rank (a name
    defined in two files votes for both equally)."""
    scores: dict[str, float] = defaultdict(float)
    for n, ranking in enumerate(rankings):
        weight = weights[n] if weights else 1.0
        rank, previous = 0, None
        for position, (path, score) in enumerate(ranking, 1):
            if score != previous:
                rank, previous = position, score
            scores[path] += weight / (RRF_K + rank)
    if demote is not None:
        for path in scores:
            if demote(path):
                scores[path] *= TEST_WEIGHT
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

    def rankings(self, text: str) -> list[list[tuple[str, float]]]:
        return [self.named_files(text), self.defined_symbols(text)]

    def reorder(self, text: str, paths: list[str]) -> list[int]:
        """The order (indices) of retrieved items, best first, whose files are `paths`,
        once fused with what `text` names: an item scores 1/(RRF_K + its rank) plus its
        file's share of each mention ranking, scaled down for a test file. The best item
        of each file then ranks the files as `fuse` does."""
        bonus = dict(fuse(self.rankings(text)))
        scores = [(1.0 / (RRF_K + rank) + bonus.get(path, 0.0))
                  * (TEST_WEIGHT if is_test_path(path) else 1.0)
                  for rank, path in enumerate(paths, 1)]
        return sorted(range(len(paths)), key=lambda i: -scores[i])

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
    """Names written as code: anything inside backticks, code blocks or traceback frames;
    elsewhere, words shaped like code (snake_case, camelCase, called, or part of a.b)."""
    names: set[str] = set()
    for match in _FENCE.finditer(text):
        names.update(_WORD.findall(match.group(0)))
    for match in _FRAME.finditer(text):
        names.update(_WORD.findall(match.group(2) or ""))
    prose = _FENCE.sub(" ", text)
    names.update(w for w in _WORD.findall(prose) if _CODE_SHAPED.search(w))
    names.update(_CALLED.findall(prose))
    for dotted in _DOTTED.findall(prose):
        names.update(dotted.split("."))
    return {n for n in names if len(n) >= MIN_NAME}


def _ranked(votes: Counter[str]) -> list[tuple[str, float]]:
    return sorted(votes.items(), key=lambda item: (-item[1], item[0]))
