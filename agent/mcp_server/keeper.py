"""The index of one repository kept in line with its files while a server runs.

A server lives for hours while its user edits the code, and the agent calling it must not
be answered from the code as it was at start. So every tool call first starts an index run
when none is going: a run with nothing to do costs a walk and a look at the manifest
(milliseconds on a repository of a few hundred files, see bench/README.md), one with
changes embeds only the changed files. A call that reads the index waits for that run up
to `WAIT_SECONDS` (`--index-wait`), so a change on disk is in the answer (past it, the
result says it is partial); the run started when the server
started (the first index of a repository takes minutes) is never waited for: while it
goes on, the tools answer from what is indexed and say how far the run is
(`ToolContext.filling`), as chat's do.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from codeagent.index.background import BackgroundIndex
from codeagent.tools import ToolContext

log = logging.getLogger("codeagent.mcp")

WAIT_SECONDS = 10.0
"""How long a call that reads the index waits for the run its call started: enough for a
few changed files on a CPU (the model is loaded once per process), short enough that a
burst of edits never stalls the calling agent; past it the result says it is partial."""

STOP_SECONDS = 10.0
"""How long leaving (Ctrl-C, SIGTERM, the client gone) waits for a run to stop at its next
batch: what is committed stays either way, and a run killed mid-batch is taken up by the
next as a crash is (tests/test_kill_matrix.py), so the wait is short. Loading the model is no
stopping point: past the wait the process leaves without it."""


class IndexKeeper:
    """Index runs for one `ToolContext`, one at a time; the context's `filling` is the
    latest, so the tools say when they read an index that is still being updated."""

    def __init__(self, ctx: ToolContext, embedding: Any = None, enabled: bool = True,
                 wait_seconds: float = WAIT_SECONDS) -> None:
        self.ctx = ctx
        self.enabled = enabled
        """False: the index is served as it is (`--no-index`), no run ever starts."""
        self.wait_seconds = wait_seconds
        self.embedding = embedding
        """(model, EmbeddingInfo) for the runs instead of loading the index's model (tests)."""
        self._lock = threading.Lock()
        self._reported: BackgroundIndex | None = None

    def start(self) -> None:
        """The run at server start: bring the index up to date (or build it) in the
        background; nothing waits for it."""
        if not self.enabled:
            return
        with self._lock:
            self._begin()

    def before_call(self, reads_index: bool) -> None:
        """Before a tool call: an update run unless one is going; wait for it when the
        tool reads the index."""
        if not self.enabled:
            self.ctx.refresh()  # another process may have updated it
            return
        with self._lock:
            run = self.ctx.filling
            if run is not None and run.running():
                return
            self._settle(run)
            run = self._begin()
        if reads_index and run.wait(self.wait_seconds):
            with self._lock:
                self._settle(run)

    def stop(self) -> None:
        run = self.ctx.filling
        if run is not None and run.running():
            log.info("stopping the index run (%s): what is in stays", run.progress())
            run.stop(timeout=STOP_SECONDS)
        self.ctx.close()

    def _begin(self) -> BackgroundIndex:
        run = BackgroundIndex(self.ctx.repo, self.ctx.settings, self.embedding)
        self.ctx.filling = run
        return run.begin()

    def _settle(self, run: BackgroundIndex | None) -> None:
        """After a run: reopen the index if it changed (the open store would answer from
        the vectors it loaded), and log once what it did or why it failed."""
        if run is None or run is self._reported:
            return
        self._reported = run
        self.ctx.refresh()
        if run.error is not None:
            log.warning("the index could not be updated: %s%s", run.error.message,
                        f" ({run.error.hint})" if run.error.hint else "")
        elif run.summary is not None and _changed(run.summary):
            s = run.summary
            log.info("index updated in %.1f s: %d added, %d changed, %d removed; %d files, "
                     "%d chunks", s.seconds, s.added, s.changed, s.removed, s.files, s.chunks)


def _changed(summary: Any) -> bool:
    return bool(summary.added or summary.changed or summary.removed)
