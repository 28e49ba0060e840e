"""What a change touches beyond its own lines: the symbols it adds, modifies or removes
(tree-sitter, on the files before and after), who uses them elsewhere (the index's
references, as find_symbol gives them), and for each changed range the definition around
it and the definitions of the names it uses. The reviewer starts from this; search-only
mode reports it as it is."""

from __future__ import annotations

import re
from typing import Any

from codeagent.index.languages import detect_language
from codeagent.index.symbols import Definition, definitions, parse
from codeagent.review.diffs import ChangedFile
from codeagent.review.findings import Impact, Reference
from codeagent.textfile import decode

MAX_REFERENCES = 50
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
# Names too common to tell anyone anything about where a change reaches.
COMMON = frozenset("self cls None True False return import from def class function const let var "
                   "for while if else elif try except raise with pass new this null true false "
                   "print len str int dict list set get put init main test".split())


def file_definitions(path: str, data: bytes | None) -> list[Definition]:
    if data is None:
        return []
    decoded = decode(data)
    if decoded is None:
        return []
    language = detect_language(path, data[:256])
    return definitions(language, parse(language, decoded[0].encode("utf-8")))


def changed_symbols(changed: ChangedFile, new: bytes | None, old: bytes | None) -> list[Impact]:
    """Symbols the change adds or modifies (their lines hold added lines) or removes."""
    after = file_definitions(changed.path, new)
    before = file_definitions(changed.old_path or changed.path, old)
    before_names = {d.qualified for d in before}
    added_lines = set(changed.added)
    found = []
    for d in after:
        if added_lines & set(range(d.start_line, d.end_line + 1)):
            found.append(Impact(changed.path, d.qualified, d.kind,
                                "modified" if d.qualified in before_names else "added",
                                d.start_line))
    after_names = {d.qualified for d in after}
    found += [Impact(changed.path, d.qualified, d.kind, "removed", d.start_line)
              for d in before if d.qualified not in after_names]
    # A changed method inside a changed class: the class is reported once, by its members.
    members = {i.symbol.rsplit(".", 1)[0] for i in found if "." in i.symbol}
    return [i for i in found if not (i.change == "modified" and i.symbol in members)]


def with_references(impact: Impact, manifest: Any, own: list[Definition]) -> Impact:
    """The symbol's uses elsewhere, from the index (calls and type uses by name), each with
    the definition it sits in: a reviewer reads `Session.send`, not a line number."""
    inside = [(d.start_line, d.end_line) for d in own if d.qualified == impact.symbol]
    refs = []
    around: dict[str, list[Any]] = {}  # path -> its definitions, read once per file
    for ref in manifest.references_named(impact.symbol):
        if ref.path == impact.path and any(a <= ref.line <= b for a, b in inside):
            continue  # the definition calling itself is not a user of the change
        if len(refs) == MAX_REFERENCES:
            break
        if ref.path not in around:
            around[ref.path] = manifest.definitions_in(ref.path)
        refs.append(Reference(ref.path, ref.line, ref.kind, enclosing(around[ref.path], ref.line)))
    return Impact(impact.path, impact.symbol, impact.kind, impact.change, impact.line,
                  tuple(refs))


def enclosing(definitions: list[Any], line: int) -> str | None:
    """The qualified name of the innermost definition holding `line` (None at module
    level): the shortest one around it, the later one of two as long."""
    around = [d for d in definitions if d.start_line <= line <= d.end_line]
    if not around:
        return None
    return min(around, key=lambda d: (d.end_line - d.start_line, -d.start_line)).qualified


def context_lines(changed: ChangedFile, new: bytes | None, manifest: Any) -> list[str]:
    """For each changed range: the definition around it and the definitions of the names
    its added lines use (where the index knows them)."""
    own = file_definitions(changed.path, new)
    lines = []
    for start, end in changed.changed_ranges():
        around = [d for d in own if d.start_line <= start and d.end_line >= end]
        where = (f"inside {around[-1].kind} {around[-1].qualified} "
                 f"({changed.path}:{around[-1].start_line}-{around[-1].end_line})"
                 if around else "at module level")
        lines.append(f"- lines {start}-{end}: {where}")
    text = _added_text(changed, new)
    used = sorted({name for name in IDENTIFIER.findall(text) if name not in COMMON})
    own_names = {d.name for d in own}
    for name in used:
        if name in own_names:
            continue
        for d in manifest.definitions_named(name)[:3]:
            lines.append(f"- uses {d.qualified} ({d.kind}), defined at "
                         f"{d.path}:{d.start_line}-{d.end_line}")
    return lines


def _added_text(changed: ChangedFile, new: bytes | None) -> str:
    decoded = decode(new) if new is not None else None
    if decoded is None:
        return ""
    file_lines = decoded[0].split("\n")
    return "\n".join(file_lines[n - 1] for n in changed.added if n <= len(file_lines))
