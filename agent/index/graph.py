"""The code's entity graph: files, classes and functions, and how they connect.

Nodes are files (`path`) and definitions (`path:Qualified.name`, the form find_symbol shows
and the localization benchmark scores). Edges, of LocAgent's kinds:

    contains   a file its top-level definitions, a class its methods, a function its inner ones
    imports    a file the files, and the definitions, it imports
    invokes    a definition (or a file's top level) the definitions its calls and type uses name
    inherits   a class its base classes

The index stores, per file, the definitions and references (calls, base classes, imports) of
its syntax tree (`symbols.py`), written with the file's chunks: a changed file changes its
own rows only, so an index update never parses more than the changed files. The edges are
resolved from those rows when the graph is loaded (as stack-graphs resolves per-file
partial graphs at query time), once per state of the symbols
(`Manifest.symbols_stamp`): about 0.1 s per 20k references. A name is resolved where
Python looks: the calling file, then the files it imports; else anywhere, if few
definitions have that name (one defined in many places, `get`, `__init__`, says nothing
about which is meant).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterable, NamedTuple

from codeagent.index.symbols import CONTAINER_KINDS

CONTAINS, IMPORTS, INVOKES, INHERITS = "contains", "imports", "invokes", "inherits"
BASE_KINDS = frozenset({"base"})
"""Reference kinds that name a base class (`@reference.base` in a language's query)."""
MAX_AMBIGUOUS = 3
"""A name resolved repository-wide links to at most this many definitions of it."""


@dataclass(frozen=True)
class Entity:
    id: str
    """`path` for a file, `path:Qualified.name` for a definition."""
    path: str
    qualified: str
    """"" for a file."""
    kind: str
    """"file", or the definition's kind: class, function, method, ..."""
    start_line: int
    end_line: int

    @property
    def name(self) -> str:
        return self.qualified.rsplit(".", 1)[-1] if self.qualified else self.path


class Edge(NamedTuple):
    target: str
    kind: str
    line: int
    """Where the source first says it (0 for containment)."""


class CodeGraph:
    """Entities and their edges, both ways (`out`: what an entity uses; `into`: what uses
    it)."""

    def __init__(self, definitions: Iterable[Any], references: Iterable[Any],
                 paths: Iterable[str] = ()) -> None:
        """`definitions`/`references`: the manifest's DefinitionRecord/ReferenceRecord
        rows (or anything with their fields); `paths`: files to include without any."""
        self.entities: dict[str, Entity] = {}
        self.out: dict[str, list[Edge]] = defaultdict(list)
        self.into: dict[str, list[Edge]] = defaultdict(list)
        self.by_name: dict[str, list[str]] = defaultdict(list)
        self._by_name_in: dict[tuple[str, str], list[str]] = defaultdict(list)
        """(name, path) -> the definitions of that name in that file."""
        self._in_file: dict[str, list[Entity]] = defaultdict(list)
        self._innermost: dict[str, list[str | None]] = {}
        self._linked: set[tuple[str, str, str]] = set()
        for path in paths:
            self._file(path)
        for d in definitions:
            self._add_definition(d)
        refs = list(references)
        for r in refs:
            self._file(r.path)
        self._modules = _module_index([e.path for e in self.entities.values() if not e.qualified])
        self._contain()
        imported: dict[str, set[str]] = defaultdict(set)
        for r in refs:
            if r.kind == "import":
                for target in self._resolve_import(r.path, r.name):
                    self._link(r.path, target, IMPORTS, r.line)
                    imported[r.path].add(self.entities[target].path)
        for r in refs:
            if r.kind == "import":
                continue
            # Most calls are to what the repository does not define (builtins, libraries):
            # resolved first, they cost a dictionary look-up.
            targets = self.resolve(r.name, r.path, imported.get(r.path, set()))
            if not targets:
                continue
            source = self.enclosing(r.path, r.line)
            kind = INHERITS if self._names_a_base(r, self.entities[source]) else INVOKES
            for target in targets:
                if target != source:
                    self._link(source, target, kind, r.line)

    # -- reading

    def definitions_in(self, path: str) -> list[Entity]:
        """A file's definitions in source order."""
        return self._in_file.get(path, [])

    def enclosing(self, path: str, line: int) -> str:
        """The innermost definition holding `line` of `path`, else the file."""
        if path not in self._innermost:
            self._innermost[path] = _innermost_by_line(self._in_file.get(path, []))
        by_line = self._innermost[path]
        found = by_line[line] if 0 <= line < len(by_line) else None
        return found or path

    def resolve(self, name: str, path: str, imported: Iterable[str] = ()) -> list[str]:
        """The definitions a simple `name` used in `path` means (see the module's
        docstring): same file, else the imported files, else anywhere if few."""
        simple = name.rsplit(".", 1)[-1]
        candidates = self.by_name.get(simple)
        if not candidates:
            return []
        local = self._by_name_in.get((simple, path))
        if local:
            return list(local)
        # Looked up file by file: a name like `get` may have thousands of definitions.
        found = [d for file in imported for d in self._by_name_in.get((simple, file), ())]
        if found:
            return found
        return list(candidates) if len(candidates) <= MAX_AMBIGUOUS else []

    def callers(self, entity: str) -> list[Edge]:
        """Who invokes (or subclasses) `entity`: edges whose target is the caller."""
        return [e for e in self.into.get(entity, ()) if e.kind in (INVOKES, INHERITS)]

    # -- building

    def _file(self, path: str) -> None:
        if path not in self.entities:
            self.entities[path] = Entity(path, path, "", "file", 1, 1)

    def _add_definition(self, d: Any) -> None:
        self._file(d.path)
        key = f"{d.path}:{d.qualified}"
        old = self.entities.get(key)
        if old is not None:
            # A name defined twice in one scope (a property's getter and setter, an
            # overload): one entity spanning both, as a changed-function list names it.
            self.entities[key] = Entity(key, d.path, d.qualified, old.kind,
                                        min(old.start_line, d.start_line),
                                        max(old.end_line, d.end_line))
            return
        self.entities[key] = Entity(key, d.path, d.qualified, d.kind, d.start_line, d.end_line)
        self._in_file[d.path].append(self.entities[key])
        self.by_name[d.name].append(key)
        self._by_name_in[(d.name, d.path)].append(key)

    def _contain(self) -> None:
        for path, defs in self._in_file.items():
            defs[:] = sorted((self.entities[e.id] for e in defs),  # merged spans included
                             key=lambda e: (e.start_line, -e.end_line))
            for e in defs:
                parent = e.qualified.rsplit(".", 1)[0] if "." in e.qualified else ""
                inside = f"{path}:{parent}"
                owner = inside if parent and inside in self.entities else path
                self._link(owner, e.id, CONTAINS, 0)

    @staticmethod
    def _names_a_base(ref: Any, around: Entity) -> bool:
        """A base class: `@reference.base` (Python's query), or, in the languages whose
        queries say `class`/`interface` for bases and type uses alike, one on the first
        line of the type being defined (`class A extends B {`)."""
        return ref.kind in BASE_KINDS or (ref.kind in ("class", "interface")
                                          and around.kind in CONTAINER_KINDS
                                          and around.start_line == ref.line)

    def _link(self, source: str, target: str, kind: str, line: int) -> None:
        """One edge per (source, target, kind): a function calling another five times
        links them once, at the first call (find_symbol lists every line by name)."""
        if (source, target, kind) in self._linked:
            return
        self._linked.add((source, target, kind))
        self.out[source].append(Edge(target, kind, line))
        self.into[target].append(Edge(source, kind, line))

    def _resolve_import(self, path: str, dotted: str) -> list[str]:
        """The file (and definition) an import names: `a.b.c` is a/b/c.py, or c in
        a/b.py (or a/b/__init__.py); leading dots count from `path`'s package."""
        level = len(dotted) - len(dotted.lstrip("."))
        parts = [p for p in dotted[level:].split(".") if p]
        if level:
            base = list(PurePosixPath(path).parent.parts)
            if level - 1 > len(base):
                return []  # more dots than packages: Python refuses it too
            base = base[:len(base) - (level - 1)]
            for end in range(len(parts), -1, -1):
                stem = "/".join(base + parts[:end])
                # `from . import x` names the package itself: its __init__.py only
                files = (f"{stem}.py", f"{stem}/__init__.py") if end else (f"{stem}/__init__.py",)
                for file in files:
                    if file in self.entities and not self.entities[file].qualified:
                        return self._with_definition(file, parts[end:])
            return []
        for end in range(len(parts), 0, -1):
            files = self._modules.get(".".join(parts[:end]), [])
            if len(files) == 1:
                return self._with_definition(files[0], parts[end:])
            if files:
                return []  # the same module name in several places: unknown which
        return []

    def _with_definition(self, file: str, rest: list[str]) -> list[str]:
        found = [file]
        if rest and f"{file}:{'.'.join(rest)}" in self.entities:
            found.append(f"{file}:{'.'.join(rest)}")
        return found


def _module_index(files: list[str]) -> dict[str, list[str]]:
    """Dotted module names -> the files that are them: each file under the name it has from
    the top of its run of packages (directories with an __init__.py), so `src/pkg/mod.py`
    is `pkg.mod` and `scripts/tool.py` is `tool`; a package is its __init__.py. A file is
    never the tail of its name: `import json` is not `pkg/json.py`."""
    packages = {f.rsplit("/", 1)[0] for f in files if f.endswith("/__init__.py")}
    modules: dict[str, list[str]] = defaultdict(list)
    for file in files:
        if not file.endswith(".py"):
            continue
        parts = file[:-3].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        top = len(file.split("/")) - 1  # the file's directory's depth
        while top > 0 and "/".join(file.split("/")[:top]) in packages:
            top -= 1
        if parts[top:]:
            modules[".".join(parts[top:])].append(file)
    return modules


def _innermost_by_line(defs: list[Entity]) -> list[str | None]:
    """line -> the innermost definition holding it (index 0 unused)."""
    if not defs:
        return []
    by_line: list[str | None] = [None] * (max(e.end_line for e in defs) + 1)
    for e in sorted(defs, key=lambda e: e.start_line - e.end_line):  # outermost first
        for line in range(e.start_line, e.end_line + 1):
            by_line[line] = e.id
    return by_line


_LOADED: dict[tuple[str, str], CodeGraph] = {}
"""(manifest path, symbols stamp) -> its graph: the last few, so the searcher, find_symbol
and the quick index of one session share one resolution until the symbols change."""
KEEP_LOADED = 2


def load_graph(manifest: Any) -> CodeGraph:
    """The graph of what `manifest` (an index's Manifest) holds, resolved once per state of
    its symbols (`Manifest.symbols_stamp`)."""
    stamp = manifest.symbols_stamp()
    key = (str(manifest.path), stamp)
    if stamp is not None and key in _LOADED:
        return _LOADED[key]
    graph = CodeGraph(manifest.all_definitions(), manifest.all_references(),
                      [p for p, r in manifest.files().items() if r.skipped is None])
    if stamp is not None:
        while len(_LOADED) >= KEEP_LOADED:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = graph
    return graph
