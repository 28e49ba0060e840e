"""Incremental indexing: exactly the right chunks after every kind of change or failure."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pytest

from codeagent.errors import IndexBusy, ModelMismatch
from codeagent.index.embed_cache import CachedEmbedding, EmbeddingCache
from codeagent.index.layout import data_dir
from codeagent.index.manifest import Manifest
from codeagent.index.run import run_index
from support import assert_index_matches_disk, indexed_state, write_files

INDEXED = {"net/redirects.py", "storage/cache.go", "auth/password.rs", "web/format.js",
           "docs/deploy.md", "config/app.yaml", ".gitignore", "keep.log", "broken.py",
           "conflict.py", "legacy.py", "empty.py"}


def index(repo, settings_for, embedding, **kwargs):
    return run_index(repo, settings_for(repo), embedding=embedding, **kwargs)


def test_first_run_indexes_the_fixture_with_the_documented_treatment(repo, settings_for,
                                                                      mock_embedding):
    summary = index(repo, settings_for, mock_embedding)
    assert summary.added == len(INDEXED) and summary.unchanged == 0
    assert summary.skipped == {".env": "secret", "big.txt": "too large",
                               "outside_link.py": "symlink outside repository",
                               "blob.xyz": "binary"}
    chunks = assert_index_matches_disk(repo, INDEXED)
    texts = "\n".join(meta["text"] for meta in chunks.values())
    assert "supersecret" not in texts and "OUTSIDE_SECRET" not in texts
    assert "café au lait" in texts  # the latin-1 file, decoded, not dropped
    assert not any(meta["path"] == "empty.py" for meta in chunks.values())
    broken = [m for m in chunks.values() if m["path"] == "broken.py"]
    assert broken, "a file with a syntax error is still indexed"
    assert (data_dir(repo) / ".gitignore").read_text().strip().endswith("*")


def test_second_run_embeds_nothing_and_leaves_the_index_alone(repo, settings_for,
                                                               mock_embedding):
    index(repo, settings_for, mock_embedding)
    before, _ = indexed_state(repo)
    summary = index(repo, settings_for, mock_embedding)
    assert (summary.added, summary.changed, summary.removed, summary.chunks_written) == (0, 0, 0, 0)
    assert summary.unchanged == len(INDEXED)
    assert indexed_state(repo)[0] == before


def test_touched_but_unchanged_files_are_not_re_embedded(repo, settings_for, mock_embedding):
    index(repo, settings_for, mock_embedding)
    path = repo / "net/redirects.py"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    summary = index(repo, settings_for, mock_embedding)
    assert summary.changed == 0 and summary.chunks_written == 0


def test_modify_delete_rename_add(repo, settings_for, mock_embedding):
    index(repo, settings_for, mock_embedding)
    (repo / "net/redirects.py").write_text(
        (repo / "net/redirects.py").read_text().replace("MAX_REDIRECTS = 30", "MAX_REDIRECTS = 5"))
    (repo / "storage/cache.go").unlink()
    (repo / "auth/password.rs").rename(repo / "auth/hashing.rs")
    write_files(repo, {"web/cart.js": "export function total(items) {\n  return 0;\n}\n"})
    summary = index(repo, settings_for, mock_embedding)
    assert (summary.added, summary.changed, summary.removed) == (2, 1, 2)
    expected = INDEXED - {"storage/cache.go", "auth/password.rs"} | {"auth/hashing.rs",
                                                                       "web/cart.js"}
    chunks = assert_index_matches_disk(repo, expected)
    assert any("MAX_REDIRECTS = 5" in m["text"] for m in chunks.values())
    assert not any("MAX_REDIRECTS = 30" in m["text"] for m in chunks.values())


def test_identical_files_keep_their_own_chunks(repo, settings_for, mock_embedding):
    same = "def twin():\n    return 'same content'\n"
    write_files(repo, {"a/twin.py": same, "b/twin.py": same})
    index(repo, settings_for, mock_embedding)
    (repo / "a/twin.py").unlink()
    index(repo, settings_for, mock_embedding)
    chunks = assert_index_matches_disk(repo, INDEXED | {"b/twin.py"})
    assert [m["path"] for m in chunks.values() if "same content" in m["text"]] == ["b/twin.py"]


def test_a_file_that_becomes_secret_or_binary_leaves_the_index(repo, settings_for,
                                                                mock_embedding):
    index(repo, settings_for, mock_embedding)
    (repo / "keep.log").write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n")
    (repo / "legacy.py").write_bytes(b"\x00\x01binary now")
    summary = index(repo, settings_for, mock_embedding)
    assert summary.skipped["keep.log"] == "secret" and summary.skipped["legacy.py"] == "binary"
    assert_index_matches_disk(repo, INDEXED - {"keep.log", "legacy.py"})


def test_interrupted_commit_keeps_the_old_index_and_next_run_finishes(repo, settings_for,
                                                                       mock_embedding,
                                                                       monkeypatch):
    index(repo, settings_for, mock_embedding)
    old_chunks, _ = indexed_state(repo)
    (repo / "web/format.js").write_text((repo / "web/format.js").read_text() + "\n// new tail\n")

    real_commit = Manifest.commit

    def die_after_upsert(self, updates, removed=()):
        if updates:  # the vectors of this batch are in the store; the manifest never hears
            raise KeyboardInterrupt
        return real_commit(self, updates, removed)

    with monkeypatch.context() as patch:
        patch.setattr(Manifest, "commit", die_after_upsert)
        with pytest.raises(KeyboardInterrupt):
            index(repo, settings_for, mock_embedding)
    manifest = Manifest(data_dir(repo) / "manifest.sqlite")
    try:  # the manifest still lists the old chunks, and they are all still in the store
        assert manifest.chunk_ids() == set(old_chunks)
    finally:
        manifest.close()
    summary = index(repo, settings_for, mock_embedding)
    assert summary.changed == 1
    assert any("cleaned up" in note for note in summary.notes)
    chunks = assert_index_matches_disk(repo, INDEXED)
    assert any("// new tail" in m["text"] for m in chunks.values())


def test_interrupted_embedding_loses_nothing(repo, settings_for, mock_embedding, monkeypatch):
    model, info = mock_embedding
    calls = {"n": 0}
    original = type(model)._get_text_embeddings

    def flaky(self, texts):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return original(self, texts)

    monkeypatch.setattr(type(model), "_get_text_embeddings", flaky)
    with pytest.raises(KeyboardInterrupt):
        index(repo, settings_for, mock_embedding)
    index(repo, settings_for, mock_embedding)
    assert_index_matches_disk(repo, INDEXED)


def test_a_second_writer_is_refused_with_the_holders_pid(repo, settings_for, mock_embedding):
    data_dir(repo).mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from codeagent.index.lock import WriterLock\n"
         "with WriterLock(Path(sys.argv[1])):\n"
         "    print('locked', flush=True); time.sleep(60)\n", str(data_dir(repo))],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexBusy) as err:
            index(repo, settings_for, mock_embedding)
        assert f"PID {holder.pid}" in str(err.value)
    finally:
        holder.kill()
        holder.wait()
    index(repo, settings_for, mock_embedding)  # the lock died with its holder
    assert_index_matches_disk(repo, INDEXED)


def test_chroma_writes_never_exceed_the_clients_batch_size(repo, settings_for, mock_embedding,
                                                           monkeypatch):
    from chromadb.api.client import Client
    from chromadb.api.models.Collection import Collection

    sizes = []
    original_upsert = Collection.upsert

    def recording_upsert(self, ids, *args, **kwargs):
        sizes.append(len(ids))
        return original_upsert(self, ids, *args, **kwargs)

    monkeypatch.setattr(Client, "get_max_batch_size", lambda self: 5)
    monkeypatch.setattr(Collection, "upsert", recording_upsert)
    summary = index(repo, settings_for, mock_embedding)
    assert max(sizes) <= 5 and sum(sizes) == summary.chunks_written > 5


def test_asking_for_another_model_is_a_clear_error(repo, settings_for, mock_embedding):
    index(repo, settings_for, mock_embedding)
    with pytest.raises(ModelMismatch) as err:
        run_index(repo, settings_for(repo, embed_model="sentence-transformers/all-MiniLM-L6-v2"))
    assert "--rebuild" in err.value.hint


def test_rebuild_with_a_model_that_cannot_load_keeps_the_old_index(repo, settings_for,
                                                                    mock_embedding):
    from codeagent.errors import EmbeddingUnavailable

    index(repo, settings_for, mock_embedding)
    with pytest.raises(EmbeddingUnavailable):
        run_index(repo, settings_for(repo, embed_model="nobody/no-such-model"), rebuild=True)
    assert_index_matches_disk(repo, INDEXED)


def test_changed_chunking_settings_re_chunk_every_file(repo, settings_for, mock_embedding):
    index(repo, settings_for, mock_embedding)
    summary = run_index(repo, settings_for(repo, window_lines=5, window_overlap=1),
                        embedding=mock_embedding)
    assert summary.changed == len(INDEXED)
    assert_index_matches_disk(repo, INDEXED)


def test_damaged_manifest_is_set_aside_and_rebuilt(repo, settings_for, mock_embedding):
    index(repo, settings_for, mock_embedding)
    manifest = data_dir(repo) / "manifest.sqlite"
    for suffix in ("-wal", "-shm"):
        (data_dir(repo) / f"manifest.sqlite{suffix}").unlink(missing_ok=True)
    manifest.write_bytes(b"this is not a database" * 100)
    summary = index(repo, settings_for, mock_embedding)
    assert any("damaged" in note for note in summary.notes)
    assert list(data_dir(repo).glob("manifest.damaged-*.sqlite"))
    assert_index_matches_disk(repo, INDEXED)


def test_embedding_cache_reuses_vectors_and_keeps_order(tmp_path, mock_embedding):
    model, _ = mock_embedding
    cache = EmbeddingCache(tmp_path / "cache.sqlite", "mock")
    embedder = CachedEmbedding(model, cache, batch_size=2)
    texts = ["bb", "a", "cccc", "a"]
    first = embedder.get_text_embedding_batch(texts)
    assert embedder.embedded_count == 3  # "a" twice is embedded once
    again = embedder.get_text_embedding_batch(texts)
    assert embedder.embedded_count == 3 and again == first


@pytest.mark.parametrize("asked, device, per_call", [(0, "cpu", 4), (0, "cuda", 32),
                                                     (5, "cpu", 5)])
def test_the_batch_size_is_the_devices_unless_one_is_asked_for(repo, settings_for, asked, device,
                                                               per_call):
    """0 (the default) leaves it to the device: 4 on a CPU, where the activations of 4 chunks
    stay in cache (bench/README.md), 32 on a GPU; a number asked for is kept."""
    from llama_index.core.embeddings import MockEmbedding

    from codeagent.index.embedding import EmbeddingInfo

    calls: list[int] = []

    class Counting(MockEmbedding):
        def _get_text_embeddings(self, texts):
            calls.append(len(texts))
            return super()._get_text_embeddings(texts)

    write_files(repo, {f"extra/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(40)})
    model = Counting(embed_dim=8, embed_batch_size=1000)  # no split of its own
    summary = run_index(repo, settings_for(repo, embed_batch_size=asked),
                        embedding=(model, EmbeddingInfo("mock-8", 8, device, 256)))
    assert sum(calls) == summary.chunks_written > per_call
    assert max(calls) == per_call


def test_an_index_in_another_format_is_rebuilt_with_a_note(repo, settings_for, mock_embedding):
    import sqlite3

    index(repo, settings_for, mock_embedding)
    db = sqlite3.connect(data_dir(repo) / "manifest.sqlite")
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    db.commit()
    db.close()
    summary = index(repo, settings_for, mock_embedding)
    assert any("another version of codeagent" in note for note in summary.notes)
    assert summary.added == len(INDEXED)
    assert_index_matches_disk(repo, INDEXED)


def test_definitions_and_references_follow_the_files(repo, settings_for, mock_embedding):
    index(repo, settings_for, mock_embedding)
    manifest = Manifest(data_dir(repo) / "manifest.sqlite")
    try:
        [target] = manifest.definitions_named("RedirectMixin.get_redirect_target")
        assert (target.path, target.kind, target.start_line) == ("net/redirects.py", "method", 11)
        assert {(r.path, r.line) for r in manifest.references_named("get_redirect_target")} == {
            ("net/redirects.py", 20), ("net/redirects.py", 27)}
    finally:
        manifest.close()
    (repo / "net/redirects.py").unlink()
    index(repo, settings_for, mock_embedding)
    manifest = Manifest(data_dir(repo) / "manifest.sqlite")
    try:
        assert manifest.definitions_named("get_redirect_target") == []
        assert manifest.references_named("get_redirect_target") == []
    finally:
        manifest.close()


class RecordingProgress:
    def __init__(self):
        self.events = []

    def start(self, files, nbytes):
        self.events.append(("start", files, nbytes))

    def begin_batch(self, files, nbytes):
        self.events.append(("begin", files, nbytes))

    def embedded(self, done, total):
        self.events.append(("embedded", done, total))

    def end_batch(self):
        self.events.append(("end",))

    def stop(self):
        self.events.append(("stop",))


def test_progress_is_reported_in_bytes_and_chunks(repo, settings_for, mock_embedding):
    progress = RecordingProgress()
    summary = run_index(repo, settings_for(repo), embedding=mock_embedding, progress=progress)
    kinds = [e[0] for e in progress.events]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    start = progress.events[0]
    assert start[1] == summary.added
    assert sum(e[2] for e in progress.events if e[0] == "begin") == start[2]
    embedded = [e for e in progress.events if e[0] == "embedded"]
    assert embedded[-1][1] == embedded[-1][2] == summary.chunks_written


def test_the_terminal_progress_bar_draws_a_whole_run(repo, settings_for, mock_embedding):
    import io

    from codeagent.cli.console import RichProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    run_index(repo, settings_for(repo), embedding=mock_embedding,
              progress=RichProgress(stream=stream))
    assert "indexing" in stream.getvalue()


def test_the_file_count_advances_while_a_batch_embeds(repo, settings_for, mock_embedding):
    """The fixture is one batch: counted at the batch's end only, the bar read 0 files
    until the run was over."""
    from codeagent.cli.console import RichProgress

    class Recording(RichProgress):
        seen: list[int] = []

        def embedded(self, done, total):
            super().embedded(done, total)
            self.seen.append(self._progress.tasks[0].fields["files"])

        def stop(self):
            self.seen.append(self._progress.tasks[0].fields["files"])
            super().stop()

    progress = Recording(stream=io.StringIO())
    summary = run_index(repo, settings_for(repo, embed_batch_size=2), embedding=mock_embedding,
                        progress=progress)
    assert progress.seen == sorted(progress.seen)
    assert any(0 < files < summary.added for files in progress.seen[:-1])
    assert progress.seen[-1] == summary.added


def test_embedding_progress_spans_a_pipeline_step_of_more_than_one_call(mock_embedding):
    """LlamaIndex embeds 2,048 texts per call: the count must not start again at 0."""
    from llama_index.core.schema import TextNode

    from codeagent.index.embed_cache import CachedEmbedding

    reports = []
    embedder = CachedEmbedding(mock_embedding[0], None, 512, on_batch=lambda *r: reports.append(r))
    embedder([TextNode(text=f"text {i}") for i in range(2100)])
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    assert {total for _, total in reports} == {2100} and reports[-1] == (2100, 2100)


@pytest.mark.parametrize("name", ["/no/such/dir", "./models/none", "~/no-such-model-dir"])
def test_a_model_path_that_leads_nowhere_says_so_not_that_the_hub_is_away(name, tmp_path):
    from codeagent.errors import EmbeddingUnavailable
    from codeagent.index.embedding import load_embedding

    with pytest.raises(EmbeddingUnavailable) as err:
        load_embedding(name, "cpu")
    assert "no directory" in err.value.message
    assert "Hugging Face cache" not in err.value.message
    assert "internet" not in (err.value.hint or "")


def test_a_fallback_model_and_its_reason_outlive_incremental_runs(repo, settings_for,
                                                                  mock_embedding):
    """The first run fell back; later runs load the recorded model by name (no fallback
    then), yet status and config go on saying the index is the fallback, and why."""
    import json

    from codeagent.index.embedding import EmbeddingInfo
    from codeagent.settings import DEFAULT_EMBED_MODEL

    model, info = mock_embedding
    fell_back = EmbeddingInfo(info.name, info.dimension, "cpu", info.max_tokens,
                              DEFAULT_EMBED_MODEL, "not in the Hugging Face cache")
    index(repo, settings_for, (model, fell_back))
    (repo / "net/redirects.py").write_text("def follow():\n    return 1\n")
    assert index(repo, settings_for, mock_embedding).changed == 1

    def cli(*args):
        run = subprocess.run([sys.executable, "-m", "codeagent", *args, "--repo", str(repo),
                              "--json"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    status = cli("status")
    assert (status["model"], status["fallback_from"]) == (info.name, DEFAULT_EMBED_MODEL)
    assert status["fallback_reason"] == "not in the Hugging Face cache"
    shown = cli("config")["embed_model"]
    assert (shown["value"], shown["source"]) == (DEFAULT_EMBED_MODEL, "default")
    assert shown["index"] == {"model": info.name, "fallback_from": DEFAULT_EMBED_MODEL,
                              "fallback_reason": "not in the Hugging Face cache"}


def test_a_background_update_says_it_looks_for_changes_not_that_it_loads_a_model(
        repo, settings_for, mock_embedding):
    from codeagent.index.background import BackgroundIndex

    settings = settings_for(repo)
    first = BackgroundIndex(repo, settings, embedding=mock_embedding)
    first.phase = "preparing"
    assert first.progress() == "loading the embedding model"  # nothing indexed yet
    run_index(repo, settings, embedding=mock_embedding)
    update = BackgroundIndex(repo, settings, embedding=mock_embedding)
    update.phase = "preparing"
    assert update.progress() == "looking for changes"
    assert update.begin().wait(60) and update.phase == "done"
    assert update.summary.embedded == 0  # a no-op: no model was needed
