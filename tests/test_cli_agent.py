"""`codeagent ask` and `codeagent run` as a user runs them: real processes, a fake Ollama
on loopback, JSON that parses, documented exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from codeagent.testing.fake_ollama import FakeOllama, Reply, scripted

pytestmark = pytest.mark.slow

GREP = 'Thought: Look for the limit.\nAction: grep\nAction Input: {"pattern": "MAX_REDIRECTS"}'
ANSWER = "Thought: I can answer.\nAnswer: MAX_REDIRECTS caps them (net/redirects.py:3)."


def codeagent(*args, input=None):
    # The scripts below are the model's every reply: no search is made for the question
    # before its first step.
    return subprocess.run([sys.executable, "-m", "codeagent", *args], capture_output=True,
                          text=True, input=input, timeout=300,
                          env={**os.environ, "CODEAGENT_FIRST_SEARCH": "0"})


def test_ask_streams_the_answer_to_stdout_and_the_steps_to_stderr(indexed_repo):
    with FakeOllama(scripted(GREP, ANSWER)) as server:
        run = codeagent("ask", "What limits redirects?", "--repo", str(indexed_repo),
                        "--ollama-host", server.url)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "MAX_REDIRECTS caps them (net/redirects.py:3)."
    assert '-> grep {"pattern": "MAX_REDIRECTS"}' in run.stderr
    assert "citations: 1 of 1 verified" in run.stderr
    assert "ok  net/redirects.py:3" in run.stderr


def test_ask_json_schema_and_the_incomplete_exit_code(indexed_repo):
    with FakeOllama(scripted(GREP, ANSWER)) as server:
        run = codeagent("ask", "What limits redirects?", "--repo", str(indexed_repo),
                        "--ollama-host", server.url, "--json")
    data = json.loads(run.stdout)
    assert run.returncode == 0 and data["status"] == "ok"
    assert data["question"] == "What limits redirects?" and data["model"] == "codellama:34b"
    assert data["citations"] == [{"path": "net/redirects.py", "start": 3, "end": 3,
                                  "valid": True, "reason": None, "seen": True, "named": None}]
    step = data["steps"][0]
    assert (step["tool"], step["arguments"]) == ("grep", {"pattern": "MAX_REDIRECTS"})
    assert step["observation"].startswith("3 matches") and step["ms"] >= 0
    assert set(data["timings"]) >= {"total_ms", "llm_ms", "tools_ms"}

    with FakeOllama(scripted(GREP, "bad", "bad", "bad")) as server:
        run = codeagent("ask", "What limits redirects?", "--repo", str(indexed_repo),
                        "--ollama-host", server.url, "--json", "--max-steps", "5")
    assert run.returncode == 6 and json.loads(run.stdout)["status"] == "incomplete"


def test_ask_without_ollama_or_model_is_exit_4_before_any_work(indexed_repo):
    run = codeagent("ask", "x", "--repo", str(indexed_repo), "--ollama-host", "http://127.0.0.1:9")
    assert run.returncode == 4 and "ollama serve" in run.stderr and "Traceback" not in run.stderr
    with FakeOllama(scripted()) as server:
        run = codeagent("ask", "x", "--repo", str(indexed_repo), "--ollama-host", server.url,
                        "--llm-model", "llama9:70b")
    assert run.returncode == 4 and "ollama pull llama9:70b" in run.stderr


def test_run_writes_every_result_and_goes_on_past_a_failure(indexed_repo, tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"id": "a", "question": "What limits redirects?"}\n'
                         "Where is the cache evicted?\n\n"
                         '{"id": "c", "question": "And passwords?", "mode": "agent"}\n')
    out = tmp_path / "answers.jsonl"
    script = scripted(GREP, ANSWER, Reply(status=500, error="out of memory"),
                      "Thought: known\nAnswer: auth/password.rs:7-13 hashes them.")
    with FakeOllama(script) as server:
        run = codeagent("run", str(questions), "-o", str(out), "--repo", str(indexed_repo),
                        "--ollama-host", server.url)
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert run.returncode == 7 and "3 questions, 1 failed" in run.stderr
    # "c" cites a file no tool showed: the citation exists, but the answer is unverified
    # (the correction it is offered fails: the script has no reply left)
    assert [(r["id"], r["status"]) for r in results] == [("a", "ok"), (2, "error"),
                                                         ("c", "unverified")]
    assert "out of memory" in results[1]["reason"]
    assert results[2]["citations"][0]["valid"] is True
    assert results[2]["citations"][0]["seen"] is False
    assert "1 unverified" in run.stderr
    # each question is independent: the third request carries no earlier question
    assert "What limits redirects?" not in json.dumps(server.requests[-1]["messages"])


def test_run_rejects_a_malformed_questions_file(indexed_repo, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": 1, "question": "ok"}\n{"id": 2, "quest\n')
    run = codeagent("run", str(questions), "--repo", str(indexed_repo),
                    "--ollama-host", "http://127.0.0.1:9")
    assert run.returncode == 2 and "line 2" in run.stderr
