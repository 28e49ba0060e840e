"""Finding programs that Python packages install (rg from the ripgrep wheel, chroma)."""

from __future__ import annotations

import os
import shutil
import sys


def find_executable(name: str) -> str | None:
    """`name` beside the running interpreter, else on PATH. A virtualenv's programs are
    there even when it is not activated (`.venv/bin/codeagent ...`, `.venv/bin/python -m
    pytest`): that is where pip put the ones codeagent depends on, in the versions it was
    tested with, so they win over another copy on PATH."""
    return shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
