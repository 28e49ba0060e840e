"""Kill matrix: kill `codeagent index` with SIGKILL, SIGTERM and SIGINT at chosen points of a
run, run it again, and check that the index matches the files on disk exactly; then damage
the embedded store between runs and check that the next run repairs or rebuilds it.

    python bench/kill_matrix.py [--signals KILL,TERM,INT] [--only SCENARIO,...]
                                [--no-damage] [--workers 2] [--fresh] [--out FILE]

Every run is the real entry point, `codeagent.cli.main.main(["index", REPO, "--json", ...])`, in
a child process; only the embedding model is a fake (8-d constant vectors, a short sleep per
batch). The child wraps the functions of each phase to print `CHECKPOINT <phase>:before` and
`:after`, then waits for the driver's go-ahead on stdin, so a kill lands exactly at the N-th
checkpoint: the driver sends the signal instead of the go-ahead (with a delay: after it,
inside the call). Nothing in agent/ or tools/ knows about checkpoints.

Children are forked from this process, which imported the heavy libraries once and never
opens a store itself (a fork must not inherit Chroma's state), so a run costs a fraction of
a second instead of ~2 s of imports; --fresh starts a new interpreter per run instead. The
store's health probe stays what it is: forked from its own fork server per process.
Prints a JSON summary; exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from support import make_repo, write_files  # noqa: E402

# What make_repo's fixture leaves in the index (tests/test_indexer.py's INDEXED), plus six
# small modules so that a first index, at 3 files per commit, has 6 batches.
FIXTURE = {"net/redirects.py", "storage/cache.go", "auth/password.rs", "web/format.js",
           "docs/deploy.md", "config/app.yaml", ".gitignore", "keep.log", "broken.py",
           "conflict.py", "legacy.py", "empty.py"}
EXTRA = {f"pkg/mod{i}.py": f'"""Module {i}."""\n\n\ndef f{i}(x):\n    return x + {i}\n\n\n'
         f'class C{i}:\n    def m(self):\n        return f{i}(1)\n' for i in range(6)}
BASE = FIXTURE | set(EXTRA)
# Chroma serves a collection from its log, not its HNSW files, up to its sync threshold
# (1000 vectors): damaged HNSW files matter only in a store with more chunks than that.
_BODY = "".join(f"    total += value * {j} + len(str(value)) // {j + 1}\n" for j in range(14))
BIG = {f"gen/g{i:03d}.py": "".join(f'def gen_{i}_{n}(value):\n    """Function {n}."""\n'
                                   f"    total = 0\n{_BODY}    return total\n\n\n"
                                   for n in range(10)) for i in range(105)}  # 1050 chunks
EMBED_SLEEP = 0.1  # per fake embedding batch: a kill 0.02 s after `embed:before` lands inside
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}
_checkpoints = False


# --- in the child: the real CLI, a fake model, checkpoints around every phase ------------

def _checkpoint(name: str) -> None:
    if _checkpoints:
        sys.stdout.write(f"CHECKPOINT {name}\n")
        sys.stdout.flush()
        os.read(0, 1)  # the go-ahead; a signal arriving while we wait lands exactly here


def _wrap(owner: object, attr: str, phase: str) -> None:
    real = getattr(owner, attr)

    def wrapper(*args, **kwargs):
        _checkpoint(f"{phase}:before")
        result = real(*args, **kwargs)
        _checkpoint(f"{phase}:after")
        return result
    setattr(owner, attr, wrapper)


def cli_child(argv: list[str], checkpoints: bool) -> None:
    global _checkpoints
    import bm25s
    from llama_index.core.embeddings import MockEmbedding

    from codeagent.cli.main import main
    from codeagent.index import embedding, health, keyword_index, manifest
    from codeagent.index import run as indexer
    from codeagent.index import store, vector_store

    class SlowMock(MockEmbedding):
        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            _checkpoint("embed:before")
            time.sleep(EMBED_SLEEP if _checkpoints else 0)  # only a killed run needs it
            _checkpoint("embed:after")
            return [self._get_vector() for _ in texts]

    embedding.load_embedding = lambda *a, **k: (
        SlowMock(embed_dim=8), embedding.EmbeddingInfo("mock-8", 8, "cpu", 256))
    indexer.BATCH_FILES = 3
    run, man = indexer._IndexRun, manifest.Manifest
    for owner, attr, phase in [
            (health.Probe, "result", "probe"), (run, "_quarantine", "quarantine"),
            (store, "open_store", "store"), (run, "_recover", "recover"),
            (run, "_reconcile", "reconcile"), (man, "journal_pending", "journal"),
            (vector_store.UpsertingChromaVectorStore, "add", "upsert"), (man, "commit", "commit"),
            (store.ChunkStore, "delete", "delete"), (keyword_index, "update", "bm25"),
            (bm25s.BM25, "save", "bm25_save"), (man, "set_many", "meta"), (man, "touch", "touch")]:
        _wrap(owner, attr, phase)
    _checkpoints = checkpoints
    # As in a terminal: Ctrl-C raises KeyboardInterrupt even where our parent ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main(argv)


def oracle_child(repo: str, expected: list[str]) -> None:
    """tests/support.py's oracle, plus: the index opens for search, a vector query answers,
    and the keyword index holds exactly the manifest's chunks. Prints the problems found."""
    import chromadb

    from codeagent.index import keyword_index
    from codeagent.index.layout import EMBEDDED_COLLECTION, data_dir, open_manifest_readonly
    from support import assert_index_matches_disk

    root, problems = Path(repo), []
    for check in ("disk", "usable"):
        try:
            if check == "disk":
                assert_index_matches_disk(root, set(expected))
                continue
            manifest = open_manifest_readonly(root)
            ids = manifest.chunk_ids()
            manifest.close()
            client = chromadb.PersistentClient(str(data_dir(root) / "chroma"), settings=(
                chromadb.config.Settings(anonymized_telemetry=False)))
            vectors = client.get_collection(EMBEDDED_COLLECTION, embedding_function=None)
            sample = vectors.get(limit=1, include=["embeddings"])["embeddings"]
            if len(sample) and not vectors.query(query_embeddings=[list(sample[0])],
                                                 n_results=min(len(ids), 50))["ids"][0]:
                problems.append("a vector query found nothing")
            bm25 = keyword_index.load(data_dir(root))
            corpus = {doc["node_id"] for doc in bm25.corpus} if bm25 else set()
            if corpus != ids:
                problems.append(f"keyword index: {len(corpus)} chunks ({len(corpus - ids)} "
                                f"stale), manifest {len(ids)}")
        except Exception as exc:  # the assertion's source line and the error's last line
            lines = "".join(traceback.format_exception(exc)[-2:]).strip().splitlines()
            problems.append(f"{check}: " + " | ".join(line.strip() for line in lines[-3:]))
    print(json.dumps(problems))


# --- the driver ----------------------------------------------------------------------------

def spawn(target: str, args: list, stderr: Path, fresh: bool) -> tuple:
    """Start `target(*args)` as a child: (pid, its stdin, its stdout, a waiter)."""
    err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    if fresh:
        code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import kill_matrix; "
                f"kill_matrix.{target}(*json.loads(sys.argv[1]))")
        proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(args)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        os.close(err)
        return proc.pid, os.dup(proc.stdin.fileno()), os.dup(proc.stdout.fileno()), proc.wait
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # behave as `python -c "...main(argv)"` does, exit hooks and all
        code = 1
        try:
            for fd, std in ((in_r, 0), (out_w, 1), (err, 2)):
                os.dup2(fd, std)
            for fd in (in_r, in_w, out_r, out_w, err):
                os.close(fd)
            globals()[target](*args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except BaseException:
            traceback.print_exc()
        finally:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    for fd in (in_r, out_w, err):
        os.close(fd)
    return pid, in_w, out_r, lambda: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def run(target: str, args: list, work: Path, fresh: bool, kill: tuple | None = None) -> dict:
    """kill = (checkpoint, occurrence, signal, delay): the signal goes at that checkpoint."""
    pid, stdin, stdout, wait = spawn(target, args, work / "stderr.txt", fresh)
    seen, out, buf, killed, last = Counter(), [], b"", False, ""
    deadline = time.monotonic() + 120
    while True:
        if not select.select([stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            os.kill(pid, signal.SIGKILL)
            out.append(f"HUNG after {last}")
        data = os.read(stdout, 65536)
        if not data:
            break
        *lines, buf = (buf + data).split(b"\n")
        for line in map(bytes.decode, lines):
            if not line.startswith("CHECKPOINT "):
                out.append(line)
                continue
            last = line.split()[1]
            seen[last] += 1
            if kill and not killed and (last, seen[last]) == kill[:2]:
                killed = True
                if kill[3]:
                    _go_ahead(stdin)
                    time.sleep(kill[3])
                os.kill(pid, kill[2])
                continue
            _go_ahead(stdin)
    code = wait()
    os.close(stdin)
    os.close(stdout)
    text = "\n".join(out)
    try:
        summary = json.loads(text[text.index("{"):])
    except ValueError:  # killed, or not a JSON command
        summary = {}
    return {"code": code, "stdout": text, "last": last, "killed": killed, "summary": summary,
            "stderr": (work / "stderr.txt").read_text(errors="replace")}


def _go_ahead(stdin: int) -> None:
    with contextlib.suppress(BrokenPipeError):  # it died on its own: EOF comes next
        os.write(stdin, b"\n")


def index(repo: Path, fresh: bool, kill: tuple | None = None, batch: int = 2) -> dict:
    argv = ["index", str(repo), "--json", "--embed-batch-size", str(batch)]
    return run("cli_child", [argv, kill is not None], repo.parent, fresh, kill)


def check(repo: Path, expected: set[str], fresh: bool) -> list[str]:
    result = run("oracle_child", [str(repo), sorted(expected)], repo.parent, fresh)
    try:
        return json.loads(result["stdout"].splitlines()[-1])
    except (ValueError, IndexError):
        return [f"the oracle crashed ({result['code']}): {result['stderr'][-800:]}"]


def verdict(result: dict, what: str, code: int, message: str | None = None) -> list[str]:
    problems = [f"{what}: exit {result['code']}, expected {code}"] * (result["code"] != code)
    if "Traceback" in result["stderr"] or (message and message not in result["stderr"]):
        problems.append(f"{what}: stderr {result['stderr'][-1500:]!r}")
    return problems


# --- scenarios: the change before the killed run, and where it is killed -----------------

def change(scenario: str, repo: Path) -> set[str]:
    """Apply the scenario's change to `repo`; return the files the index must then hold."""
    if scenario == "damaged":
        DAMAGES["chroma.sqlite3 garbled"](repo)
    if scenario in ("modify", "recover", "damaged"):
        for path in sorted(EXTRA)[:4] + ["net/redirects.py", "web/format.js", "docs/deploy.md"]:
            (repo / path).write_text((repo / path).read_text() + "\n# changed\n")
    gone = {"delete": {"pkg/mod0.py", "pkg/mod1.py", "storage/cache.go", "config/app.yaml"},
            "rename": {f"pkg/mod{i}.py" for i in range(4)}}.get(scenario, set())
    new = {"rename": {f"pkg/renamed{i}.py": "" for i in range(4)},
           "add": {f"new/add{i}.py": f"def added{i}():\n    return {i}\n" for i in range(7)}
           }.get(scenario, {})
    for old, path in zip(sorted(gone), sorted(new)):  # a rename keeps the content
        new[path] = (repo / old).read_text()
    for path in gone:
        (repo / path).unlink()
    write_files(repo, new)
    return BASE - gone | set(new)


# scenario -> (start from the indexed repo?, [(checkpoint, occurrence, delay)]).
# A first index commits 7 times (skipped files, then 6 batches of 3 files); modify and add
# re-index 7 files (3 batches), rename 4 (2); `recover` starts where a SIGKILL after an
# upsert left uncommitted chunks; `damaged` has a garbled chroma.sqlite3 and changes.
SCENARIOS = {
    "full": (False, [
        ("meta:before", 1, 0), ("store:after", 1, 0), ("embed:before", 1, 0.02),
        ("embed:after", 3, 0), ("upsert:after", 2, 0), ("commit:after", 3, 0),
        ("commit:after", 7, 0), ("bm25_save:after", 1, 0)]),
    "modify": (True, [
        ("probe:before", 1, 0), ("upsert:after", 2, 0), ("commit:after", 3, 0),
        ("delete:after", 3, 0), ("bm25:before", 1, 0)]),
    "delete": (True, [("commit:after", 1, 0), ("delete:after", 1, 0)]),
    "rename": (True, [("upsert:after", 1, 0), ("commit:after", 2, 0)]),
    "add": (True, [("journal:after", 1, 0), ("touch:before", 1, 0)]),
    "recover": (True, [("delete:before", 1, 0), ("reconcile:before", 1, 0)]),
    "damaged": (True, [
        ("quarantine:before", 1, 0), ("quarantine:after", 1, 0), ("commit:after", 3, 0)]),
}


def _garble(path: Path) -> None:
    path.write_bytes(random.Random(path.name).randbytes(max(path.stat().st_size, 4096)))


def _hnsw(repo: Path, action) -> None:
    for path in (repo / ".codeagent" / "chroma").glob("*/*"):
        action(path)


_SQLITE = Path(".codeagent/chroma/chroma.sqlite3")
DAMAGES = {  # the HNSW ones run on the repo with 1050 more chunks (see BIG)
    "chroma.sqlite3 emptied": lambda repo: os.truncate(repo / _SQLITE, 0),
    "chroma.sqlite3 truncated": lambda repo: os.truncate(
        repo / _SQLITE, (repo / _SQLITE).stat().st_size // 2),
    "chroma.sqlite3 garbled": lambda repo: _garble(repo / _SQLITE),
    "hnsw files deleted": lambda repo: _hnsw(repo, Path.unlink),
    "hnsw files garbled": lambda repo: _hnsw(repo, _garble),
    "chroma dir deleted": lambda repo: shutil.rmtree(repo / _SQLITE.parent),
    "manifest garbled": lambda repo: _garble(repo / ".codeagent/manifest.sqlite"),
    "manifest truncated": lambda repo: os.truncate(repo / ".codeagent/manifest.sqlite", 8192),
    "stale bm25.building": lambda repo: (repo / ".codeagent/bm25.building").touch(),
}


def _copy(template: str, work: Path) -> Path:
    repo = work / "case" / "repo"
    shutil.rmtree(repo.parent, ignore_errors=True)
    shutil.copytree(template, repo, symlinks=True)  # copy2: mtimes kept, stat data match
    return repo


def kill_case(job: dict, work: Path, fresh: bool) -> dict:
    repo = _copy(job["template"], work)
    (name, occurrence, delay), sig = job["point"], job["signal"]
    killed = index(repo, fresh, (name, occurrence, SIGNALS[sig], delay))
    problems = [] if killed["killed"] else ["the kill point was never reached"]
    problems += verdict(killed, "killed run", -9 if sig == "KILL" else 130,
                        None if sig == "KILL" else "interrupted")
    recovery = index(repo, fresh)
    problems += verdict(recovery, "recovery run", 0) + check(repo, set(job["expected"]), fresh)
    summary = recovery["summary"]
    return {"scenario": job["scenario"], "point": f"{name}#{occurrence}" + "+delay" * bool(delay),
            "signal": sig, "exit": killed["code"], "landed": killed["last"],
            "embedded": summary.get("embedded", 0),
            "from_cache": summary.get("chunks_written", 0) - summary.get("embedded", 0),
            "notes": summary.get("notes", []), "problems": problems}


def damage_case(job: dict, work: Path, fresh: bool) -> dict:
    repo = _copy(job["template"], work)
    DAMAGES[job["damage"]](repo)
    if job["change"]:  # with work to do, a run opens the store; without, it may not
        (repo / "net/redirects.py").write_text((repo / "net/redirects.py").read_text() + "#\n")
    result = index(repo, fresh)
    said = result["summary"].get("notes", []) + [
        line for line in result["stderr"].splitlines() if line.startswith("warning:")]
    problems = verdict(result, "run on the damaged index", 0)
    problems += check(repo, set(job["expected"]), fresh)
    search = run("cli_child", [["search", "redirects", "--repo", str(repo), "--json"], False],
                 repo.parent, fresh)  # what a user runs next must not crash either
    problems += verdict(search, "search after it", 0)
    problems += [] if said else ["said nothing about a repair or a rebuild"]
    return {"damage": job["damage"] + " + a modified file" * job["change"],
            "exit": result["code"], "said": said, "problems": problems}


def in_workers(jobs: list[dict], work: Path, workers: int, fresh: bool) -> list[dict]:
    """Each worker, a fork of this store-free process, takes every workers-th job."""
    pids = []
    for w in range(workers):
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                mine = [globals()[job["kind"]](job, work / f"w{w}", fresh)
                        for job in jobs[w::workers]]
                (work / f"w{w}.json").write_text(json.dumps(mine))
            finally:
                os._exit(0)  # no results file tells the parent that this worker failed
        pids.append(pid)
    results: list = [None] * len(jobs)
    for w, pid in enumerate(pids):
        os.waitpid(pid, 0)
        results[w::workers] = json.loads((work / f"w{w}.json").read_text())
    return results


def matrix(work: Path, signals: list[str], only: list[str], damage: bool, workers: int,
           fresh: bool) -> dict:
    started = time.monotonic()
    base = make_repo(work / "base")
    write_files(base, EXTRA)
    indexed, big = work / "indexed" / "repo", work / "big" / "repo"
    shutil.copytree(base, indexed, symlinks=True)
    index(indexed, fresh)
    if damage:
        shutil.copytree(indexed, big, symlinks=True)
        write_files(big, BIG)
        index(big, fresh, batch=64)  # 1050 chunks in 17 fake batches, not 525
    for repo, expected in [(indexed, BASE)] + [(big, BASE | set(BIG))] * damage:
        if check(repo, expected, fresh):
            raise SystemExit(f"an index that nobody killed or damaged fails already: {repo}")
    jobs, points = [], []
    for scenario, (incremental, kill_points) in SCENARIOS.items():
        if only and scenario not in only:
            continue
        template = work / f"tpl-{scenario}" / "repo"
        shutil.copytree(indexed if incremental else base, template, symlinks=True)
        expected = sorted(change(scenario, template))
        if scenario == "recover":
            index(template, fresh, ("upsert:after", 1, signal.SIGKILL, 0))
        points += [f"{scenario}/{name}#{n}" for name, n, _ in kill_points]
        jobs += [{"kind": "kill_case", "scenario": scenario, "template": str(template),
                  "expected": expected, "point": point, "signal": sig}
                 for point in kill_points for sig in signals]
    for name in DAMAGES if damage else ():
        template, expected = (big, BASE | set(BIG)) if "hnsw" in name else (indexed, BASE)
        jobs += [{"kind": "damage_case", "template": str(template), "expected": sorted(expected),
                  "damage": name, "change": modified} for modified in (False, True)]
    results = in_workers(jobs, work, workers, fresh)
    cases = [r for r in results if "signal" in r]
    damaged = [r for r in results if "damage" in r]
    exits = {f"SIG{s}": Counter(str(c["exit"]) for c in cases if c["signal"] == s)
             for s in signals}
    notes = Counter(" ".join("N" if w.isdigit() else w for w in note.split()).split(";")[0]
                    for case in cases for note in case["notes"])
    return {"mode": "fresh" if fresh else "fork", "workers": workers,
            "seconds": round(time.monotonic() - started, 1),
            "kills": {f"SIG{s}": sum(c["signal"] == s for c in cases) for s in signals},
            "kill_points": points, "exit_codes": exits,
            "recovery": {"embedded": sum(c["embedded"] for c in cases),
                         "from_cache": sum(c["from_cache"] for c in cases), "notes": notes},
            "failures": [c for c in cases if c["problems"]],
            "damage_failures": [d for d in damaged if d["problems"]],
            "damage": damaged, "cases": cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", default="KILL,TERM,INT")
    parser.add_argument("--only", default="", help="scenarios, comma-separated")
    parser.add_argument("--no-damage", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="a new interpreter per run")
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not args.fresh:  # imported once here, inherited by every forked child
        import bm25s  # noqa: F401
        import chromadb  # noqa: F401
        import llama_index.core.ingestion  # noqa: F401
        from llama_index.core.embeddings import MockEmbedding  # noqa: F401

        import codeagent.cli.main  # noqa: F401
        import codeagent.index.chunker  # noqa: F401
        import codeagent.index.embed_cache  # noqa: F401
        import codeagent.index.store  # noqa: F401
    # mkdtemp, not TemporaryDirectory: that one cleans up in an exit hook, which every
    # forked child would run (children run the exit hooks they inherit, as python does).
    tmp = tempfile.mkdtemp(prefix="kill-matrix-")
    try:
        result = matrix(Path(tmp), args.signals.split(","), [s for s in args.only.split(",") if s],
                        not args.no_damage, args.workers, args.fresh)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)
    sys.exit(1 if result["failures"] or result["damage_failures"] else 0)


if __name__ == "__main__":
    main()
