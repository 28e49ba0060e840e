"""The keyword index: BM25 over code-aware tokens of every chunk, next to the vectors.

Embeddings blur exact names; BM25 does not, as long as a name is cut where a programmer
would cut it: `getUserName`, `get_user_name`, `GetUserName` and `get-user-name` all give
`get user name` plus the whole name lowercased (so an exact identifier still scores
highest). Questions go through the same `tokenize`, so "user name" finds `getUserName`.

The index follows the manifest after every index run that changes a chunk. bm25s cannot
update in place, so the directory keeps each chunk's term counts too (`keyword_counts.py`
says why, with the measurements): an update tokenizes only new chunks and recomputes the
scores from the counts. It is written to a temporary directory and renamed into
`<repo>/.codeagent/bm25/`. A marker file stands for "the directory does not match the
manifest": it exists from the start of an update to its end, so a killed update is
repeated by the next run instead of leaving a stale index that looks complete. The live
directory is always one an update finished, so its counts are safe to reuse even then.

This module imports nothing heavy at the top: the indexer asks `needs_update` on every run,
including the no-op ones that must stay instant.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

from codeagent.index.manifest import ChunkRecord, Manifest

DIRNAME = "bm25"
BUILDING = "bm25.building"
MAX_WORD = 64
"""Longer words (hashes, base64 blobs) keep their parts but not their whole."""

# bm25s removes its English stopwords from every query it tokenizes; dropping the same
# words (and more) here keeps documents and queries cut the same way (a test checks the
# superset). The additions are question words and pronouns, noise in questions about code.
STOPWORDS = frozenset("""
a an and are as at be but by for if in into is it no not of on or such that the their then
there these they this to was will with
am been being did do does how i me my our us we were what when where which who whom whose
why you your
""".split())

_WORD = re.compile(r"\w+(?:-\w+)*")
# Pieces of a word: ACRONYMs before a capitalized word, Capitalized or lower runs, digits.
# Case is told apart in ASCII only (`re` has no Unicode case classes), so other letters join
# the lower run: `café` stays whole. Underscores fall between pieces.
_PIECE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[^\W\d_A-Z]+|[A-Z]+|[0-9]+")


def tokenize(text: str) -> list[str]:
    """Lowercased pieces of every identifier or word, plus each compound word whole."""
    return list(chain.from_iterable(map(_word_tokens, _WORD.findall(text))))


@lru_cache(maxsize=1 << 18)
def _word_tokens(word: str) -> tuple[str, ...]:
    # Cached: code repeats its words, and this is where a full build spends its time.
    pieces = split_identifier(word)
    # One character carries no meaning alone (`i`, the `2` of `v2`); the whole word keeps it.
    tokens = [piece for piece in pieces if len(piece) > 1 and piece not in STOPWORDS]
    if len(pieces) > 1 and len(word) <= MAX_WORD and word.lower() not in STOPWORDS:
        tokens.append(word.lower())
    return tuple(tokens)


def split_identifier(name: str) -> list[str]:
    """`getHTTPResponse2` -> get, http, response, 2: the words a programmer joined."""
    return [piece.lower() for piece in _PIECE.findall(name)]


def is_whole_chunk(metadata: dict[str, Any]) -> bool:
    """A retrieved record carries its chunk's metadata. On a Chroma server that another
    process is writing to, a query can meet a record whose vector is there and whose
    metadata is not (being upserted or deleted): that record is skipped, not a crash."""
    return all(key in metadata for key in ("path", "start_line", "end_line"))


def chunk_metadata(source: ChunkRecord | dict[str, Any]) -> dict[str, Any]:
    """The metadata every retriever's node for a chunk carries, in one order and type:
    QueryFusionRetriever tells nodes apart by a hash of text and `str(metadata)`."""
    get = source.get if isinstance(source, dict) else lambda key: getattr(source, key)
    return {"path": str(get("path")), "start_line": int(get("start_line")),
            "end_line": int(get("end_line")), "symbol": str(get("symbol") or ""),
            "language": str(get("language") or "")}


def needs_update(data_dir: Path, chunk_count: int) -> bool:
    """True when the keyword index cannot be trusted: an update did not finish, it is
    missing while there are chunks, or it exists although there are none. Two stat calls."""
    if (data_dir / BUILDING).exists():
        return True
    return (chunk_count > 0) != (data_dir / DIRNAME).is_dir()


def update(data_dir: Path, manifest: Manifest) -> None:
    """Bring the keyword index in line with the manifest's chunks (under the writer lock)."""
    from codeagent.index import keyword_counts

    live = data_dir / DIRNAME
    marker = data_dir / BUILDING
    marker.touch()
    for leftover in data_dir.glob(f".{DIRNAME}-*"):  # from updates that were killed
        shutil.rmtree(leftover, ignore_errors=True)
    rows = manifest.chunk_rows()
    if not rows:
        shutil.rmtree(live, ignore_errors=True)
        marker.unlink()
        return
    counts = _counts(keyword_counts.load(live) if live.is_dir() else None, rows, manifest)
    staging = Path(tempfile.mkdtemp(prefix=f".{DIRNAME}-new-", dir=data_dir))
    try:
        counts.save(staging)
        if live.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{DIRNAME}-old-", dir=data_dir))
            os.replace(live, aside / DIRNAME)
            os.replace(staging, live)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(staging, live)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    marker.unlink()


def build(manifest: Manifest) -> Any:
    """A bm25s.BM25 over all chunks in the manifest, in memory, its `corpus` the node dicts
    BM25Retriever reads (as `load` gives them); None when there are no chunks."""
    rows = manifest.chunk_rows()
    if not rows:
        return None
    counts = _counts(None, rows, manifest)
    return counts.bm25(counts.corpus())


def load(data_dir: Path) -> Any:
    """The saved bm25s.BM25, its corpus entries being LlamaIndex node dicts (what
    BM25Retriever reads); None when there is no trustworthy keyword index."""
    live = data_dir / DIRNAME
    if (data_dir / BUILDING).exists() or not live.is_dir():
        return None
    import bm25s

    # mmap: the corpus (one JSON line per chunk) is read only for the hits a query returns.
    return bm25s.BM25.load(str(live), load_corpus=True, mmap=True, show_progress=False)


def quiet_bm25s() -> Any:
    """The bm25s module, its logger quieted: bm25s sets its own to DEBUG, so once anything
    configures logging, each index it builds would print its progress into the output."""
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _counts(previous: Any, rows: list[tuple], manifest: Manifest) -> Any:
    from codeagent.index.keyword_counts import Counts

    quiet_bm25s()
    return Counts.update(previous, rows, manifest.chunk_texts, tokenize, _corpus_entry)


def _corpus_entry(row: tuple) -> dict[str, Any]:
    """The corpus entry of a chunk: the node BM25Retriever returns, with no text (the
    manifest and the files hold it; a copy would double the index)."""
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.utils import node_to_metadata_dict

    chunk_id, path, start_line, end_line, symbol, language = row
    node = TextNode(id_=chunk_id, text="", metadata=chunk_metadata({
        "path": path, "start_line": start_line, "end_line": end_line, "symbol": symbol,
        "language": language}))
    return node_to_metadata_dict(node) | {"node_id": chunk_id}
