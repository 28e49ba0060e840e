"""`codeagent eval`: how well retrieval (and the agent) find the files a fix changed, per mode.

For each repository, its tasks' commits are visited oldest first in one checkout that is
moved from commit to commit and indexed incrementally (unchanged files are not embedded
again; content seen at another commit comes from the embedding cache). At each commit
every task there is ranked in every mode, and a prediction line is written at once, so an
interrupted run loses nothing: run it again with the same --out and it goes on where it
stopped. Scores are computed from the prediction file, which reference predictions (e.g.
LocAgent's) share.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from codeagent.evaluation.answers import MODES as ANSWER_MODES
from codeagent.evaluation.answers import Asker, cited_spans, details, prompt_text
from codeagent.evaluation.localize import Localizer
from codeagent.evaluation.metrics import Score, Summary, positional, score_task, summarize
from codeagent.evaluation.tasks import Checkout, Task, commit_order
from codeagent.settings import Settings

TOP_FILES = 50  # files kept per prediction: enough for Acc@10 and MRR
TOP_FUNCTIONS = 50

Say = Callable[[str], None]


@dataclass
class Prediction:
    instance_id: str
    mode: str
    found_files: list[str]
    scores: list[float]
    found_functions: list[str]
    seconds: float = 0.0
    details: dict[str, Any] | None = None
    """For an answer mode: how the answer came about (`answers.details`)."""

    def to_json(self) -> dict[str, Any]:
        row = {"instance_id": self.instance_id, "mode": self.mode,
               "found_files": self.found_files, "scores": [round(s, 6) for s in self.scores],
               "found_functions": self.found_functions, "seconds": round(self.seconds, 4)}
        if self.details is not None:
            row["details"] = self.details
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any], mode: str | None = None) -> "Prediction":
        files = list(row.get("found_files") or [])
        scores = row.get("scores")
        functions = row.get("found_functions")
        if functions is None:  # LocAgent's: "path:Class.method" entities
            functions = list(row.get("found_entities") or [])
        return cls(row["instance_id"], mode or row.get("mode", "reference"), files,
                   list(scores) if scores else [s for _, s in positional(files)],
                   list(functions), float(row.get("seconds") or 0.0), row.get("details"))

    def ranking(self) -> list[tuple[str, float]]:
        return list(zip(self.found_files, self.scores))


def read_predictions(path: Path, mode: str | None = None) -> list[Prediction]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(Prediction.from_json(json.loads(line), mode))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill: that task is simply done again
    return rows


@dataclass
class Run:
    """What one evaluation did, for the summary."""
    predictions: list[Prediction] = field(default_factory=list)
    index_seconds: float = 0.0
    embedded: int = 0
    commits: int = 0


def kept_backend(repo: Path, settings: Settings, embedding: Any, loaded: dict[str, Any],
                 say: Say) -> Any:
    """The embedding for `repo`'s index: `embedding`, unless the index there was embedded
    by another backend and none was asked for (`auto` picks for new indexes only, as
    `codeagent index` does): then that backend's, loaded once per run (`loaded`)."""
    from codeagent.index.embedding import load_embedding
    from codeagent.index.layout import MANIFEST, data_dir, recorded_backend_of
    from codeagent.index.manifest import Manifest

    path = data_dir(repo) / MANIFEST
    if embedding is None or settings.explicit("embed_backend") or not path.exists():
        return embedding
    try:
        manifest = Manifest(path)
    except sqlite3.DatabaseError:  # outdated or damaged: the index run rebuilds it
        return embedding
    try:
        recorded = recorded_backend_of(manifest) if manifest.get("model") else None
    finally:
        manifest.close()
    model, info = embedding
    if recorded in (None, info.backend):
        return embedding
    if recorded not in loaded:
        say(f"{repo}: its index was embedded by the {recorded} backend; keeping it there")
        loaded[recorded] = load_embedding(info.name, info.device, settings.embed_batch_size,
                                          backend=recorded)
    return loaded[recorded]


def evaluate(tasks: list[Task], checkouts: Callable[[str], Checkout], settings: Settings,
             modes: Iterable[str], out: Path, embedding: Any = None, say: Say = print,
             progress: Callable[[int], None] | None = None) -> Run:
    """Rank every task in every mode; append predictions to `out` (skipping those there)."""
    from codeagent.index.run import run_index

    modes = list(modes)
    loaded: dict[str, Any] = {}
    done = {(p.instance_id, p.mode) for p in read_predictions(out)}
    run = Run()
    by_repo: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_repo[task.repo].append(task)
    out.parent.mkdir(parents=True, exist_ok=True)
    _end_cut_line(out)
    with out.open("a", encoding="utf-8") as sink:
        for repo, repo_tasks in by_repo.items():
            checkout = checkouts(repo)
            at: dict[str, list[Task]] = defaultdict(list)
            for task in repo_tasks:
                at[task.base_commit].append(task)
            for commit in commit_order(checkout.path, list(at)):
                todo = [t for t in at[commit] if any((t.instance_id, m) not in done
                                                     for m in modes)]
                if progress:
                    progress(len(at[commit]) - len(todo))
                if not todo:
                    continue
                checkout.move_to(commit)
                used = kept_backend(checkout.path, settings, embedding, loaded, say)
                started = time.monotonic()
                summary = run_index(checkout.path, settings, embedding=used)
                run.index_seconds += time.monotonic() - started
                run.embedded += summary.embedded
                run.commits += 1
                say(f"{repo} @ {commit[:10]}: indexed in {time.monotonic() - started:.0f} s "
                    f"({summary.embedded} chunks embedded; {summary.added} files added, "
                    f"{summary.changed} changed, {summary.removed} removed)")
                localizer = Localizer(checkout.path, settings, embedding=used)
                asker = None
                try:
                    for task in todo:
                        for mode in modes:
                            if (task.instance_id, mode) in done:
                                continue
                            if mode in ANSWER_MODES:
                                asker = asker or Asker(checkout.path, settings, used)
                                prediction = predict_answer(asker, localizer, task, mode)
                                say(f"{task.instance_id} {mode}: {prediction.details['status']}"
                                    f", cited {', '.join(prediction.found_files[:3]) or '-'}"
                                    f" ({prediction.seconds:.0f} s)")
                            else:
                                prediction = predict(localizer, task, mode)
                            sink.write(json.dumps(prediction.to_json()) + "\n")
                            sink.flush()
                            run.predictions.append(prediction)
                        if progress:
                            progress(1)
                finally:
                    localizer.close()
                    if asker is not None:
                        asker.close()
    return run


def _end_cut_line(path: Path) -> None:
    """A run killed mid-write leaves half a line: end it, so the next prediction appended
    is a line of its own (the fragment is skipped when read)."""
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def predict_answer(asker: Asker, localizer: Localizer, task: Task, mode: str) -> Prediction:
    """The files and functions the answer cites (checked citations only), in its order."""
    answer, seconds = asker.answer(task, mode)
    spans = cited_spans(answer)
    files = list(dict.fromkeys(path for path, _, _ in spans))[:TOP_FILES]
    scored = positional(files)
    return Prediction(task.instance_id, mode, files, [s for _, s in scored],
                      localizer.functions(spans, files)[:TOP_FUNCTIONS], seconds,
                      details(answer, prompt_text(asker.session)))


def predict(localizer: Localizer, task: Task, mode: str) -> Prediction:
    started = time.perf_counter()
    ranking = localizer.rank(task.query, mode)
    seconds = time.perf_counter() - started
    files = ranking.files[:TOP_FILES]
    return Prediction(task.instance_id, mode, [p for p, _ in files], [s for _, s in files],
                      ranking.functions[:TOP_FUNCTIONS], seconds)


# --- scoring -------------------------------------------------------------------------

@dataclass
class Row:
    name: str
    all: Summary
    no_hint: Summary
    """Tasks whose report does not name the file."""
    p50_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.name, "all": self.all.to_json(), "no_hint": self.no_hint.to_json(),
                "p50_ms": None if self.p50_ms is None else round(self.p50_ms, 1)}


def score(tasks: list[Task], predictions: list[Prediction], modes: Iterable[str]) -> list[Row]:
    """One row per mode (in the order given), over the tasks that mode predicted."""
    by_id = {t.instance_id: t for t in tasks}
    rows = []
    for mode in modes:
        mine = {p.instance_id: p for p in predictions if p.mode == mode and p.instance_id in by_id}
        scores: list[Score] = []
        for instance_id, p in mine.items():
            t = by_id[instance_id]
            scores.append(score_task(t.gold_files, t.gold_spans, t.names_file, p.ranking(),
                                     p.found_functions))
        times = [p.seconds * 1000 for p in mine.values() if p.seconds]
        rows.append(Row(mode, summarize(scores), summarize([s for s in scores if not s.names_file]),
                        statistics.median(times) if times else None))
    return rows


def table(rows: list[Row]) -> str:
    """The summary as a Markdown table: one row per mode, all tasks then the no-hint ones."""
    head = ("| mode | tasks | Acc@1 | Acc@3 | Acc@5 | Acc@10 | MRR | fn R@5 | fn R@10 | "
            "no-hint tasks | no-hint Acc@5 | no-hint MRR | p50 ms |")
    lines = [head, _rule(head)]
    for row in rows:
        a, h = row.all, row.no_hint
        fr = a.function_recall
        lines.append("| " + " | ".join([
            row.name, str(a.tasks), *(f"{a.acc[k]:.3f}" for k in (1, 3, 5, 10)), f"{a.mrr:.3f}",
            f"{fr[5]:.3f}" if fr else "-", f"{fr[10]:.3f}" if fr else "-", str(h.tasks),
            f"{h.acc[5]:.3f}" if h.tasks else "-", f"{h.mrr:.3f}" if h.tasks else "-",
            f"{row.p50_ms:.0f}" if row.p50_ms is not None else "-"]) + " |")
    return "\n".join(lines)


def _rule(head: str) -> str:
    return "|" + " --- |" * (head.count("|") - 1)
