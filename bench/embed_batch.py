"""Chunks/s by batch size, per backend, against torch at sentence-transformers' batch of 32.

    python bench/embed_batch.py REPO [--model NAME_OR_DIR] [--chunks 149]
        [--batch 4 --batch 8 ...] [--rounds 2]

The chunks are forty-line windows of REPO's Python files (bench/embed_backends.py). For
each round, each batch size and each backend (torch, onnx, onnx-int8; exports made first,
untimed) embeds all of them after one warm-up batch, the backends and sizes alternating, so
a machine's drift falls on all of them. Prints JSON: the median chunks/s of each
backend@batch over the rounds, and its ratio to torch@32 (what `codeagent index` did before
the batch size was left to the device).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from embed_backends import BACKENDS, MINILM, chunks_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--model", default=MINILM)
    parser.add_argument("--chunks", type=int, default=149)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from codeagent.index.embedding import load_embedding, resolve_model_dir
    from codeagent.index.onnx_encoder import ensure_exported

    texts = chunks_of(args.repo, args.chunks)
    sizes = sorted(set(args.batch or [4, 8, 16, 32]) | {32})
    for backend in BACKENDS[1:]:
        ensure_exported(resolve_model_dir(args.model), args.model, backend)
    models = {b: load_embedding(args.model, "cpu", 32, backend=b)[0] for b in BACKENDS}
    seen: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for size in sizes:
            for backend, model in models.items():
                model.embed_batch_size = size
                model.get_text_embedding_batch(texts[:size])  # warm-up
                started = time.perf_counter()
                model.get_text_embedding_batch(texts)
                rate = len(texts) / (time.perf_counter() - started)
                seen.setdefault(f"{backend}@{size}", []).append(round(rate, 2))
    base = statistics.median(seen["torch@32"])
    print(json.dumps({"repo": str(args.repo), "model": args.model, "chunks": len(texts),
                      "rounds": args.rounds,
                      "chunks_per_s": {k: statistics.median(v) for k, v in seen.items()},
                      "vs_torch_at_32": {k: round(statistics.median(v) / base, 2)
                                         for k, v in seen.items()},
                      "every_round": seen}, indent=2))


if __name__ == "__main__":
    main()
