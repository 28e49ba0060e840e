"""find_symbol: where a name is defined and where it is used, from the syntax trees and the
entity graph built from them (`index.graph`)."""

from __future__ import annotations

import difflib
from collections import defaultdict
from typing import Annotated

from codeagent.errors import IndexProblem
from codeagent.index.graph import INHERITS, INVOKES, CodeGraph

from .context import Budget, ToolContext, ToolError

LINKS = 6
"""Callers (callees, subclasses) named per definition; the rest are counted."""


def find_symbol(
    ctx: ToolContext,
    name: Annotated[str, "A function, class or method name: 'resolve_redirects' or 'Session.send'."],
    kind: Annotated[str | None, "Only definitions of this kind: class, function, method, interface, struct, ..."] = None,
) -> str:
    """Where a function, class or method is defined (path:start-end, kind, qualified name),
    who calls it and what it calls (by function, from the code's entity graph), and where
    its name is referenced (calls and type uses, as path:line lists), from the syntax
    trees of the indexed files. Use it to follow a call chain or see who uses a function.
    For any text (strings, comments, imports) use grep; for concepts, semantic_search."""
    name = name.strip()
    if not name or any(c.isspace() for c in name):
        raise ToolError("name must be one identifier, e.g. 'resolve_redirects' or 'Session.send'")
    try:
        manifest = ctx.manifest()
    except IndexProblem as exc:
        if ctx.filling is not None and ctx.filling.running():
            raise ToolError(ctx.still_filling("find_symbol", after_chunking=True)) from None
        raise ToolError(f"{exc.message}; grep(pattern='{name}') works without an index") from None
    definitions = manifest.definitions_named(name)
    other_kinds = None
    if kind:
        of_kind = [d for d in definitions if d.kind == kind.strip().lower()]
        # A wrong kind (a method asked for as a function) must not read as "not defined".
        if definitions and not of_kind:
            other_kinds = ", ".join(sorted({d.kind for d in definitions}))
        else:
            definitions = of_kind
    references = manifest.references_named(name)
    if not definitions and not references:
        close = difflib.get_close_matches(name.rsplit(".", 1)[-1], manifest.definition_names(),
                                          n=3, cutoff=0.75)
        hint = f"similar names: {', '.join(close)}; " if close else ""
        partial = ctx.partial()
        return (f"no definition of or reference to '{name}'{f' of kind {kind}' if kind else ''} "
                f"in the index; {hint}grep(pattern='{name.rsplit('.', 1)[-1]}') finds any text "
                "mention, semantic_search finds code by meaning"
                + (f"\n{partial}" if partial else ""))
    budget = Budget(ctx.settings.observation_tokens)
    budget.add(f"'{name}': {len(definitions)} definitions, {len(references)} references")
    if other_kinds:
        budget.add(f"none of kind {kind.strip().lower()}; these are of kind {other_kinds}")
    if (partial := ctx.partial()) is not None:
        budget.add(partial)
    if definitions:
        budget.add("defined at:")
        graph = ctx.graph()
        for d in definitions:
            if not budget.add(f"  {d.path}:{d.start_line}-{d.end_line}  {d.kind}  {d.qualified}"):
                break
            for line in links(graph, f"{d.path}:{d.qualified}"):
                budget.add(f"    {line}")
    else:
        budget.add("no definition in the index (it may come from a library)")
    by_file: dict[str, list[int]] = defaultdict(list)
    for r in references:
        by_file[r.path].append(r.line)
    if by_file:
        budget.add("referenced at (calls and type uses):")
        shown = 0
        for path, lines in by_file.items():
            numbers = ", ".join(str(n) for n in sorted(set(lines)))
            if not budget.add(f"  {path}:{numbers}"):
                break
            shown += 1
        if shown < len(by_file):
            budget.lines.append(f"  ... {len(by_file) - shown} more files: narrow with grep "
                                f"and a path_glob")
    else:
        budget.add(f"no calls or type uses found; grep(pattern='{name.rsplit('.', 1)[-1]}') "
                   "finds text mentions (imports, strings, dynamic calls)")
    return "\n".join(budget.lines)


def links(graph: CodeGraph, entity: str) -> list[str]:
    """What the graph knows of a definition, a line per kind: its callers (where, and in
    which function), what it calls, its bases and subclasses."""
    if entity not in graph.entities:
        return []
    groups = {"called from": [f"{graph.entities[e.target].path}:{e.line} "
                              f"({graph.entities[e.target].qualified or 'module level'})"
                              for e in graph.into.get(entity, ()) if e.kind == INVOKES],
              "calls": [graph.entities[e.target].qualified
                        for e in graph.out.get(entity, ()) if e.kind == INVOKES],
              "bases": [graph.entities[e.target].qualified
                        for e in graph.out.get(entity, ()) if e.kind == INHERITS],
              "subclassed by": [f"{graph.entities[e.target].qualified} "
                                f"({graph.entities[e.target].path})"
                                for e in graph.into.get(entity, ()) if e.kind == INHERITS]}
    lines = []
    for label, items in groups.items():
        items = list(dict.fromkeys(items))
        if items:
            more = f" and {len(items) - LINKS} more" if len(items) > LINKS else ""
            lines.append(f"{label}: {', '.join(items[:LINKS])}{more}")
    return lines
