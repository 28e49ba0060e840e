"""A cold `codeagent search`: a new process each time, as a user runs it, on indexes made
by different embedding backends, alternating, in one run.

    python bench/cold_search.py REPO_A REPO_B ... [--runs 5] [--query TEXT]

Each REPO is indexed already (e.g. the same checkout copied twice and indexed with
`--embed-backend torch` and `--embed-backend onnx`); the search uses the backend its index
records. Reports the median wall time per repository, and which of torch,
sentence_transformers and transformers the process imported (`-X importtime`, a separate
run). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "transformers", "sentence_transformers")


def search(repo: Path, query: str, importtime: bool = False) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "codeagent", "search", query,
                           "--repo", str(repo), "-k", "5"], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", type=Path, nargs="+")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", default="where are redirects followed")
    args = parser.parse_args()
    from codeagent.index.layout import open_manifest_readonly, recorded_backend_of

    seconds: dict[Path, list[float]] = {repo: [] for repo in args.repos}
    for repo in args.repos:
        search(repo, args.query)  # the page cache warm for every one alike
    for _ in range(args.runs):
        for repo in args.repos:
            started = time.perf_counter()
            search(repo, args.query)
            seconds[repo].append(time.perf_counter() - started)
    rows = []
    for repo in args.repos:
        manifest = open_manifest_readonly(repo)
        backend = recorded_backend_of(manifest)
        manifest.close()
        imported = search(repo, args.query, importtime=True).stderr
        names = {line.rsplit("|", 1)[-1].strip() for line in imported.splitlines()
                 if line.startswith("import time:")}
        heavy = [m for m in HEAVY if m in names]
        rows.append({"repo": str(repo), "backend": backend,
                     "median_s": round(statistics.median(seconds[repo]), 2),
                     "each": [round(s, 2) for s in seconds[repo]], "imports": heavy})
    print(json.dumps({"query": args.query, "runs": args.runs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
