"""The default localization mode with one lever removed at a time, on the same retrieval.

    python bench/localize_ablation.py ../shared/bench/swebench-lite-localization.jsonl \
        --mirrors /work/.mirror --workdir /tmp/evalwork --dump /tmp/localize-dump \
        [--embed-model sentence-transformers/all-MiniLM-L6-v2]

Phase 1 (skipped for tasks already in --dump): like `codeagent eval localize`, visit each
task's commit in a sparse checkout of the `.py` files, index incrementally, and save the
multi-query retrieval (chunk paths and lines, best first) with a copy of the manifest.
Phase 2: rank files from the saved results with every lever, and with each removed, and
print a Markdown table (the metrics are `codeagent.evaluation.metrics`). Retrieval is run once,
so the rows differ only by the levers.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import defaultdict
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def dump(tasks: list, mirrors: Path, workdir: Path, out: Path, model: str) -> None:
    from codeagent.evaluation.localize import Localizer
    from codeagent.evaluation.tasks import Checkout, commit_order, mirror_for
    from codeagent.index.embedding import load_embedding
    from codeagent.index.run import run_index
    from codeagent.settings import load_settings

    todo = [t for t in tasks if not (out / f"{t.instance_id}.json").exists()]
    if not todo:
        return
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    embedding = load_embedding(model, "cpu", 32)
    settings = load_settings(None, {"embed_model": model})
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
            localizer = Localizer(checkout.path, settings, embedding=embedding)
            try:
                for task in at[commit]:
                    spans = localizer.spans(task.query, "multi-query")
                    (out / f"{task.instance_id}.json").write_text(
                        json.dumps({"commit": commit, "multi-query": spans}))
            finally:
                localizer.close()
            print(f"{repo} @ {commit[:10]}: {len(at[commit])} tasks dumped", flush=True)


def ablate(tasks: list, out: Path) -> str:
    import codeagent.retrieval.mentions as mentions
    from codeagent.evaluation.localize import files_by_best_chunk
    from codeagent.evaluation.metrics import score_task, summarize
    from codeagent.index.manifest import Manifest

    indexes: dict[str, mentions.Mentions] = {}
    rows: dict[str, list] = defaultdict(list)
    for task in tasks:
        saved = json.loads((out / f"{task.instance_id}.json").read_text())
        commit = saved["commit"]
        if commit not in indexes:
            indexes[commit] = mentions.Mentions(Manifest(out / "manifests" / f"{commit}.sqlite"))
        index = indexes[commit]
        retrieved = [path for path, _, _ in saved["multi-query"]]
        named = index.named_files(task.query)
        by_three = mentions.files_of_chunks(retrieved)
        by_best = files_by_best_chunk(retrieved)
        variants = {
            "default": index.rank_files(task.query, retrieved),
            "without best 3 chunks (best 1)": mentions.fuse(
                [by_best, named], demote=mentions.is_peripheral),
            "without files named": mentions.fuse([by_three], demote=mentions.is_peripheral),
            "without peripheral last": mentions.fuse([by_three, named]),
            "multi-query (no lever)": by_best,
        }
        for name, files in variants.items():
            rows[name].append((task, score_task(task.gold_files, task.gold_spans,
                                                task.names_file, files, [])))
    lines = ["| ranking | Acc@1 | Acc@5 | Acc@10 | MRR | no-hint Acc@5 |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, scored in rows.items():
        s = summarize([x for _, x in scored])
        h = summarize([x for t, x in scored if not t.names_file])
        lines.append(f"| {name} | {s.acc[1]:.3f} | {s.acc[5]:.3f} | {s.acc[10]:.3f} | "
                     f"{s.mrr:.3f} | {h.acc[5]:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tasks", type=Path)
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--dump", type=Path, required=True)
    parser.add_argument("--embed-model", default=MODEL)
    args = parser.parse_args()

    from codeagent.evaluation.tasks import load_tasks

    tasks = load_tasks(args.tasks)
    dump(tasks, args.mirrors, args.workdir, args.dump, args.embed_model)
    print(ablate(tasks, args.dump))


if __name__ == "__main__":
    main()
