"""A repository's chunks, symbols and keywords before any vector: what chat searches while
its first index fills.

The first index run of a repository embeds for minutes on a CPU; chunking the same files
with tree-sitter takes seconds. So chat first chunks every file without a model into a
manifest in memory (the records an index run commits, with the definitions and references
find_symbol reads) and a BM25 over it: keyword search and find_symbol work at once, and
semantic search joins when the run is done. Nothing of it is written to disk: the run
that follows builds the real index, and afterwards this one is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from codeagent.index import keyword_index
from codeagent.index.manifest import Manifest
from codeagent.index.plan import plan_changes
from codeagent.index.run import file_updates, read_document
from codeagent.index.walker import RepoRules, walk
from codeagent.settings import Settings

BATCH_FILES = 50
"""Files chunked between two looks at `stopped`."""


class Stopped(Exception):
    """The quick index was asked to stop before it was done."""


@dataclass
class QuickIndex:
    manifest: Manifest
    """In memory: files, chunks, definitions and references, as an index run records them."""
    keywords: Any
    """A bm25s.BM25 over the chunks (`keyword_index.build`), None when there are none."""
    files: int


def quick_index(repo: Path, settings: Settings,
                stopped: Callable[[], bool] = lambda: False) -> QuickIndex:
    """Chunk every file the index would hold (same walk, same rules, no embedding model)."""
    from codeagent.index.chunker import CodeChunker

    plan = plan_changes(repo, {}, walk(RepoRules.from_settings(repo, settings)).files, False,
                        settings.max_file_bytes)
    manifest = Manifest(Path(":memory:"))
    chunker = CodeChunker(window_lines=settings.window_lines,
                          window_overlap=settings.window_overlap)
    todo = [entry for entry, _ in plan.to_index]
    for start in range(0, len(todo), BATCH_FILES):
        if stopped():
            manifest.close()
            raise Stopped()
        docs, records = [], {}
        for entry in todo[start:start + BATCH_FILES]:
            read = read_document(repo, entry, settings.max_file_bytes)
            if not isinstance(read, str):  # a skip: the index run that follows says why
                records[entry.path], document = read
                docs.append(document)
        manifest.commit(file_updates(records, chunker.get_nodes_from_documents(docs),
                                     chunker.take_symbols()))
    return QuickIndex(manifest, keyword_index.build(manifest), manifest.counts()[0])

