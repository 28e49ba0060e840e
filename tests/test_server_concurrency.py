"""Server mode with several processes: writers (the real CLI) indexing three repositories
at once while readers search them, against one real `chroma run` on loopback; then the
server dies in the middle of a run, comes back on the same path and port, and the next
run finishes the job exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from test_server_mode import free_port

import support
from codeagent.executables import find_executable
from codeagent.index.layout import collection_name
from support import SOURCES, make_repo, write_files

# A child process: the real CLI or a search loop, its embedding model a MockEmbedding
# (constant vectors) that announces it started embedding and can wait for a gate file, so
# that a test acts at a known point of a run.
CHILD = r"""
import json, os, sys, time
from pathlib import Path
from llama_index.core.embeddings import MockEmbedding
import codeagent.index.embedding as embedding

class Mock(MockEmbedding):
    def _get_text_embeddings(self, texts):
        if os.environ.get("EMBED_STARTED"):
            Path(os.environ["EMBED_STARTED"]).touch()
        while os.environ.get("EMBED_GATE") and not os.path.exists(os.environ["EMBED_GATE"]):
            time.sleep(0.05)
        return super()._get_text_embeddings(texts)

MOCK = (Mock(embed_dim=8), embedding.EmbeddingInfo("mock-8", 8, "cpu", 256))
embedding.load_embedding = lambda *args, **kwargs: MOCK
mode, *args = sys.argv[1:]
if mode == "index":
    from codeagent.cli.main import main
    main(["index", *args])
url, stop, progress, *repos = args
from codeagent.errors import IndexProblem
from codeagent.retrieval.semantic import Searcher
from codeagent.settings import load_settings
queries = not_ready = 0
while not os.path.exists(stop):
    for repo in map(Path, repos):
        settings = load_settings(repo, {"chroma_url": url}, environ={})
        try:
            searcher = Searcher(repo, settings, embedding=MOCK)
        except IndexProblem as exc:
            if not any(why in exc.message for why in ("no index yet", "never completed",
                                                      "in progress")):
                raise
            not_ready += 1
            time.sleep(0.05)
            continue
        try:
            hits = searcher.search("follow HTTP redirects", k=5)
        finally:
            searcher.close()
        assert hits and all(hit.text and ".." not in hit.path for hit in hits), hits
        queries += 1
        Path(progress).write_text(str(queries))
print(json.dumps({"queries": queries, "not_ready": not_ready}))
"""


def child(*args, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **{k: str(v) for k, v in env.items()}})


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def start_server(path: Path, port: int) -> subprocess.Popen:
    chroma = find_executable("chroma")
    assert chroma, "the chroma CLI comes with the chromadb package"
    server = subprocess.Popen([chroma, "run", "--path", str(path), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("chroma run did not come up")
            time.sleep(0.3)


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture
def server(tmp_path):
    """A `chroma run` of this test's own: (url, path, port, the process in a list, so a
    test can stop and replace it)."""
    path, port = tmp_path / "chroma-server", free_port()
    running = [start_server(path, port)]
    yield f"http://127.0.0.1:{port}", path, port, running
    stop_server(running[0])


def build_repo(root: Path, seed: int, modules: int = 24) -> Path:
    """The fixture sources and `modules` generated modules of a few functions each."""
    repo = make_repo(root, hostile=False)
    write_files(repo, {f"pkg/mod_{n:02d}.py": module_text(seed, n, 0) for n in range(modules)})
    return repo


def module_text(seed: int, n: int, version: int) -> str:
    return "".join(
        f'def repo{seed}_mod{n}_fn{i}(value):\n    """Function {i} of module {n}, v{version}."""\n'
        f"    total = value * {i + version}\n    return total + {seed}\n\n\n"
        for i in range(8))


def update_repo(repo: Path, seed: int) -> None:
    """Change a third of the modules, delete a few, add a few."""
    for n in range(0, 24, 3):
        (repo / f"pkg/mod_{n:02d}.py").write_text(module_text(seed, n, 1))
    for n in (1, 4, 7):
        (repo / f"pkg/mod_{n:02d}.py").unlink()
    write_files(repo, {f"pkg/new_{n}.py": module_text(seed, 100 + n, 0) for n in range(4)})


def disk_files(repo: Path) -> set[str]:
    return set(SOURCES) | {f"pkg/{p.name}" for p in (repo / "pkg").iterdir()}


def server_collection(repo: Path, url: str):
    """The repository's collection on the server, for `support.assert_index_matches_disk`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parsed = urlparse(url)
    client = chromadb.HttpClient(host=parsed.hostname, port=parsed.port,
                                 settings=ChromaSettings(anonymized_telemetry=False))
    return client.get_collection(collection_name(repo, url))


def assert_server_index_matches_disk(repo: Path, url: str) -> dict:
    """support.assert_index_matches_disk, its store read from the server instead."""
    return support.assert_index_matches_disk(repo, disk_files(repo),
                                             server_collection(repo, url))


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def count(progress: Path) -> int:
    try:
        return int(progress.read_text() or 0)
    except (OSError, ValueError):
        return 0


def test_three_writers_and_two_readers_at_once(tmp_path, server):
    url = server[0]
    repos = [build_repo(tmp_path / f"repo{seed}", seed) for seed in range(3)]
    stop, gate = tmp_path / "stop", tmp_path / "gate"
    progress = [tmp_path / f"reader{n}.progress" for n in range(2)]
    readers = [child("read", url, stop, p, *repos) for p in progress]
    try:
        runs = []
        for phase in ("first", "update"):
            started = [tmp_path / f"{phase}-writer{n}.embedding" for n in range(3)]
            if phase == "update":
                for seed, repo in enumerate(repos):
                    update_repo(repo, seed)
            writers = [child("index", repo, "--chroma-url", url, "--json",
                             EMBED_STARTED=mark, EMBED_GATE=gate if phase == "update" else "")
                       for repo, mark in zip(repos, started)]
            if phase == "update":
                # Every writer is mid-run (old chunks of deleted files gone, new ones not
                # written): hold them there until both readers have searched again.
                wait_for(lambda: all(mark.exists() for mark in started), what="the writers")
                before = [count(p) for p in progress]
                wait_for(lambda: all(count(p) > b for p, b in zip(progress, before)),
                         what="the readers to search during the writes")
                gate.touch()
            results = [finish(w) for w in writers]
            for code, out, err in results:
                assert code == 0 and "Traceback" not in err, err
            runs.append([json.loads(out) for _, out, _ in results])
    finally:
        stop.touch()
        gate.touch()
        searched = [finish(reader) for reader in readers]
    for code, out, err in searched:
        assert code == 0 and "Traceback" not in err, err
        assert json.loads(out)["queries"] > 0
    assert [run["added"] for run in runs[0]] == [30, 30, 30]
    assert [(r["added"], r["changed"], r["removed"]) for r in runs[1]] == [(4, 8, 3)] * 3
    for repo in repos:
        assert_server_index_matches_disk(repo, url)


def test_the_server_dying_mid_run_is_one_clear_error_and_a_rerun_completes(tmp_path, server):
    url, path, port, running = server
    repo = build_repo(tmp_path / "repo", 7)
    started, gate = tmp_path / "embedding-started", tmp_path / "gate"
    writer = child("index", repo, "--chroma-url", url, EMBED_STARTED=started, EMBED_GATE=gate)
    try:
        wait_for(started.exists, what="the run to start embedding")
        stop_server(running[0])  # the store was opened; the vectors are not written yet
        gate.touch()
        code, _, err = finish(writer)
    finally:
        writer.kill()
    assert code == 3, err
    assert url in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 3, err

    running[0] = start_server(path, port)
    code, out, err = finish(child("index", repo, "--chroma-url", url, "--json"))
    assert code == 0, err
    rerun = json.loads(out)
    assert rerun["added"] == len(disk_files(repo)) and rerun["chunks"] > 0
    chunks = assert_server_index_matches_disk(repo, url)
    assert len(chunks) == rerun["chunks"]

    code, out, err = finish(child("index", repo, "--chroma-url", url, "--json"))
    again = json.loads(out)
    assert code == 0 and again["unchanged"] == rerun["added"]
    assert (again["added"], again["changed"], again["chunks_written"]) == (0, 0, 0)
    assert again["chunks"] == rerun["chunks"]
    assert_server_index_matches_disk(repo, url)
