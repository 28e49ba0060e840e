"""Index cost by repository size: full index, no-op and one-file change, per phase.

    python bench/index_scaling.py [--sizes 1000 10000 100000] [--keep DIR]
        [--runs full noop one_file [one_file ...]]

For each size, builds a synthetic repository (small Python, JavaScript and Markdown files,
a few chunks each, generated deterministically) in a scratch directory and runs
`run_index` in this process with `MockEmbedding(embed_dim=8)` three times: a full index, a
no-op re-run, and a run after one file was edited. Each run's wall time is split into
phases by wrapping the functions the run calls (exclusive time: a wrapped call inside
another counts only for itself):

    walk       walker.walk
    plan       plan.plan_changes (stat, then hash what changed)
    manifest   every Manifest method (SQLite reads and commits)
    read       read_document (file -> record + Document)
    chunking   CodeChunker (tree-sitter + line windows)
    embedding  CachedEmbedding (the mocked model and the embedding cache)
    probe      the store's health probe (a child process), waiting for it
    chroma     opening the store, upserts, deletes, counts
    keyword    keyword_index.needs_update / update (BM25)
    other      the rest (pipeline overhead, imports on first use)

Prints JSON: per size and run, the seconds per phase and the summary's counts.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("user account invoice payment order cart price total tax refund session token "
         "cache request response header route handler parser config setting profile "
         "address email message queue worker job task event stream buffer record field "
         "schema table index query filter sort page limit offset retry timeout client "
         "server socket packet frame image thumbnail upload download report metric").split()
FILES_PER_DIR = 40
RUNS = ["full", "noop", "one_file"]


def _name(rng: random.Random, parts: int = 2) -> list[str]:
    return [rng.choice(WORDS) for _ in range(parts)]


def _functions(rng: random.Random, head, line, tail) -> list[str]:
    """Two to four functions: `head` lines, four to twelve `line`s, `tail` lines."""
    out: list[str] = []
    for _ in range(rng.randint(2, 4)):
        out += head(rng) + [line(rng) for _ in range(rng.randint(4, 12))] + tail(rng)
    return out


def python_file(rng: random.Random, n: int) -> str:
    header = [f'"""Module {n}: {" ".join(_name(rng, 6))}."""', "", "import os", ""]
    return "\n".join(header + _functions(
        rng,
        lambda r: [f"def {'_'.join(_name(r, 3))}({', '.join(_name(r, r.randint(1, 3)))}):",
                   f'    """{" ".join(_name(r, 8))}."""'],
        lambda r: (f"    {'_'.join(_name(r))} = {r.choice(WORDS)}.get('{r.choice(WORDS)}', "
                   f"{r.randint(0, 999)})"),
        lambda r: [f"    return {r.choice(WORDS)}", "", ""]))


def js_file(rng: random.Random, n: int) -> str:
    def camel(words: list[str]) -> str:
        return words[0] + "".join(w.title() for w in words[1:])

    header = [f"// Component {n}: {' '.join(_name(rng, 5))}", ""]
    return "\n".join(header + _functions(
        rng,
        lambda r: [f"export function {camel(_name(r, 3))}({', '.join(_name(r, 2))}) {{"],
        lambda r: (f"  const {r.choice(WORDS)}{r.randint(0, 99)} = "
                   f"{r.choice(WORDS)}.{r.choice(WORDS)}({r.randint(0, 999)});"),
        lambda r: [f"  return {r.choice(WORDS)};", "}", ""]))


def markdown_file(rng: random.Random, n: int) -> str:
    out = [f"# Notes {n}", ""]
    for _ in range(rng.randint(2, 4)):
        out += [f"## {' '.join(_name(rng, 3)).title()}", ""]
        out += [" ".join(_name(rng, 12)) + "." for _ in range(rng.randint(3, 8))] + [""]
    return "\n".join(out)


MAKERS = ((python_file, ".py"), (python_file, ".py"), (js_file, ".js"), (markdown_file, ".md"))


def file_path(root: Path, n: int) -> Path:
    d = n // FILES_PER_DIR
    ext = MAKERS[n % len(MAKERS)][1]
    return root / f"pkg{d // FILES_PER_DIR:03d}" / f"mod{d % FILES_PER_DIR:02d}" / f"file{n:06d}{ext}"


def make_repo(root: Path, files: int, seed: int = 14) -> None:
    rng = random.Random(seed)
    for n in range(files):
        path = file_path(root, n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(MAKERS[n % len(MAKERS)][0](rng, n))


class PhaseClock:
    """Exclusive seconds per phase, by wrapping functions in place (undone on exit)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[float] = []  # time spent in wrapped children, per open call
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attr: str, phase: str) -> None:
        original = getattr(owner, attr)  # plain functions only (no static/classmethods)
        clock = self

        def timed(*args, **kwargs):
            clock._stack.append(0.0)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                children = clock._stack.pop()
                clock.seconds[phase] = clock.seconds.get(phase, 0.0) + elapsed - children
                if clock._stack:
                    clock._stack[-1] += elapsed

        self._undo.append((owner, attr, vars(owner).get(attr)))
        setattr(owner, attr, timed)

    def reset(self) -> dict[str, float]:
        taken, self.seconds = self.seconds, {}
        return taken

    def close(self) -> None:
        for owner, attr, original in reversed(self._undo):
            if original is None:  # inherited: uncover the base class's again
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)


def instrument() -> PhaseClock:
    from codeagent.index import health, keyword_index, run, store
    from codeagent.index.chunker import CodeChunker
    from codeagent.index.embed_cache import CachedEmbedding, EmbeddingCache
    from codeagent.index.manifest import Manifest

    clock = PhaseClock()
    clock.wrap(run, "walk", "walk")
    clock.wrap(run, "plan_changes", "plan")
    clock.wrap(run, "read_document", "read")
    for name, value in list(vars(Manifest).items()):
        if inspect.isfunction(value) and not name.startswith("__"):
            clock.wrap(Manifest, name, "manifest")
    clock.wrap(CodeChunker, "__call__", "chunking")
    clock.wrap(CachedEmbedding, "__call__", "embedding")
    for name in ("__init__", "close"):
        clock.wrap(EmbeddingCache, name, "embedding")
    clock.wrap(health.Probe, "__init__", "probe")
    clock.wrap(health.Probe, "result", "probe")
    clock.wrap(store, "open_store", "chroma")
    for name in ("add", "delete", "count", "all_ids"):
        clock.wrap(store.ChunkStore, name, "chroma")
    for name in ("needs_update", "update"):
        clock.wrap(keyword_index, name, "keyword")
    return clock


def measure(root: Path, clock: PhaseClock, embedding) -> dict:
    from codeagent.index.run import run_index
    from codeagent.settings import load_settings

    settings = load_settings(root, {}, environ={})
    clock.reset()
    started = time.perf_counter()
    summary = run_index(root, settings, embedding=embedding)
    total = time.perf_counter() - started
    phases = {k: round(v, 3) for k, v in sorted(clock.reset().items())}
    phases["other"] = round(total - sum(phases.values()), 3)
    return {"seconds": round(total, 3), "phases": phases, "files": summary.files,
            "chunks": summary.chunks, "written": summary.chunks_written,
            "embedded": summary.embedded, "changed": summary.added + summary.changed}


def bench_size(files: int, scratch: Path, clock: PhaseClock, embedding,
               runs: list[str]) -> dict:
    root = scratch / f"repo-{files}"
    out: dict = {"files": files}
    if not root.exists():  # a kept repository is reused as it is (already indexed, say)
        started = time.perf_counter()
        make_repo(root, files)
        out["generate_s"] = round(time.perf_counter() - started, 1)
    names = []
    for run in runs:
        if run == "one_file":
            edited = file_path(root, files // 2)  # a Python file in the middle
            edited.write_text(edited.read_text() + f"\n\ndef zeppelin_hops_{time.time_ns()}"
                              "(count):\n    return count * 2\n")
        # A run named again is kept as run#2, #3: the first one_file of a process starts the
        # probe's fork server, later ones fork from it, as a REPL's refreshes do.
        name = run if run not in out else f"{run}#{names.count(run) + 1}"
        names.append(run)
        out[name] = measure(root, clock, embedding)
    print(json.dumps({"size": files, "seconds": {k: v["seconds"] for k, v in out.items()
                                                 if isinstance(v, dict)}}),
          file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--keep", type=Path, help="build the repositories here and keep them "
                        "(one found there is reused as it is)")
    parser.add_argument("--runs", nargs="+", default=RUNS, choices=RUNS,
                        help="which runs, in this order (one_file edits a file first; a run "
                        "named twice is measured twice, the second as one_file#2)")
    args = parser.parse_args()
    from llama_index.core.embeddings import MockEmbedding

    from codeagent.index.embedding import EmbeddingInfo

    embedding = MockEmbedding(embed_dim=8), EmbeddingInfo("mock-8", 8, "cpu", 256)
    # Import what a first run would otherwise import inside the timings.
    import chromadb  # noqa: F401
    import llama_index.core.ingestion  # noqa: F401

    from codeagent.index import chunker, keyword_index  # noqa: F401

    scratch = args.keep or Path(tempfile.mkdtemp(prefix="index-scaling-"))
    scratch.mkdir(parents=True, exist_ok=True)
    clock = instrument()
    try:
        results = [bench_size(n, scratch, clock, embedding, args.runs) for n in args.sizes]
    finally:
        clock.close()
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"machine": {"python": platform.python_version(),
                                  "cpus": os.cpu_count(), "platform": platform.platform()},
                      "results": results}, indent=1))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
