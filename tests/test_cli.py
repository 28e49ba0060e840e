"""The `codeagent` command as a user runs it: real processes, real model, JSON that parses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support import make_repo

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def codeagent(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "codeagent", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=300)


def test_help_does_not_load_the_heavy_libraries():
    probe = ("import sys\nfrom codeagent.cli.main import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit as e:\n    code = e.code\n"
             "heavy = [m for m in ('torch', 'chromadb', 'transformers', 'llama_index')"
             " if m in sys.modules]\nprint(code, heavy)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []"
    assert "index" in out.stdout and "search" in out.stdout


@pytest.mark.slow
def test_index_search_status_round_trip(tmp_path):
    repo = make_repo(tmp_path / "repo", hostile=False)
    run = codeagent("index", str(repo), "--embed-model", MINILM, "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["added"] == 6 and summary["chunks"] > 0 and summary["model"] == MINILM

    # from a subdirectory, the repository is found by walking up
    run = codeagent("search", "where are HTTP redirects followed", "--json", "-k", "3",
                    cwd=repo / "net")
    assert run.returncode == 0, run.stderr
    hits = json.loads(run.stdout)["hits"]
    assert hits[0]["path"] == "net/redirects.py"
    assert {"path", "start_line", "end_line", "symbol", "score", "text"} <= set(hits[0])
    functions = json.loads(run.stdout)["functions"]
    assert functions[0]["path"] == "net/redirects.py"
    assert {f["name"] for f in functions[:3]} & {"RedirectMixin.resolve_redirects",
                                                "RedirectMixin.get_redirect_target"}
    assert {"path", "name", "kind", "start_line", "end_line", "score"} == set(functions[0])

    run = codeagent("search", "redirect", "--repo", str(repo), "--lang", "python", "-k", "2")
    first = run.stdout.splitlines()[0]
    assert first.startswith("net/redirects.py:") and run.returncode == 0

    run = codeagent("status", "--repo", str(repo), "--json")
    status = json.loads(run.stdout)
    assert status["files"] == 6 and status["chunks"] == summary["chunks"]
    assert status["model"] == MINILM and status["dimension"] == 384

    run = codeagent("index", str(repo), "--json")  # no change: nothing embedded, model kept
    again = json.loads(run.stdout)
    assert (again["unchanged"], again["chunks_written"], again["model"]) == (6, 0, MINILM)


def test_errors_are_one_clear_message_with_a_distinct_exit_code(tmp_path):
    run = codeagent("status", "--repo", str(tmp_path))
    assert run.returncode == 3
    assert "no index" in run.stderr and "codeagent index" in run.stderr
    assert "Traceback" not in run.stderr

    (tmp_path / ".codeagent.toml").write_text("embed_batch_size = 'lots'\n")
    run = codeagent("index", str(tmp_path))
    assert run.returncode == 2 and "embed_batch_size" in run.stderr


@pytest.mark.slow
def test_a_model_that_cannot_load_is_exit_5(tmp_path):
    make_repo(tmp_path / "repo", hostile=False)
    run = codeagent("index", str(tmp_path / "repo"), "--embed-model", "nobody/no-such-model")
    assert run.returncode == 5 and "nobody/no-such-model" in run.stderr


def test_config_shows_values_and_where_they_came_from(tmp_path):
    (tmp_path / ".codeagent.toml").write_text("search_k = 7\n")
    run = codeagent("config", "--repo", str(tmp_path), "--json",
                    env={"CODEAGENT_EMBED_DEVICE": "cpu"})
    shown = json.loads(run.stdout)
    assert shown["search_k"] == {"value": 7, "source": "file"}
    assert shown["embed_device"] == {"value": "cpu", "source": "env"}
    assert shown["embed_model"]["source"] == "default"


def test_tool_command_runs_a_tool_with_flags_from_its_arguments(tmp_path):
    repo = make_repo(tmp_path / "repo")
    run = codeagent("tool", "read_file", "--repo", str(repo), "--path", "net/redirects.py",
                    "--start-line", "17", "--end-line", "18")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "net/redirects.py lines 17-18 of 33:"

    run = codeagent("tool", "read_file", "--repo", str(repo), "--path", ".env")
    assert run.returncode == 1 and run.stdout.startswith("error:")
    assert "supersecret" not in run.stdout

    run = codeagent("tool", "grep", "--repo", str(repo), "--pattern", "max_redirects",
                    "--case-sensitive")
    assert run.returncode == 0 and "no matches" in run.stdout.lower()
    run = codeagent("tool", "grep", "--repo", str(repo), "--pattern", "MAX_REDIRECTS")
    assert "net/redirects.py" in run.stdout

    listing = codeagent("tool", "--help")
    for name in ("semantic_search", "multi_query_search", "grep", "find_symbol", "read_file",
                 "list_files"):
        assert name in listing.stdout
    assert "--start-line" in codeagent("tool", "read_file", "--help").stdout


def test_names_that_are_not_utf8_reach_the_json_as_text(tmp_path):
    root = tmp_path / "d\udce9p\udcf4t"  # the repository's own name, too
    root.mkdir()
    (root / "caf\udce9.py").write_bytes(b"x = 1\n")
    run = codeagent("index", str(root), "--json", "-v")
    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert shown["skipped_files"] == {"caf\ufffd.py": "name is not valid UTF-8"}
    assert shown["repo"].endswith("d\ufffdp\ufffdt")
    run = codeagent("index", str(root), "-v")
    assert run.returncode == 0 and "caf\ufffd.py" in run.stdout, run.stderr


def test_an_empty_directory_makes_a_complete_empty_index(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert codeagent("index", str(empty)).returncode == 0
    run = codeagent("status", "--repo", str(empty), "--json")
    assert run.returncode == 0, run.stderr
    assert (json.loads(run.stdout)["files"], json.loads(run.stdout)["chunks"]) == (0, 0)
    run = codeagent("search", "anything", "--repo", str(empty))
    assert run.returncode == 0, run.stderr
    assert "nothing is indexed" in run.stdout
    run = codeagent("search", "anything", "--repo", str(empty), "--json")
    assert json.loads(run.stdout)["hits"] == []


def test_outside_any_repository_commands_say_so_instead_of_guessing_one(tmp_path):
    plain = tmp_path / "plain"  # no .git, no index, nor anywhere above
    plain.mkdir()
    for command in (["status"], ["search", "x"], ["index"]):
        run = codeagent(*command, cwd=plain)
        assert run.returncode == 2, run.stderr
        assert "not inside a repository" in run.stderr and "--repo" in run.stderr
        assert f"codeagent index {plain}" not in run.stderr
    assert not (plain / ".codeagent").exists()
    assert codeagent("config", cwd=plain).returncode == 0
    assert codeagent("index", ".", cwd=plain).returncode == 0  # named, it is indexed
    assert codeagent("status", cwd=plain).returncode == 0  # and now it is one
