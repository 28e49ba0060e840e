"""The change to review: a unified diff from git (the working tree, the index, a branch's
changes since it left a base) or any diff text, parsed with unidiff (renames, deletions,
binary files and mode changes included)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from codeagent.errors import UsageError

GIT_DIFF = ["diff", "--no-color", "--no-ext-diff", "-M", "--src-prefix=a/", "--dst-prefix=b/"]


@dataclass
class ChangedFile:
    path: str
    """The path after the change (before it, for a removed file)."""
    status: str
    """added, modified, removed, renamed or binary."""
    old_path: str | None = None
    mode_change: str | None = None
    added: list[int] = field(default_factory=list)
    """Line numbers (in the new file) of added or replaced lines."""
    removed_lines: list[str] = field(default_factory=list)
    patch: str = ""
    """This file's part of the diff, for the reviewer to read."""

    def changed_ranges(self) -> list[tuple[int, int]]:
        ranges: list[tuple[int, int]] = []
        for n in self.added:
            if ranges and n == ranges[-1][1] + 1:
                ranges[-1] = (ranges[-1][0], n)
            else:
                ranges.append((n, n))
        return ranges


@dataclass
class Change:
    base: str
    """What the change is compared with, for people."""
    files: list[ChangedFile]
    new_side: str | None = None
    """Where the files after the change are: None the working tree, ":" the index, or a
    commit (`git show REV:path`)."""


def from_git(repo: Path, base: str | None = None, staged: bool = False) -> Change:
    """The working tree against HEAD (default), the index against HEAD (`staged`), or
    HEAD against where it left `base` (`git diff base...HEAD`, as a pull request shows)."""
    if staged:
        text, label, side = _git(repo, [*GIT_DIFF, "--cached"]), "the index vs HEAD", ":"
    elif base:
        text, label, side = _git(repo, [*GIT_DIFF, f"{base}...HEAD"]), f"HEAD vs {base}", "HEAD"
    else:
        text, label, side = _git(repo, [*GIT_DIFF, "HEAD"]), "the working tree vs HEAD", None
    change = parse(text, label)
    change.new_side = side
    return change


def parse(text: str, label: str) -> Change:
    """Any unified diff (git's, or `diff -u`'s) as changed files."""
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    try:
        patches = PatchSet(text)
    except UnidiffParseError as exc:
        raise UsageError(f"the diff cannot be read: {exc}",
                         "give a unified diff (git diff, diff -u)") from None
    files = []
    for patched in patches:
        info = str(patched.patch_info)
        modes = re.findall(r"^(?:old|new) mode (\d+)$", info, re.M)
        if patched.is_binary_file:
            status = "binary"
        elif patched.is_added_file:
            status = "added"
        elif patched.is_removed_file:
            status = "removed"
        elif getattr(patched, "is_rename", False) or "rename from" in info:
            status = "renamed"
        else:
            status = "modified"
        path = patched.path if not patched.is_removed_file else _strip(patched.source_file)
        old = _strip(patched.source_file)
        changed = ChangedFile(path, status, old if old and old != path else None,
                              " -> ".join(modes) if len(modes) == 2 else None, patch=str(patched))
        for hunk in patched:
            for line in hunk:
                if line.is_added and line.target_line_no:
                    changed.added.append(line.target_line_no)
                elif line.is_removed:
                    changed.removed_lines.append(line.value.rstrip("\n"))
        files.append(changed)
    return Change(label, files)


def new_content(repo: Path, change: Change, path: str) -> bytes | None:
    """A file as the change leaves it (None when it is gone or cannot be read)."""
    if change.new_side is None:
        try:
            return (repo / path).read_bytes()
        except OSError:
            return None
    spec = f":{path}" if change.new_side == ":" else f"{change.new_side}:{path}"
    shown = subprocess.run(["git", "-C", str(repo), "show", spec], capture_output=True)
    return shown.stdout if shown.returncode == 0 else None


def old_content(repo: Path, change: Change, path: str, base: str | None) -> bytes | None:
    """A file as it was before the change (for removed definitions)."""
    revision = "HEAD"
    if base:
        found = subprocess.run(["git", "-C", str(repo), "merge-base", base, "HEAD"],
                               capture_output=True, text=True)
        revision = found.stdout.strip() if found.returncode == 0 else base
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{revision}:{path}"],
                           capture_output=True)
    return shown.stdout if shown.returncode == 0 else None


def _git(repo: Path, args: list[str]) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              errors="replace")
    except FileNotFoundError:
        raise UsageError("git is not installed", "pass a diff instead: `git diff | codeagent "
                         "review -` or `codeagent review FILE`") from None
    if done.returncode != 0:
        raise UsageError(f"git diff failed in {repo}: {done.stderr.strip()[:300]}",
                         "is it a git repository with a first commit? Or pass a diff file")
    return done.stdout


def _strip(name: str | None) -> str | None:
    if not name or name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name
