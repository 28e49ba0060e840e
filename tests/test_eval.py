"""`codeagent eval`: localization metrics, scoring and the evaluation loop.

What is tested:

- the metrics on hand-made rankings (`eval_metrics`): file Acc@k with several gold files,
  MRR, pessimistic ties, a path ranked twice, `positional`, function recall@k, and the
  per-task scores averaged by `summarize` (an empty list included);
- `evaluate.score` and `table`: one row per mode in the order asked, the no-hint subset
  scored apart, a mode scored only over the tasks it predicted, a LocAgent-style reference;
- `eval_tasks.load_tasks` (the hint values, a malformed line) and `mirror_for` (layouts);
- a `Checkout` of a bare mirror moved between two commits and indexed incrementally
  (added, changed and removed files; the embedding cache on the way back; untracked
  leftovers cleaned, the index kept);
- `evaluate.evaluate` end to end on a tiny repository, resumed from its prediction file;
- tasks from a repository's own history (`history_tasks`, `keep_commit`, `names_a_file`);
- the `codeagent eval` command line (help, and a missing tasks file).

Everything runs offline on tiny repositories, with the constant `mock_embedding`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from codeagent.errors import UsageError
from codeagent.evaluation.metrics import (FUNCTION_KS, KS, acc_at, positional, ranks, recall_at,
                                          reciprocal_rank, score_task, summarize)
from codeagent.evaluation.runs import Prediction, evaluate, read_predictions, score, table
from codeagent.evaluation.tasks import (Checkout, Task, history_tasks, keep_commit, load_tasks,
                                        mirror_for, names_a_file)
from codeagent.index.layout import open_manifest_readonly
from codeagent.index.run import run_index
from codeagent.settings import load_settings
from support import write_files

# --- helpers ------------------------------------------------------------------------------

class Git:
    """A repository built commit by commit, each commit one minute after the previous one
    (so that "newest first" and "oldest first" do not depend on the wall clock)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = 1_700_000_000
        root.mkdir(parents=True, exist_ok=True)
        self("init", "-q")
        self("checkout", "-q", "-b", "main")

    def __call__(self, *args: str) -> str:
        self.clock += 60
        when = f"{self.clock} +0000"
        env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        done = subprocess.run(
            ["git", "-C", str(self.root), "-c", "user.email=t@t", "-c", "user.name=t",
             "-c", "commit.gpgsign=false", *args],
            check=True, capture_output=True, text=True, env=env)
        return done.stdout.strip()

    def commit(self, message: str, files: dict[str, str] | None = None,
               delete: tuple[str, ...] = ()) -> str:
        write_files(self.root, files or {})
        for path in delete:
            (self.root / path).unlink()
        self("add", "-A")
        self("commit", "-q", "-m", message)
        return self.head()

    def head(self) -> str:
        return self("rev-parse", "HEAD")


def bare_clone(source: Path, target: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(target)],
                   check=True, capture_output=True)
    return target


def indexed_files(root: Path) -> set[str]:
    manifest = open_manifest_readonly(root)
    try:
        return set(manifest.files())
    finally:
        manifest.close()


def task(instance_id: str, gold: list[str], *, names_file: bool = False,
         spans: dict[str, list[str]] | None = None, repo: str = "o/r",
         commit: str = "0" * 40, query: str = "it breaks") -> Task:
    return Task(instance_id, repo, commit, query, gold, spans or {}, names_file)


def prediction(instance_id: str, mode: str, files: list[str], scores: list[float] | None = None,
               functions: list[str] | None = None, seconds: float = 0.0) -> Prediction:
    return Prediction(instance_id, mode, files,
                      scores if scores is not None else [s for _, s in positional(files)],
                      functions or [], seconds)


# The tiny repository: commit A has three files; commit B modifies one (writer), deletes
# one (util) and adds one (format).
READER = '''\
def parse_header(line):
    """Split a "Name: value" header line."""
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


def read_body(stream):
    return stream.read()
'''
WRITER = '''\
def write_record(out, fields):
    out.write(",".join(fields) + "\\n")
'''
WRITER_B = '''\
def write_record(out, fields):
    quoted = [f'"{field}"' if "," in field else field for field in fields]
    out.write(",".join(quoted) + "\\n")
'''
UTIL = '''\
def clamp(value, low, high):
    return max(low, min(value, high))
'''
FORMAT = '''\
def format_row(cells, width):
    return " | ".join(cell.ljust(width) for cell in cells)
'''
FILES_A = {"pkg/reader.py", "pkg/writer.py", "pkg/util.py"}
FILES_B = {"pkg/reader.py", "pkg/writer.py", "pkg/format.py"}


@pytest.fixture
def tiny(tmp_path):
    """(bare mirror, commit A, commit B) of the tiny repository."""
    repo = Git(tmp_path / "src")
    a = repo.commit("Start the reader and the writer",
                    {"pkg/reader.py": READER, "pkg/writer.py": WRITER, "pkg/util.py": UTIL})
    b = repo.commit("Quote fields, format rows, drop util",
                    {"pkg/writer.py": WRITER_B, "pkg/format.py": FORMAT},
                    delete=("pkg/util.py",))
    return bare_clone(repo.root, tmp_path / "mirrors" / "local+tiny" / "repo"), a, b


# --- 1. metrics -----------------------------------------------------------------------------

def test_acc_at_k_needs_every_gold_file_in_the_top_k():
    ranking = positional(["a.py", "x.py", "y.py", "b.py", "z.py"])
    gold = ["a.py", "b.py"]
    assert ranks(gold, ranking) == {"a.py": 1, "b.py": 4}
    assert [acc_at(k, gold, ranking) for k in (1, 3, 5)] == [False, False, True]
    # one gold file not ranked at all: never counted
    assert not acc_at(10, ["a.py", "missing.py"], ranking)
    # no gold at all: nothing to find, not a success
    assert not acc_at(10, [], ranking)


def test_reciprocal_rank_is_that_of_the_first_gold_file():
    ranking = positional(["x.py", "y.py", "b.py", "a.py"])
    assert reciprocal_rank(["b.py"], ranking) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a.py", "b.py"], ranking) == pytest.approx(1 / 3)
    assert reciprocal_rank(["missing.py"], ranking) == 0.0
    assert reciprocal_rank(["a.py"], []) == 0.0


def test_ties_are_counted_against_the_ranker():
    # the gold file listed first among three equal scores still ranks third
    ranking = [("g.py", 1.0), ("x.py", 1.0), ("y.py", 1.0), ("z.py", 0.5)]
    assert ranks(["g.py"], ranking) == {"g.py": 3}
    assert not acc_at(1, ["g.py"], ranking)
    assert acc_at(3, ["g.py"], ranking)
    assert reciprocal_rank(["g.py"], ranking) == pytest.approx(1 / 3)
    # a constant score ranks nothing: any gold file comes last
    constant = [(f"f{n}.py", 0.7) for n in range(10)]
    for gold in ("f0.py", "f5.py", "f9.py"):
        assert ranks([gold], constant) == {gold: 10}
        assert not acc_at(5, [gold], constant)
        assert acc_at(10, [gold], constant)


def test_a_path_ranked_twice_counts_at_its_best_place():
    ranking = [("a.py", 0.2), ("b.py", 0.5), ("c.py", 0.4), ("a.py", 0.9)]
    assert ranks(["a.py", "c.py"], ranking) == {"a.py": 1, "c.py": 3}
    # positional: the first occurrence is the best one, and the duplicate takes no place
    listed = positional(["x.py", "a.py", "x.py", "b.py"])
    assert ranks(["x.py", "a.py", "b.py"], listed) == {"x.py": 1, "a.py": 2, "b.py": 3}


def test_positional_gives_distinct_decreasing_scores():
    assert positional([]) == []
    ranking = positional(["a", "b", "c"])
    assert [p for p, _ in ranking] == ["a", "b", "c"]
    scores = [s for _, s in ranking]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3
    assert ranks(["a", "b", "c"], ranking) == {"a": 1, "b": 2, "c": 3}


def test_function_recall_counts_distinct_functions_in_the_top_k():
    gold = ["m.py:f", "m.py:g"]
    ranked = ["m.py:f", "m.py:f", "m.py:f", "n.py:h", "m.py:g"]
    # duplicates are dropped before the cut: the top 3 is f, h, g
    assert recall_at(3, gold, ranked) == 1.0
    assert recall_at(2, gold, ranked) == 0.5
    assert recall_at(1, gold, ranked) == 0.5
    assert recall_at(5, gold, []) == 0.0
    assert recall_at(5, [], ranked) == 0.0
    assert recall_at(5, ["m.py:f", "m.py:f"], ranked) == 1.0  # a gold listed twice: once


def test_score_task_and_summarize_average_over_tasks():
    with_spans = score_task(["a.py"], {"a.py": ["f", "C.m"]}, False,
                            positional(["a.py", "b.py"]), ["a.py:f", "b.py:x"])
    assert with_spans.acc == {k: True for k in KS}
    assert with_spans.rr == 1.0
    assert with_spans.function_recall == {5: 0.5, 10: 0.5}
    without_spans = score_task(["b.py"], {}, True, positional(["x.py", "b.py"]), ["x.py:y"])
    assert without_spans.acc == {1: False, 3: True, 5: True, 10: True}
    assert without_spans.rr == 0.5
    assert without_spans.function_recall is None
    missed = score_task(["c.py"], {"c.py": ["h"]}, False, positional(["x.py"]), [])
    assert missed.acc == {k: False for k in KS} and missed.rr == 0.0
    assert missed.function_recall == {5: 0.0, 10: 0.0}

    summary = summarize([with_spans, without_spans, missed])
    assert summary.tasks == 3
    assert summary.acc == pytest.approx({1: 1 / 3, 3: 2 / 3, 5: 2 / 3, 10: 2 / 3})
    assert summary.mrr == pytest.approx(0.5)
    # function recall: over the two tasks with gold spans only
    assert summary.function_tasks == 2
    assert summary.function_recall == pytest.approx({5: 0.25, 10: 0.25})
    as_json = summary.to_json()
    assert as_json["tasks"] == 3 and as_json["function_tasks"] == 2
    assert as_json["acc@3"] == pytest.approx(0.6667) and as_json["mrr"] == 0.5
    assert as_json["function_recall@5"] == 0.25


def test_summarize_of_nothing_is_all_zero():
    summary = summarize([])
    assert summary.tasks == 0 and summary.function_tasks == 0
    assert summary.acc == {k: 0.0 for k in KS} and summary.mrr == 0.0
    assert summary.function_recall == {}
    assert summary.to_json()["tasks"] == 0
    # only tasks without gold spans: no function recall either
    only = summarize([score_task(["a.py"], {}, False, positional(["a.py"]), [])])
    assert only.function_tasks == 0 and only.function_recall == {}
    assert set(FUNCTION_KS) == {5, 10}


# --- 2. score and table ---------------------------------------------------------------------

TASKS = [task("t1", ["a.py"], spans={"a.py": ["f"]}),
         task("t2", ["b.py", "c.py"], names_file=True),
         task("t3", ["d.py"])]


def test_score_rows_per_mode_with_the_no_hint_subset_and_a_reference():
    predictions = [
        prediction("t1", "bm25", ["a.py", "x.py"], [2.0, 1.0], ["a.py:f"], seconds=0.01),
        prediction("t2", "bm25", ["x.py", "b.py", "c.py"], [3.0, 2.0, 1.0], seconds=0.03),
        prediction("t3", "bm25", ["x.py"], [1.0], seconds=0.02),
        # "default" predicted two of the three tasks only
        prediction("t1", "default", ["x.py", "a.py"], [1.0, 0.5], ["x.py:y"]),
        prediction("t2", "default", ["b.py", "c.py"], [1.0, 0.9]),
    ]
    locagent_rows = [
        {"instance_id": "t1", "found_files": ["a.py"], "found_entities": ["a.py:f", "a.py:f"]},
        {"instance_id": "t3", "found_files": ["y.py", "d.py"], "found_entities": ["d.py:g"]},
        {"instance_id": "not-a-task", "found_files": ["a.py"], "found_entities": []},
    ]
    references = [Prediction.from_json(row, mode="locagent") for row in locagent_rows]
    assert references[0].mode == "locagent"
    assert references[0].found_functions == ["a.py:f", "a.py:f"]
    assert references[1].ranking() == positional(["y.py", "d.py"])
    assert references[1].seconds == 0.0
    assert Prediction.from_json(locagent_rows[0]).mode == "reference"

    rows = score(TASKS, predictions + references, ["default", "bm25", "locagent"])
    assert [row.name for row in rows] == ["default", "bm25", "locagent"]
    default, bm25, locagent = rows

    assert bm25.all.tasks == 3
    assert bm25.all.acc == pytest.approx({1: 1 / 3, 3: 2 / 3, 5: 2 / 3, 10: 2 / 3})
    assert bm25.all.mrr == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert (bm25.all.function_tasks, bm25.all.function_recall) == (1, {5: 1.0, 10: 1.0})
    assert bm25.no_hint.tasks == 2  # t1 and t3: t2's report names its file
    assert bm25.no_hint.acc[1] == pytest.approx(0.5)
    assert bm25.no_hint.mrr == pytest.approx(0.5)
    assert bm25.p50_ms == pytest.approx(20.0)

    assert default.all.tasks == 2  # over the tasks it predicted, not all three
    assert default.all.acc[1] == 0.0  # t2 has c.py second: Acc@1 wants both gold files
    assert default.all.acc[3] == pytest.approx(1.0)
    assert default.all.mrr == pytest.approx((1 / 2 + 1) / 2)
    assert default.all.function_recall == {5: 0.0, 10: 0.0}
    assert (default.no_hint.tasks, default.no_hint.mrr) == (1, 0.5)
    assert default.p50_ms is None  # no timings

    assert locagent.all.tasks == 2  # the row for an unknown instance is ignored
    assert locagent.all.acc == pytest.approx({1: 0.5, 3: 1.0, 5: 1.0, 10: 1.0})
    assert locagent.all.mrr == pytest.approx(0.75)
    assert locagent.all.function_tasks == 1
    assert locagent.all.function_recall == {5: 1.0, 10: 1.0}
    assert locagent.no_hint.tasks == 2
    assert json.loads(json.dumps(locagent.to_json()))["mode"] == "locagent"

    # a mode that predicted nothing still gets its row, all zero
    [empty] = score(TASKS, predictions, ["vector"])
    assert (empty.name, empty.all.tasks, empty.no_hint.tasks) == ("vector", 0, 0)


def test_table_has_a_header_a_rule_and_one_line_per_row():
    predictions = [prediction("t1", "bm25", ["a.py"], seconds=0.01),
                   prediction("t2", "bm25", ["b.py", "c.py"]),
                   prediction("t2", "default", ["c.py", "b.py"])]
    rows = score(TASKS, predictions, ["bm25", "default", "vector"])
    lines = table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    head, rule, *body = lines
    columns = head.count("|")
    assert set(rule.replace("|", "").split()) == {"---"} and rule.count("|") == columns
    for row, line in zip(rows, body):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert line.count("|") == columns
        assert cells[0] == row.name
        assert cells[1] == str(row.all.tasks)
    # default: only t2, whose report names its file, so no no-hint figures
    default_cells = [c.strip() for c in body[1].strip("|").split("|")]
    assert default_cells[1] == "1" and "-" in default_cells
    table([])  # no rows: just the header


# --- 3. load_tasks ----------------------------------------------------------------------------

def row(n: int, hint) -> dict:
    return {"instance_id": f"o__r-{n}", "repo": "o/r", "base_commit": f"{n:040d}",
            "problem_statement": f"report {n}", "gold_files": [f"f{n}.py"],
            "gold_spans": {f"f{n}.py": [f"fn{n}"]} if n % 2 else None,
            "agentless_file_location_hint": hint}


def test_load_tasks_reads_the_fields_and_the_hint(tmp_path):
    path = tmp_path / "tasks.jsonl"
    hints = [None, "None", "", "Stacktrace"]
    path.write_text("\n".join(json.dumps(row(n, h)) for n, h in enumerate(hints)) + "\n\n")
    tasks = load_tasks(path)
    assert [t.instance_id for t in tasks] == ["o__r-0", "o__r-1", "o__r-2", "o__r-3"]
    assert [t.names_file for t in tasks] == [False, False, False, True]
    first, second = tasks[:2]
    assert (first.repo, first.base_commit, first.query, first.gold_files, first.gold_spans) == (
        "o/r", "0" * 40, "report 0", ["f0.py"], {})
    assert second.gold_spans == {"f1.py": ["fn1"]}


@pytest.mark.parametrize("bad", ["{not json", json.dumps({"instance_id": "x", "repo": "o/r"}),
                                 json.dumps(["a", "list"])])
def test_a_malformed_task_line_is_a_usage_error_naming_the_line(tmp_path, bad):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(row(0, None)) + "\n" + bad + "\n")
    with pytest.raises(UsageError) as caught:
        load_tasks(path)
    assert f"{path}:2:" in str(caught.value)
    with pytest.raises(UsageError):
        load_tasks(tmp_path / "missing.jsonl")


# --- 4. mirror_for ----------------------------------------------------------------------------

def test_mirror_for_finds_the_fetch_layout_and_name_git(tmp_path):
    fetch = tmp_path / "a" / "owner+name" / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(fetch)], check=True, capture_output=True)
    assert mirror_for(tmp_path / "a", "owner/name") == fetch
    dotgit = tmp_path / "b" / "name.git"
    subprocess.run(["git", "init", "-q", "--bare", str(dotgit)], check=True, capture_output=True)
    assert mirror_for(tmp_path / "b", "owner/name") == dotgit
    with pytest.raises(UsageError):
        mirror_for(tmp_path / "a", "owner/other")
    with pytest.raises(UsageError):
        mirror_for(tmp_path / "nowhere", "owner/name")


# --- 5. checkouts and incremental indexing ------------------------------------------------------

def test_a_checkout_moves_between_commits_and_indexes_incrementally(tmp_path, tiny,
                                                                    mock_embedding):
    mirror, a, b = tiny
    checkout = Checkout(mirror, tmp_path / "work")
    settings = load_settings(checkout.path, environ={})

    checkout.move_to(a)
    first = run_index(checkout.path, settings, embedding=mock_embedding)
    assert first.added == 3 and first.embedded > 0
    assert indexed_files(checkout.path) == FILES_A

    (checkout.path / "leftover.py").write_text("LEFT = 1\n")
    checkout.move_to(b)
    assert not (checkout.path / "leftover.py").exists()
    assert not (checkout.path / "pkg" / "util.py").exists()
    assert (checkout.path / ".codeagent" / "manifest.sqlite").is_file()
    second = run_index(checkout.path, settings, embedding=mock_embedding)
    assert (second.added, second.changed, second.removed, second.unchanged) == (1, 1, 1, 1)
    assert second.embedded > 0
    assert indexed_files(checkout.path) == FILES_B

    # back to A: the files differ again, but every chunk's text was embedded before
    checkout.move_to(a)
    third = run_index(checkout.path, settings, embedding=mock_embedding)
    assert (third.added, third.changed, third.removed) == (1, 1, 1)
    assert third.chunks_written > 0 and third.embedded == 0
    assert indexed_files(checkout.path) == FILES_A

    # a second Checkout of the same directory reuses it (and its index)
    again = Checkout(mirror, tmp_path / "work")
    again.move_to(a)
    assert run_index(again.path, settings, embedding=mock_embedding).embedded == 0


def test_a_sparse_checkout_writes_only_the_files_asked_for(tmp_path):
    repo = Git(tmp_path / "src")
    sha = repo.commit("Code and data", {"pkg/app.py": "A = 1\n", "data/big.csv": "1,2\n",
                                         "docs/x.md": "# x\n"})
    checkout = Checkout(bare_clone(repo.root, tmp_path / "mirror.git"), tmp_path / "work",
                        only=("*.py",))
    checkout.move_to(sha)
    files = {p.relative_to(checkout.path).as_posix() for p in checkout.path.rglob("*")
             if p.is_file() and ".git" not in p.parts}
    assert files == {"pkg/app.py"}


def test_a_file_the_mirror_lacks_is_left_out_and_said(tmp_path):
    """A snapshot may lack its largest blobs: the checkout goes on without them."""
    repo = Git(tmp_path / "src")
    sha = repo.commit("Code and a big file", {"pkg/app.py": "A = 1\n", "big.bin": "x" * 999})
    mirror = bare_clone(repo.root, tmp_path / "mirror.git")
    blob = subprocess.run(["git", "--git-dir", str(mirror), "rev-parse", f"{sha}:big.bin"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # A local clone keeps the objects loose (hard links): remove the blob's file.
    loose = mirror / "objects" / blob[:2] / blob[2:]
    assert loose.is_file()
    loose.unlink()
    said = []
    checkout = Checkout(mirror, tmp_path / "work", say=said.append)
    checkout.move_to(sha)
    assert (checkout.path / "pkg" / "app.py").read_text() == "A = 1\n"
    assert not (checkout.path / "big.bin").exists()
    assert len(said) == 1 and "big.bin" in said[0]


# --- 6. evaluate end to end ---------------------------------------------------------------------

def tiny_tasks(a: str, b: str) -> list[Task]:
    """Each query names a function defined in one file only. With the constant mock
    embedding the vector ranking is the same for every query (pkg/reader.py happens to
    come first at A): the `write_record` task shows that the name, not that order, wins."""
    return [Task("tiny-b", "local/tiny", b, "`format_row` pads the columns wrongly",
                 ["pkg/format.py"]),
            Task("tiny-a", "local/tiny", a, "crash in `parse_header` when the header is empty",
                 ["pkg/reader.py"], {"pkg/reader.py": ["parse_header"]}),
            Task("tiny-w", "local/tiny", a, "`write_record` drops the last field",
                 ["pkg/writer.py"])]


def evaluator(tmp_path: Path, mirror: Path, tasks: list[Task], out: Path, embedding):
    """evaluate() on the tiny repository in modes bm25 and default, again and again."""
    settings = load_settings(None, environ={})

    def run():
        return evaluate(tasks, lambda repo: Checkout(mirror, tmp_path / "w2"),
                        settings, ["bm25", "default"], out,
                        embedding=embedding, say=lambda line: None)
    return run


def test_evaluate_ranks_every_task_in_every_mode_and_resumes(tmp_path, tiny, mock_embedding):
    mirror, a, b = tiny
    tasks = tiny_tasks(a, b)
    out = tmp_path / "out" / "preds.jsonl"
    run = evaluator(tmp_path, mirror, tasks, out, mock_embedding)

    first = run()
    lines = out.read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 6 and len(first.predictions) == 6
    assert {(r["instance_id"], r["mode"]) for r in rows} == {
        (t.instance_id, m) for t in tasks for m in ("bm25", "default")}
    for r in rows:
        assert {"instance_id", "mode", "found_files", "found_functions"} <= set(r)
    # oldest commit first: A's tasks are ranked before B's
    assert [r["instance_id"] for r in rows][-2:] == ["tiny-b", "tiny-b"]
    assert first.commits == 2

    by = {(r["instance_id"], r["mode"]): r for r in rows}
    at_a = by["tiny-a", "default"]
    assert at_a["found_files"][0] == "pkg/reader.py"
    assert set(at_a["found_files"]) == FILES_A  # ranked in the tree of A
    # the definitions' own ranking: the function the report names comes first
    assert at_a["found_functions"][0] == "pkg/reader.py:parse_header"
    assert by["tiny-w", "default"]["found_files"][0] == "pkg/writer.py"
    at_b = by["tiny-b", "default"]
    assert at_b["found_files"][0] == "pkg/format.py"
    assert set(at_b["found_files"]) <= FILES_B

    # the prediction file scores like the predictions made
    [default] = score(tasks, read_predictions(out), ["default"])
    assert default.all.tasks == 3 and default.all.acc[1] == 1.0

    # again on the same file: nothing left to do
    second = run()
    assert second.predictions == [] and second.commits == 0
    assert out.read_text().splitlines() == lines


def test_evaluate_resumes_after_a_line_cut_short(tmp_path, tiny, mock_embedding):
    """A run killed in the middle of writing a line leaves it without its newline; the
    next run must not glue its first prediction onto that fragment."""
    mirror, a, b = tiny
    tasks = tiny_tasks(a, b)
    out = tmp_path / "preds.jsonl"
    run = evaluator(tmp_path, mirror, tasks, out, mock_embedding)
    run()
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n" + lines[1][:25])  # the second line cut short

    resumed = run()
    assert len(resumed.predictions) == len(lines) - 1
    readable = {(p.instance_id, p.mode) for p in read_predictions(out)}
    assert readable == {(t.instance_id, m) for t in tasks for m in ("bm25", "default")}


# --- 7. tasks from history ---------------------------------------------------------------------

FIX = ("Fix crash when parsing empty headers in the reader\n\n"
       "An empty header line made parse_header index past the end.")
BRANCH = "Quote separators in fields written by pkg/writer.py"


def test_history_tasks_keep_the_commits_that_make_tasks(tmp_path):
    repo = Git(tmp_path / "proj")
    many = {f"data/m{n:02d}.py": f"VALUE_{n} = {n}\n" for n in range(12)}
    root = repo.commit("Initial import of the project",
                       {"pkg/__init__.py": '__version__ = "1.1"\n', "pkg/reader.py": READER,
                        "pkg/writer.py": WRITER, **many})
    fix = repo.commit(FIX, {"pkg/reader.py": READER.replace("line.partition", "(line or ':')"
                                                            ".partition")})
    repo("checkout", "-q", "-b", "feature")
    branch = repo.commit(BRANCH, {"pkg/writer.py": WRITER_B})
    repo("checkout", "-q", "main")
    repo("merge", "-q", "--no-ff", "-m", "Bring the quoting work for the writer into main",
         "feature")
    merge = repo.head()
    repo.commit("Bump version to 1.2", {"pkg/__init__.py": '__version__ = "1.2"\n'})
    repo.commit("Rename the values in every data module for clarity",
                {path: text.replace("VALUE", "NUMBER") for path, text in many.items()})
    repo.commit("Add a module that detects the dialect of CSV files",
                {"pkg/dialect.py": "def sniff(text):\n    return ','\n"})

    tasks = list(history_tasks(repo.root, 30))
    assert [t.instance_id for t in tasks] == [branch[:12], fix[:12]]  # newest first
    newer, older = tasks
    assert (newer.repo, newer.base_commit, newer.query, newer.gold_files) == (
        "proj", fix, BRANCH, ["pkg/writer.py"])
    assert newer.names_file  # the message names pkg/writer.py
    assert (older.base_commit, older.query, older.gold_files) == (root, FIX, ["pkg/reader.py"])
    assert not older.names_file  # "the reader" is no file name
    assert merge not in {t.base_commit for t in tasks} | {t.instance_id for t in tasks}

    assert [t.instance_id for t in history_tasks(repo.root, 1)] == [branch[:12]]
    # the gold limited to some suffixes: none of these commits modified a .js file
    assert list(history_tasks(repo.root, 30, indexable=lambda p: p.endswith(".js"))) == []


def test_keep_commit_rules():
    good = "Fix crash when parsing empty headers"
    assert keep_commit(["p1"], good, ["a.py"])
    assert not keep_commit([], good, ["a.py"])  # the root commit
    assert not keep_commit(["p1", "p2"], good, ["a.py"])  # a merge
    assert not keep_commit(["p1"], good, [])  # modifies nothing
    assert keep_commit(["p1"], good, [f"f{n}.py" for n in range(10)])
    assert not keep_commit(["p1"], good, [f"f{n}.py" for n in range(11)])
    assert not keep_commit(["p1"], "Fix the crash", ["a.py"])  # too short to say anything
    for trivial in ("Bump version to 1.2", "typo in the docstring of the reader",
                    "Update changelog for the next release", "Merge branch 'x' into main",
                    "WIP: half of the header parsing"):
        assert not keep_commit(["p1"], trivial, ["a.py"]), trivial


def test_names_a_file_by_path_file_name_or_module():
    files = ["pkg/reader.py"]
    assert names_a_file("The bug is in pkg/reader.py near the top", files)
    assert names_a_file("reader.py crashes on empty input", files)
    assert names_a_file("importing pkg.reader fails", files)
    assert names_a_file("File \"/usr/lib/site-packages/pkg/reader.py\", line 3", files)
    assert not names_a_file("the reader crashes on empty input", files)
    assert not names_a_file("the pkg reader crashes", files)
    assert not names_a_file("anything at all", [])


def test_names_a_file_needs_the_whole_file_name():
    """Another file whose name ends like the gold's does not name it (mentions.py, which
    matches whole written paths, agrees)."""
    files = ["pkg/reader.py"]
    assert not names_a_file("test_reader.py fails on empty input", files)
    assert not names_a_file("the bug is in mypkg/reader.py", files)


# --- 8. the command line -------------------------------------------------------------------------

def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "codeagent", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("args", [("eval",), ("eval", "localize"), ("eval", "history")])
def test_eval_help(tmp_path, args):
    done = cli(tmp_path, *args, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_eval_localize_with_a_missing_tasks_file_is_a_usage_error(tmp_path):
    done = cli(tmp_path, "eval", "localize", str(tmp_path / "missing.jsonl"),
               "--mirrors", str(tmp_path), "--out", str(tmp_path / "preds.jsonl"))
    assert done.returncode == 2
    assert not (tmp_path / "preds.jsonl").exists()


# --- 7. answer modes: the agent and RAG through the (fake) model ---------------------------

def answering_model(cite_unseen: str | None = None):
    """A fake model that answers with the location of the function the question names in
    backticks, read off what it was shown: a search hit's header (agent) or a snippet's
    header (rag). With `cite_unseen`, it cites that instead."""
    from codeagent.testing.fake_ollama import Reply

    def policy(request):
        text = "\n".join(m.get("content") or "" for m in request["messages"])
        asked = [m["content"] for m in request["messages"] if m["role"] == "user"][-1]
        name = re.search(r"`(\w+)`", asked).group(1)
        found = (re.search(rf"^(\S+):(\d+)-(\d+)  .*\b{name}\b", text, re.M)
                 or re.search(rf"^(\S+) lines (\d+)-(\d+) of the file \(.*\b{name}\b", text,
                              re.M))
        where = cite_unseen or f"{found.group(1)}:{found.group(2)}-{found.group(3)}"
        rag = request["messages"][0]["role"] == "user"
        return Reply(f"It is {where}." if rag else f"Thought: found\nAnswer: It is {where}.")
    return policy


def answer_run(tmp_path, mirror, tasks, out, embedding, server, modes, **flags):
    settings = load_settings(None, {"ollama_host": server.url, **flags}, environ={})
    return evaluate(tasks, lambda repo: Checkout(mirror, tmp_path / "w3"), settings, modes,
                    out, embedding=embedding, say=lambda line: None)


def test_agent_and_rag_are_scored_by_the_files_their_answers_cite(tmp_path, tiny,
                                                                   mock_embedding):
    from codeagent.testing.fake_ollama import FakeOllama

    mirror, a, b = tiny
    tasks = tiny_tasks(a, b)
    out = tmp_path / "answers.jsonl"
    with FakeOllama(answering_model()) as server:
        answer_run(tmp_path, mirror, tasks, out, mock_embedding, server,
                   ["default", "agent", "rag"])
        asked = len(server.requests)
        # resumable like the retrieval modes: nothing is asked again
        again = answer_run(tmp_path, mirror, tasks, out, mock_embedding, server,
                           ["default", "agent", "rag"])
    assert asked == 6 and len(server.requests) == asked and again.predictions == []
    rows = {(r["instance_id"], r["mode"]): r for r in map(json.loads,
                                                          out.read_text().splitlines())}
    for t in tasks:
        for mode in ("agent", "rag"):
            row = rows[t.instance_id, mode]
            assert row["found_files"] == t.gold_files
            d = row["details"]
            assert d["status"] == "ok" and d["citations"] == {"valid": 1, "invalid": 0,
                                                              "unseen": 0, "named": 0}
            assert d["llm_calls"] == 1 and d["prompt_paths_cited"] == 0
    assert rows["tiny-a", "agent"]["details"]["tool_calls"] == ["multi_query_search"]
    assert "pkg/reader.py:parse_header" in rows["tiny-a", "agent"]["found_functions"]
    agent, rag = score(tasks, read_predictions(out), ["agent", "rag"])
    assert agent.all.acc[1] == rag.all.acc[1] == 1.0
    # a bug report is asked as one: which code must a fix change
    first_question = [m for m in server.requests[0]["messages"] if m["role"] == "user"][0]
    assert "bug report" in first_question["content"]


def test_an_answer_citing_what_it_never_saw_ranks_nothing(tmp_path, tiny, mock_embedding):
    from codeagent.testing.fake_ollama import FakeOllama

    mirror, a, b = tiny
    tasks = tiny_tasks(a, b)[1:2]
    out = tmp_path / "unseen.jsonl"
    with FakeOllama(answering_model(cite_unseen="pkg/writer.py:1-2")) as server:
        answer_run(tmp_path, mirror, tasks, out, mock_embedding, server, ["agent"],
                   first_search=False, citation_retries=0)
    [row] = map(json.loads, out.read_text().splitlines())
    assert row["found_files"] == [] and row["details"]["status"] == "unverified"
    assert row["details"]["citations"] == {"valid": 0, "invalid": 0, "unseen": 1, "named": 0}
    [agent] = score(tasks, read_predictions(out), ["agent"])
    assert agent.all.acc[10] == 0.0


def test_a_question_task_is_asked_as_it_is(tmp_path, tiny, mock_embedding):
    from codeagent.testing.fake_ollama import FakeOllama

    mirror, a, _ = tiny
    tasks_file = tmp_path / "questions.jsonl"
    tasks_file.write_text(json.dumps({
        "instance_id": "q1", "repo": "local/tiny", "base_commit": a,
        "question": "Where is `parse_header` defined?", "gold_files": ["pkg/reader.py"]}) + "\n")
    [task] = load_tasks(tasks_file)
    assert task.kind == "question" and task.query == "Where is `parse_header` defined?"
    out = tmp_path / "q.jsonl"
    with FakeOllama(answering_model()) as server:
        answer_run(tmp_path, mirror, [task], out, mock_embedding, server, ["agent"])
    first_question = [m for m in server.requests[0]["messages"] if m["role"] == "user"][0]
    assert first_question["content"] == "Where is `parse_header` defined?"
    [row] = map(json.loads, out.read_text().splitlines())
    assert row["found_files"] == ["pkg/reader.py"]


def test_an_index_of_another_backend_is_kept_on_it_unless_one_is_asked_for(
        tmp_path, mock_embedding, monkeypatch):
    """A workdir indexed by torch, evaluated again where `auto` picks onnx: the checkout's
    index stays on torch (as `codeagent index` keeps it), instead of a ModelMismatch."""
    from dataclasses import replace

    from codeagent.evaluation.runs import kept_backend
    from codeagent.index import embedding as embedding_module
    from codeagent.index.run import run_index

    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    run_index(tmp_path, load_settings(tmp_path, environ={}), embedding=mock_embedding)
    loads = []
    monkeypatch.setattr(embedding_module, "load_embedding",
                        lambda *args, **kw: loads.append((args, kw)) or "torch-model")
    model, info = mock_embedding
    onnx = (model, replace(info, backend="onnx"))
    said, loaded = [], {}
    settings = load_settings(tmp_path, environ={})
    assert kept_backend(tmp_path, settings, onnx, loaded, said.append) == "torch-model"
    assert kept_backend(tmp_path, settings, onnx, loaded, said.append) == "torch-model"
    assert len(loads) == 1 and loads[0][1]["backend"] == "torch" and "torch" in said[0]
    assert kept_backend(tmp_path, settings, mock_embedding, loaded, said.append) is mock_embedding
    asked = load_settings(tmp_path, {"embed_backend": "onnx"}, environ={})
    assert kept_backend(tmp_path, asked, onnx, loaded, said.append) is onnx  # the run says why
