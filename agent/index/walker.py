"""Which files of a repository codeagent may see: the rules, and the walk that applies them.

Layers, later ones winning: built-in excludes < .git/info/exclude < .gitignore files <
.codeagentignore files, a deeper directory's file winning over a shallower one's, as in git
(so `!vendor/` in .codeagentignore brings back a directory excluded by default). Secrets are
outside the layers: no pattern can bring them back. The same `RepoRules` answer the walk
and every tool that takes a path from the model.

Why this module is long: the rules and the one walk that applies them are read together
(a file the walk leaves out, for whatever reason, is reported under a name every consumer
can take), and the tools ask the same `RepoRules` the walk uses.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pathspec

from codeagent.index.layout import DATA_DIR
from codeagent.textfile import displayable, valid_utf8

RACY_MTIME_NS = 2_000_000_000
"""An mtime younger than this may miss an edit made in the same clock tick (filesystems
stamp coarsely): whatever was judged from it is not trusted, and is looked at again."""

EXCLUDED_DIR_NAMES = frozenset({
    ".git", ".hg", ".svn", DATA_DIR, "node_modules", "bower_components", ".venv",
    "venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox",
    ".eggs", "build", "dist", "target", ".gradle", ".idea", ".next", ".nuxt", ".svelte-kit",
    ".parcel-cache", ".cache", "coverage", "htmlcov", ".terraform", "vendor", "Pods",
})

EXCLUDED_FILE_PATTERNS = [
    "*.egg-info/", "*.min.js", "*.min.css", "*.bundle.js", "*.chunk.js", "*.map",
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
    "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "Cargo.lock", "Gemfile.lock",
    "composer.lock", "go.sum", "mix.lock", "Podfile.lock", "packages.lock.json",
    "*.pyc", "*.pyo", ".DS_Store", "Thumbs.db", ".coverage",
]

SECRET_PATTERNS = [
    ".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks",
    "*.keystore", "*.kdbx", "*.ppk", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    ".netrc", "_netrc", ".pgpass", ".git-credentials", ".npmrc", ".pypirc", ".htpasswd",
    "credentials", "credentials.*", "*credentials*.json", "service-account*.json",
    "secrets.json", "secrets.yml", "secrets.yaml", "secrets.toml", "*.tfvars", "*.tfstate",
    "*.tfstate.*", ".aws/", ".ssh/", ".gnupg/", ".docker/config.json",
]

# Known binary formats are skipped by name; anything else is sniffed when it is read.
BINARY_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .gif .bmp .ico .icns .webp .tif .tiff .psd .pdf .zip .gz .tgz .bz2 .xz "
    ".7z .rar .jar .war .whl .egg .so .dylib .dll .exe .o .a .lib .obj .class .wasm .woff "
    ".woff2 .ttf .otf .eot .mp3 .mp4 .m4a .wav .ogg .flac .avi .mov .mkv .webm .sqlite "
    ".sqlite3 .db .parquet .npy .npz .pkl .pickle .pt .pth .onnx .safetensors .bin .dat "
    ".DS_Store .xls .xlsx .doc .docx .ppt .pptx".split()
)

IGNORE_FILES = (".gitignore", ".codeagentignore")
BAD_NAME = "name is not valid UTF-8"  # SQLite, Chroma, tokenizers and JSON take only text


class _Patterns:
    """Gitignore-style patterns, fast: every pattern without a slash (`*.pem`, `.env`)
    matches an entry's name at any depth, so all of them become one regex over the name
    (pathspec tries each pattern's regex in turn: 160,000 searches to walk pytest's tree);
    trailing-slash patterns (`.ssh/`) match directory names the same way; only the rest
    (`.docker/config.json`, negations) go through pathspec with full gitignore semantics."""

    def __init__(self, patterns: list[str]) -> None:
        names, dirs, rest = [], [], []
        for raw in patterns:
            pattern = raw.strip()
            if not pattern or pattern.startswith("#"):
                continue
            body = pattern[:-1] if pattern.endswith("/") else pattern
            if (pattern.startswith("!") or "/" in body or "**" in body or "\\" in body
                    or "[" in body):  # fnmatch reads `[^a]` and an unclosed `[` unlike git
                rest.append(pattern)
            elif pattern.endswith("/"):
                dirs.append(body)
            else:
                names.append(body)
        self._names = _name_regex(names)
        self._dirs = _name_regex(names + dirs)
        self._rest = _gitignore_spec(rest) if rest else None

    def match(self, rel: str, name: str, is_dir: bool) -> bool:
        regex = self._dirs if is_dir else self._names
        if regex is not None and regex.match(name):
            return True
        return self._rest is not None and self._rest.match_file(rel + "/" if is_dir else rel)


class _Layer:
    """One ignore file. Its verdict on a path: True (ignored), False (re-included by a `!`
    pattern) or None (no pattern matches). Without negations the order of patterns does
    not matter, so the fast matcher answers; with them, pathspec's ordered evaluation."""

    def __init__(self, lines: list[str]) -> None:
        self._ordered = None
        self._fast = None
        if any(line.strip().startswith("!") for line in lines):
            self._ordered = _gitignore_spec(lines)
        else:
            self._fast = _Patterns(lines)

    def verdict(self, local: str, name: str, is_dir: bool) -> bool | None:
        if self._fast is not None:
            return True if self._fast.match(local, name, is_dir) else None
        return self._ordered.check_file(local + "/" if is_dir else local).include


def glob_matches(path_glob: str, paths: Iterable[str]) -> list[str]:
    """The paths a gitignore-style glob selects (`*.py`, `src/`, `src/**/test_*.py`), as the
    tools and search filter by it. Only leading space is cut: trailing space is
    gitignore's to judge (an escaped one belongs to a file name)."""
    spec = pathspec.GitIgnoreSpec.from_lines([path_glob.lstrip()])
    return [path for path in paths if spec.match_file(path)]


def _gitignore_spec(lines: list[str]) -> pathspec.GitIgnoreSpec:
    """The lines as a GitIgnoreSpec, less those git skips too ('!' alone, a trailing
    backslash): pathspec raises on them, and one odd line must not stop every walk."""
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:
        return pathspec.GitIgnoreSpec.from_lines([line for line in lines if _usable(line)])


def _usable(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


def _name_regex(globs: list[str]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(fnmatch.translate(glob) for glob in globs))


@dataclass(frozen=True)
class FileEntry:
    """A file the index may hold: repository-relative POSIX path plus what stat said."""

    path: str
    size: int
    mtime_ns: int


@dataclass
class WalkResult:
    files: list[FileEntry] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """path -> why it was left out (secret, binary, too large, symlink, unreadable)."""
    directories: list[str] = field(default_factory=list)
    """Every directory entered ("" is the root), for telling later whether the tree changed."""


class RepoRules:
    """Ignore and secret rules of one repository, for the walk and for the tools."""

    def __init__(self, root: Path, extra_ignore: list[str] | None = None,
                 extra_secrets: list[str] | None = None, max_file_bytes: int = 1_000_000):
        self.root = root
        self.max_file_bytes = max_file_bytes
        self._defaults = _Patterns(EXCLUDED_FILE_PATTERNS)
        self._secrets = _Patterns(SECRET_PATTERNS + (extra_secrets or []))
        self._layers: dict[str, list[_Layer]] = {}
        root_layers = [self._layer_from_file(root / ".git" / "info" / "exclude")]
        root_layers.append(_Layer(extra_ignore) if extra_ignore else None)
        self._root_extra = [layer for layer in root_layers if layer is not None]

    @classmethod
    def from_settings(cls, root: Path, settings) -> "RepoRules":
        return cls(root, settings.ignore_patterns, settings.secret_patterns,
                   settings.max_file_bytes)

    def is_secret(self, rel: str, is_dir: bool = False) -> bool:
        """Secret by name: the path itself, or any directory above it, matches a pattern."""
        rel = rel.rstrip("/")
        parts = rel.split("/")
        if self._secrets.match(rel, parts[-1], is_dir):
            return True
        return any(self._secrets.match("/".join(parts[:i]), parts[i - 1], True)
                   for i in range(1, len(parts)))

    def is_ignored(self, rel: str, is_dir: bool) -> bool:
        """Ignored by the layers, judging this path alone (the walk handles parents)."""
        name = rel.rsplit("/", 1)[-1]
        ignored = (is_dir and name in EXCLUDED_DIR_NAMES) or self._defaults.match(rel, name, is_dir)
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        for layer_dir in _ancestors(parent):
            local = rel[len(layer_dir) + 1:] if layer_dir else rel
            for layer in self._layers_in(layer_dir):
                verdict = layer.verdict(local, name, is_dir)
                if verdict is not None:
                    ignored = verdict
        return ignored

    def secret_entry(self, rel: str, name: str, is_dir: bool) -> bool:
        """is_secret for the walk, which never enters a secret directory: the entry alone."""
        return self._secrets.match(rel, name, is_dir)

    def exclusion(self, rel: str) -> str | None:
        """Why a repository path is out of bounds for the tools, or None if it is visible."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if self.is_ignored("/".join(parts[:i]), is_dir=True):
                return "ignored"
        is_dir = (self.root / rel).is_dir()
        if self.is_secret(rel, is_dir):
            return "secret"
        if self.is_ignored(rel, is_dir):
            return "ignored"
        return None

    def forget_ignore_files(self) -> None:
        """Read the ignore files again on next use (they may have been edited)."""
        self._layers.clear()

    def stamp_paths(self, directories: list[str]) -> list[str]:
        """What must not change for a walk to stay true: its directories, ignore files."""
        paths = [str(self.root / d) if d else str(self.root) for d in directories]
        paths.append(str(self.root / ".git" / "info" / "exclude"))
        for rel_dir in self._layers:
            base = self.root / rel_dir if rel_dir else self.root
            paths += [str(base / name) for name in IGNORE_FILES]
        return paths

    def _layers_in(self, rel_dir: str) -> list[_Layer]:
        if rel_dir not in self._layers:
            directory = self.root / rel_dir if rel_dir else self.root
            layers = list(self._root_extra) if rel_dir == "" else []
            for name in IGNORE_FILES:
                layer = self._layer_from_file(directory / name)
                if layer is not None:
                    layers.append(layer)
            self._layers[rel_dir] = layers
        return self._layers[rel_dir]

    @staticmethod
    def _layer_from_file(path: Path) -> _Layer | None:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return None
        return _Layer(lines)


def walk(rules: RepoRules) -> WalkResult:
    """Every file the index may hold, in a stable order, and what was left out and why."""
    root = rules.root
    result = WalkResult()
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        result.directories.append(rel_dir)
        try:
            with os.scandir(root / rel_dir if rel_dir else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            result.skipped[rel_dir] = "unreadable"
            continue
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                _visit(entry, rel, rules, result, subdirs)
            except OSError:
                result.skipped[displayable(rel)] = "unreadable"
        pending.extend(reversed(subdirs))
    result.files.sort(key=lambda f: f.path)
    return result


def walk_cached(rules: RepoRules, memo: dict) -> WalkResult:
    """`walk`, remembered in `memo` until the tree may have changed: a directory's mtime
    moves when entries are added, removed or renamed, and ignore files are stamped too.
    Checking takes one stat per directory instead of a walk. Only a file that grows past
    (or shrinks below) the size limit goes unnoticed until its directory changes."""
    stamps = memo.get("stamps")
    if stamps is not None and all(_mtime(path) == mtime for path, mtime in stamps):
        return memo["result"]
    rules.forget_ignore_files()
    result = walk(rules)
    now = time.time_ns()
    stamps = [(path, _mtime(path)) for path in rules.stamp_paths(result.directories)]
    trusted = all(mtime is None or mtime < now - RACY_MTIME_NS for _, mtime in stamps)
    memo["result"], memo["stamps"] = result, (stamps if trusted else None)
    return result


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _visit(entry: os.DirEntry, rel: str, rules: RepoRules, result: WalkResult,
           subdirs: list[str]) -> None:
    if entry.is_symlink():
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:  # a loop (a -> b -> a): following it fails; it is a broken link
            is_dir = False
        if not rules.is_ignored(rel, is_dir):
            result.skipped[displayable(rel)] = _symlink_reason(rules.root, entry.path)
        return
    if entry.is_dir(follow_symlinks=False):
        if not rules.is_ignored(rel, is_dir=True) and not _is_virtualenv(entry.path):
            if not valid_utf8(entry.name):
                result.skipped[displayable(rel) + "/"] = BAD_NAME
            elif rules.secret_entry(rel, entry.name, is_dir=True):
                result.skipped[rel + "/"] = "secret"
            else:
                subdirs.append(rel)
        return
    if rules.is_ignored(rel, is_dir=False):
        return
    info = entry.stat(follow_symlinks=False)
    if not valid_utf8(entry.name):
        result.skipped[displayable(rel)] = BAD_NAME
    elif not stat.S_ISREG(info.st_mode):
        result.skipped[rel] = "not a regular file"
    elif rules.secret_entry(rel, entry.name, is_dir=False):
        result.skipped[rel] = "secret"
    elif os.path.splitext(entry.name)[1].lower() in BINARY_EXTENSIONS:
        result.skipped[rel] = "binary"
    elif info.st_size > rules.max_file_bytes:
        result.skipped[rel] = "too large"
    else:
        result.files.append(FileEntry(rel, info.st_size, info.st_mtime_ns))


def _symlink_reason(root: Path, link: str) -> str:
    target = os.path.realpath(link)
    if not os.path.exists(target):
        return "broken symlink"
    if os.path.commonpath([str(root.resolve()), target]) != str(root.resolve()):
        return "symlink outside repository"
    return "symlink (its target is indexed under its own path)"


def _is_virtualenv(path: str) -> bool:
    return os.path.exists(os.path.join(path, "pyvenv.cfg")) or os.path.isdir(
        os.path.join(path, "conda-meta"))


def _ancestors(rel_dir: str) -> list[str]:
    """"" and every directory down to rel_dir: the places an ignore file may apply from."""
    if not rel_dir:
        return [""]
    parts = rel_dir.split("/")
    return [""] + ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
