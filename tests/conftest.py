"""Test setup: never touch the network, and share the one expensive thing (the model)."""

from __future__ import annotations

import os
import signal
import tempfile

# Before anything imports huggingface_hub: a test must never try to download a model.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("OLLAMA_HOST", None)
for _key in [k for k in os.environ if k.startswith("CODEAGENT_")]:
    del os.environ[_key]
# ONNX exports of this run go to a directory of its own (subprocesses inherit it): the
# export is exercised every run, and the user's cache is never written by a test.
os.environ["CODEAGENT_ONNX_CACHE"] = tempfile.mkdtemp(prefix="codeagent-onnx-tests-")
# A shell starts a background job (`pytest ... &`, nohup) with Ctrl-C ignored, and Python
# then leaves it ignored, here and in every process a test starts: the Ctrl-C tests would
# wait for a KeyboardInterrupt that never comes. They test what a terminal user gets.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest  # noqa: E402

from support import make_repo  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def minilm():
    """The real bundled MiniLM, loaded once: (HuggingFaceEmbedding, EmbeddingInfo)."""
    from codeagent.index.embedding import load_embedding

    return load_embedding(MINILM, "cpu", 32)


@pytest.fixture
def mock_embedding():
    """Constant vectors, for tests where only the bookkeeping matters."""
    from llama_index.core.embeddings import MockEmbedding

    from codeagent.index.embedding import EmbeddingInfo

    return MockEmbedding(embed_dim=8), EmbeddingInfo("mock-8", 8, "cpu", 256)


@pytest.fixture
def repo(tmp_path):
    """A fresh copy of the fixture repository."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def settings_for():
    from codeagent.settings import load_settings

    def build(root, **flags):
        return load_settings(root, flags, environ={})

    return build


@pytest.fixture(scope="session")
def indexed_repo(tmp_path_factory, minilm):
    """The fixture repository (hostile files included) indexed once with the real MiniLM.
    Shared by many tests: never modify it; copy it with make_repo for that."""
    from codeagent.index.run import run_index
    from codeagent.settings import load_settings

    root = make_repo(tmp_path_factory.mktemp("indexed") / "repo")
    run_index(root, load_settings(root, environ={}), embedding=minilm)
    return root


@pytest.fixture
def tool_ctx(indexed_repo, minilm):
    """A ToolContext on the indexed fixture repository, with the model already loaded."""
    from codeagent.settings import load_settings
    from codeagent.tools import ToolContext

    ctx = ToolContext(indexed_repo, load_settings(indexed_repo, environ={}), embedding=minilm)
    yield ctx
    ctx.close()


@pytest.fixture
def session_for(indexed_repo, minilm):
    """Sessions on the indexed fixture repository, talking to a fake Ollama `server` (None:
    nothing listens). The scripts of the tests are the model's every reply, so no search is
    made for the question before its first step unless a test asks for it."""
    from codeagent.assistant.session import Session
    from codeagent.settings import load_settings

    sessions = []

    def make(server, **settings):
        flags = {"ollama_host": server.url if server else "http://127.0.0.1:9",
                 "first_search": False, **settings}
        session = Session(indexed_repo, load_settings(indexed_repo, flags, environ={}),
                          embedding=minilm)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(os.environ["CODEAGENT_ONNX_CACHE"], ignore_errors=True)
