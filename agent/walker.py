"""Which files of a repository codeagent may see: the rules, and the walk that applies them.

Layers, later ones winning: built-in excludes < .git/info/exclude < .gitignore files <
.codeagentignore files, a deeper directory's file winning over a shallower one's, as in git
(so `!vendor/` in .codeagentignore brings back a directory excluded by default). Secrets are
outside the layers: no pattern can bring them back. The same `RepoRules` answer the walk
and every tool that takes a path from the model.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

EXCLUDED_DIR_NAMES = frozenset({
    ".git", ".hg", ".svn", ".codeagent", "node_modules", "bower_components", ".venv",
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


class RepoRules:
    """Ignore and secret rules of one repository, for the walk and for the tools."""

    def __init__(self, root: Path, extra_ignore: list[str] | None = None,
                 extra_secrets: list[str] | None = None, max_file_bytes: int = 1_000_000):
        self.root = root
        self.max_file_bytes = max_file_bytes
        self._defaults = pathspec.GitIgnoreSpec.from_lines(EXCLUDED_FILE_PATTERNS)
        self._secrets = pathspec.GitIgnoreSpec.from_lines(SECRET_PATTERNS + (extra_secrets or []))
        self._layers: dict[str, list[pathspec.GitIgnoreSpec]] = {}
        root_layers = [self._spec_from_file(root / ".git" / "info" / "exclude")]
        root_layers.append(pathspec.GitIgnoreSpec.from_lines(extra_ignore or []))
        self._root_extra = [spec for spec in root_layers if spec is not None]

    @classmethod
    def from_settings(cls, root: Path, settings) -> "RepoRules":
        return cls(root, settings.ignore_patterns, settings.secret_patterns,
                   settings.max_file_bytes)

    def is_secret(self, rel: str) -> bool:
        """Secret by name: the file itself or any directory above it matches a pattern."""
        if self._secrets.match_file(rel):
            return True
        parts = rel.split("/")
        return any(self._secrets.match_file("/".join(parts[:i]) + "/")
                   for i in range(1, len(parts)))

    def is_ignored(self, rel: str, is_dir: bool) -> bool:
        """Ignored by the layers, judging this path alone (the walk handles parents)."""
        name = rel.rsplit("/", 1)[-1]
        probe = rel + "/" if is_dir else rel
        ignored = (is_dir and name in EXCLUDED_DIR_NAMES) or bool(self._defaults.match_file(probe))
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        for layer_dir in _ancestors(parent):
            local = probe[len(layer_dir) + 1:] if layer_dir else probe
            for spec in self._specs(layer_dir):
                verdict = spec.check_file(local).include
                if verdict is not None:
                    ignored = verdict
        return ignored

    def exclusion(self, rel: str) -> str | None:
        """Why a repository path is out of bounds for the tools, or None if it is visible."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if self.is_ignored("/".join(parts[:i]), is_dir=True):
                return "ignored"
        if self.is_secret(rel):
            return "secret"
        if self.is_ignored(rel, is_dir=(self.root / rel).is_dir()):
            return "ignored"
        return None

    def _specs(self, rel_dir: str) -> list[pathspec.GitIgnoreSpec]:
        if rel_dir not in self._layers:
            directory = self.root / rel_dir if rel_dir else self.root
            specs = list(self._root_extra) if rel_dir == "" else []
            for name in IGNORE_FILES:
                spec = self._spec_from_file(directory / name)
                if spec is not None:
                    specs.append(spec)
            self._layers[rel_dir] = specs
        return self._layers[rel_dir]

    @staticmethod
    def _spec_from_file(path: Path) -> pathspec.GitIgnoreSpec | None:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return None
        return pathspec.GitIgnoreSpec.from_lines(lines)


def walk(rules: RepoRules) -> WalkResult:
    """Every file the index may hold, in a stable order, and what was left out and why."""
    root = rules.root
    result = WalkResult()
    pending = [""]
    while pending:
        rel_dir = pending.pop()
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
                result.skipped[rel] = "unreadable"
        pending.extend(reversed(subdirs))
    result.files.sort(key=lambda f: f.path)
    return result


def _visit(entry: os.DirEntry, rel: str, rules: RepoRules, result: WalkResult,
           subdirs: list[str]) -> None:
    if entry.is_symlink():
        is_dir = entry.is_dir(follow_symlinks=True)
        if not rules.is_ignored(rel, is_dir):
            result.skipped[rel] = _symlink_reason(rules.root, entry.path)
        return
    if entry.is_dir(follow_symlinks=False):
        if not rules.is_ignored(rel, is_dir=True) and not _is_virtualenv(entry.path):
            if rules.is_secret(rel + "/"):
                result.skipped[rel + "/"] = "secret"
            else:
                subdirs.append(rel)
        return
    if rules.is_ignored(rel, is_dir=False):
        return
    info = entry.stat(follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        result.skipped[rel] = "not a regular file"
    elif rules.is_secret(rel):
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
