"""`codeagent doctor`: what works on this machine for this repository, and what to do
about what does not.

Every check is side-effect free: nothing is downloaded (the embedding model is looked up
locally only), nothing is written to the index, the vector store is opened without
creating anything. A check never raises: what breaks inside it becomes a failed check.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from codeagent.errors import CodeagentError
from codeagent.settings import Settings, chroma_url_for

SUPPORTED_PYTHON = ((3, 11), (3, 12))


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    """What to do about a failure (or, for a passing check, a suggestion)."""
    warning: bool = False
    """It works, with less: said, with the fix, but not a failure (exit status 0)."""


@dataclass(frozen=True)
class Recorded:
    """What the index's manifest says about itself."""

    model: str
    dimension: int
    fallback_from: str
    store: str
    files: int
    chunks: int
    updated_at: str
    backend: str = "torch"
    backend_problem: CodeagentError | None = None
    """Why a query could not be embedded the way the index was (another backend asked for,
    or an export recipe that no longer exists)."""


def run_checks(repo: Path | None, settings: Settings) -> list[Check]:
    """Every check; `repo` None: not inside a repository, which the index check reports."""
    from codeagent.cli.common import not_a_repository

    if repo is None:
        recorded: Recorded | CodeagentError = not_a_repository()
        repo = Path.cwd()
    else:
        repo = repo.resolve()
        recorded = _read_index(repo, settings)
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("python", _python),
        ("torch", lambda: _torch(settings)),
        ("embedding model", lambda: _embedding_model(settings, recorded)),
        ("ollama", lambda: _ollama(settings)),
        ("index", lambda: _index(repo, settings, recorded)),
        ("store", lambda: _store(repo, settings, recorded)),
        ("ripgrep", _ripgrep),
        ("tree-sitter", _tree_sitter),
    ]
    checks = []
    for name, check in steps:
        try:
            checks.append(check())
        except Exception as exc:  # the doctor reports what is broken, it must not be broken
            checks.append(Check(name, False, f"the check itself failed: {type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:300]}",
                                "this is unexpected: report it with the line above"))
    return checks


def render(checks: list[Check]) -> str:
    """A table (ASCII borders, no colour: it reads the same in a log), a fix line under
    each failure, and a count."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.ASCII, show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("detail")
    for check in checks:
        table.add_row(check.name, "FAIL" if not check.ok else "warn" if check.warning else "ok",
                      check.detail)
        if check.fix:
            table.add_row("", "", f"-> {check.fix}")
    stream = io.StringIO()
    Console(file=stream, width=110, no_color=True, highlight=False, emoji=False,
            force_terminal=False).print(table)
    passed = sum(check.ok for check in checks)
    warned = sum(check.ok and check.warning for check in checks)
    return stream.getvalue() + f"{passed} of {len(checks)} checks passed" + (
        f" ({warned} with a warning)" if warned else "") + "\n"


def _python() -> Check:
    version = sys.version_info[:3]
    shown = ".".join(map(str, version))
    if SUPPORTED_PYTHON[0] <= version[:2] <= SUPPORTED_PYTHON[-1]:
        return Check("python", True, f"Python {shown} ({sys.executable})")
    return Check("python", False, f"Python {shown} is not supported (3.11-3.12)",
                 "use Python 3.11 or 3.12: tree-sitter-languages has wheels up to 3.12 only")


def _torch(settings: Settings) -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", False, f"torch cannot be imported ({exc})",
                     "pip install torch (CPU only: add --index-url "
                     "https://download.pytorch.org/whl/cpu)")
    from codeagent.index.embedding import pick_device

    try:
        device = pick_device(settings.embed_device)
    except CodeagentError as exc:
        return Check("torch", False, f"torch {torch.__version__}: {exc.message}", exc.hint)
    detail = f"torch {torch.__version__}; embeddings run on {device}"
    if settings.embed_device == "auto":
        detail += " (auto)"
    if device.startswith("cuda"):
        detail += f": {torch.cuda.get_device_name(0)}"
    elif device == "cpu" and settings.embed_device == "auto":
        detail += ": no CUDA or MPS device found, so indexing large repositories is slow"
    return Check("torch", True, detail)


def _embedding_model(settings: Settings, recorded: Recorded | CodeagentError) -> Check:
    from codeagent.index.embedding import (BUNDLED_MODEL, canonical_name, default_allows_fallback,
                                           looks_like_a_path)

    explicit = settings.explicit("embed_model")
    indexed = isinstance(recorded, Recorded)
    # The model that will run: the user's choice, else the index's, else the default.
    name = recorded.model if indexed and not explicit else canonical_name(settings.embed_model)
    where = _local_model(name)
    if where:
        return Check("embedding model", True, f"{name}: {where}")
    if looks_like_a_path(name):
        return Check("embedding model", False, f"{name} is not a directory on this machine",
                     "check the path (a directory holding a sentence-transformers model), or "
                     f"choose another model with --embed-model (the bundled one is "
                     f"'{BUNDLED_MODEL}')")
    if not indexed and default_allows_fallback(name, explicit):
        return Check("embedding model", True,
                     f"{name} is not on this machine: indexing downloads it when the hub is "
                     f"reachable, else falls back to the bundled {BUNDLED_MODEL}",
                     "run the first `codeagent index` while online to get it (later runs are "
                     "offline)")
    return Check("embedding model", False,
                 f"{name} is not on this machine (not a directory, not bundled, not in the "
                 "Hugging Face cache); loading it needs the hub",
                 "connect to the internet once so it can be downloaded, set HF_HOME to a cache "
                 f"that holds it, or choose another model with --embed-model (the bundled one "
                 f"is '{BUNDLED_MODEL}')")


def _local_model(name: str) -> str | None:
    """Where `name` is on this machine, found without any network request; None if not."""
    from codeagent.index.embedding import local_model

    found = local_model(name)
    return found[1] if found else None


def _ollama(settings: Settings) -> Check:
    from codeagent.assistant.llm import capabilities, check_ollama, choose_protocol

    try:
        models = check_ollama(settings)
        protocol = choose_protocol(settings, capabilities(settings))
    except CodeagentError as exc:
        return Check("ollama", False, exc.message, exc.hint)
    return Check("ollama", True, f"{settings.ollama_host} has {settings.llm_model} "
                                 f"({len(models)} model{'s' if len(models) != 1 else ''} pulled); "
                                 f"tools called by the {protocol} protocol")


def _read_index(repo: Path, settings: Settings) -> Recorded | CodeagentError:
    from codeagent.index.layout import backend_to_use, open_manifest_readonly, recorded_backend_of

    try:
        manifest = open_manifest_readonly(repo)
    except CodeagentError as exc:
        return exc
    try:
        files, chunks = manifest.counts()
        problem = None
        if manifest.get("model"):
            try:
                backend_to_use(manifest, settings)
            except CodeagentError as exc:
                problem = exc
        return Recorded(manifest.get("model") or "", int(manifest.get("dimension") or 0),
                        manifest.get("fallback_from") or "", manifest.get("store") or "embedded",
                        files, chunks, manifest.get("updated_at") or "never",
                        recorded_backend_of(manifest), problem)
    finally:
        manifest.close()


def _index(repo: Path, settings: Settings, recorded: Recorded | CodeagentError) -> Check:
    from codeagent.index.embedding import canonical_name

    if not isinstance(recorded, Recorded):
        return Check("index", False, recorded.message, recorded.hint)
    if not recorded.model and not recorded.chunks:
        return Check("index", True, f"empty: no file to index (updated {recorded.updated_at})",
                     f"see what was left out and why: `codeagent index -v {repo}`")
    detail = (f"{recorded.files} files, {recorded.chunks} chunks, {recorded.model} "
              f"({recorded.dimension}-d, {recorded.backend}), updated {recorded.updated_at}")
    if recorded.backend_problem is not None:
        return Check("index", False, f"{detail}; {recorded.backend_problem.message}",
                     recorded.backend_problem.hint)
    if recorded.dimension <= 0:
        return Check("index", False, detail + "; no vector dimension recorded",
                     f"rebuild it: `codeagent index --rebuild {repo}`")
    asked = canonical_name(settings.embed_model)
    if settings.explicit("embed_model") and asked != recorded.model:
        return Check("index", False, f"{detail}; built with {recorded.model}, not with the "
                                     f"configured {asked}",
                     f"re-embed with it: `codeagent index --rebuild --embed-model {asked}`, or "
                     f"drop the embed_model setting to keep {recorded.model}")
    if recorded.fallback_from:
        return Check("index", True, f"{detail}; the bundled fallback for "
                                    f"{recorded.fallback_from}",
                     f"once {recorded.fallback_from} can be downloaded: "
                     f"`codeagent index --rebuild {repo}`")
    return Check("index", True, detail)


def _store(repo: Path, settings: Settings, recorded: Recorded | CodeagentError) -> Check:
    from codeagent.index import keyword_index
    from codeagent.index.layout import data_dir
    from codeagent.index.store import open_store

    if not isinstance(recorded, Recorded):
        return Check("store", False, "not checked: there is no usable index", recorded.hint)
    if not recorded.model and not recorded.chunks:
        return Check("store", True, "empty: nothing to store")
    chroma_url = chroma_url_for(settings, recorded.store)
    location = chroma_url or "embedded"
    if location != recorded.store:
        return Check("store", False, f"the index lives in {recorded.store}, the settings point "
                                     f"at {location}",
                     "drop --chroma-url (or chroma_url), or index there first: "
                     "`codeagent index --chroma-url URL`")
    rebuild = f"the index is a cache: rebuild it with `codeagent index --rebuild {repo}`"
    if chroma_url is None and not (data_dir(repo) / "chroma").is_dir():
        return Check("store", False, f"the embedded store is missing ({data_dir(repo)}/chroma)",
                     rebuild)
    try:
        store = open_store(repo, data_dir(repo), chroma_url, recorded.model, recorded.dimension,
                           create=False)
        count = store.count()
    except CodeagentError as exc:
        return Check("store", False, exc.message, exc.hint)
    where = f"Chroma server at {chroma_url} (heartbeat ok)" if chroma_url else "embedded Chroma"
    if count != recorded.chunks:
        return Check("store", False, f"{where} holds {count} chunks but the manifest lists "
                                     f"{recorded.chunks}", rebuild)
    if keyword_index.needs_update(data_dir(repo), recorded.chunks):
        return Check("store", False, f"{where} holds all {count} chunks, but the keyword index "
                                     "is missing or unfinished",
                     f"run `codeagent index {repo}`: it rebuilds the keyword index")
    return Check("store", True, f"{where}: {count} chunks, as the manifest lists, and the "
                                "keyword index")


def _ripgrep() -> Check:
    """A warning, not a failure, when rg is missing or broken: grep then answers with its
    Python engine, which gives the same results, only slower."""
    import os

    from codeagent.executables import find_executable

    fallback = "grep uses its Python engine instead: the same results, slower on large repositories"
    install = ("pip install ripgrep==14.1.0 into this environment (its wheel ships rg), or "
               "install your system's ripgrep package")
    path = find_executable("rg")
    if path is None:
        return Check("ripgrep", True, f"rg not found (not on PATH, not in "
                                      f"{os.path.dirname(sys.executable)}): {fallback}",
                     install, warning=True)
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
        problem = f"exit status {done.returncode}" if done.returncode else None
    except (OSError, subprocess.TimeoutExpired) as exc:
        done, problem = None, str(exc)
    if done is None or problem:
        return Check("ripgrep", True, f"{path} does not run ({problem}): {fallback}",
                     "reinstall it: pip install --force-reinstall ripgrep==14.1.0", warning=True)
    version = (done.stdout or "").split("\n", 1)[0].strip() or "unknown version"
    return Check("ripgrep", True, f"{version} ({path})")


def _tree_sitter() -> Check:
    from codeagent.index.symbols import parser_for

    fix = ("pip install 'tree-sitter>=0.21,<0.22' 'tree-sitter-languages>=1.10,<1.11' "
           "(wheels for CPython <= 3.12)")
    try:
        tree = parser_for("python").parse(b"def check():\n    return 1\n")
    except Exception as exc:  # an import error, or a grammar built for another tree-sitter
        return Check("tree-sitter", False, f"the Python grammar does not load: "
                                           f"{type(exc).__name__}: {exc}", fix)
    root = tree.root_node
    if root.type != "module" or root.has_error:
        return Check("tree-sitter", False, f"the Python grammar misparses (root {root.type})",
                     fix)
    return Check("tree-sitter", True, "grammars from tree-sitter-languages load (python "
                                      "parsed); code is chunked by syntax")
