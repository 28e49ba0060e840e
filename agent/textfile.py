"""Bytes on disk -> text and lines, the same way everywhere (index, read_file, grep).

Line numbers are what an editor shows: only "\\n" ends a line (str.splitlines would also
split on form feeds and other separators, and citations would drift).
"""

from __future__ import annotations

import codecs
import hashlib
import re
from pathlib import Path

SNIFF_BYTES = 8192
CHARS_PER_TOKEN = 3.5
"""Characters a token of code takes through a Llama-style tokenizer: an estimate that errs
on the short side, for every budget counted in tokens (observations, prompts, chunks)."""

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)

_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")


def decode(data: bytes) -> tuple[str, str] | None:
    """(text, encoding) of a file's bytes, or None when they are binary.

    UTF-8 first; text with a BOM in its own encoding (UTF-16 has NUL bytes, so the BOM is
    checked before the NUL sniff); other 8-bit text as cp1252 or, failing that, latin-1,
    which maps every byte, so no text is ever lost to an encoding error.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                return None
    if b"\0" in data[:SNIFF_BYTES]:
        return None
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")


def split_lines(text: str) -> list[str]:
    """The file's lines without their endings; line N is element N-1."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" not in text:  # the common case, without a check per line
        return lines
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_lines(path: Path) -> list[str] | None:
    """A text file's lines (`split_lines`), or None when it cannot be read or is binary."""
    try:
        decoded = decode(path.read_bytes())
    except OSError:
        return None
    return split_lines(decoded[0]) if decoded else None


def line_starts(text: str) -> list[int]:
    """Character offset where each line starts, for mapping offsets to line numbers."""
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def holds_private_key(data: bytes) -> bool:
    """A PEM private key inside any file makes it a secret, whatever its name."""
    return _PRIVATE_KEY.search(data) is not None


def looks_minified(text: str) -> bool:
    """Bundles and minified files: long, with lines far longer than anyone writes by hand."""
    if len(text) < 4096:
        return False
    newlines = text.count("\n") + 1
    return len(text) / newlines > 500


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Control characters (terminal escape sequences included) shown as \\xNN, never sent raw."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def displayable(name: str) -> str:
    """A name Python decoded from the OS (bytes that are not UTF-8 kept as surrogate
    escapes) as text every consumer takes (SQLite, Chroma, tokenizers, JSON): the bytes
    that are not UTF-8 become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def valid_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
