"""multi_query_search latency with the entity ranking, with the previous file ranking, and
from the previous, shallower candidates.

    python bench/multi_query_latency.py REPO [--tasks FILE] [--queries 40] [-k 8]

REPO is an indexed repository (e.g. a checkout that `codeagent eval localize` left in its
--workdir). The queries are real bug reports (`--tasks`, default the SWE-bench Lite file
in ../shared/bench). Each query runs through the tool's own path (`ToolContext.spans`: variants,
vector + BM25 fusion, span merging) twice, alternating: as the tool does it (files and
definitions ranked from chunks, names and the entity graph: `retrieval/functions.py`), and
with the ranking it replaced (files only: the best chunks and the files the report names,
`Mentions.rank_files`), and the entity ranking without the definitions' own text (BM25 over
the candidate definitions, read from the files: `functions.text_definitions`), and the
entity ranking from the max(3k, 20) chunks per retriever it took before
`fusion.CANDIDATES`. The ratios of the p50s are their costs. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TASKS = Path(__file__).resolve().parents[2] / "shared" / "bench" / \
    "swebench-lite-localization.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--tasks", type=Path, default=TASKS)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("-k", type=int, default=8)
    args = parser.parse_args()

    from codeagent.index.embedding import load_embedding
    from codeagent.retrieval import functions, fusion
    from codeagent.settings import load_settings
    from codeagent.tools.context import ToolContext

    embedding = load_embedding(MODEL, "cpu", 32)
    ctx = ToolContext(args.repo, load_settings(args.repo, {"embed_model": MODEL}),
                      embedding=embedding)
    queries = [json.loads(line)["problem_statement"]
               for line in args.tasks.read_text(encoding="utf-8").splitlines()
               if line.strip()][:args.queries]
    entities = functions.rank

    def files_only(text, chunks, graph, mentions, **_):  # the previous ranking
        return functions.EntityRanking(mentions.rank_files(text, [p for p, _, _ in chunks]))

    def without_text(*args, **kwargs):
        return entities(*args, **{**kwargs, "read_lines": None})

    ctx.spans(queries[0], args.k)  # warm: model, store, keyword, name and graph indexes
    deep, shallow = fusion.CANDIDATES, max(3 * args.k, 20)
    rankers = {"entities": (entities, deep), "files_only": (files_only, deep),
               "without_text": (without_text, deep), "shallow": (entities, shallow)}
    seconds: dict[str, list[float]] = {name: [] for name in rankers}
    for query in queries:
        for name, (ranker, candidates) in rankers.items():
            functions.rank, fusion.CANDIDATES = ranker, candidates
            started = time.perf_counter()
            ctx.spans(query, args.k)
            seconds[name].append(time.perf_counter() - started)
    functions.rank, fusion.CANDIDATES = entities, deep
    from codeagent.index import graph

    graph._LOADED.clear()  # the graph resolved anew from the manifest, timed once
    started = time.perf_counter()
    ctx.searcher().graph()
    graph_ms = (time.perf_counter() - started) * 1000
    ctx.close()
    p50 = {name: statistics.median(v) for name, v in seconds.items()}
    print(json.dumps({"repo": str(args.repo), "queries": len(queries), "k": args.k,
                      **{f"p50_ms_{name}": round(v * 1000, 1) for name, v in p50.items()},
                      "ratio_p50": round(p50["entities"] / p50["files_only"], 3),
                      "ratio_p50_text": round(p50["entities"] / p50["without_text"], 3),
                      "ratio_p50_deep": round(p50["entities"] / p50["shallow"], 3),
                      "graph_load_ms": round(graph_ms, 1)}, indent=2))


if __name__ == "__main__":
    main()
