"""Two processes on one index, and a store that is not what the manifest says.

The embedded Chroma keeps vectors in memory: a session that stays open while another
terminal runs `codeagent index` would go on answering from the old vectors. The session
notices the index's generation moved and reopens it before its next question."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from codeagent.assistant.session import Session
from codeagent.errors import IndexProblem
from codeagent.index.layout import data_dir
from codeagent.index.manifest import Manifest
from codeagent.index.run import run_index
from codeagent.index.store import open_store
from codeagent.retrieval.semantic import Searcher
from codeagent.settings import load_settings
from codeagent.testing.fake_ollama import FakeOllama, scripted
from support import assert_index_matches_disk, make_repo, write_files

INDEXED = {"net/redirects.py", "storage/cache.go", "auth/password.rs", "web/format.js",
           "docs/deploy.md", "config/app.yaml"}

# `codeagent index` in another process, with the same fake model as the tests use here.
CHILD = """
import sys
from llama_index.core.embeddings import MockEmbedding
import codeagent.index.embedding as embedding
embedding.load_embedding = lambda *a, **k: (MockEmbedding(embed_dim=8),
                                            embedding.EmbeddingInfo("mock-8", 8, "cpu", 256))
from codeagent.cli.main import main
main(sys.argv[1:])
"""


def other_terminal(*args):
    return subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))


@pytest.fixture
def indexed(tmp_path, mock_embedding, settings_for):
    repo = make_repo(tmp_path / "repo", hostile=False)
    run_index(repo, settings_for(repo), embedding=mock_embedding)
    return repo


def search_everything(k=20):
    return f'Thought: look\nAction: semantic_search\nAction Input: {{"query": "code", "k": {k}}}'


def test_an_open_session_sees_what_another_process_indexed(indexed, mock_embedding):
    answer = "Thought: done\nAnswer: seen."
    with FakeOllama(scripted(search_everything(), answer, search_everything(), answer)) as server:
        session = Session(indexed, load_settings(indexed, {"ollama_host": server.url,
                                                       "first_search": False,
                                                       "citation_retries": 0, "locate_answer": False},
                                                           environ={}),
                          embedding=mock_embedding)
        try:
            session.ask("what is there?")
            (indexed / "web/format.js").unlink()
            write_files(indexed, {"web/checkout.js": "export function pay() {\n  return 1;\n}\n"})
            run = other_terminal("index", str(indexed))
            assert run.returncode == 0, run.stderr
            session.ask("and now?")
        finally:
            session.close()
    # what the search returned to the model, before and after the other process's index run
    seen_before = server.requests[1]["messages"][-1]["content"]
    seen_after = server.requests[3]["messages"][-1]["content"]
    assert "web/format.js:" in seen_before and "web/checkout.js:" not in seen_before
    assert "web/checkout.js:" in seen_after and "web/format.js:" not in seen_after


def test_a_damaged_store_is_moved_aside_and_rebuilt_from_the_cache(indexed, mock_embedding,
                                                                   settings_for):
    with open(data_dir(indexed) / "chroma" / "chroma.sqlite3", "r+b") as db:
        db.seek(100)
        db.write(os.urandom(4096))
    write_files(indexed, {"docs/new.md": "# New\n\nA new page.\n"})
    summary = run_index(indexed, settings_for(indexed), embedding=mock_embedding)
    assert any("damaged" in note for note in summary.notes)
    assert list(data_dir(indexed).glob("chroma.damaged-*"))
    assert summary.embedded == 1, "everything else came from the embedding cache"
    assert_index_matches_disk(indexed, INDEXED | {"docs/new.md"})


def test_search_after_an_interrupted_run_probes_before_opening(indexed, mock_embedding):
    manifest = Manifest(data_dir(indexed) / "manifest.sqlite")
    manifest.set_many({"clean": "0"})  # as a killed run leaves it
    manifest.close()
    settings = load_settings(indexed, environ={})
    Searcher(indexed, settings, embedding=mock_embedding).close()  # healthy: opens
    with open(data_dir(indexed) / "chroma" / "chroma.sqlite3", "r+b") as db:
        db.seek(100)
        db.write(os.urandom(4096))
    with pytest.raises(IndexProblem) as err:
        Searcher(indexed, settings, embedding=mock_embedding)
    assert "codeagent index" in err.value.hint


def test_stray_and_missing_chunks_are_reconciled(indexed, mock_embedding, settings_for):
    store = open_store(indexed, data_dir(indexed), None, "mock-8", 8, create=True)
    victim = sorted(store.all_ids())[0]
    store.delete([victim])
    store.collection.upsert(ids=["stray"], embeddings=[[0.5] * 8], documents=["junk"],
                            metadatas=[{"path": "gone.py"}])
    manifest = Manifest(data_dir(indexed) / "manifest.sqlite")
    manifest.set_many({"clean": "0"})
    manifest.close()
    summary = run_index(indexed, settings_for(indexed), embedding=mock_embedding)
    assert any("stray" in note for note in summary.notes)
    assert any("missing" in note for note in summary.notes)
    assert_index_matches_disk(indexed, INDEXED)


def test_a_second_writer_from_another_terminal_is_refused_while_one_runs(indexed):
    from codeagent.index.lock import WriterLock

    with WriterLock(data_dir(indexed)):
        run = other_terminal("index", str(indexed))
    assert run.returncode == 3 and f"PID {os.getpid()}" in run.stderr


# An index run in another process: it holds the writer lock and has made the manifest,
# as a first run does before its first commit.
RUNNING = """
import sys
from pathlib import Path
from codeagent.index.layout import MANIFEST, ensure_data_dir
from codeagent.index.lock import WriterLock
from codeagent.index.manifest import Manifest
ddir = ensure_data_dir(Path(sys.argv[1]))
with WriterLock(ddir):
    Manifest(ddir / MANIFEST).close()
    print("running", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def index_running():
    """start(repo): an index run holds `repo`'s writer lock until the test ends; its PID."""
    procs = []

    def start(repo):
        proc = subprocess.Popen([sys.executable, "-c", RUNNING, str(repo)], text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "running"
        return proc.pid

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_readers_during_a_first_index_run_name_the_run_not_a_never_completed_index(
        tmp_path, index_running):
    repo = make_repo(tmp_path / "repo", hostile=False)
    pid = index_running(repo)
    for command in (["status"], ["search", "redirects"]):
        run = other_terminal(*command, "--repo", str(repo))
        assert run.returncode == 3, run.stderr
        assert f"PID {pid}" in run.stderr and "never completed" not in run.stderr


def test_status_names_a_run_in_progress_on_a_complete_index(indexed, index_running):
    pid = index_running(indexed)
    run = other_terminal("status", "--repo", str(indexed), "--json")
    assert run.returncode == 0, run.stderr
    assert f"PID {pid}" in json.loads(run.stdout)["running"]


def test_search_on_a_store_damaged_behind_its_back_explains_and_the_next_index_repairs(
        indexed, mock_embedding, settings_for):
    with open(data_dir(indexed) / "chroma" / "chroma.sqlite3", "r+b") as db:
        db.seek(4096)  # past the header: no cheap check can see it, only opening the store
        db.write(os.urandom(8192))
    with pytest.raises(IndexProblem) as err:
        searcher = Searcher(indexed, load_settings(indexed, environ={}), embedding=mock_embedding)
        searcher.search("redirects")
    assert "codeagent index" in err.value.hint
    summary = run_index(indexed, settings_for(indexed), embedding=mock_embedding)
    assert any("damaged" in note for note in summary.notes)
    assert_index_matches_disk(indexed, INDEXED)
    searcher = Searcher(indexed, load_settings(indexed, environ={}), embedding=mock_embedding)
    assert searcher.search("redirects")
    searcher.close()
