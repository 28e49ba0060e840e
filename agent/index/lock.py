"""One writer per index: an OS file lock, released by the kernel even when the holder dies.

Beside the lock, a small JSON file names the holder (PID, command, start time) so that a
refused writer can say who holds it. Readers take no lock.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

from codeagent.errors import IndexBusy


class WriterLock:
    def __init__(self, data_dir: Path) -> None:
        self._lock = FileLock(str(data_dir / "writer.lock"))
        self._holder = data_dir / "writer.json"

    def __enter__(self) -> "WriterLock":
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise IndexBusy(f"another codeagent process is updating this index "
                            f"({_holder(self._holder)})",
                            "wait for it to finish, or stop that process and run again") from None
        self._holder.write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}))
        return self

    def __exit__(self, *exc: object) -> None:
        self._holder.unlink(missing_ok=True)
        self._lock.release()


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return "its PID is not known yet"
    return f"PID {holder['pid']} on {holder['host']}, since {holder['started']}: {holder['command']}"


def writer_active(data_dir: Path) -> bool:
    """Whether some process is updating this index right now (it holds the writer lock)."""
    return running_writer(data_dir) is not None


def running_writer(data_dir: Path) -> str | None:
    """Who is updating this index right now ("PID 123 on host, since ...: command"), or
    None when no process holds the writer lock."""
    if not (data_dir / "writer.lock").exists():
        return None
    lock = FileLock(str(data_dir / "writer.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return _holder(data_dir / "writer.json")
    lock.release()
    return None
