"""--chroma-url: the same index and search against a real `chroma run` server on loopback."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

import pytest

from codeagent.errors import IndexProblem, StoreUnavailable
from codeagent.executables import find_executable
from codeagent.index.run import run_index
from codeagent.retrieval.semantic import Searcher
from codeagent.settings import load_settings
from support import make_repo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    chroma = find_executable("chroma")
    assert chroma, "the chroma CLI comes with the chromadb package"
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    server = subprocess.Popen([chroma, "run", "--path", str(path), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("chroma run did not come up")
            time.sleep(0.3)
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_index_and_search_through_a_server(tmp_path, chroma_server, mock_embedding):
    repo = make_repo(tmp_path / "repo", hostile=False)
    settings = load_settings(repo, {"chroma_url": chroma_server}, environ={})
    summary = run_index(repo, settings, embedding=mock_embedding)
    assert summary.added == 6 and summary.chunks > 0
    assert not (repo / ".codeagent" / "chroma").exists(), "nothing written to the embedded store"

    searcher = Searcher(repo, settings, embedding=mock_embedding)
    try:
        assert searcher.store.count() == summary.chunks
        assert len(searcher.search("redirects", k=3)) == 3
    finally:
        searcher.close()

    # Later commands without the flag use the server the index lives on.
    plain = load_settings(repo, environ={})
    searcher = Searcher(repo, plain, embedding=mock_embedding)
    try:
        assert searcher.store.location == chroma_server
    finally:
        searcher.close()
    again = run_index(repo, plain, embedding=mock_embedding)
    assert again.unchanged == 6 and not again.notes


def test_two_repositories_share_one_server(tmp_path, chroma_server, mock_embedding):
    counts = []
    for name in ("one", "two"):
        repo = make_repo(tmp_path / name, hostile=False)
        (repo / f"{name}.py").write_text(f"def {name}():\n    return '{name}'\n")
        settings = load_settings(repo, {"chroma_url": chroma_server}, environ={})
        counts.append(run_index(repo, settings, embedding=mock_embedding).chunks)
        searcher = Searcher(repo, settings, embedding=mock_embedding)
        try:
            assert searcher.store.count() == counts[-1]
        finally:
            searcher.close()


def test_an_unreachable_server_is_a_clear_error(tmp_path, mock_embedding):
    repo = make_repo(tmp_path / "repo", hostile=False)
    settings = load_settings(repo, {"chroma_url": f"http://127.0.0.1:{free_port()}"}, environ={})
    with pytest.raises(StoreUnavailable) as err:
        run_index(repo, settings, embedding=mock_embedding)
    assert "chroma run" in err.value.hint


def test_searching_elsewhere_than_the_index_lives_is_refused(tmp_path, chroma_server,
                                                            mock_embedding):
    repo = make_repo(tmp_path / "repo", hostile=False)
    run_index(repo, load_settings(repo, environ={}), embedding=mock_embedding)
    settings = load_settings(repo, {"chroma_url": chroma_server}, environ={})
    with pytest.raises(IndexProblem) as err:
        Searcher(repo, settings, embedding=mock_embedding)
    assert "embedded" in err.value.message
