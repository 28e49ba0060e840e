"""Where an index lives and how a reader opens it, without importing the writer.

`<repo>/.codeagent/` holds the manifest, the embedded Chroma store, the BM25 index, the
embedding cache and the writer lock. Search, the tools, status and doctor read through
this module; only `index.run` writes.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

from codeagent.errors import IndexBusy, IndexProblem, ModelMismatch
from codeagent.index.lock import running_writer
from codeagent.index.manifest import Manifest, OutdatedManifest
from codeagent.settings import Settings

DATA_DIR = ".codeagent"
"""The index directory inside a repository; it carries its own .gitignore (`*`)."""
MANIFEST = "manifest.sqlite"
EMBEDDED_COLLECTION = "codeagent-chunks"
"""The collection of an embedded store, which holds one repository."""


def data_dir(repo: Path) -> Path:
    return repo / DATA_DIR


def ensure_data_dir(repo: Path) -> Path:
    path = data_dir(repo)
    path.mkdir(exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# codeagent's index: a cache, never committed\n*\n")
    return path


def collection_name(repo: Path, chroma_url: str | None) -> str:
    """Embedded stores hold one repository; a server holds many, so its names carry one."""
    if not chroma_url:
        return EMBEDDED_COLLECTION
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", repo.name).strip("-_")[:40] or "repo"
    digest = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:10]
    return f"codeagent-{slug}-{digest}"


def recorded_backend_of(manifest: Manifest) -> str:
    """What made the index's vectors: the backend it records, or torch, the only one there
    was before the setting."""
    return manifest.get("backend") or "torch"


def recorded_recipe_of(manifest: Manifest) -> str:
    """How the index's ONNX file was made (`onnx_encoder.RECIPES`): the recorded recipe, or
    1, the only one there was before recipes were recorded."""
    return manifest.get("backend_recipe") or "1"


def backend_to_use(manifest: Manifest, settings: Settings) -> str:
    """The backend a query or an update of this index must embed with: the recorded one;
    another one asked for is a ModelMismatch (`auto` asks for nothing in particular)."""
    recorded = recorded_backend_of(manifest)
    if settings.explicit("embed_backend") and settings.embed_backend not in ("auto", recorded):
        raise backend_mismatch(recorded, settings.embed_backend)
    if recorded != "torch":
        from codeagent.index.onnx_encoder import RECIPES

        if recorded_recipe_of(manifest) != RECIPES.get(recorded):
            raise recipe_mismatch(recorded)
    return recorded


def recipe_mismatch(backend: str) -> ModelMismatch:
    return ModelMismatch(
        f"this index was embedded by an earlier {backend} export, made another way than "
        "today's: its vectors and a query's would not agree",
        f"re-embed every file: `codeagent index --rebuild --embed-backend {backend}`")


def backend_mismatch(recorded: str, asked: str) -> ModelMismatch:
    return ModelMismatch(
        f"this index was embedded by the {recorded} backend, not by {asked}: a query must be "
        "embedded the way the index was, and vectors of two backends are not mixed",
        f"leave --embed-backend out to keep {recorded}, or re-embed every file: "
        f"`codeagent index --rebuild --embed-backend {asked}`")


def open_manifest_readonly(repo: Path) -> Manifest:
    """The manifest of an existing index, for search and status."""
    path = data_dir(repo) / MANIFEST
    if not path.exists():
        _refuse_while_first_run(repo)
        raise IndexProblem(f"{repo} has no index yet", f"run `codeagent index {repo}` first")
    try:
        manifest = Manifest(path)
    except OutdatedManifest as exc:
        raise IndexProblem(str(exc), f"run `codeagent index {repo}` to rebuild it") from exc
    except sqlite3.DatabaseError as exc:
        raise IndexProblem(f"the index of {repo} is damaged ({exc})",
                           f"run `codeagent index {repo}` to rebuild it") from exc
    # Every run that finishes stamps the time, one that found no file to embed included
    # (an empty index is a complete one; it records no model).
    if manifest.get("updated_at") is None:
        manifest.close()
        _refuse_while_first_run(repo)
        raise IndexProblem(f"the index of {repo} was never completed",
                           f"run `codeagent index {repo}`")
    return manifest


def _refuse_while_first_run(repo: Path) -> None:
    """An index not complete yet because its first run is going on says so, and whose."""
    running = running_writer(data_dir(repo))
    if running is not None:
        raise IndexBusy(f"an index run is in progress ({running}) and has not completed the "
                        f"index of {repo} yet",
                        "wait for it to finish and try again (`codeagent status` answers once "
                        "it has), or stop that process and run `codeagent index` again")


def store_stamp(ddir: Path) -> str:
    """Names and sizes of the embedded store's files, and whether its database still starts
    as SQLite does: what a clean run left behind, checked without opening the store."""
    root = ddir / "chroma"
    if not root.is_dir():
        return "missing"
    files = sorted(p for p in [*root.glob("*"), *root.glob("*/*")] if p.is_file())
    try:
        with open(root / "chroma.sqlite3", "rb") as db:
            header = "sqlite" if db.read(16) == b"SQLite format 3\0" else "not sqlite"
    except OSError:
        header = "unreadable"
    return ";".join([header] + [f"{p.relative_to(root)}={p.stat().st_size}" for p in files])
