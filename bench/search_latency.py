"""semantic_search latency at scale: p50/p95 over many queries, query embedding included.

    python bench/search_latency.py --chunks 100000 [--source-repo PATH] [--queries 60]

Builds a scratch index of N chunks: texts are real chunks of an indexed repository
(`--source-repo`, default this checkout indexed on the fly) cycled under distinct paths;
vectors are random unit vectors (latency does not depend on where vectors came from, and
embedding 100k chunks on a CPU takes an hour). Queries go through the real path: the
bundled MiniLM embeds each query on the CPU, the Searcher (LlamaIndex retriever over
Chroma HNSW) finds the top k, and the semantic_search tool formats them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
QUERIES = [
    "where are HTTP redirects followed", "parse the configuration file", "retry a failed request",
    "register a URL route", "render a template with context", "close the database connection",
    "validate user input", "serialize a response to JSON", "handle a missing key error",
    "load settings from environment variables", "compare two version strings",
    "stream the response body in chunks", "decode cookies from headers",
    "compute the cache key", "log a warning when deprecated", "test fixtures for the app",
]


def source_chunks(repo: Path) -> list[tuple[str, str, str, int, int, str]]:
    from codeagent.index.layout import data_dir
    from codeagent.index.manifest import Manifest
    from codeagent.index.run import run_index
    from codeagent.settings import load_settings

    if not (data_dir(repo) / "manifest.sqlite").exists():
        run_index(repo, load_settings(repo, {"embed_model": MODEL}))
    manifest = Manifest(data_dir(repo) / "manifest.sqlite")
    rows = [(c.path, c.language, c.symbol, c.start_line, c.end_line, c.text)
            for c in manifest.iter_chunks()]
    manifest.close()
    return rows


def build_index(root: Path, rows: list, total: int, dimension: int) -> float:
    from llama_index.core.schema import TextNode

    from codeagent.index.layout import ensure_data_dir
    from codeagent.index.manifest import FileRecord, FileUpdate, Manifest
    from codeagent.index.store import open_store

    started = time.perf_counter()
    ddir = ensure_data_dir(root)
    store = open_store(root, ddir, None, MODEL, dimension, create=True)
    manifest = Manifest(ddir / "manifest.sqlite")
    rng = np.random.default_rng(7)
    files: dict[str, int] = {}
    batch: list[TextNode] = []
    for i in range(total):
        path, language, symbol, start, end, text = rows[i % len(rows)]
        path = f"copy{i // len(rows)}/{path}"
        files[path] = files.get(path, 0) + 1
        vector = rng.standard_normal(dimension).astype(np.float32)
        node = TextNode(id_=f"c{i}", text=text, embedding=(vector / np.linalg.norm(vector)).tolist(),
                        metadata={"path": path, "language": language, "start_line": start,
                                  "end_line": end, "symbol": symbol, "symbols": symbol,
                                  "file_hash": ""})
        batch.append(node)
        if len(batch) == 5000:
            store.vector_store.add(batch)
            batch = []
    if batch:
        store.vector_store.add(batch)
    manifest.commit([FileUpdate(FileRecord(p, "", 0, 0, "python", n, None), [])
                     for p, n in files.items()])
    manifest.set_many({"model": MODEL, "dimension": dimension, "max_tokens": 256,
                       "store": "embedded", "fallback_from": ""})
    manifest.close()
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--source-repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("-k", type=int, default=8)
    args = parser.parse_args()

    from codeagent.index.embedding import load_embedding
    from codeagent.retrieval.semantic import Searcher
    from codeagent.settings import load_settings
    from codeagent.tools import ToolContext, bind
    from codeagent.tools.semantic_search import semantic_search

    embedding = load_embedding(MODEL, "cpu", 32)
    rows = source_chunks(args.source_repo.resolve())
    root = Path(tempfile.mkdtemp(prefix="codeagent-latency-"))
    try:
        build_s = build_index(root, rows, args.chunks, embedding[1].dimension)
        settings = load_settings(root, environ={})
        searcher = Searcher(root, settings, embedding=embedding)
        context = ToolContext(root, settings, embedding=embedding)
        context._searcher = searcher
        tool = bind(semantic_search, context)
        queries = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}")
                   for i in range(args.queries)]
        for query in queries[:4]:  # warm-up: first HNSW load, first forward pass
            searcher.search(query, k=args.k)
        embed_t, search_t, tool_t = [], [], []
        for query in queries:
            t0 = time.perf_counter()
            embedding[0].get_query_embedding(query)
            t1 = time.perf_counter()
            hits = searcher.search(query, k=args.k)
            t2 = time.perf_counter()
            tool(query=query, k=args.k)
            t3 = time.perf_counter()
            assert len(hits) == args.k
            embed_t.append(t1 - t0)
            search_t.append(t2 - t1)
            tool_t.append(t3 - t2)
        count = searcher.store.count()
        searcher.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({
        "chunks": count, "k": args.k, "queries": len(queries), "model": MODEL, "device": "cpu",
        "build_seconds": round(build_s, 1),
        "query_embedding": percentiles(embed_t),
        "search_incl_embedding": percentiles(search_t),
        "semantic_search_tool": percentiles(tool_t),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
    }, indent=2))


if __name__ == "__main__":
    main()
