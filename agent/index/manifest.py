"""The manifest: what the index holds, committed only after the vectors are stored.

SQLite gives each batch one atomic commit. Chunk ids about to be written to the vector
store are journaled as `pending` first, and ids a commit replaced as `garbage`; whatever a
killed run left in the store is found there and deleted by the next run (`recover`), so
the store never keeps a chunk the manifest does not list.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, hash TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, language TEXT NOT NULL, chunks INTEGER NOT NULL,
    skipped TEXT);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL, symbol TEXT NOT NULL, symbols TEXT NOT NULL,
    language TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks(path);
CREATE TABLE IF NOT EXISTS definitions (
    path TEXT NOT NULL, name TEXT NOT NULL, qualified TEXT NOT NULL, kind TEXT NOT NULL,
    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS definitions_by_name ON definitions(name);
CREATE INDEX IF NOT EXISTS definitions_by_path ON definitions(path);
CREATE TABLE IF NOT EXISTS refs (
    path TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, line INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS refs_by_name ON refs(name);
CREATE INDEX IF NOT EXISTS refs_by_path ON refs(path);
CREATE TABLE IF NOT EXISTS journal (id TEXT PRIMARY KEY, state TEXT NOT NULL);
"""


class OutdatedManifest(sqlite3.DatabaseError):
    """Readable, but written in another format: rebuilt, not repaired."""


@dataclass(frozen=True)
class FileRecord:
    path: str
    hash: str
    size: int
    mtime_ns: int
    language: str
    chunks: int
    skipped: str | None


@dataclass(frozen=True)
class ChunkRecord:
    id: str
    path: str
    start_line: int
    end_line: int
    symbol: str
    symbols: str
    language: str
    text: str

    @classmethod
    def of_node(cls, node: Any) -> "ChunkRecord":
        """The record of a chunk node as the chunker made it (its metadata keys)."""
        meta = node.metadata
        return cls(node.node_id, meta["path"], meta["start_line"], meta["end_line"],
                   meta["symbol"], meta["symbols"], meta["language"], node.get_content())


@dataclass(frozen=True)
class DefinitionRecord:
    path: str
    name: str
    qualified: str
    kind: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class ReferenceRecord:
    path: str
    name: str
    kind: str
    line: int


@dataclass
class FileUpdate:
    """A file's new state: its record, chunks, definitions and references (may be empty)."""

    record: FileRecord
    chunks: list[ChunkRecord]
    definitions: list[DefinitionRecord] = field(default_factory=list)
    references: list[ReferenceRecord] = field(default_factory=list)


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Tools run in worker threads (LlamaIndex calls sync tools off the event loop), one
        # at a time: the connection is shared across threads, never used concurrently.
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        version = self.get("schema")
        if version is None:
            self.set_many({"schema": SCHEMA_VERSION})
        elif version != SCHEMA_VERSION:
            self.close()
            raise OutdatedManifest(f"the index was made by another version of codeagent "
                                   f"(format {version}, this one reads {SCHEMA_VERSION})")

    def close(self) -> None:
        self._db.close()

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def get_json(self, key: str) -> Any:
        value = self.get(key)
        return json.loads(value) if value is not None else None

    def set_many(self, values: dict[str, Any]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()])

    def files(self) -> dict[str, FileRecord]:
        rows = self._db.execute("SELECT * FROM files")
        return {row[0]: FileRecord(*row) for row in rows}

    def counts(self) -> tuple[int, int]:
        files = self._db.execute("SELECT COUNT(*) FROM files WHERE skipped IS NULL").fetchone()[0]
        chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return files, chunks

    def chunk_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def paths_of(self, chunk_ids: Iterable[str]) -> set[str]:
        ids, paths = list(chunk_ids), set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = self._db.execute(
                f"SELECT DISTINCT path FROM chunks WHERE id IN ({','.join('?' * len(part))})", part)
            paths.update(row[0] for row in rows)
        return paths

    def chunk_rows(self) -> list[tuple[str, str, int, int, str, str]]:
        """(id, path, start_line, end_line, symbol, language) of every chunk, without its
        text, in the keyword index's order."""
        return self._db.execute("SELECT id, path, start_line, end_line, symbol, language "
                                "FROM chunks ORDER BY path, start_line, end_line, id").fetchall()

    def chunk_texts(self, chunk_ids: Iterable[str]) -> dict[str, str]:
        ids, texts = list(chunk_ids), {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            texts.update(self._db.execute(
                f"SELECT id, text FROM chunks WHERE id IN ({','.join('?' * len(part))})", part))
        return texts

    def iter_chunks(self) -> Iterator[ChunkRecord]:
        for row in self._db.execute("SELECT * FROM chunks ORDER BY path, start_line"):
            yield ChunkRecord(*row)

    def definitions_named(self, name: str) -> list[DefinitionRecord]:
        """Definitions whose name or qualified name is `name` (or ends with `.name`)."""
        simple = name.rsplit(".", 1)[-1]
        rows = self._db.execute(
            "SELECT * FROM definitions WHERE name = ? ORDER BY path, start_line", (simple,))
        found = [DefinitionRecord(*row) for row in rows]
        if "." in name:
            found = [d for d in found if d.qualified == name or d.qualified.endswith("." + name)]
        return found

    def definitions_in(self, path: str) -> list[DefinitionRecord]:
        """A file's definitions, in source order."""
        rows = self._db.execute("SELECT * FROM definitions WHERE path = ? ORDER BY start_line",
                                (path,))
        return [DefinitionRecord(*row) for row in rows]

    def all_definitions(self) -> Iterator[DefinitionRecord]:
        for row in self._db.execute("SELECT * FROM definitions ORDER BY path, start_line"):
            yield DefinitionRecord(*row)

    def definition_names(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT name FROM definitions")]

    def references_named(self, name: str) -> list[ReferenceRecord]:
        rows = self._db.execute("SELECT * FROM refs WHERE name = ? ORDER BY path, line",
                                (name.rsplit(".", 1)[-1],))
        return [ReferenceRecord(*row) for row in rows]

    def lines_containing(self, fragment: str, limit: int = 20) -> list[tuple[str, int]]:
        """(path, line) of the indexed lines holding `fragment` exactly, at most `limit`
        chunks' worth (a scan of the chunks' text: for a few literal strings per query)."""
        rows = self._db.execute("SELECT path, start_line, text FROM chunks WHERE instr(text, ?) "
                                "LIMIT ?", (fragment, limit))
        found: dict[tuple[str, int], None] = {}
        for path, start, text in rows:
            for offset, line in enumerate(text.split("\n")):
                if fragment in line:
                    found.setdefault((path, start + offset))
        return list(found)

    def symbols_stamp(self) -> str | None:
        """A token that changes with every commit that writes or drops definitions and
        references (`commit`): what a cached entity graph is keyed by."""
        return self.get("symbols")

    def all_references(self) -> Iterator[ReferenceRecord]:
        for row in self._db.execute("SELECT * FROM refs ORDER BY path, line"):
            yield ReferenceRecord(*row)

    def journal_pending(self, ids: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO journal VALUES (?, 'pending')",
                                 [(i,) for i in ids])

    def commit(self, updates: list[FileUpdate], removed: Iterable[str] = ()) -> list[str]:
        """Replace files' chunks and definitions in one transaction; return the garbage ids.

        Garbage is what the store still holds for these files but the manifest no longer
        lists; it is journaled so that it is deleted even if this process dies next.
        """
        garbage: list[str] = []
        removed = list(removed)
        with self._transaction():
            for update in updates:
                new_ids = {c.id for c in update.chunks}
                garbage += [i for i in self._drop_path(update.record.path) if i not in new_ids]
                self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 _astuple(update.record))
                self._db.executemany("INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                     [_astuple(c) for c in update.chunks])
                self._db.executemany("INSERT INTO definitions VALUES (?, ?, ?, ?, ?, ?)",
                                     [_astuple(d) for d in update.definitions])
                self._db.executemany("INSERT INTO refs VALUES (?, ?, ?, ?)",
                                     [_astuple(r) for r in update.references])
                self._db.executemany("DELETE FROM journal WHERE id = ? AND state = 'pending'",
                                     [(i,) for i in new_ids])
            for path in removed:
                garbage += self._drop_path(path)
                self._db.execute("DELETE FROM files WHERE path = ?", (path,))
            self._db.executemany("INSERT OR REPLACE INTO journal VALUES (?, 'garbage')",
                                 [(i,) for i in garbage])
            if updates or removed:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('symbols', ?)",
                                 (uuid.uuid4().hex,))
        return garbage

    def touch(self, records: list[FileRecord]) -> None:
        """Record new stat data for files whose content did not change."""
        with self._transaction():
            self._db.executemany("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
                                 [(r.size, r.mtime_ns, r.path) for r in records])

    def leftovers(self) -> list[str]:
        """Journaled ids the manifest does not list: a killed run may have left them in the
        store (written but never committed, or replaced but not yet deleted)."""
        rows = self._db.execute("SELECT id FROM journal WHERE id NOT IN (SELECT id FROM chunks)")
        return [row[0] for row in rows]

    def clear_journal(self, ids: Iterable[str] | None = None) -> None:
        with self._transaction():
            if ids is None:
                self._db.execute("DELETE FROM journal")
            else:
                self._db.executemany("DELETE FROM journal WHERE id = ?", [(i,) for i in ids])

    def clear(self) -> None:
        """Forget everything but the schema (a rebuild)."""
        with self._transaction():
            for table in ("files", "chunks", "definitions", "refs", "journal", "meta"):
                self._db.execute(f"DELETE FROM {table}")
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))

    def _drop_path(self, path: str) -> list[str]:
        ids = [row[0] for row in self._db.execute("SELECT id FROM chunks WHERE path = ?", (path,))]
        self._db.execute("DELETE FROM chunks WHERE path = ?", (path,))
        self._db.execute("DELETE FROM definitions WHERE path = ?", (path,))
        self._db.execute("DELETE FROM refs WHERE path = ?", (path,))
        return ids

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (Ctrl-C included)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _astuple(record: Any) -> tuple:
    return tuple(record.__dict__.values())


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
