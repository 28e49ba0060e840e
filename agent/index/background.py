"""An index run in a thread, so that chat opens at once and answers while the index fills.

Before the first run of a repository the files are chunked into a `QuickIndex` (seconds),
for keyword search and find_symbol; then `run_index` embeds, committing batch by batch as
always. The run takes the writer lock like any other, so a `codeagent index` elsewhere is
refused rather than interleaved, and it is as crash-safe as any run (a kill, or `stop`,
keeps every committed batch; the next run goes on from there).

Ctrl-C reaches the main thread only: the REPL's turn is cancelled, this run goes on.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from codeagent.errors import CodeagentError, IndexProblem
from codeagent.index.quick import QuickIndex, Stopped, quick_index
from codeagent.settings import Settings


class BackgroundIndex:
    """One index run of `repo` in a daemon thread; its phase and progress, read by the
    REPL's status bar and by the tools (`ToolContext.filling`)."""

    def __init__(self, repo: Path, settings: Settings, embedding: Any = None) -> None:
        self.repo, self.settings, self.embedding = repo, settings, embedding
        self.phase = "starting"
        """starting, chunking (the quick index), preparing (the model, the store),
        embedding, finishing (the keyword index), then done, failed or stopped."""
        self.files_done = 0
        self.files_total: int | None = None
        """Files this run embeds; None until it knows."""
        self.quick: QuickIndex | None = None
        """The files chunked without vectors, while a first index fills; else None."""
        self.first = not _complete(repo)
        """No finished index is there yet: until this run is done, nothing has vectors."""
        self.summary: Any = None
        self.error: CodeagentError | None = None
        self._batch = self._within = 0  # files in the batch; of them, the share embedded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="codeagent-index", daemon=True)

    def begin(self) -> "BackgroundIndex":
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> str:
        """Where the run is, in a few words: `120 of 500 files embedded`."""
        if self.phase == "embedding" and self.files_total is not None:
            return f"{self.files_done + self._within} of {self.files_total} files embedded"
        # Before embedding, a first index loads the model; an update mostly finds what
        # changed (a no-op never loads the model).
        preparing = "loading the embedding model" if self.first else "looking for changes"
        return {"starting": "starting", "chunking": "chunking the files",
                "preparing": preparing,
                "finishing": "building the keyword index", "done": "done",
                "stopped": "stopped", "failed": "failed"}.get(self.phase, self.phase)

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the run to stop at its next batch of chunks (what is committed stays) and
        wait up to `timeout` seconds; whether it has ended."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        from codeagent.index.run import run_index

        try:
            if self.first:
                self.phase = "chunking"
                self.quick = quick_index(self.repo, self.settings, self._stop.is_set)
            self.phase = "preparing"
            self.summary = run_index(self.repo, self.settings, progress=_Tracker(self),
                                     embedding=self.embedding)
            self.phase = "done"
        except Stopped:
            self.phase = "stopped"
        except CodeagentError as exc:
            self.error, self.phase = exc, "failed"
        except Exception as exc:  # a thread's exception would only reach stderr
            self.error = CodeagentError(f"the index run failed ({type(exc).__name__}: "
                                        f"{' '.join(str(exc).split())[:300]})",
                                        "run `codeagent index` to see it whole")
            self.phase = "failed"


class _Tracker:
    """The run's `Progress`: counts files and looks for a stop request at every batch of
    chunks embedded (raising there leaves the run as a kill would, only sooner)."""

    def __init__(self, owner: BackgroundIndex) -> None:
        self.owner = owner

    def start(self, files: int, nbytes: int) -> None:
        self.owner.files_total, self.owner.phase = files, "embedding"

    def begin_batch(self, files: int, nbytes: int) -> None:
        self._check()
        self.owner._batch, self.owner._within = files, 0

    def embedded(self, done: int, total: int) -> None:
        self._check()
        # A batch commits whole; until then its files count by the share of chunks done.
        self.owner._within = min(self.owner._batch - 1, self.owner._batch * done // total)

    def end_batch(self) -> None:
        self.owner.files_done += self.owner._batch
        self.owner._within = 0

    def stop(self) -> None:
        self.owner.phase = "finishing"

    def _check(self) -> None:
        if self.owner._stop.is_set():
            raise Stopped()


def _complete(repo: Path) -> bool:
    """Whether a finished index is there to search while this run updates it."""
    from codeagent.index.layout import open_manifest_readonly

    try:
        open_manifest_readonly(repo).close()
    except IndexProblem:
        return False
    return True
