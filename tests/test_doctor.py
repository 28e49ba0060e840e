"""`codeagent doctor`'s checks: all green on a healthy setup, and each broken piece found
and given a fix. No network: Ollama is a fake on loopback (or a port nobody listens on),
the embedding model is looked up locally only."""

from __future__ import annotations

import socket

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from codeagent.cli.doctor import Check, render, run_checks
from codeagent.index.layout import EMBEDDED_COLLECTION, data_dir
from codeagent.index.run import run_index
from codeagent.settings import load_settings
from codeagent.testing.fake_ollama import FakeOllama, scripted
from support import make_repo

NAMES = ["python", "torch", "embedding model", "ollama", "index", "store", "ripgrep",
         "tree-sitter"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def by_name(checks: list[Check]) -> dict[str, Check]:
    assert [check.name for check in checks] == NAMES
    return {check.name: check for check in checks}


def failing(checks: list[Check]) -> set[str]:
    return {check.name for check in checks if not check.ok}


@pytest.fixture
def ollama():
    with FakeOllama(scripted()) as server:
        yield server


@pytest.mark.slow
def test_all_green_on_an_indexed_repository(indexed_repo, ollama):
    settings = load_settings(indexed_repo, {"ollama_host": ollama.url}, environ={})
    checks = by_name(run_checks(indexed_repo, settings))
    assert failing(checks.values()) == set(), render(list(checks.values()))
    assert "all-MiniLM-L6-v2" in checks["embedding model"].detail
    assert "bundled" in checks["embedding model"].detail
    assert checks["index"].detail.startswith("12 files, 13 chunks")
    assert "13 chunks" in checks["store"].detail
    assert "react protocol" in checks["ollama"].detail  # codellama has no tool calling
    text = render(list(checks.values()))
    assert all(name in text for name in NAMES)
    assert "FAIL" not in text and text.endswith("8 of 8 checks passed\n")


@pytest.mark.slow
def test_doctor_names_the_protocol_the_model_gets(indexed_repo):
    with FakeOllama(scripted(), capabilities=("completion", "tools")) as server:
        settings = load_settings(indexed_repo, {"ollama_host": server.url}, environ={})
        assert "native protocol" in by_name(run_checks(indexed_repo, settings))["ollama"].detail
        react = load_settings(indexed_repo, {"ollama_host": server.url,
                                             "agent_protocol": "react"}, environ={})
        assert "react protocol" in by_name(run_checks(indexed_repo, react))["ollama"].detail
    with FakeOllama(scripted()) as server:  # no tool calling: auto is react, native fails
        auto = load_settings(indexed_repo, {"ollama_host": server.url}, environ={})
        assert "react protocol" in by_name(run_checks(indexed_repo, auto))["ollama"].detail
        native = load_settings(indexed_repo, {"ollama_host": server.url,
                                              "agent_protocol": "native"}, environ={})
        check = by_name(run_checks(indexed_repo, native))["ollama"]
        assert not check.ok and "--agent-protocol react" in check.fix


def test_the_index_check_names_its_backend_and_a_backend_it_cannot_query_with(indexed_repo):
    host = f"http://127.0.0.1:{free_port()}"  # the ollama check is not what this is about
    checks = by_name(run_checks(indexed_repo, load_settings(
        indexed_repo, {"ollama_host": host}, environ={})))
    assert checks["index"].ok and "(384-d, torch)" in checks["index"].detail
    other = by_name(run_checks(indexed_repo, load_settings(
        indexed_repo, {"ollama_host": host, "embed_backend": "onnx"}, environ={})))["index"]
    assert not other.ok and "embedded by the torch backend, not by onnx" in other.detail
    assert "--rebuild --embed-backend onnx" in other.fix


def test_ollama_down(indexed_repo):
    host = f"http://127.0.0.1:{free_port()}"
    checks = run_checks(indexed_repo, load_settings(indexed_repo, {"ollama_host": host},
                                                    environ={}))
    assert failing(checks) == {"ollama"}
    ollama = by_name(checks)["ollama"]
    assert host in ollama.detail and "ollama serve" in ollama.fix
    text = render(checks)
    assert "FAIL" in text and "ollama serve" in text and text.endswith("7 of 8 checks passed\n")


@pytest.mark.slow
def test_model_not_pulled(indexed_repo):
    with FakeOllama(scripted(), models=("qwen2.5-coder:7b",)) as server:
        checks = run_checks(indexed_repo, load_settings(indexed_repo,
                                                        {"ollama_host": server.url}, environ={}))
    assert failing(checks) == {"ollama"}
    ollama = by_name(checks)["ollama"]
    assert "codellama:34b" in ollama.detail
    assert "ollama pull codellama:34b" in ollama.fix


def test_no_index(tmp_path, ollama, monkeypatch):
    import huggingface_hub.constants

    # An empty Hugging Face cache: the default model is not on this machine.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    checks = by_name(run_checks(tmp_path, load_settings(tmp_path, {"ollama_host": ollama.url},
                                                        environ={})))
    assert failing(checks.values()) == {"index", "store"}
    assert "no index" in checks["index"].detail
    assert f"codeagent index {tmp_path}" in checks["index"].fix
    assert checks["store"].fix
    # the default model may fall back to the bundled one: not a failure, but said
    model = checks["embedding model"]
    assert "all-mpnet-base-v2 is not on this machine" in model.detail
    assert "bundled" in model.detail
    assert not (tmp_path / "hf").exists()  # looked up, nothing downloaded or created
    assert not data_dir(tmp_path).exists()


@pytest.mark.slow
def test_store_missing_chunks_the_manifest_lists(tmp_path, minilm, ollama):
    root = make_repo(tmp_path / "repo", hostile=False)
    run_index(root, load_settings(root, environ={}), embedding=minilm)
    client = chromadb.PersistentClient(path=str(data_dir(root) / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_collection(EMBEDDED_COLLECTION)
    ids = collection.get()["ids"]
    collection.delete(ids=ids[:2])
    checks = by_name(run_checks(root, load_settings(root, {"ollama_host": ollama.url},
                                                    environ={})))
    assert failing(checks.values()) == {"store"}
    store = checks["store"]
    assert f"holds {len(ids) - 2} chunks but the manifest lists {len(ids)}" in store.detail
    assert f"codeagent index --rebuild {root}" in store.fix


@pytest.mark.slow
def test_configured_model_not_local_and_not_the_index_model(indexed_repo, ollama):
    settings = load_settings(indexed_repo, {"ollama_host": ollama.url,
                                            "embed_model": "example-org/no-such-model"},
                             environ={})
    checks = by_name(run_checks(indexed_repo, settings))
    assert failing(checks.values()) == {"embedding model", "index"}
    assert "example-org/no-such-model is not on this machine" in checks["embedding model"].detail
    assert "--embed-model" in checks["embedding model"].fix
    assert "built with sentence-transformers/all-MiniLM-L6-v2" in checks["index"].detail
    assert "--rebuild --embed-model example-org/no-such-model" in checks["index"].fix


@pytest.mark.slow
def test_store_elsewhere_than_the_settings_say(indexed_repo, ollama):
    settings = load_settings(indexed_repo, {"ollama_host": ollama.url,
                                            "chroma_url": f"http://127.0.0.1:{free_port()}"},
                             environ={})
    checks = by_name(run_checks(indexed_repo, settings))
    assert failing(checks.values()) == {"store"}
    assert "lives in embedded" in checks["store"].detail
    assert "--chroma-url" in checks["store"].fix


def test_missing_ripgrep_and_broken_grammars(tmp_path, ollama, monkeypatch):
    import codeagent.executables
    import codeagent.index.symbols

    def no_grammar(grammar):
        raise OSError("grammar library built for another tree-sitter")

    monkeypatch.setattr(codeagent.executables, "find_executable", lambda name: None)
    monkeypatch.setattr(codeagent.index.symbols, "parser_for", no_grammar)
    checks = by_name(run_checks(tmp_path, load_settings(tmp_path, {"ollama_host": ollama.url},
                                                        environ={})))
    assert "tree-sitter" in failing(checks.values())
    assert "another tree-sitter" in checks["tree-sitter"].detail
    assert "tree-sitter-languages" in checks["tree-sitter"].fix
    # Without rg, grep answers all the same (its Python engine): a warning with the fix.
    assert "ripgrep" not in failing(checks.values()) and checks["ripgrep"].warning
    assert "pip install ripgrep==14.1.0" in checks["ripgrep"].fix
    assert "Python engine" in checks["ripgrep"].detail
    assert "warn" in render([checks["ripgrep"]]).split("\n")[3]


def fake_rg(directory, version: str, status: int = 0):
    directory.mkdir(parents=True, exist_ok=True)
    rg = directory / "rg"
    rg.write_text(f"#!/bin/sh\necho 'ripgrep {version}'\nexit {status}\n")
    rg.chmod(0o755)
    return rg


def test_ripgrep_is_found_beside_the_interpreter_first_even_off_path(tmp_path, monkeypatch):
    """A virtualenv used without activating it (`.venv/bin/codeagent doctor`): its own rg,
    the one pip installed with codeagent, is found, and wins over another on PATH."""
    import codeagent.cli.doctor as doctor

    venv_rg = fake_rg(tmp_path / "venv/bin", "14.1.0")
    monkeypatch.setattr("sys.executable", str(tmp_path / "venv/bin/python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    check = doctor._ripgrep()
    assert check.ok and not check.warning and str(venv_rg) in check.detail
    fake_rg(tmp_path / "elsewhere", "0.1")
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert "14.1.0" in doctor._ripgrep().detail
    venv_rg.unlink()
    fake_rg(tmp_path / "venv/bin", "14.1.0", status=3)  # there, but broken
    check = doctor._ripgrep()
    assert check.ok and check.warning and "--force-reinstall ripgrep" in check.fix
