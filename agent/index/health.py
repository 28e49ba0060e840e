"""Is the embedded vector store sound? Asked in a child process.

Chroma's native code can crash outright (a segfault is not an exception) on a store that a
kill left half-written or that something else damaged. The probe therefore runs in a child:
it opens the collection, counts it, reads one vector and queries with it. If the child dies
or reports a failure, the caller quarantines the store and rebuilds the index, instead of
the user's own process dying on the next open. (A Chroma server is another process already;
its failures arrive as errors.)

The child is forked from a fork server (multiprocessing's "forkserver"): a fresh interpreter,
started by the first probe of a process, that imports chromadb once and never opens a store.
So only the first probe pays chromadb's import (about 1 s); every later one costs a fork,
which is what the REPL and the MCP server (they bring the index up to date before each
question) and `eval` (once per task) do. Forking the caller itself would be cheaper still,
but it runs threads (prompt-toolkit, a background index) and may have a store open, and a
fork inherits both.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROBE_TIMEOUT = 120
_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


@dataclass(frozen=True)
class Health:
    ok: bool
    count: int | None = None
    reason: str | None = None


class Probe:
    """A probe started in the background, so it can run while the model loads."""

    def __init__(self, chroma_dir: Path, collection: str) -> None:
        context = multiprocessing.get_context(_METHOD)
        if _METHOD == "forkserver":  # read when the server starts, i.e. by the first probe
            context.set_forkserver_preload(["chromadb", "chromadb.config", __name__])
        self._answer, child_end = context.Pipe(duplex=False)
        self._proc = context.Process(target=_serve, daemon=True,
                                     args=(str(Path(chroma_dir).resolve()), collection, child_end))
        self._proc.start()
        child_end.close()

    def result(self) -> Health:
        answered = True  # an end of the pipe is an answer too: the child died
        try:
            answered = self._answer.poll(PROBE_TIMEOUT)
            report = self._answer.recv() if answered else None
        except EOFError:  # it died before it could answer
            report = None
        except BaseException:  # Ctrl-C while waiting: the probe has no more use
            self._proc.kill()
            raise
        finally:
            self._answer.close()
        if not answered:
            self._proc.kill()
            self._proc.join()
            return Health(False, reason=f"opening the store hung for {PROBE_TIMEOUT} s")
        self._proc.join(5)
        if report is None:
            code = self._proc.exitcode
            if code is not None and code < 0:
                return Health(False, reason=f"opening the store crashed (signal {-code})")
            return Health(False, reason=f"the store probe failed (exit status {code})")
        return Health(report["ok"], report.get("count"), report.get("reason"))


def probe(chroma_dir: Path, collection: str) -> Health:
    return Probe(chroma_dir, collection).result()


def _serve(chroma_dir: str, collection: str, answer: Any) -> None:
    """The child: the caller answers Ctrl-C (and ends the probe), and what Chroma prints on
    its way down is not the user's to read; the verdict goes back through the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    try:
        report = _child(chroma_dir, collection)
    except BaseException as exc:  # chromadb itself would not load: that is the verdict too
        report = {"ok": False, "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
    answer.send(report)


def _child(chroma_dir: str, collection: str) -> dict:
    import chromadb
    from chromadb.config import Settings

    if not Path(chroma_dir).is_dir():
        return {"ok": False, "reason": "the store's directory is missing"}
    try:
        client = chromadb.PersistentClient(path=chroma_dir,
                                           settings=Settings(anonymized_telemetry=False))
        found = client.get_collection(collection, embedding_function=None)
        count = found.count()
        if count:
            sample = found.get(limit=1, include=["embeddings"])
            found.query(query_embeddings=[list(sample["embeddings"][0])], n_results=1)
    except Exception as exc:  # any failure to read is the verdict, not an error here
        return {"ok": False, "reason": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
    return {"ok": True, "count": count}
