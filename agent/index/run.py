"""`codeagent index`: bring the index in line with the files on disk, embedding only changes.

Order of a run, chosen so that an interrupted run loses nothing:
  1. walk, and diff against the manifest (stat first, then content hash);
  2. nothing changed: record new stat data and stop, without loading a model or the store;
  3. delete what earlier killed runs left in the store (the manifest journal);
  4. per batch of files: chunk + embed (LlamaIndex IngestionPipeline), journal the ids,
     upsert them, commit the manifest, delete the chunks the commit replaced.
Until a batch commits, the previous chunks of its files stay searchable.

Why this module is long: the order above is what makes a run crash-safe, so one class
holds it from top to bottom (what a run must do is planned in `plan.py`; readers open the
result through `layout.py`). The kill matrix, bench/kill_matrix.py, kills a run between
any two of its steps.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Protocol

from codeagent.errors import ModelMismatch
from codeagent.index.languages import detect_language
from codeagent.index.layout import (EMBEDDED_COLLECTION, MANIFEST, backend_mismatch, backend_to_use,
                                    collection_name, ensure_data_dir, recipe_mismatch,
                                    recorded_backend_of, recorded_recipe_of, store_stamp)
from codeagent.index.lock import WriterLock
from codeagent.index.manifest import (ChunkRecord, DefinitionRecord, FileRecord, FileUpdate,
                                      Manifest, OutdatedManifest, ReferenceRecord, now_iso)
from codeagent.index.plan import Plan, plan_changes
from codeagent.index.walker import FileEntry, RepoRules, walk
from codeagent.settings import Settings, chroma_url_for
from codeagent.textfile import content_hash, decode

# 3: the parse records imports (the entity graph resolves them): every file is parsed again.
CHUNKER_VERSION = "3"
# Files per manifest commit. Vectors reach the embedding cache batch by batch, so a crash
# costs no embedding work whatever this size; larger batches sort more texts by length
# together (less padding) and commit less often.
BATCH_BYTES = 1_000_000
BATCH_FILES = 500


class Progress(Protocol):
    """Progress of a run. Bytes are the unit (known before chunking, so there is an ETA);
    within a batch they advance with the chunks embedded."""

    def start(self, files: int, nbytes: int) -> None: ...
    def begin_batch(self, files: int, nbytes: int) -> None: ...
    def embedded(self, done: int, total: int) -> None: ...
    def end_batch(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class IndexSummary:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    """path -> reason, for every file left out."""
    chunks_written: int = 0
    embedded: int = 0
    """Of the chunks written, how many were embedded (the rest came from the cache)."""
    files: int = 0
    chunks: int = 0
    seconds: float = 0.0
    model: str = ""
    notes: list[str] = field(default_factory=list)

    def skipped_counts(self) -> dict[str, int]:
        return dict(Counter(self.skipped.values()).most_common())







def run_index(repo: Path, settings: Settings, *, rebuild: bool = False,
              progress: Progress | None = None, embedding: Any = None) -> IndexSummary:
    """Index `repo`. `embedding` = (model, EmbeddingInfo) to use instead of loading one."""
    started = time.monotonic()
    ddir = ensure_data_dir(repo)
    with WriterLock(ddir):
        manifest, notes = _open_manifest(ddir)
        try:
            run = _IndexRun(repo, ddir, settings, manifest, progress, embedding)
            run.summary.notes += notes
            summary = run.execute(rebuild or bool(notes))
        finally:
            manifest.close()
    summary.seconds = time.monotonic() - started
    return summary




def _open_manifest(ddir: Path) -> tuple[Manifest, list[str]]:
    path = ddir / MANIFEST
    try:
        return Manifest(path), []
    except OutdatedManifest as exc:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return Manifest(path), [f"{exc}: rebuilt it"]
    except sqlite3.DatabaseError as exc:
        aside = path.with_name(f"manifest.damaged-{time.strftime('%Y%m%d-%H%M%S')}.sqlite")
        shutil.move(str(path), aside)
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return Manifest(path), [f"the manifest was damaged ({exc}); moved it to {aside.name} "
                                "and rebuilt the index"]


class _IndexRun:
    def __init__(self, repo: Path, ddir: Path, settings: Settings, manifest: Manifest,
                 progress: Progress | None, embedding: Any) -> None:
        self.repo, self.ddir, self.settings, self.manifest = repo, ddir, settings, manifest
        self.progress = progress
        self.embedding = embedding
        self.summary = IndexSummary()
        self.store: Any = None

    def execute(self, rebuild: bool) -> IndexSummary:
        recorded_store = self.manifest.get("store")
        self.chroma_url = chroma_url_for(self.settings, recorded_store)
        location = self.chroma_url or "embedded"
        if recorded_store is not None and recorded_store != location:
            self.summary.notes.append(f"the index moved from {recorded_store} to {location}: "
                                      "rebuilding it there")
            rebuild = True
        loaded = None
        if rebuild:
            # Load the model first: a rebuild that cannot embed must not drop the old index.
            model_name, allow_fallback = self._choose_model(keep_recorded=False)
            loaded = self._embedding(model_name, allow_fallback, need_model=True,
                                     check_recorded=False)
            self._drop_everything()
        else:
            model_name, allow_fallback = self._choose_model()
            self._choose_backend(keep_recorded=True)  # another one asked for: say so now
        signature = f"{CHUNKER_VERSION}:{self.settings.window_lines}:{self.settings.window_overlap}"
        force = self.manifest.get("chunking") not in (None, signature)
        if force:
            self.summary.notes.append("chunking settings changed: re-chunking every file")
        rules = RepoRules.from_settings(self.repo, self.settings)
        walked = walk(rules)
        self.summary.skipped.update(walked.skipped)
        plan = self._plan(walked.files, force)

        # A run that did not finish leaves the flag at 0 (so does a search that found the
        # store damaged), and a store whose files no longer have the names and sizes the
        # last run left was changed by something else: either way the store may be damaged
        # or hold chunks the manifest does not list, so this run checks it even with
        # nothing to do. (Sizes, not times: reading the store rewrites its files' mtimes.)
        unfinished = self.manifest.get("clean") == "0"
        recorded_stamp = self.manifest.get("store_stamp")
        dirty = unfinished or (not self.chroma_url and recorded_stamp is not None
                               and recorded_stamp != store_stamp(self.ddir))
        if (plan.to_index or plan.removed or plan.content_skipped or dirty
                or self.manifest.leftovers()):
            probe = self._start_probe()  # runs in a child while the model loads
            model, info = loaded or self._embedding(model_name, allow_fallback,
                                                    need_model=bool(plan.to_index))
            if probe is not None:
                health = probe.result()
                if not health.ok:
                    self._quarantine(health.reason or "unreadable")
                    plan = self._plan(walked.files, force=True)
            self.manifest.set_many({"clean": "0"})
            self._open_store(info)
            self._recover()
            plan.to_index += self._reconcile(walked.files, plan, thorough=dirty)
            if plan.to_index and model is None:  # only deletions were planned
                model, info = self._embedding(model_name, allow_fallback, need_model=True)
            self._commit(plan.content_skipped, plan.removed)
            if plan.to_index:
                self._index_files(plan.to_index, model, info)
            recorded = {"store": location,
                        "collection": collection_name(self.repo, self.chroma_url),
                        "generation": int(self.manifest.get("generation") or 0) + 1}
            if info.dimension:  # not when no model ever embedded anything here
                recorded.update({"model": info.name, "dimension": info.dimension,
                                 "max_tokens": info.max_tokens, "device": info.device,
                                 "backend": info.backend, "backend_recipe": info.recipe,
                                 **self._fallback(info)})
            self.manifest.set_many(recorded)
        self.manifest.touch(plan.touched)
        files, chunks = self.manifest.counts()
        from codeagent.index import \
            keyword_index  # light: bm25s, scipy and LlamaIndex load only for an update

        if (self.ddir / keyword_index.BUILDING).exists():
            self.summary.notes.append("the keyword index was left half-built: rebuilt it")
        # An unfinished run may have committed chunks and died before the keyword index
        # followed them: update it then too.
        if (plan.to_index or plan.removed or plan.content_skipped or unfinished
                or keyword_index.needs_update(self.ddir, chunks)):
            keyword_index.update(self.ddir, self.manifest)
        self.summary.files, self.summary.chunks = files, chunks
        self.summary.model = self.manifest.get("model") or model_name
        self.manifest.set_many({"chunking": signature, "updated_at": now_iso(),
                                "last_run": self._last_run(), "clean": "1",
                                "store_stamp": "" if self.chroma_url else store_stamp(self.ddir)})
        return self.summary

    def _choose_model(self, keep_recorded: bool = True) -> tuple[str, bool]:
        from codeagent.index.embedding import canonical_name, default_allows_fallback

        recorded = self.manifest.get("model") if keep_recorded else None
        asked = canonical_name(self.settings.embed_model)
        chosen_by_user = self.settings.explicit("embed_model")
        if recorded and chosen_by_user and asked != recorded:
            raise ModelMismatch(
                f"this index was built with '{recorded}', not '{asked}'",
                f"run `codeagent index --rebuild --embed-model {asked}` to re-embed every file "
                f"with it, or leave --embed-model out to keep '{recorded}'")
        if recorded:
            return recorded, False
        return asked, default_allows_fallback(asked, chosen_by_user)

    def _fallback(self, info: Any) -> dict[str, str]:
        """What the manifest says of a fallback model: a later run loads the recorded model
        by its own name, which is no fallback, but the index still stands in for the one
        asked for (and `status`, `config` and `doctor` must go on saying so, and why)."""
        if info.fallback_from or info.name != self.manifest.get("model"):
            return {"fallback_from": info.fallback_from or "",
                    "fallback_reason": info.fallback_reason or ""}
        return {"fallback_from": self.manifest.get("fallback_from") or "",
                "fallback_reason": self.manifest.get("fallback_reason") or ""}

    def _plan(self, entries: list[FileEntry], force: bool) -> Plan:
        plan = plan_changes(self.repo, self.manifest.files(), entries, force,
                            self.settings.max_file_bytes)
        self.summary.skipped.update(plan.skipped)
        self.summary.unchanged += plan.unchanged
        self.summary.removed = plan.removed_indexed
        return plan

    def _embedding(self, name: str, allow_fallback: bool, need_model: bool,
                   check_recorded: bool = True) -> tuple[Any, Any]:
        from codeagent.index.embedding import EmbeddingInfo, load_embedding

        if self.embedding is not None:
            model, info = self.embedding
        elif need_model:
            model, info = load_embedding(name, self.settings.embed_device,
                                         self.settings.embed_batch_size, allow_fallback,
                                         self._choose_backend(check_recorded))
        else:  # only deletions: the store needs the recorded dimension, not the model
            recorded = self.manifest.get("dimension")
            return None, EmbeddingInfo(
                name, int(recorded or 0), self.manifest.get("device") or "",
                int(self.manifest.get("max_tokens") or 0),
                self.manifest.get("fallback_from") or None,
                self.manifest.get("fallback_reason") or None,
                recorded_backend_of(self.manifest), recorded_recipe_of(self.manifest))
        recorded_model = self.manifest.get("model") if check_recorded else None
        if recorded_model and recorded_model != info.name:
            raise ModelMismatch(f"this index was built with '{recorded_model}', not '{info.name}'",
                                "run `codeagent index --rebuild` to re-embed every file")
        if recorded_model and recorded_backend_of(self.manifest) != info.backend:
            raise backend_mismatch(recorded_backend_of(self.manifest), info.backend)
        if recorded_model and recorded_recipe_of(self.manifest) != info.recipe:
            raise recipe_mismatch(info.backend)
        return model, info

    def _choose_backend(self, keep_recorded: bool) -> str:
        """The recorded backend (vectors of two backends are not mixed), unless the index is
        new or rebuilt; a different one asked for is a mismatch, like another model."""
        if not keep_recorded or not self.manifest.get("model"):
            return self.settings.embed_backend
        return backend_to_use(self.manifest, self.settings)

    def _open_store(self, info: Any) -> None:
        from codeagent.index.store import open_store

        self.store = open_store(self.repo, self.ddir, self.chroma_url, info.name,
                                info.dimension, create=True)

    def _start_probe(self) -> Any:
        """A health probe of the embedded store in a child process, or None when there is
        nothing to probe (a new index) or the store is a server (another process already)."""
        if self.chroma_url or not self.manifest.counts()[1]:
            return None
        from codeagent.index.health import Probe

        return Probe(self.ddir / "chroma", EMBEDDED_COLLECTION)

    def _quarantine(self, reason: str) -> None:
        """Move a damaged store aside (for inspection) and start the index afresh; the
        embedding cache survives, so the rebuild embeds little or nothing."""
        aside = self.ddir / f"chroma.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        if (self.ddir / "chroma").exists():
            shutil.move(str(self.ddir / "chroma"), aside)
        shutil.rmtree(self.ddir / "bm25", ignore_errors=True)
        self.manifest.clear()
        self.summary.notes.append(f"the vector store was damaged ({reason}); moved it to "
                                  f"{aside.name} and rebuilt the index")

    def _reconcile(self, entries: list[FileEntry], plan: Plan,
                   thorough: bool) -> list[tuple[FileEntry, str]]:
        """The store must hold exactly the chunks the manifest lists. Compared by count (the
        usual case: one call), or id by id after an interrupted run; stray chunks are
        deleted, files whose chunks are missing are indexed again."""
        if not thorough and self.store.count() == self.manifest.counts()[1]:
            return []
        expected = self.manifest.chunk_ids()
        present = self.store.all_ids()
        stray, missing = present - expected, expected - present
        if stray:
            self.store.delete(sorted(stray))
            self.summary.notes.append(f"repaired the store: deleted {len(stray)} stray chunks")
        if not missing:
            return []
        queued = {entry.path for entry, _ in plan.to_index}
        by_path = {entry.path: entry for entry in entries}
        redo = sorted(path for path in self.manifest.paths_of(missing)
                      if path in by_path and path not in queued)
        self.summary.notes.append(f"repaired the store: {len(missing)} chunks were missing; "
                                  f"indexing {len(redo)} files again")
        return [(by_path[path], "changed") for path in redo]

    def _recover(self) -> None:
        leftovers = self.manifest.leftovers()
        if leftovers:
            self.store.delete(leftovers)
            self.summary.notes.append(f"cleaned up {len(leftovers)} chunks an interrupted run left")
        self.manifest.clear_journal()

    def _commit(self, updates: list[FileUpdate], removed: list[str] = ()) -> None:
        garbage = self.manifest.commit(updates, removed)
        self.store.delete(garbage)
        self.manifest.clear_journal(garbage)

    def _index_files(self, todo: list[tuple[FileEntry, str]], model: Any, info: Any) -> None:
        from llama_index.core.ingestion import IngestionPipeline

        from codeagent.index.chunker import CodeChunker, chars_for_tokens
        from codeagent.index.embed_cache import CachedEmbedding, EmbeddingCache
        from codeagent.index.embedding import batch_size_for, token_counter

        cache = EmbeddingCache(self.ddir / "embed-cache.sqlite", info.identity)
        embedder = CachedEmbedding(model, cache,
                                   batch_size_for(self.settings.embed_batch_size, info.device))
        chunker = CodeChunker(count_tokens=token_counter(model), max_tokens=info.max_tokens,
                              max_chars=chars_for_tokens(info.max_tokens),
                              window_lines=self.settings.window_lines,
                              window_overlap=self.settings.window_overlap)
        pipeline = IngestionPipeline(transformations=[chunker, embedder], disable_cache=True)
        if self.progress:
            self.progress.start(len(todo), sum(entry.size for entry, _ in todo))
            embedder.set_progress(self.progress.embedded)
        try:
            for batch in _batches(todo):
                self._index_batch(batch, pipeline, chunker, embedder)
        finally:
            cache.close()
            if self.progress:
                self.progress.stop()

    def _index_batch(self, batch: list[tuple[FileEntry, str]], pipeline: Any, chunker: Any,
                     embedder: Any) -> None:
        docs, records, statuses = [], {}, {}
        for entry, status in batch:
            read = read_document(self.repo, entry, self.settings.max_file_bytes)
            if isinstance(read, str):
                self.summary.skipped[entry.path] = read
                continue
            records[entry.path], document = read
            docs.append(document)
            statuses[entry.path] = status
        embedded_before = embedder.embedded_count
        if self.progress:
            self.progress.begin_batch(len(batch), sum(entry.size for entry, _ in batch))
        nodes = pipeline.run(documents=docs)
        parsed = chunker.take_symbols()
        self.manifest.journal_pending(node.node_id for node in nodes)
        self.store.add(nodes)
        for status in statuses.values():
            setattr(self.summary, status, getattr(self.summary, status) + 1)
        self._commit(file_updates(records, nodes, parsed))
        self.summary.chunks_written += len(nodes)
        self.summary.embedded += embedder.embedded_count - embedded_before
        if self.progress:
            self.progress.end_batch()

    def _drop_everything(self) -> None:
        from codeagent.index.store import drop_collection

        drop_collection(self.repo, self.ddir, self.chroma_url)
        self.manifest.clear()

    def _last_run(self) -> dict[str, Any]:
        s = self.summary
        return {"added": s.added, "changed": s.changed, "removed": s.removed,
                "unchanged": s.unchanged, "skipped": s.skipped_counts(), "at": now_iso()}






def _batches(todo: list[tuple[FileEntry, str]]) -> Iterator[list[tuple[FileEntry, str]]]:
    batch: list[tuple[FileEntry, str]] = []
    size = 0
    for item in todo:
        batch.append(item)
        size += item[0].size
        if size >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def read_document(repo: Path, entry: FileEntry, max_bytes: int) -> tuple[FileRecord, Any] | str:
    """A planned file as its manifest record (no chunks yet) and the Document the chunker
    takes; or why it is skipped now (it may have changed since the plan was made)."""
    from llama_index.core.schema import Document

    try:
        data = (repo / entry.path).read_bytes()
    except OSError:
        return "unreadable"
    if len(data) > max_bytes:
        return "too large"
    decoded = decode(data)
    if decoded is None:
        return "binary"
    language = detect_language(entry.path, data[:256])
    digest = content_hash(data)
    return (FileRecord(entry.path, digest, len(data), entry.mtime_ns, language, 0, None),
            Document(text=decoded[0], id_=entry.path, metadata={
                "path": entry.path, "language": language, "file_hash": digest}))


def file_updates(records: dict[str, FileRecord], nodes: list[Any],
                 parsed: dict[str, Any]) -> list[FileUpdate]:
    """What the manifest commits for these files: each record with its chunks (from the
    chunker's nodes) and its definitions and references (the chunker's parse)."""
    chunks: dict[str, list[ChunkRecord]] = {path: [] for path in records}
    for node in nodes:
        chunks[node.metadata["path"]].append(ChunkRecord.of_node(node))
    updates = []
    for path, record in records.items():
        result = parsed.get(path)
        updates.append(FileUpdate(
            replace(record, chunks=len(chunks[path])), chunks[path],
            [DefinitionRecord(path, d.name, d.qualified, d.kind, d.start_line, d.end_line)
             for d in (result.definitions if result else [])],
            [ReferenceRecord(path, r.name, r.kind, r.line)
             for r in (result.references if result else [])]))
    return updates
