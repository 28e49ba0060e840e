"""Localization tasks and the checkouts they are scored on.

A task is a bug report (or a commit message) and the files its fix changed. Tasks come
from a SWE-bench-style JSONL file (`../shared/bench/swebench-lite-localization.jsonl`) or
from a repository's own history (`history_tasks`). Each is scored on the repository as it
was at `base_commit`, materialized from a git repository (a bare mirror or a clone) into a
checkout of our own that is moved from commit to commit, so that indexing it is
incremental: a real test of the index too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from codeagent.errors import UsageError
from codeagent.index.layout import DATA_DIR

NO_HINT = (None, "", "None")
"""Agentless's file-location hint values meaning "the report does not name the file"."""


@dataclass
class Task:
    instance_id: str
    repo: str
    """owner/name (SWE-bench) or the repository's directory name (history)."""
    base_commit: str
    query: str
    gold_files: list[str]
    gold_spans: dict[str, list[str]] = field(default_factory=dict)
    """path -> changed functions and classes (`Class.method`), where known."""
    names_file: bool = False
    """The report names the file (or a module that is it): the easier case."""
    kind: str = "report"
    """report (a bug report: which code must a fix change?) or question (asked as is)."""


def load_tasks(path: Path) -> list[Task]:
    """Tasks from a JSONL file, in file order; a clear error on bad lines. A task is a bug
    report (`problem_statement`) or a question (`question`), with the files that answer it
    (`gold_files`). Without Agentless's hint, whether the text names the file is judged by
    `names_a_file`."""
    tasks = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read tasks from {path}: {exc.strerror}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            gold = list(row["gold_files"])
            kind = "question" if "question" in row and "problem_statement" not in row \
                else "report"
            text = str(row["question" if kind == "question" else "problem_statement"])
            names_file = (row["agentless_file_location_hint"] not in NO_HINT
                          if "agentless_file_location_hint" in row
                          else names_a_file(text, gold))
            tasks.append(Task(row["instance_id"], row["repo"], row["base_commit"], text, gold,
                              dict(row.get("gold_spans") or {}), names_file, kind))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{n}: not a task ({type(exc).__name__}: {exc}); each line "
                             "needs instance_id, repo, base_commit, problem_statement (or "
                             "question), gold_files") from exc
    return tasks


def mirror_for(mirrors: Path, repo: str) -> Path:
    """The git directory holding `repo` (owner/name) under `mirrors`: the fetch tool's
    `owner+name/repo`, or `owner+name`, `owner+name.git`, `name`, `name.git`."""
    owner_name = repo.replace("/", "+")
    name = repo.rsplit("/", 1)[-1]
    candidates = [mirrors / owner_name / "repo", mirrors / owner_name,
                  mirrors / f"{owner_name}.git", mirrors / name, mirrors / f"{name}.git"]
    for candidate in candidates:
        if (candidate / "HEAD").is_file() or (candidate / ".git").exists():
            return candidate
    raise UsageError(f"no git mirror of {repo} under {mirrors}",
                     f"expected one of: {', '.join(str(c) for c in candidates[:3])}")


class Checkout:
    """A working tree of `source` (any git repository, bare or not) at `path`, cloned with
    --shared (objects are borrowed, nothing is copied) and moved between commits by
    checkout, which rewrites only the files that differ: the index then re-embeds only
    those. The index lives in the checkout's .codeagent/, kept across runs.

    `only` (file-name globs) limits the checkout to those files (a sparse checkout: what
    is not indexed is not written either). A file whose content the mirror lacks (a
    snapshot may leave out its largest files) is left out of the checkout, and said."""

    def __init__(self, source: Path, path: Path, only: tuple[str, ...] = (),
                 say: Callable[[str], None] | None = None) -> None:
        self.source, self.path, self.say = source, path, say
        self.patterns = list(only) or ["/*"]
        if not (path / ".git").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _git(None, "clone", "-q", "--shared", "--no-checkout", str(source), str(path))
        else:
            # The mirror may have been fetched again since: borrow its objects anew.
            _git(path, "fetch", "-q", str(source), "+refs/heads/*:refs/remotes/origin/*")
        self._sparse()

    def move_to(self, commit: str) -> None:
        for _ in range(MISSING_RETRIES):
            try:
                _git(self.path, "checkout", "-q", "-f", "--detach", commit)
                break
            except UsageError as exc:
                missing = _MISSING.findall(getattr(exc, "stderr", ""))
                if not missing:
                    raise
                if self.say:
                    self.say(f"{self.source}: no content for {', '.join(missing[:3])}"
                             f"{' ...' if len(missing) > 3 else ''}: left out of the checkout")
                self.patterns += [f"!/{_glob_escape(p)}" for p in missing]
                self._sparse()
        else:
            raise UsageError(f"cannot check out {commit} from {self.source}: objects missing")
        # Files of the previous commit that this one does not track (untracked now) go too;
        # the index directory stays.
        _git(self.path, "clean", "-q", "-f", "-d", "-x", "-e", DATA_DIR)

    def _sparse(self) -> None:
        _git(self.path, "sparse-checkout", "set", "--no-cone", *self.patterns)


MISSING_RETRIES = 5
_MISSING = re.compile(r"unable to read sha1 file of (.+?) \(")


def _glob_escape(path: str) -> str:
    return re.sub(r"([*?\[\]!#\\ ])", r"\\\1", path)


def _git(cwd: Path | None, *args: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", *(["-C", str(cwd)] if cwd else []), *args],
                              capture_output=True, text=True, env=env, check=True)
    except FileNotFoundError as exc:
        raise UsageError("git is not installed; evaluation needs it") from exc
    except subprocess.CalledProcessError as exc:
        error = UsageError(f"git {' '.join(args[:3])} failed: {exc.stderr.strip()[:300]}")
        error.stderr = exc.stderr  # whole, for callers that read it
        raise error from exc
    return done.stdout


def commit_order(source: Path, commits: list[str]) -> list[str]:
    """The commits oldest first (by committer date), so that moving a checkout along them
    changes as little as possible between two steps."""
    out = _git(source, "show", "-s", "--format=%H %ct", *dict.fromkeys(commits))
    dates = {h: int(t) for h, t in (line.split() for line in out.splitlines() if line.strip())}
    full = {c: next((h for h in dates if h.startswith(c)), c) for c in commits}
    return sorted(dict.fromkeys(commits), key=lambda c: (dates.get(full[c], 0), c))


# --- the repository's own history -----------------------------------------------------

MAX_FILES = 10
"""A commit changing more files than this is a refactoring or a merge of work, not a task."""
MIN_MESSAGE_WORDS = 4
TRIVIAL = re.compile(r"^(?:bump|release|version|merge|revert|typo|format|lint|style|"
                     r"update (?:changelog|readme|docs?|deps|dependencies)|wip)\b", re.I)


def history_tasks(repo: Path, commits: int,
                  indexable: Callable[[str], bool] | None = None) -> Iterator[Task]:
    """Tasks from `repo`'s own history, newest first: a commit's message is the query and
    the files it modified (existing before it) the gold; merges, huge commits, trivial
    messages and commits modifying no indexable file are skipped. `indexable` says which
    paths the index can hold (the ignore and secret rules): others cannot be found, so
    they are no part of the gold."""
    # -z: file names verbatim (spaces, newlines); %x00 separates fields.
    log = _git(repo, "log", "--no-merges", "-z", "--diff-filter=M", "--name-only",
               "--format=%x01%H%x00%P%x00%B%x00", f"-n{commits * 20}", "HEAD")
    made = 0
    for record in log.split("\x01")[1:]:
        sha, parents, message, names = record.split("\x00", 3)
        files = [name.strip("\n") for name in names.split("\x00") if name.strip("\n")]
        if indexable is not None:
            files = [f for f in files if indexable(f)]
        message = message.strip()
        if not keep_commit(parents.split(), message, files):
            continue
        yield Task(sha[:12], repo.name, parents.split()[0], message, sorted(files),
                   names_file=names_a_file(message, files))
        made += 1
        if made >= commits:
            return


def keep_commit(parents: list[str], message: str, files: list[str]) -> bool:
    """A commit that makes a task: one parent (no merge, not the root), a few files, and a
    message that says something (not "bump version", not "fix typo")."""
    if len(parents) != 1 or not files or len(files) > MAX_FILES:
        return False
    subject = message.splitlines()[0] if message else ""
    return len(message.split()) >= MIN_MESSAGE_WORDS and not TRIVIAL.match(subject.strip())


def names_a_file(text: str, files: list[str]) -> bool:
    """The text names one of the files: by path, by file name, or as a dotted module of
    two parts or more (`_pytest.python`). A bare stem is not enough ("python" is no file)."""
    lowered = text.lower()
    for path in files:
        parts = path.lower().rsplit(".", 1)[0].split("/")
        modules = {".".join(parts[i:]) for i in range(len(parts) - 1)}
        # Whole names only: `test_reader.py` or `mypkg/reader.py` is another file.
        whole = [rf"(?<![\w.\-]){re.escape(path.lower())}",
                 rf"(?<![\w./\-]){re.escape(path.rsplit('/', 1)[-1].lower())}",
                 *(rf"(?<![\w.]){re.escape(m)}" for m in modules)]
        if any(re.search(pattern + r"(?![\w])", lowered) for pattern in whole):
            return True
    return False
