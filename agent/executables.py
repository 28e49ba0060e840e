"""Finding programs that Python packages install (rg from the ripgrep wheel, chroma)."""

from __future__ import annotations

import os
import shutil
import sys


def find_executable(name: str) -> str | None:
    """`name` on PATH, else beside the running interpreter: a virtualenv's programs are
    there even when it is not activated (`.venv/bin/codeagent ...`, `.venv/bin/python -m
    pytest`), and that is where pip put them."""
    return shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
