"""`codeagent review`: a change reviewed with what it touches, against a fake Ollama
scripted as the reviewer; diffs of every kind parse; findings are validated; the exit
code follows --fail-on; without a model the impact alone is reported."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from codeagent.errors import EXIT_NOT_REVIEWED
from codeagent.index.run import run_index
from codeagent.review.diffs import from_git, parse
from codeagent.review.findings import FileReview, at_least, merge, validate
from codeagent.review.reviewer import DIFF_CHARS, _parts, review
from codeagent.settings import load_settings
from codeagent.testing.fake_ollama import FakeOllama, scripted
from support import write_files

TAX = "def compute_tax(amount, rate):\n    return amount * rate\n"
CART = ("from billing.tax import compute_tax\n\n\ndef total(items):\n    subtotal = sum(items)\n"
        "    return subtotal + compute_tax(subtotal, 0.2)\n")
NEW_TAX = "def compute_tax(amount, rate, region):\n    return amount * rate * region.factor\n"

FIND = 'Thought: who calls it?\nAction: find_symbol\nAction Input: {"name": "compute_tax"}'
READ = ('Thought: read the caller\nAction: read_file\nAction Input: '
        '{"path": "shop/cart.py", "start_line": 1, "end_line": 6}')


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def shop(tmp_path, mock_embedding, settings_for):
    """A committed repository; the working tree changes compute_tax's signature."""
    repo = tmp_path / "shop"
    write_files(repo, {"billing/tax.py": TAX, "shop/cart.py": CART, "README.md": "# Shop\n"})
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    (repo / "billing/tax.py").write_text(NEW_TAX)
    run_index(repo, settings_for(repo), embedding=mock_embedding)
    return repo


def reply(findings):
    return "Thought: checked the caller\nAnswer: " + json.dumps(findings)


BROKEN_CALLER = {"path": "billing/tax.py", "line": 1, "end_line": 2, "severity": "high",
                 "title": "New required parameter breaks callers",
                 "explanation": "shop/cart.py:6 calls compute_tax(subtotal, 0.2) without region",
                 "suggestion": "def compute_tax(amount, rate, region=None):"}


def test_a_signature_change_finding_cites_a_caller_found_through_the_tools(shop, mock_embedding):
    invalid = [{**BROKEN_CALLER, "line": 99, "title": "beyond the file"},
               {**BROKEN_CALLER, "path": "README.md", "title": "not in the change"}]
    with FakeOllama(scripted(FIND, READ, reply([BROKEN_CALLER, *invalid]))) as server:
        settings = load_settings(shop, {"ollama_host": server.url}, environ={})
        report = review(shop, settings, from_git(shop), use_llm=True, embedding=mock_embedding)
    # the reviewer was given the impact, and its tools found the caller
    prompt = server.requests[0]["messages"][-1]["content"]
    assert ("compute_tax (function, modified) at billing/tax.py:1; used at shop/cart.py:6 "
            "(in total)") in prompt
    assert "shop/cart.py:6" in server.requests[1]["messages"][-1]["content"]  # find_symbol said so
    assert [(f.path, f.line, f.end_line, f.severity) for f in report.findings] == [
        ("billing/tax.py", 1, 2, "high")]
    assert "shop/cart.py:6" in report.findings[0].explanation
    assert len([n for n in report.notes if "dropped" in n]) == 2
    [impact] = report.impact
    assert (impact.symbol, impact.change, [(r.path, r.line) for r in impact.references]) == (
        "compute_tax", "modified", [("shop/cart.py", 6)])


def test_each_reference_names_the_innermost_definition_around_it(shop, mock_embedding):
    write_files(shop, {"shop/order.py": "from billing.tax import compute_tax\n\n\nclass Order:\n"
                                        "    def pay(self):\n        def inner():\n"
                                        "            return compute_tax(1, 2)\n"
                                        "        return compute_tax(3, 4) + inner()\n",
                       "shop/rates.py": "from billing.tax import compute_tax\n"
                                        "RATE = compute_tax(1, 0.2)\n"})
    run_index(shop, load_settings(shop, environ={}), embedding=mock_embedding)
    report = review(shop, load_settings(shop, environ={}), from_git(shop), use_llm=False,
                    embedding=mock_embedding)
    [impact] = report.impact
    assert [(r.path, r.line, r.symbol) for r in impact.references] == [
        ("shop/cart.py", 6, "total"), ("shop/order.py", 7, "Order.pay.inner"),
        ("shop/order.py", 8, "Order.pay"), ("shop/rates.py", 2, None)]


def test_findings_are_validated_anchored_and_merged():
    files = {"a.py": FileReview("a.py", "modified", changed_lines=[(10, 12)]),
             "gone.py": FileReview("gone.py", "removed")}
    raw = [{"path": "a.py", "line": 11, "severity": "HIGH", "title": "Bug", "explanation": "x"},
           {"path": "a.py", "line": 12, "severity": "low", "title": "bug", "explanation": "y"},
           {"path": "a.py", "line": 2, "severity": "medium", "title": "Far", "explanation": "z"},
           {"path": "./a.py", "line": "11", "severity": "odd", "title": "Other", "explanation": ""},
           {"path": "a.py", "line": 500, "severity": "low", "title": "Past", "explanation": ""},
           {"path": "gone.py", "line": 1, "severity": "low", "title": "Gone", "explanation": ""},
           {"path": "a.py", "line": "soon", "severity": "low", "title": "?", "explanation": ""}]
    findings, notes = validate(raw, files, {"a.py": 40})
    by_title = {f.title.lower(): f for f in findings}
    assert set(by_title) == {"bug", "far", "other"}
    assert by_title["bug"].severity == "high" and "y" in by_title["bug"].explanation  # merged
    assert (by_title["far"].line, by_title["far"].end_line) == (10, 12)  # moved to the change
    assert "line 2" in by_title["far"].explanation
    assert by_title["other"].severity == "info"
    assert len(notes) == 3
    assert at_least("high", "medium") and not at_least("low", "medium")
    assert merge(findings) == findings


def test_diffs_of_every_kind_parse(tmp_path):
    repo = tmp_path / "r"
    write_files(repo, {"m.py": "def f(a):\n    return a\n", "old.py": "x = 1\n", "k.txt": "keep\n",
                       "b.bin": b"\x00\x01bin", "s.sh": "echo hi\n"})
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    git(repo, "mv", "old.py", "renamed.py")
    (repo / "m.py").write_text("def f(a, b):\n    return a + b\n")
    git(repo, "rm", "-q", "k.txt")
    (repo / "b.bin").write_bytes(b"\x00\x02bin")
    os.chmod(repo / "s.sh", 0o755)
    write_files(repo, {"added.py": "new = 1\n"})
    git(repo, "add", "-A")
    change = from_git(repo, staged=True)
    got = {f.path: (f.status, f.old_path, f.mode_change, f.added) for f in change.files}
    assert got == {"added.py": ("added", None, None, [1]), "b.bin": ("binary", None, None, []),
                   "k.txt": ("removed", None, None, []), "m.py": ("modified", None, None, [1, 2]),
                   "renamed.py": ("renamed", "old.py", None, []),
                   "s.sh": ("modified", None, "100644 -> 100755", [])}
    assert change.new_side == ":"
    plain = parse("--- a/x.py\n+++ b/x.py\n@@ -1 +1,2 @@\n-a\n+b\n+c\n", "stdin")
    assert [(f.path, f.added) for f in plain.files] == [("x.py", [1, 2])]


def test_vendored_generated_binary_and_excluded_files_are_not_reviewed(shop, mock_embedding):
    write_files(shop, {"vendor/lib.py": "def v():\n    pass\n",
                       "api_pb2.py": "# Generated by protoc\nX = 1\n",
                       "gen/schema.py": "# @generated by a tool\nY = 2\n",
                       "docs/notes.md": "notes\n", "logo.png": b"\x89PNG\x00\x01"})
    git(shop, "add", "-A")
    settings = load_settings(shop, environ={})
    report = review(shop, settings, from_git(shop, staged=True), use_llm=False,
                    exclude=("*.md",), embedding=mock_embedding)
    status = {f.path: (f.status, f.note) for f in report.files}
    assert status["vendor/lib.py"][0] == status["api_pb2.py"][0] == "skipped"
    assert status["gen/schema.py"] == ("skipped", "generated (it says so in its first lines)")
    assert status["docs/notes.md"] == ("skipped", "excluded by *.md")
    assert status["logo.png"][0] == "binary"
    assert status["billing/tax.py"][0] == "modified"


def test_a_large_diff_is_reviewed_in_parts_cut_between_hunks():
    hunk = "@@ -{0},1 +{0},1 @@\n-old line {0}\n+new line {0}\n" + "+" + "x" * 900 + "\n"
    patch = "--- a/big.py\n+++ b/big.py\n" + "".join(hunk.format(n * 10) for n in range(1, 40))
    parts = _parts(patch)
    assert len(parts) > 1 and all(len(p) <= DIFF_CHARS + 200 for p in parts)
    assert all(p.startswith("--- a/big.py\n+++ b/big.py\n@@") for p in parts)
    assert "".join(p.split("+++ b/big.py\n", 1)[1] for p in parts) == patch.split("+++ b/big.py\n", 1)[1]


def test_review_a_branch_against_its_base(shop, mock_embedding):
    git(shop, "checkout", "-qb", "feature")
    git(shop, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "region")
    change = from_git(shop, base="master" if _has(shop, "master") else "main")
    assert [(f.path, f.status) for f in change.files] == [("billing/tax.py", "modified")]
    report = review(shop, load_settings(shop, environ={}), change, use_llm=False,
                    base=change.base.split()[-1], embedding=mock_embedding)
    assert report.impact[0].references[0].path == "shop/cart.py"


def _has(repo, branch):
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", branch],
                          capture_output=True).returncode == 0


def codeagent(repo, *args, input=None):
    return subprocess.run([sys.executable, "-m", "codeagent", "review", "--repo", str(repo),
                           "--no-index", *args], capture_output=True, text=True, input=input,
                          timeout=300, env=dict(os.environ))


@pytest.mark.slow
def test_cli_fail_on_exit_codes_and_formats(shop):
    with FakeOllama(scripted(FIND, reply([BROKEN_CALLER]), FIND,
                             reply([{**BROKEN_CALLER, "severity": "low"}]))) as server:
        run = codeagent(shop, "--format", "json", "--fail-on", "high", "--ollama-host", server.url)
        assert run.returncode == 1, run.stderr
        assert json.loads(run.stdout)["findings"][0]["severity"] == "high"
        run = codeagent(shop, "--format", "github", "--fail-on", "high",
                        "--ollama-host", server.url)
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith("::notice file=billing/tax.py,line=1,endLine=2")


def test_cli_search_only_reports_the_impact(shop):
    run = codeagent(shop, "--format", "json", "--ollama-host", "http://127.0.0.1:9")
    assert run.returncode == 0, run.stderr
    assert "search-only" in run.stderr
    report = json.loads(run.stdout)
    assert report["model"] is None and report["findings"] == []
    [impact] = report["impact"]
    assert impact["symbol"] == "compute_tax" and impact["references"][0]["path"] == "shop/cart.py"
    diff = subprocess.run(["git", "-C", str(shop), "diff"], capture_output=True, text=True).stdout
    piped = codeagent(shop, "-", "--no-llm", "--format", "json", input=diff)
    assert json.loads(piped.stdout)["impact"] == report["impact"]


# --- A gate that did not look does not pass ------------------------------------------------

UNUSABLE = "Thought: done\nAnswer: The change looks fine to me."  # no findings to read


def nobody_listens() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_file_whose_reply_is_unusable_is_named_as_not_reviewed(shop, mock_embedding):
    (shop / "shop/cart.py").write_text(CART.replace("0.2", "0.25"))
    with FakeOllama(scripted(UNUSABLE, reply([]))) as server:
        settings = load_settings(shop, {"ollama_host": server.url}, environ={})
        report = review(shop, settings, from_git(shop), use_llm=True, embedding=mock_embedding)
    assert [f.path for f in report.to_judge()] == ["billing/tax.py", "shop/cart.py"]
    assert list(report.unjudged) == ["billing/tax.py"]  # cart.py was judged: no findings
    assert not report.reviewed() and report.not_reviewed()


def test_a_reply_at_a_limit_without_an_answer_is_not_a_judgment(shop, mock_embedding):
    calls = [f'Thought: look\nAction: grep\nAction Input: {{"pattern": "tax{n}"}}'
             for n in range(8)]
    with FakeOllama(scripted(*calls)) as server:
        settings = load_settings(shop, {"ollama_host": server.url, "max_steps": 2}, environ={})
        report = review(shop, settings, from_git(shop), use_llm=True, embedding=mock_embedding)
    assert list(report.unjudged) == ["billing/tax.py"] and not report.reviewed()


def test_ollama_down_is_not_reviewed_and_fails_the_gate_but_no_llm_passes(shop):
    host = nobody_listens()
    run = codeagent(shop, "--fail-on", "high", "--ollama-host", host)
    assert run.returncode == EXIT_NOT_REVIEWED, run.stderr
    first = run.stdout.split("\n", 1)[0]
    assert first.startswith("# Not reviewed") and "No findings." not in run.stdout
    assert host in run.stdout.split("## ", 1)[0]  # the reason, before the impact
    run = codeagent(shop, "--format", "json", "--ollama-host", host)
    assert run.returncode == 0, run.stderr  # no gate asked for
    data = json.loads(run.stdout)
    assert data["reviewed"] is False and host in data["reason"]
    assert [item["path"] for item in data["not_reviewed"]] == ["billing/tax.py"]
    run = codeagent(shop, "--no-llm", "--fail-on", "high", "--format", "json")
    assert run.returncode == 0, run.stderr  # search-only asked for: the impact, exit 0
    data = json.loads(run.stdout)
    assert data["search_only"] is True and data["impact"]


@pytest.mark.slow
def test_cli_an_unusable_reply_fails_the_gate_in_every_format(shop):
    for fmt in ("json", "github", "sarif", "markdown"):
        with FakeOllama(scripted(UNUSABLE)) as server:
            run = codeagent(shop, "--format", fmt, "--fail-on", "high",
                            "--ollama-host", server.url)
        assert run.returncode == EXIT_NOT_REVIEWED, (fmt, run.stderr)
        if fmt == "json":
            data = json.loads(run.stdout)
            assert data["reviewed"] is False and data["findings"] == []
            assert [item["path"] for item in data["not_reviewed"]] == ["billing/tax.py"]
        elif fmt == "github":
            assert run.stdout.startswith("::error title=codeagent review::Not reviewed")
            assert "::error file=billing/tax.py," in run.stdout
        elif fmt == "sarif":
            invocation = json.loads(run.stdout)["runs"][0]["invocations"][0]
            assert invocation["executionSuccessful"] is False
        else:
            assert run.stdout.startswith("# Not reviewed") and "No findings." not in run.stdout
