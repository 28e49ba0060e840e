"""Index throughput: `codeagent index` end to end vs the raw encoder, in one run.

    python bench/index_throughput.py --mirror /path/to/owner+name/repo [--commit SHA]
        [--model sentence-transformers/all-MiniLM-L6-v2] [--batch-size 32] [--device cpu]
        [--also-backend auto ...] [--also-batch-size 0]

1. materializes the repository at the commit into a scratch directory;
2. times `codeagent index` as a user runs it (a fresh process: start-up, model load, walk,
   chunk, embed, store, manifest) -> end-to-end chunks/s;
3. embeds exactly the same chunk texts with the bare SentenceTransformer.encode, same model,
   batch size and device -> raw encoder chunks/s;
4. times a second `codeagent index` with nothing changed (no-op re-index);
5. with --also-backend B, indexes a second copy of the commit with `--embed-backend B`
   (the first run is `--embed-backend torch`, today's path) and gives the speed-up;
   with --also-batch-size N, at that batch size (0: codeagent's default for the device).
Prints the ratios (targets: end-to-end / raw >= 0.9, no-op / full <= 0.02) as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def materialize(mirror: Path, commit: str, dest: Path, only: list[str] | None = None) -> None:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", f"--git-dir={mirror}", "archive", commit, *(only or [])],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def timed_index(repo: Path, model: str, batch: int, device: str,
                backend: str = "torch") -> tuple[float, dict]:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "codeagent", "index", str(repo), "--json",
                          "--embed-model", model, "--embed-device", device,
                          "--embed-backend", backend,
                          *(["--embed-batch-size", str(batch)] if batch else [])],
                         capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"codeagent index failed:\n{run.stderr}")
    return elapsed, json.loads(run.stdout)


def embed_texts(repo: Path) -> list[str]:
    """The strings the indexer embedded, rebuilt from the manifest the same way."""
    from llama_index.core.schema import MetadataMode

    from codeagent.index.chunker import Chunk, chunk_node
    from codeagent.index.layout import data_dir
    from codeagent.index.manifest import Manifest

    manifest = Manifest(data_dir(repo) / "manifest.sqlite")
    texts = [chunk_node(Chunk(c.path, c.language, c.start_line, c.end_line, c.text, c.symbol,
                              tuple(filter(None, c.symbols.split(",")))), "")
             .get_content(MetadataMode.EMBED) for c in manifest.iter_chunks()]
    manifest.close()
    return texts


def raw_encoder_seconds(texts: list[str], model: str, batch: int, device: str) -> float:
    from sentence_transformers import SentenceTransformer

    from codeagent.index.embedding import resolve_model_dir

    encoder = SentenceTransformer(str(resolve_model_dir(model)), device=device)
    encoder.encode(texts[:batch], batch_size=batch)  # warm-up, as the first batch of a run
    started = time.perf_counter()
    encoder.encode(texts, batch_size=batch, normalize_embeddings=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, required=True, help="bare git directory")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--only", action="append", metavar="PATH",
                        help="materialize only these paths of the commit (a slow model's "
                             "measurement on part of a repository)")
    parser.add_argument("--no-raw", action="store_true",
                        help="skip the bare encoder's run (for a slow model, when only the "
                             "backends' ratio is wanted)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--also-backend", action="append", default=[], metavar="BACKEND",
                        help="index the same commit again with this backend (auto, onnx, "
                             "onnx-int8; its export made first, untimed) and compare")
    parser.add_argument("--also-batch-size", type=int, metavar="N",
                        help="the batch size of the --also-backend runs (default: --batch-size; "
                             "0: what codeagent picks for the device)")
    args = parser.parse_args()
    also_batch = args.batch_size if args.also_batch_size is None else args.also_batch_size

    scratch = Path(tempfile.mkdtemp(prefix="codeagent-bench-"))
    try:
        repo = scratch / "repo"
        materialize(args.mirror, args.commit, repo, args.only)
        full_s, summary = timed_index(repo, args.model, args.batch_size, args.device)
        noop_s, noop = timed_index(repo, args.model, args.batch_size, args.device)
        assert noop["chunks_written"] == 0, "the no-op run re-embedded something"
        texts = embed_texts(repo)
        assert len(texts) == summary["chunks"]
        raw_s = (None if args.no_raw else
                 raw_encoder_seconds(texts, args.model, args.batch_size, args.device))
        others = {}
        for backend in args.also_backend:
            if backend != "torch":
                from codeagent.index.embedding import load_embedding

                load_embedding(args.model, args.device, backend=backend)  # the export, once
            copy = scratch / f"repo-{backend}"
            materialize(args.mirror, args.commit, copy, args.only)
            seconds, other = timed_index(copy, args.model, also_batch, args.device, backend)
            others[backend] = {"index_seconds": round(seconds, 2), "chunks": other["chunks"],
                               "index_chunks_per_s": round(other["chunks"] / seconds, 2),
                               "speedup_vs_torch": round(full_s / seconds, 2)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    chunks = summary["chunks"]
    result = {
        "repo": args.mirror.parent.name, "commit": args.commit, "model": args.model,
        "batch_size": args.batch_size, "also_batch_size": also_batch, "device": args.device,
        "files": summary["files"],
        "chunks": chunks, "index_seconds": round(full_s, 2),
        "index_chunks_per_s": round(chunks / full_s, 2),
        "only": args.only,
        **({} if raw_s is None else {
            "raw_encoder_seconds": round(raw_s, 2), "raw_chunks_per_s": round(chunks / raw_s, 2),
            "end_to_end_over_raw": round(raw_s / full_s, 3)}),
        "noop_seconds": round(noop_s, 3), "noop_over_full": round(noop_s / full_s, 4),
        "other_backends": others,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
