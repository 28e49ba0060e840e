"""Embedding backends side by side: chunks/s and agreement with torch, per model.

    python bench/embed_backends.py REPO [--model NAME_OR_DIR ...] [--chunks 149] [--batch 32]

The chunks are forty-line windows of REPO's Python files (the first --chunks of them, in
path order). For each model, each backend (torch, onnx, onnx-int8; exports are made first
and not timed, their time is reported apart) embeds the same chunks after one warm-up
batch, the backends alternating in one run. Agreement with torch: the least and mean
cosine of the same chunk's vectors, and how many of each chunk's 5 nearest neighbours
(among the others) are the same ones. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")


def chunks_of(repo: Path, count: int, lines: int = 40) -> list[str]:
    texts = []
    for path in sorted(repo.rglob("*.py")):
        if ".codeagent" in path.parts:
            continue
        rows = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for start in range(0, len(rows), lines):
            texts.append("\n".join(rows[start:start + lines]))
            if len(texts) == count:
                return texts
    return texts


def neighbours(vectors: np.ndarray, k: int = 5) -> np.ndarray:
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1)[:, :k]


def measure(model: str, texts: list[str], batch: int) -> dict:
    from codeagent.index.embedding import load_embedding, resolve_model_dir
    from codeagent.index.onnx_encoder import ensure_exported

    export_s = {}
    for backend in BACKENDS[1:]:
        started = time.perf_counter()
        export = ensure_exported(resolve_model_dir(model), model, backend)
        export_s[backend] = {"seconds_now": round(time.perf_counter() - started, 1),
                             "export_seconds": export.seconds,
                             "min_cosine_probes": round(export.min_cosine, 5)}
    models = {b: load_embedding(model, "cpu", batch, backend=b)[0] for b in BACKENDS}
    for m in models.values():
        m.get_text_embedding_batch(texts[:batch])  # warm-up
    vectors, seconds = {}, {}
    for backend, m in models.items():
        started = time.perf_counter()
        vectors[backend] = np.array(m.get_text_embedding_batch(texts), dtype=np.float32)
        seconds[backend] = time.perf_counter() - started
    reference = neighbours(vectors["torch"])
    rows = {}
    for backend in BACKENDS:
        cosine = np.sum(vectors[backend] * vectors["torch"], axis=1)
        ours = neighbours(vectors[backend])
        agree = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ours, reference)])
        rows[backend] = {"chunks_per_s": round(len(texts) / seconds[backend], 2),
                         "speedup_vs_torch": round(seconds["torch"] / seconds[backend], 2),
                         "min_cosine": round(float(cosine.min()), 5),
                         "mean_cosine": round(float(cosine.mean()), 5),
                         "top5_agreement": round(float(agree), 3)}
    return {"model": model, "backends": rows, "exports": export_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--model", action="append")
    parser.add_argument("--chunks", type=int, default=149)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    texts = chunks_of(args.repo, args.chunks)
    results = [measure(model, texts, args.batch) for model in args.model or [MINILM]]
    print(json.dumps({"repo": str(args.repo), "chunks": len(texts), "batch": args.batch,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
