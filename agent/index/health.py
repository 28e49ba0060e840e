"""Is the embedded vector store sound? Asked in a child process.

Chroma's native code can crash outright (a segfault is not an exception) on a store that a
kill left half-written or that something else damaged. The probe therefore runs in a child
that imports only chromadb (under a second): it opens the collection, counts it, reads one
vector and queries with it. If the child dies or reports a failure, the caller quarantines
the store and rebuilds the index, instead of the user's own process dying on the next
open. (A Chroma server is another process already; its failures arrive as errors.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROBE_TIMEOUT = 120


@dataclass(frozen=True)
class Health:
    ok: bool
    count: int | None = None
    reason: str | None = None


class Probe:
    """A probe started in the background, so it can run while the model loads."""

    def __init__(self, chroma_dir: Path, collection: str) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "codeagent.index.health", str(chroma_dir), collection],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self) -> Health:
        try:
            out, err = self._proc.communicate(timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            return Health(False, reason=f"opening the store hung for {PROBE_TIMEOUT} s")
        code = self._proc.returncode
        if code < 0:
            return Health(False, reason=f"opening the store crashed (signal {-code})")
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            last = (err.strip().splitlines() or ["no output"])[-1]
            return Health(False, reason=f"the store probe failed ({last[:200]})")
        return Health(report["ok"], report.get("count"), report.get("reason"))


def probe(chroma_dir: Path, collection: str) -> Health:
    return Probe(chroma_dir, collection).result()


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


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2])), flush=True)
