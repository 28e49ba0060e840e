"""Search for a pattern in a list of files, line by line: ripgrep or Python's `re`, with
the same answers (the grep tool's engine; nothing model-facing lives here).

Python is the reference: `re` on each line of the decoded file (`decode`, `split_lines`).
ripgrep is the fast path and must answer the same, so Python judges wherever Rust's regex
could read things differently:
- lines holding a byte where the dialects part: NUL, non-ASCII (latin-1 files; Unicode
  \\w, \\s and case folding: Python folds i with İ and ı), \\x1c-\\x1f (Python's \\s matches
  them) and a \\r inside a line (rg's --crlf mode hides it from `.` and classes). A second,
  concurrent rg pass finds those lines; on every other line both see the same ASCII bytes;
- regexes Rust parses differently (possessive quantifiers, a `{` that is not a counted
  repetition, `\\<` `\\>`, nested classes and set operations, verbose or ASCII mode, non-ASCII
  letters under ignore-case) or rejects (look-around, backreferences, `\\Z`, `(?#...)`):
  Python searches every file.

Why this module is long: the two engines and the rule deciding between them must be read
side by side, or they drift apart; the tests compare them on the same corpus.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Iterator

from codeagent.index.walker import RACY_MTIME_NS, FileEntry
from codeagent.textfile import decode, read_lines, split_lines

PER_FILE = 20
ENGINE_ENV = "CODEAGENT_GREP_ENGINE"
"""auto (rg when on PATH), rg or python: the parity tests and debugging force one."""

_SUSPECT = r"(?-u:[\x00\x1c-\x1f\x80-\xff]|\r[^\n])"  # the bytes above, as rg sees them
_ASCII_COMPATIBLE = ("utf-8", "cp1252", "latin-1")  # an ASCII line is the same bytes in each
_COUNTED = re.compile(r"\{\d+(,\d*)?\}")
# A match event, not a context one: only matches have submatches.
_MATCH_LINE = re.compile(rb'"line_number":(\d+),"absolute_offset":\d+,"submatches":\[\{')


class PatternError(ValueError):
    """The pattern cannot be searched for; the message says how to fix it."""


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    matched: bool
    """False for a context line."""


@dataclass
class FileMatches:
    """One file's matching lines: how many, and the first `per_file` with their context."""

    path: str
    count: int
    load: Callable[[], list[Line]] = field(repr=False, compare=False)

    @cached_property
    def lines(self) -> list[Line]:
        return self.load()  # rg's JSON is decoded only for the files the output shows


@dataclass(frozen=True)
class Query:
    pattern: str
    regex: bool
    case_sensitive: bool
    context: int
    per_file: int = PER_FILE

    def compile(self) -> re.Pattern:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        if not self.regex:
            return re.compile(re.escape(self.pattern), flags)
        if re.search(r"\[\[:[a-z]+:\]", self.pattern):
            raise PatternError("POSIX classes such as [[:alpha:]] are not Python regex syntax: "
                            "use \\w, \\s, \\d or a range like [A-Za-z]")
        try:
            with warnings.catch_warnings():  # "possible nested set": Python's reading stands
                warnings.simplefilter("ignore", FutureWarning)
                return re.compile(self.pattern, flags)
        except re.error as exc:
            raise PatternError(f"invalid regex {self.pattern!r}: {exc.msg} at position {exc.pos}; "
                            "escape special characters or use regex=False") from None


def search(repo: Path, files: list[FileEntry], query: Query, rg: str | None,
           arg_bytes: int | None = None, sniffed: dict | None = None) -> dict[str, FileMatches]:
    """Matches per path in `files` (repository-relative). With `rg` (its executable), ripgrep
    answers where its regex reads like Python's. `sniffed` carries, from call to call, which
    files hold lines only Python may judge (entries expire with a file's size and mtime)."""
    rx = query.compile()
    found = None
    if rg and _rust_reads_alike(query, rx):
        found = _rg_search(rg, repo, files, query, rx, arg_bytes or _arg_budget(),
                           {} if sniffed is None else sniffed)
    if found is None:
        found = {}
        for f in files:
            _python_file(repo, f.path, query, rx, found)
    return found


def _rust_reads_alike(query: Query, rx: re.Pattern) -> bool:
    """Whether rg's regex means what Python's does on the lines rg judges (plain ASCII)."""
    text = query.pattern
    folds = not query.case_sensitive or bool(rx.flags & re.IGNORECASE)
    if not query.regex:
        return not (folds and ("İ" in text or "ı" in text))
    if rx.flags & (re.VERBOSE | re.ASCII):
        return False  # Rust's x mode also drops spaces inside classes; (?a) has no equal
    if (folds or "(?" in text) and (not text.isascii() or re.search(r"\\[uUN]", text)):
        return False
    i, class_start = 0, None
    while i < len(text):
        char, pair = text[i], text[i:i + 2]
        if char == "\\":
            if pair in ("\\<", "\\>"):
                return False  # word-boundary assertions in Rust, literal < > in Python
            i += 2
            continue
        if class_start is not None:
            if char == "[" or pair in ("&&", "--", "~~"):
                return False  # nested classes and set operations exist only in Rust
            if char == "]" and i > class_start:
                class_start = None
        elif char == "[":
            class_start = i + 2 if pair == "[^" else i + 1  # a leading ] is a literal
        elif char == "{":
            counted = _COUNTED.match(text, i)
            if counted is None:
                return False  # Python reads '{ 2}', '{,3}', '\b{start}' literally
            i, char = counted.end() - 1, "}"
        if char in "*+?}" and class_start is None and text[i + 1:i + 2] == "+":
            return False  # possessive in Python, a repeated repetition in Rust
        i += 1
    return True


def _rg_search(rg: str, repo: Path, files: list[FileEntry], query: Query, rx: re.Pattern,
               arg_bytes: int, sniffed: dict) -> dict[str, FileMatches] | None:
    """rg's matches, with Python's verdict on the odd lines; None when rg rejects the
    pattern (it then fails before searching anything)."""
    common = [rg, "--no-config", "--no-ignore", "--hidden", "--json", "--text"]
    search = common + ["--crlf", "--case-sensitive" if query.case_sensitive else "--ignore-case"]
    search += ["--context", str(query.context)] if query.context else []
    search += ["--fixed-strings"] if not query.regex else []
    search += ["-e", query.pattern, "--"]
    started, found = time.time_ns(), {}
    for chunk in _chunks(files, arg_bytes - sum(len(arg) + 9 for arg in search)):
        stale = [f for f in chunk if sniffed.get(f.path, (None,))[0] != (f.size, f.mtime_ns)]
        commands = [search + [f.path for f in chunk]]
        commands += [common + ["-e", _SUSPECT, "--"] + [f.path for f in stale]] if stale else []
        started_procs: list[subprocess.Popen] = []
        try:  # both passes at once, on two cores
            for command in commands:
                started_procs.append(subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE,
                                                      stderr=subprocess.DEVNULL))
        except OSError:  # e.g. a command line over the limit after all: Python answers
            for proc in started_procs:
                proc.kill()
                proc.wait()
            return None
        main, *sniff = started_procs
        out, odd_out = main.communicate()[0], sniff[0].communicate()[0] if sniff else b""
        if main.returncode == 2 and not out:
            return None
        odd = {path: _odd_lines(raw) for path, _, raw in _parse(odd_out)}
        for f in stale:
            sniffed[f.path] = ((f.size, f.mtime_ns) if f.mtime_ns < started - RACY_MTIME_NS
                               else None, odd.get(f.path, []))
        events = {path: (count, raw) for path, count, raw in _parse(out)}
        for f in chunk:
            if sniffed[f.path][1]:
                rg_said = events.pop(f.path, (0, b""))[1]
                _python_file(repo, f.path, query, rx, found, (rg_said, sniffed[f.path][1]))
        for path, (count, raw) in events.items():
            found[path] = FileMatches(path, count, _lazy_select(raw, query))
    return found


def _parse(out: bytes) -> Iterator[tuple[str, int, bytes]]:
    """(path, matching lines, raw match and context events) per file of rg's --json output
    (a file's events are contiguous). Only begin and end events are decoded here: a common
    word yields megabytes, and most of it is never shown."""
    pos = 0
    while (begin := out.find(b'{"type":"begin"', pos)) >= 0:
        head = out.index(b"\n", begin)
        end = out.index(b'{"type":"end"', head)
        pos = out.index(b"\n", end)
        path = _text(json.loads(out[begin:head])["data"]["path"])
        yield path, json.loads(out[end:pos])["data"]["stats"]["matched_lines"], out[head + 1:end]


def _lazy_select(events: bytes, query: Query) -> Callable[[], list[Line]]:
    def decoded() -> Iterator[tuple[int, str, bool]]:
        for raw in events.splitlines():
            event = json.loads(raw)
            yield (event["data"]["line_number"], _strip(_text(event["data"]["lines"])),
                   event["type"] == "match")
    return lambda: _select(decoded(), query)


def _text(value: dict) -> str:
    """rg's JSON gives UTF-8 as text and anything else as base64 bytes."""
    return value["text"] if "text" in value else os.fsdecode(base64.b64decode(value["bytes"]))


def _strip(line: str) -> str:
    """A line without its ending, as split_lines gives it."""
    line = line[:-1] if line.endswith("\n") else line
    return line[:-1] if line.endswith("\r") else line


def _odd_lines(raw: bytes) -> list[tuple[int, int, str | None]]:
    """(number, byte offset, text) of each line the sniff found. The text is rg's UTF-8
    reading of the line, or None where Python might read the file otherwise: bytes that are
    not UTF-8 (so `decode` picks another encoding) or a NUL (so it may call it binary)."""
    lines = []
    for event in raw.splitlines():
        data = json.loads(event)["data"]
        text = data["lines"].get("text")
        if text is not None and "\x00" in text:
            text = None
        lines.append((data["line_number"], data["absolute_offset"], text))
    return lines


def _judged_in_memory(rg: tuple[bytes, list[tuple[int, int, str | None]]], query: Query,
                      rx: re.Pattern) -> list[int] | None:
    """Matching line numbers of a UTF-8 file, with Python judging its odd lines on the text
    the sniff already holds: valid UTF-8 around plain ASCII lines is what `decode` reads
    too, so no file needs opening. None when some odd line is not such text."""
    texts = {}
    for number, at, text in rg[1]:
        if text is None:
            return None
        texts[number] = _strip(text[1:] if at == 0 and text.startswith("\ufeff") else text)
    return sorted({int(n) for n in _MATCH_LINE.findall(rg[0])} - texts.keys()
                  | {number for number, line in texts.items() if rx.search(line)})


def _python_file(repo: Path, path: str, query: Query, rx: re.Pattern,
                 found: dict[str, FileMatches],
                 rg: tuple[bytes, list[tuple[int, int, str | None]]] | None = None) -> None:
    """Python's matches in one file. Given rg's events and the (number, byte offset, text) of
    the odd lines, Python judges only those, and rg's verdict stands on the plain ASCII rest."""
    if rg is not None:
        hits = _judged_in_memory(rg, query, rx)
        if hits is not None:
            if hits:  # the lines are read only if this file is shown
                found[path] = FileMatches(path, len(hits), lambda: _shown_lines(
                    repo / path, hits, query))
            return
    try:
        data = (repo / path).read_bytes()
    except OSError:
        return  # gone since the walk
    decoded = decode(data)
    if decoded is None:
        return  # binary
    text, encoding = decoded
    lines: list[str] = []
    if rg is not None and encoding in _ASCII_COMPATIBLE:
        judged = {number: _strip(data[at:data.find(b"\n", at) + 1 or None].decode(encoding))
                  for number, at, _ in rg[1]}
        hits = sorted({int(n) for n in _MATCH_LINE.findall(rg[0])} - judged.keys()
                      | {number for number, line in judged.items() if rx.search(line)})
    elif not query.regex:
        hits = _lines_with(rx, text)
    else:
        lines = split_lines(text)
        search = rx.search
        hits = [number for number, line in enumerate(lines, 1) if search(line)]
    if hits:
        found[path] = FileMatches(path, len(hits), lambda: _select(
            _events(lines or split_lines(text), hits, query.context), query))


def _shown_lines(path: Path, hits: list[int], query: Query) -> list[Line]:
    lines = read_lines(path) or []  # gone since the search: nothing to show, the count stands
    return _select(_events(lines, [h for h in hits if h <= len(lines)], query.context), query)


def _lines_with(rx: re.Pattern, text: str) -> list[int]:
    """Numbers of the lines holding a literal (which cannot span lines), searching the whole
    text: one C call per matching line instead of one per line."""
    found, number, counted, pos = [], 1, 0, 0
    while match := rx.search(text, pos):
        number += text.count("\n", counted, match.start())
        found.append(number)
        end = text.find("\n", match.start())
        if end < 0:
            break
        number, counted, pos = number + 1, end + 1, end + 1
    return found


def _events(lines: list[str], hits: list[int], context: int) -> Iterator[tuple[int, str, bool]]:
    """The lines rg reports for these matches (each match and its context), in order."""
    hit_set, last = set(hits), 0
    for hit in hits:
        for number in range(max(last + 1, hit - context), min(len(lines), hit + context) + 1):
            yield number, lines[number - 1], number in hit_set
            last = number


def _select(events: Iterable[tuple[int, str, bool]], query: Query) -> list[Line]:
    """The first `per_file` matching lines and every reported line within `context` of one."""
    seen: list[tuple[int, str, bool]] = []
    kept: list[int] = []
    for number, text, matched in events:
        if len(kept) == query.per_file and number > kept[-1] + query.context:
            break
        seen.append((number, text, matched))
        if matched and len(kept) < query.per_file:
            kept.append(number)
    near = {n for k in kept for n in range(k - query.context, k + query.context + 1)}
    return [Line(number, text, matched) for number, text, matched in seen if number in near]


def _arg_budget() -> int:
    """Bytes of command line one rg may take: half the OS limit, less the environment."""
    if os.name == "nt":
        return 24_000
    environment = sum(len(k) + len(v) + 10 for k, v in os.environ.items())
    return max(os.sysconf("SC_ARG_MAX") // 2 - environment, 16_384)


def _chunks(files: list[FileEntry], budget: int) -> Iterator[list[FileEntry]]:
    chunk: list[FileEntry] = []
    used = 0
    for f in files:
        cost = len(os.fsencode(f.path)) + 9  # the string, its NUL and its argv pointer
        if chunk and used + cost > budget:
            yield chunk
            chunk, used = [], 0
        chunk.append(f)
        used += cost
    if chunk:
        yield chunk
