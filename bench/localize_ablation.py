"""The default localization ranking with one lever changed at a time (each on is turned off,
each off turned on), on the same retrieval, on all tasks and on two halves of them split by
repository.

    python bench/localize_ablation.py ../shared/bench/swebench-lite-localization.jsonl \\
        --mirrors /work/.mirror --workdir /tmp/evalwork --dump /tmp/localize-dump \\
        [--embed-model sentence-transformers/all-MiniLM-L6-v2]

Phase 1 (skipped for tasks already in --dump): like `codeagent eval localize`, visit each
task's commit in a sparse checkout of the `.py` files, index incrementally, and save the
retrieval (multi-query, vector and BM25 chunks: paths and lines, best first) with a copy of
the manifest. Phase 2: each commit's entity graph from its files in the mirror (parsed by
the index's own `symbols` code, so a dump made before the graph existed serves too), then
files and definitions ranked from the saved results with every lever (`retrieval.
functions.Levers`) as the product has them and with each changed; a Markdown table (metrics: `codeagent.evaluation.
metrics`). Retrieval is run once, so the rows differ only by the levers.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import subprocess
from collections import defaultdict
from dataclasses import fields, replace
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SAVED_MODES = ("multi-query", "vector", "bm25")


def dump(tasks: list, mirrors: Path, workdir: Path, out: Path, model: str,
         backend: str = "onnx", keep_stores: bool = False) -> None:
    from codeagent.evaluation.localize import Localizer
    from codeagent.evaluation.tasks import Checkout, commit_order, mirror_for
    from codeagent.index.embedding import load_embedding
    from codeagent.index.run import run_index
    from codeagent.settings import load_settings

    todo = [t for t in tasks if not (out / f"{t.instance_id}.json").exists()]
    if not todo:
        return
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    # fp32 ONNX at the device's batch: the vectors of torch (cosine 1.00000, bench/README.md
    # "Embedding backends"), in about half the time.
    embedding = load_embedding(model, "cpu", 0, backend=backend)
    settings = load_settings(None, {"embed_model": model, "embed_backend": backend})
    by_repo: dict[str, list] = defaultdict(list)
    for task in todo:
        by_repo[task.repo].append(task)
    for repo, repo_tasks in by_repo.items():
        checkout = Checkout(mirror_for(mirrors, repo), workdir / repo.replace("/", "+"),
                            only=("*.py",), say=print)
        at: dict[str, list] = defaultdict(list)
        for task in repo_tasks:
            at[task.base_commit].append(task)
        for commit in commit_order(checkout.path, list(at)):
            checkout.move_to(commit)
            run_index(checkout.path, settings, embedding=embedding)
            shutil.copy(checkout.path / ".codeagent" / "manifest.sqlite",
                        out / "manifests" / f"{commit}.sqlite")
            if keep_stores:  # the commit's vectors, for phase-2 experiments with new queries
                shutil.copytree(checkout.path / ".codeagent", out / "stores" / commit,
                                ignore=shutil.ignore_patterns("embed-cache*", "*.lock"),
                                dirs_exist_ok=True)
            localizer = Localizer(checkout.path, settings, embedding=embedding)
            try:
                for task in at[commit]:
                    saved = {mode: localizer.spans(task.query, mode) for mode in SAVED_MODES}
                    (out / f"{task.instance_id}.json").write_text(
                        json.dumps({"commit": commit, **saved}))
            finally:
                localizer.close()
            print(f"{repo} @ {commit[:10]}: {len(at[commit])} tasks dumped", flush=True)


def graph_at(git_dir: Path, commit: str, languages: dict[str, str], cache: Path):
    """The entity graph of the indexed files (`languages`: path -> language) as they are
    at `commit`, parsed as the index parses them (cached in `cache`)."""
    from codeagent.index import symbols
    from codeagent.index.graph import CodeGraph
    from codeagent.index.manifest import DefinitionRecord, ReferenceRecord

    kept = cache / f"{commit}.pickle"
    if not kept.exists():
        definitions, references = [], []
        for path, source in sources_at(git_dir, commit, list(languages)).items():
            language = languages[path]
            tree = symbols.parse(language, source)
            definitions += [DefinitionRecord(path, d.name, d.qualified, d.kind, d.start_line,
                                             d.end_line)
                            for d in symbols.definitions(language, tree)]
            references += [ReferenceRecord(path, r.name, r.kind, r.line)
                           for r in symbols.references(language, tree)]
        kept.write_bytes(pickle.dumps((definitions, references)))
    definitions, references = pickle.loads(kept.read_bytes())
    return CodeGraph(definitions, references, list(languages))


def sources_at(git_dir: Path, commit: str, paths: list[str]) -> dict[str, bytes]:
    """The files' contents at `commit` (those missing there left out), by one git call."""
    specs = "".join(f"{commit}:{p}\n" for p in paths).encode()
    blob = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                          input=specs, capture_output=True, check=True).stdout
    found, at = {}, 0
    for path in paths:
        end = blob.index(b"\n", at)
        header = blob[at:end].split()
        if header[-1] == b"missing":
            at = end + 1
            continue
        size = int(header[2])
        found[path], at = blob[end + 1:end + 1 + size], end + 2 + size
    return found


def lines_at(git_dir: Path, commit: str, paths: list[str]):
    """`read_lines` for the files as they are at `commit`, decoded as the index does."""
    from codeagent.textfile import decode, split_lines

    sources = sources_at(git_dir, commit, paths)

    def read_lines(path: str) -> list[str] | None:
        decoded = decode(sources[path]) if path in sources else None
        return split_lines(decoded[0]) if decoded else None

    return read_lines


def span_order_functions(spans: list, files: list, graph) -> list[str]:
    """The previous default's functions: the definitions the (reordered) chunks overlap,
    innermost first, then those of the ranked files."""
    found: dict[str, None] = {}
    for path, start, end in spans:
        overlapping = [e for e in graph.definitions_in(path)
                       if e.start_line <= end and e.end_line >= start]
        for e in sorted(overlapping, key=lambda e: e.start_line - e.end_line):
            found.setdefault(e.id)
    for path in files:
        for e in graph.definitions_in(path):
            found.setdefault(e.id)
    return list(found)


def ablate(tasks: list, out: Path, mirrors: Path) -> str:
    import codeagent.retrieval.mentions as mentions
    from codeagent.evaluation.metrics import score_task
    from codeagent.evaluation.tasks import mirror_for
    from codeagent.index.manifest import Manifest
    from codeagent.retrieval.functions import Levers, rank

    default = Levers()
    variants = {"default": default}
    for lever in fields(Levers):
        on = getattr(default, lever.name)
        variants[f"{'without' if on else 'with'} {lever.name.replace('_', ' ')}"] = replace(
            default, **{lever.name: not on})
    variants["none (multi-query, best chunk)"] = Levers(**{f.name: False for f in fields(Levers)})
    cache = out / "graphs"
    cache.mkdir(exist_ok=True)
    opened: dict[str, tuple] = {}
    rows: dict[str, list] = defaultdict(list)
    for task in tasks:
        saved = json.loads((out / f"{task.instance_id}.json").read_text())
        commit = saved["commit"]
        if commit not in opened:
            manifest = Manifest(out / "manifests" / f"{commit}.sqlite")
            index = mentions.Mentions(manifest)
            languages = {p: r.language for p, r in manifest.files().items() if r.skipped is None}
            git_dir = mirror_for(mirrors, task.repo)
            opened[commit] = (index, graph_at(git_dir, commit, languages, cache), manifest,
                              lines_at(git_dir, commit, list(languages)))
        index, graph, manifest, read_lines = opened[commit]
        spans = [tuple(span) for span in saved["multi-query"]]
        retrieved = [path for path, _, _ in spans]
        files = index.rank_files(task.query, retrieved)
        previous = span_order_functions([spans[i] for i in index.reorder(task.query, retrieved,
                                                                          files)],
                                        [p for p, _ in files], graph)
        rows["previous default (functions in span order)"].append(
            (task, score_task(task.gold_files, task.gold_spans, task.names_file, files,
                              previous)))
        for name, levers in variants.items():
            ranked = rank(task.query, spans, graph, index, levers, manifest.lines_containing,
                          read_lines)
            rows[name].append((task, score_task(task.gold_files, task.gold_spans,
                                                task.names_file, ranked.files,
                                                [d for d, _ in ranked.definitions])))
    return table(rows, sorted({t.repo for t in tasks}))


def table(rows: dict[str, list], repos: list[str]) -> str:
    """All tasks, then the change from the default in each half (repositories alternately,
    by name): a lever whose removal moves the halves in opposite directions fits one."""
    from codeagent.evaluation.metrics import summarize

    halves = (set(repos[0::2]), set(repos[1::2]))

    def figures(scored: list, repos: set | None = None) -> tuple:
        s = summarize([x for t, x in scored if repos is None or t.repo in repos])
        return s.acc[1], s.acc[5], s.function_recall.get(5, 0.0), s

    base = [figures(rows["default"], h) for h in halves]
    lines = ["| ranking | Acc@1 | Acc@5 | Acc@10 | MRR | fn R@5 | fn R@10 | no-hint Acc@5 "
             "| half A: Δ Acc@1 / Acc@5 / fn R@5 | half B: Δ Acc@1 / Acc@5 / fn R@5 |",
             "| --- " * 10 + "|"]
    for name, scored in rows.items():
        *_, s = figures(scored)
        hint = summarize([x for t, x in scored if not t.names_file])
        deltas = []
        for half, (a1, a5, f5, _) in zip(halves, base):
            b1, b5, g5, _ = figures(scored, half)
            deltas.append(f"{b1 - a1:+.3f} / {b5 - a5:+.3f} / {g5 - f5:+.3f}")
        lines.append(f"| {name} | {s.acc[1]:.3f} | {s.acc[5]:.3f} | {s.acc[10]:.3f} | "
                     f"{s.mrr:.3f} | {s.function_recall.get(5, 0.0):.3f} | "
                     f"{s.function_recall.get(10, 0.0):.3f} | {hint.acc[5]:.3f} | "
                     f"{deltas[0]} | {deltas[1]} |")
    lines.append("")
    lines.append(f"{len(next(iter(rows.values())))} tasks; half A: {', '.join(sorted(halves[0]))}"
                 f" ({sum(1 for t, _ in next(iter(rows.values())) if t.repo in halves[0])} tasks);"
                 f" half B: {', '.join(sorted(halves[1]))}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tasks", type=Path)
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--dump", type=Path, required=True)
    parser.add_argument("--embed-model", default=MODEL)
    parser.add_argument("--embed-backend", default="onnx",
                        help="How phase 1 embeds (onnx: torch's vectors, faster on a CPU).")
    parser.add_argument("--keep-stores", action="store_true",
                        help="Keep a copy of each commit's index (vectors, BM25) in --dump.")
    parser.add_argument("--dumped-only", action="store_true",
                        help="Phase 2 only, on the tasks dumped so far.")
    args = parser.parse_args()

    from codeagent.evaluation.tasks import load_tasks

    tasks = load_tasks(args.tasks)
    if args.dumped_only:
        tasks = [t for t in tasks if (args.dump / f"{t.instance_id}.json").exists()]
    else:
        dump(tasks, args.mirrors, args.workdir, args.dump, args.embed_model,
             args.embed_backend, args.keep_stores)
    print(ablate(tasks, args.dump, args.mirrors))


if __name__ == "__main__":
    main()
