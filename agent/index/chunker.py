"""Files -> chunks that end on function and class boundaries, with exact line numbers.

Code goes through LlamaIndex's CodeSplitter with the file's tree-sitter parser; its pieces
are mapped back to line ranges and widened to whole lines, so a chunk's text is always
exactly lines start..end of the file. Text formats, languages without a grammar and files
the parser rejects get overlapping line windows instead. Lines no piece covered are filled
with windows, and pieces over the embedding model's input length are split on lines: no
text of a file is ever dropped.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.node_parser import CodeSplitter, NodeParser
from llama_index.core.schema import BaseNode, NodeRelationship, TextNode

from codeagent.index import symbols as symbols_mod
from codeagent.index.languages import grammar_for
from codeagent.textfile import CHARS_PER_TOKEN, line_starts, split_lines

Range = tuple[int, int]  # 1-based, inclusive line numbers
Fits = Callable[[list[str]], list[bool]]

# Pieces this short (a lone `class A:` header, a closing brace) are merged into a
# neighbour: on their own they are noise in the index.
SMALL_PIECE_CHARS = 120
# CodeSplitter measures stripped pieces and cuts a too-long function after its signature;
# whole lines and a re-attached signature may exceed its budget by this factor. The model's
# tokenizer still has the last word.
SLACK = 1.25

EMBED_KEYS = ("path", "symbol")
SYMBOL_TOKENS = 16  # room kept for the symbol name in the embedded header


@dataclass(frozen=True)
class Chunk:
    path: str
    language: str
    start_line: int
    end_line: int
    text: str
    symbol: str
    """Qualified name of the definition this chunk is about ("" for module-level code)."""
    symbols: tuple[str, ...]
    """Every definition that starts inside the chunk."""


@dataclass(frozen=True)
class FileChunks:
    chunks: list[Chunk]
    definitions: list[symbols_mod.Definition]
    references: list[symbols_mod.Reference]


def chunk_file(path: str, language: str, text: str, *, max_chars: int = 1500,
               window_lines: int = 40, window_overlap: int = 10,
               fits: Fits | None = None) -> FileChunks:
    """Chunks and definitions of one file. `fits` says which texts fit the embedding model."""
    lines = split_lines(text)
    if not any(line.strip() for line in lines):
        return FileChunks([], [], [])
    grammar = grammar_for(language)
    tree = symbols_mod.parse(language, text.encode("utf-8")) if grammar else None
    ranges = _syntax_ranges(text, grammar, max_chars) if tree is not None else None
    if ranges is None:
        ranges = _window_ranges(lines, 1, len(lines), window_lines, window_overlap, max_chars)
    else:
        ranges = _merge_small(ranges, lines, max_chars)
        ranges = _fill_gaps(ranges, lines, window_lines, window_overlap, max_chars)
    ranges = _enforce_budget(ranges, lines, max_chars, fits)
    definitions = symbols_mod.definitions(language, tree)
    chunks = []
    for start, end in ranges:
        inside = [d for d in definitions if start <= d.start_line <= end]
        chunks.append(Chunk(path, language, start, end, "\n".join(lines[start - 1:end]),
                            _symbol_for(start, end, inside, definitions),
                            tuple(d.qualified for d in inside)))
    return FileChunks(chunks, definitions, symbols_mod.references(language, tree))


def chunk_id(chunk: Chunk) -> str:
    """Stable id: the same path, lines and text always give the same id (upserts, no dupes)."""
    key = f"{chunk.path}\0{chunk.start_line}\0{chunk.end_line}\0{chunk.text}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@lru_cache(maxsize=64)
def _splitter(grammar: str, max_chars: int) -> CodeSplitter:
    # Built once per grammar: the constructor loads a tokenizer (about 10 ms a file).
    return CodeSplitter(language=grammar, parser=symbols_mod.parser_for(grammar),
                        max_chars=max_chars)


def _syntax_ranges(text: str, grammar: str, max_chars: int) -> list[Range] | None:
    """CodeSplitter's pieces as line ranges, or None when the parser rejects the file."""
    splitter = _splitter(grammar, max_chars)
    try:
        pieces = splitter.split_text(text)
    except (ValueError, UnicodeDecodeError):  # rejected, or timed out
        symbols_mod.parser_for(grammar).reset()
        return None
    starts = line_starts(text)
    ranges: list[Range] = []
    cursor = 0
    for piece in pieces:
        if not piece:
            continue
        pos = text.find(piece, cursor)
        if pos < 0:
            return None  # the splitter changed the text; windows keep it whole instead
        cursor = pos + len(piece)
        ranges.append((bisect_right(starts, pos), bisect_right(starts, cursor - 1)))
    return ranges or None


def _merge_small(ranges: list[Range], lines: list[str], max_chars: int) -> list[Range]:
    """Headers (`class A:`, imports) join what follows; closers (`}`, `end`) what precedes."""
    merged: list[Range] = []
    carry: Range | None = None
    for start, end in ranges:
        if carry is not None:
            if _chars(lines, carry[0], end) <= max_chars * SLACK:
                start, end = carry[0], max(carry[1], end)
            else:
                merged.append(carry)
            carry = None
        if _chars(lines, start, end) >= SMALL_PIECE_CHARS:
            merged.append((start, end))
        elif _is_closer(lines[start - 1]) and merged and \
                _chars(lines, merged[-1][0], end) <= max_chars:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            carry = (start, end)
    if carry is not None:
        if merged and _chars(lines, merged[-1][0], carry[1]) <= max_chars:
            merged[-1] = (merged[-1][0], max(merged[-1][1], carry[1]))
        else:
            merged.append(carry)
    return merged


def _is_closer(line: str) -> bool:
    stripped = line.strip()
    return stripped[:1] in (")", "]", "}") or stripped in ("end", "fi", "done", "esac")


def _fill_gaps(ranges: list[Range], lines: list[str], window: int, overlap: int,
               max_chars: int) -> list[Range]:
    covered = [False] * (len(lines) + 2)
    for start, end in ranges:
        for n in range(start, end + 1):
            covered[n] = True
    filled = list(ranges)
    n = 1
    while n <= len(lines):
        if not covered[n] and lines[n - 1].strip():
            gap_end = n
            while gap_end < len(lines) and not covered[gap_end + 1]:
                gap_end += 1
            filled.extend(_window_ranges(lines, n, gap_end, window, overlap, max_chars))
            n = gap_end
        n += 1
    return sorted(filled)


def _window_ranges(lines: list[str], first: int, last: int, window: int, overlap: int,
                   max_chars: int) -> list[Range]:
    """Windows of at most `window` lines and `max_chars`, consecutive ones sharing lines."""
    overlap = min(overlap, max(window - 1, 0))
    ranges: list[Range] = []
    start = first
    while start <= last:
        end, size = start, len(lines[start - 1])
        while end < last and end - start + 1 < window and size + len(lines[end]) + 1 <= max_chars:
            size += len(lines[end]) + 1
            end += 1
        trimmed = _trim_blank(lines, start, end)
        if trimmed:
            ranges.append(trimmed)
        if end >= last:
            break
        start = max(end - overlap + 1, start + 1)
    return ranges


def _enforce_budget(ranges: list[Range], lines: list[str], max_chars: int,
                    fits: Fits | None) -> list[Range]:
    """Split on lines until every range fits both the character and the token budget."""
    result: list[Range] = []
    todo = [r for r in (_trim_blank(lines, s, e) for s, e in ranges) if r]
    while todo:
        verdicts = _fit(todo, lines, max_chars, fits)
        again: list[Range] = []
        for (start, end), ok in zip(todo, verdicts):
            if ok or start == end:
                result.append((start, end))  # a single overlong line is kept whole
                continue
            middle = _split_point(lines, start, end)
            again.extend(r for r in (_trim_blank(lines, start, middle),
                                     _trim_blank(lines, middle + 1, end)) if r)
        todo = again
    return sorted(set(result))


def _fit(ranges: list[Range], lines: list[str], max_chars: int, fits: Fits | None) -> list[bool]:
    verdicts = [_chars(lines, s, e) <= max_chars * SLACK for s, e in ranges]
    if fits is not None:
        texts = ["\n".join(lines[s - 1:e]) for s, e in ranges]
        verdicts = [a and b for a, b in zip(verdicts, fits(texts))]
    return verdicts


def _split_point(lines: list[str], start: int, end: int) -> int:
    """Last line of the first half, preferring a blank line near the middle."""
    middle = (start + end) // 2
    for offset in range(0, (end - start) // 4 + 1):
        for candidate in (middle - offset, middle + offset):
            if start <= candidate < end and not lines[candidate].strip():
                return candidate
    return middle


def _trim_blank(lines: list[str], start: int, end: int) -> Range | None:
    while start <= end and not lines[start - 1].strip():
        start += 1
    while end >= start and not lines[end - 1].strip():
        end -= 1
    return (start, end) if start <= end else None


def _chars(lines: list[str], start: int, end: int) -> int:
    return sum(len(line) + 1 for line in lines[start - 1:end])


def _symbol_for(start: int, end: int, inside: list, definitions: list) -> str:
    """The outermost definition starting in the chunk, else the innermost one around it."""
    if inside:
        return min(inside, key=lambda d: (d.qualified.count("."), d.start_line)).qualified
    around = [d for d in definitions if d.start_line <= start and d.end_line >= end]
    if around:
        return max(around, key=lambda d: (d.start_line, -d.end_line)).qualified
    return ""


class CodeChunker(NodeParser):
    """LlamaIndex node parser: one Document per file in, one TextNode per chunk out.

    Documents carry `path`, `language` and `file_hash` metadata. Nodes embed as
    "path: ...\\nsymbol: ...\\n\\n<code>": the path and symbol name are strong signals for
    questions that name a module or function. Each file's definitions are kept for the
    indexer to record (`take_symbols`).
    """

    max_chars: int = 1500
    window_lines: int = 40
    window_overlap: int = 10
    max_tokens: int | None = None
    _count_tokens: Callable[[list[str]], list[int]] | None = PrivateAttr(default=None)
    _symbols: dict[str, FileChunks] = PrivateAttr(default_factory=dict)

    def __init__(self, count_tokens: Callable[[list[str]], list[int]] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("include_prev_next_rel", False)
        super().__init__(**kwargs)
        self._count_tokens = count_tokens

    def take_symbols(self) -> dict[str, FileChunks]:
        """Per path, the definitions and references of the files parsed since the last call."""
        taken, self._symbols = self._symbols, {}
        return taken

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False,
                     **kwargs: Any) -> list[BaseNode]:
        out: list[BaseNode] = []
        for doc in nodes:
            meta = doc.metadata
            result = chunk_file(meta["path"], meta["language"], doc.get_content(),
                                max_chars=self.max_chars, window_lines=self.window_lines,
                                window_overlap=self.window_overlap,
                                fits=self._fits_for(meta["path"]))
            self._symbols[meta["path"]] = result
            out.extend(chunk_node(chunk, meta["file_hash"], doc) for chunk in result.chunks)
        return out

    def _fits_for(self, path: str) -> Fits | None:
        """Token check for chunk texts, leaving room for the embedded path/symbol header."""
        count, limit = self._count_tokens, self.max_tokens
        if count is None or limit is None:
            return None
        reserve = count([f"path: {path}\nsymbol: \n\n"])[0] + SYMBOL_TOKENS
        return lambda texts: [n + reserve <= limit for n in count(texts)]


def chunk_node(chunk: Chunk, file_hash: str, doc: BaseNode | None = None) -> TextNode:
    metadata = {
        "path": chunk.path, "language": chunk.language, "start_line": chunk.start_line,
        "end_line": chunk.end_line, "symbol": chunk.symbol,
        "symbols": ",".join(chunk.symbols), "file_hash": file_hash,
    }
    hidden = [key for key in metadata if key not in EMBED_KEYS]
    node = TextNode(id_=chunk_id(chunk), text=chunk.text, metadata=metadata,
                    excluded_embed_metadata_keys=hidden,
                    excluded_llm_metadata_keys=["file_hash", "symbols"])
    if doc is not None:
        node.relationships[NodeRelationship.SOURCE] = doc.as_related_node_info()
    return node


def chars_for_tokens(max_tokens: int) -> int:
    """Character budget for a chunk of at most `max_tokens` tokens, its path/symbol header
    (about 24 tokens) included. The real tokenizer has the last word (the token check)."""
    return max(200, int((max_tokens - 24) * CHARS_PER_TOKEN))
