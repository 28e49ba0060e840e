"""What people see: the progress bar, run summaries, search hits and the status table."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from codeagent.textfile import printable


class RichProgress:
    """Progress of an index run: a bar over bytes to index (so the ETA is honest) and
    running counts of files and chunks embedded. Drawn on stderr, and only on a terminal.

    A batch embeds its files' chunks longest first, across files, so no file is done
    before most of its batch is: the file count moves with the share of the batch's chunks
    embedded (a batch may be a whole small repository), exact at each batch's end."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        from rich.console import Console

        self._console = Console(file=stream)
        self._progress: Any = None
        self._task: Any = None
        self._batch_files = self._batch_bytes = self._batch_shown = self._batch_done = 0
        self._batch_files_shown = 0

    def start(self, files: int, nbytes: int) -> None:
        from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(
            TextColumn("indexing"), BarColumn(),
            TextColumn("{task.fields[files]}/{task.fields[total_files]} files"),
            TextColumn("{task.fields[chunks]} chunks"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=self._console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task("index", total=max(nbytes, 1), files=0,
                                             total_files=files, chunks=0)

    def begin_batch(self, files: int, nbytes: int) -> None:
        self._batch_files, self._batch_bytes, self._batch_shown = files, nbytes, 0
        self._batch_done = self._batch_files_shown = 0

    def embedded(self, done: int, total: int) -> None:
        """`done` of the batch's `total` chunks are embedded: move the bar that share."""
        share = int(self._batch_bytes * done / max(total, 1))
        files = min(self._batch_files * done // max(total, 1), self._batch_files - 1)
        task = self._progress.tasks[0]
        self._progress.update(self._task, advance=share - self._batch_shown,
                              chunks=task.fields["chunks"] + done - self._batch_done,
                              files=task.fields["files"] + max(files - self._batch_files_shown, 0))
        self._batch_shown, self._batch_done = share, done
        self._batch_files_shown = max(files, self._batch_files_shown)

    def end_batch(self) -> None:
        task = self._progress.tasks[0]
        self._progress.update(self._task, advance=self._batch_bytes - self._batch_shown,
                              files=task.fields["files"] + self._batch_files
                              - self._batch_files_shown)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def index_summary_lines(repo: Any, summary: Any, verbose: bool) -> list[str]:
    skipped = summary.skipped_counts()
    skipped_text = ", ".join(f"{reason} {n}" for reason, n in skipped.items())
    lines = [
        f"Indexed {repo} in {summary.seconds:.1f} s: {summary.added} added, "
        f"{summary.changed} changed, {summary.removed} removed, {summary.unchanged} unchanged, "
        f"{len(summary.skipped)} skipped" + (f" ({skipped_text})" if skipped_text else ""),
        f"{summary.chunks_written} chunks written ({summary.embedded} embedded, "
        f"{summary.chunks_written - summary.embedded} from cache); the index holds "
        f"{summary.files} files, {summary.chunks} chunks [{summary.model}]",
    ]
    lines += [f"note: {note}" for note in summary.notes]
    if verbose:
        lines += [f"  skipped {printable(path)}: {reason}"
                  for path, reason in sorted(summary.skipped.items())]
    return lines


def hit_lines(hits: list[Any], preview_lines: int = 2) -> list[str]:
    if not hits:
        return ["no matches"]
    out = []
    for hit in hits:
        out.append(f"{hit.location}  {hit.symbol or '-'}  {hit.score:.3f}")
        shown = [line for line in hit.text.split("\n") if line.strip()][:preview_lines]
        out += ["    " + printable(line.strip())[:100] for line in shown]
    return out


def status_lines(status: dict[str, Any]) -> list[str]:
    if status["model"]:
        model = f"{status['model']} ({status['dimension']}-d, {status['backend']}"
        model += f", fallback for {status['fallback_from']})" if status["fallback_from"] else ")"
    else:
        model = "none yet (no file was embedded)"
    skipped = ", ".join(f"{k} {v}" for k, v in status["skipped"].items()) or "none"
    languages = ", ".join(f"{k} {v}" for k, v in status["languages"].items()) or "-"
    rows = [("repository", status["repo"]), ("store", status["store"]), ("model", model),
            ("files", f"{status['files']} ({languages})"), ("chunks", str(status["chunks"])),
            ("skipped", skipped), ("updated", status["updated_at"] or "never")]
    if status["fallback_from"]:
        rows.append(("fallback", fallback_note(status["fallback_from"],
                                               status.get("fallback_reason"))))
    if status.get("running"):
        rows.append(("running", f"an index run is in progress ({status['running']})"))
    return [f"{name:<11} {value}" for name, value in rows]


def fallback_note(fallback_from: str, reason: str | None) -> str:
    """Why the index's model is not the one asked for, and how to switch."""
    why = f" ({reason})" if reason else ""
    return (f"{fallback_from} could not be loaded when the index was built{why}; once it "
            "can, `codeagent index --rebuild` switches to it")


def citation_lines(answer: Any) -> list[str]:
    """Every citation of an answer, checked: verified ones and the others with the reason."""
    if not answer.citations:
        return ["citations: none"] if answer.answer else []
    good = sum(c.valid and c.seen is not False for c in answer.citations)
    lines = [f"citations: {good} of {len(answer.citations)} verified"]
    for c in answer.citations:
        why = c.reason if not c.valid else "no tool result showed these lines" if (
            c.seen is False) else None
        lines.append(f"  {'BAD' if why else 'ok '} {printable(c.label)}"
                     + (f"  ({why})" if why else ""))
    return lines


class BatchProgress:
    """A progress bar over a batch of questions, on stderr."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(TextColumn("questions"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[failed]} failed"),
                                  console=Console(file=sys.stderr), transient=True)
        self._progress.start()
        self._task = self._progress.add_task("run", total=total, failed=0)

    def advance(self, status: str) -> None:
        failed = self._progress.tasks[0].fields["failed"] + (status == "error")
        self._progress.update(self._task, advance=1, failed=failed)

    def stop(self) -> None:
        self._progress.stop()
