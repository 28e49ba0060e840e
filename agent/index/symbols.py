"""Definitions and references from tree-sitter, driven by per-language query files.

`queries/<language>.scm` holds the language's tag query (the convention of tree-sitter's own
tags.scm and Aider's queries): a pattern captures the whole construct as
`@definition.<kind>` or `@reference.<kind>` and its identifier as `@name`. Adding a language
is adding a file. The grammar package is used in this module only (`parser_for`), so it can
be swapped in one place.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from codeagent.index.languages import GRAMMARS

# Kinds whose functions are methods: `class A: def f` is the method A.f.
CONTAINER_KINDS = frozenset({"class", "interface", "struct", "trait", "impl", "module",
                             "object", "enum"})


@dataclass(frozen=True)
class Definition:
    """A named construct: `qualified` nests it in its enclosing ones (`Class.method`)."""

    name: str
    qualified: str
    kind: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class Reference:
    name: str
    kind: str
    line: int


# No file may stall indexing: a parse that takes longer fails, and the file gets windows.
PARSE_TIMEOUT_MICROS = 5_000_000


@lru_cache(maxsize=None)
def parser_for(grammar: str) -> Any:
    """A tree-sitter parser for a grammar name (tree-sitter-languages' names)."""
    from tree_sitter_languages import get_parser

    with warnings.catch_warnings():
        # tree-sitter 0.21 deprecates the loader that tree-sitter-languages 1.10 still uses.
        warnings.simplefilter("ignore", FutureWarning)
        parser = get_parser(grammar)
    parser.set_timeout_micros(PARSE_TIMEOUT_MICROS)
    if grammar == "lua":
        # The Lua grammar of tree-sitter-languages 1.10 misparses, or never returns, until
        # its parser has read one comment; after that it parses correctly for good.
        parser.parse(b"--\n")
    return parser


def _query_source(language: str) -> str:
    """A language's query text; a first line `; inherits: other` prepends other's (as in
    nvim-treesitter's query files), so TSX is TypeScript plus its JSX patterns."""
    source = resources.files("codeagent.index").joinpath(f"queries/{language}.scm").read_text()
    first = source.split("\n", 1)[0]
    if first.startswith("; inherits:"):
        bases = [name.strip() for name in first.split(":", 1)[1].split(",")]
        source = "\n".join(_query_source(base) for base in bases) + "\n" + source
    return source


@lru_cache(maxsize=None)
def _query_for(language: str) -> Any | None:
    grammar = GRAMMARS.get(language)
    try:
        source = _query_source(language)
    except FileNotFoundError:
        return None
    if grammar is None:
        return None
    from tree_sitter_languages import get_language

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return get_language(grammar).query(source)


def has_tags(language: str) -> bool:
    return _query_for(language) is not None


def parse(language: str, source: bytes) -> Any | None:
    """The syntax tree of a file, or None: no grammar, or the parse timed out."""
    grammar = GRAMMARS.get(language)
    if grammar is None:
        return None
    parser = parser_for(grammar)
    try:
        return parser.parse(source)
    except ValueError:  # timed out; the parser must be reset before its next file
        parser.reset()
        return None


def definitions(language: str, tree: Any) -> list[Definition]:
    """Definitions in source order, each qualified by the definitions enclosing it."""
    query = _query_for(language)
    if query is None or tree is None:
        return []
    found = []
    for _, captures in query.matches(tree.root_node):
        kinds = [key for key in captures if key.startswith("definition.")]
        name_node = captures.get("name")
        if not kinds or name_node is None:
            continue
        node = captures[kinds[0]]
        name = name_node.text.decode("utf-8", "replace")
        found.append((node.start_byte, -node.end_byte, node, name, kinds[0][len("definition."):]))
    found.sort(key=lambda item: item[:2])
    result: list[Definition] = []
    stack: list[tuple[int, str, str]] = []  # (end_byte, qualified name, kind)
    for _, _, node, name, kind in found:
        while stack and stack[-1][0] <= node.start_byte:
            stack.pop()
        if stack and stack[-1][2] in CONTAINER_KINDS and kind == "function":
            kind = "method"
        qualified = f"{stack[-1][1]}.{name}" if stack else name
        result.append(Definition(name, qualified, kind, node.start_point[0] + 1,
                                 _end_line(node)))
        stack.append((node.end_byte, qualified, kind))
    return result


def references(language: str, tree: Any) -> list[Reference]:
    """Uses of names (calls, type mentions, imports) that the language's query marks as
    references. An import is one dotted name per imported thing: a pattern that captures
    the module as `@module` gets it prefixed (`from a.b import c` is `a.b.c`)."""
    query = _query_for(language)
    if query is None or tree is None:
        return []
    refs = []
    for _, captures in query.matches(tree.root_node):
        kinds = [key for key in captures if key.startswith("reference.")]
        name_node = captures.get("name")
        if kinds and name_node is not None:
            name = name_node.text.decode("utf-8", "replace")
            if (module := captures.get("module")) is not None:
                # `from a.b import c` -> `a.b.c`; `from . import x` -> `.x`
                prefix = module.text.decode("utf-8", "replace")
                name = prefix + name if prefix.endswith(".") else f"{prefix}.{name}"
            refs.append(Reference(name, kinds[0][len("reference."):],
                                  name_node.start_point[0] + 1))
    return sorted(set(refs), key=lambda r: (r.line, r.name))


def _end_line(node: Any) -> int:
    """Last line of a node; one ending at column 0 (after its newline) ends the line before."""
    row, column = node.end_point
    return max(node.start_point[0] + 1, row + (1 if column else 0))
