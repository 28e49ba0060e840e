"""Levers the product does not use, each tried once on the saved retrieval of
`localize_ablation.py --keep-stores`: the default ranking plus one change, on all dumped
tasks and on two halves of them split by repository.

    python bench/localize_levers.py ../shared/bench/swebench-lite-localization.jsonl \\
        --mirrors /work/.mirror --dump /work/run/localize-dump [--lever NAME ...]

Two tables. Ranking levers reuse the saved chunks and change what is made of them (more
evidence for definitions or files, other weights); each is compared with the default
ranking. Retrieval levers ask the kept index new queries (the vectors and the BM25 index
of each commit, `--keep-stores`); they are compared with the retrieval rebuilt from the
same store with no change, which differs slightly from the saved one (exact cosine here,
Chroma's HNSW there). A lever is kept in the product only when it helps the set as a whole
and does not help one half while hurting the other (bench/README.md, "Levers tried after
the definition ranking"). These are prototypes, written against the product's pieces
(`retrieval.functions`, `retrieval.mentions`), not product code.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tokenize as pytokenize
from collections import Counter, defaultdict
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).parent))
import localize_ablation  # noqa: E402  (graph_at, lines_at, table)

import codeagent.retrieval.functions as F  # noqa: E402
import codeagent.retrieval.mentions as M  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEPTH = 200
"""Chunks taken from each retriever and query, as phase 1 does."""


class Task:
    """One dumped task and what its commit offers: the saved chunks, the paths index, the
    entity graph, the files' lines, the mirror; the kept store on demand."""

    _commits: dict[str, dict] = {}

    def __init__(self, task, dump: Path, mirrors: Path) -> None:
        from codeagent.evaluation.tasks import mirror_for
        from codeagent.index.manifest import Manifest

        self.task, self.dump = task, dump
        saved = json.loads((dump / f"{task.instance_id}.json").read_text())
        self.commit = saved["commit"]
        self.chunks = [tuple(span) for span in saved["multi-query"]]
        if self.commit not in Task._commits:
            manifest = Manifest(dump / "manifests" / f"{self.commit}.sqlite")
            languages = {p: r.language for p, r in manifest.files().items()
                         if r.skipped is None}
            git_dir = mirror_for(mirrors, task.repo)
            cache_dir = dump / "graphs"
            cache_dir.mkdir(exist_ok=True)
            Task._commits[self.commit] = {
                "mentions": M.Mentions(manifest), "git_dir": git_dir,
                "graph": localize_ablation.graph_at(git_dir, self.commit, languages, cache_dir),
                "read_lines": localize_ablation.lines_at(git_dir, self.commit, list(languages))}
        self.__dict__.update(Task._commits[self.commit])

    @property
    def text(self) -> str:
        return self.task.query

    def store(self) -> "Store":
        return Store.at(self.dump, self.commit)


class Store:
    """A kept commit index: every chunk vector in memory (exact cosine) and its BM25 index."""

    _open: dict[str, "Store"] = {}

    @classmethod
    def at(cls, dump: Path, commit: str) -> "Store":
        if commit not in cls._open:
            cls._open.clear()  # one commit's vectors at a time: tasks come in commit order
            cls._open[commit] = cls(dump, commit)
        return cls._open[commit]

    def __init__(self, dump: Path, commit: str) -> None:
        import numpy as np

        from codeagent.index import keyword_index

        kept = dump / "stores" / commit
        if not kept.is_dir():
            sys.exit(f"{kept} is missing: run localize_ablation.py with --keep-stores")
        cached = dump / "vectors" / f"{commit}.npz"
        if not cached.exists():
            import chromadb

            client = chromadb.PersistentClient(path=str(kept / "chroma"))
            collection = client.get_collection(client.list_collections()[0].name)
            got = collection.get(include=["embeddings", "metadatas"])
            keys = [f'{m["path"]}\t{m["start_line"]}\t{m["end_line"]}' for m in got["metadatas"]]
            cached.parent.mkdir(exist_ok=True)
            np.savez(cached, v=np.asarray(got["embeddings"], dtype=np.float32), k=np.array(keys))
        saved = np.load(cached)
        vectors = saved["v"]
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        self.keys = [(p, int(a), int(b)) for p, a, b in (k.split("\t") for k in saved["k"])]
        self.bm25 = keyword_index.load(kept)

    def by_vector(self, vector, k: int = DEPTH) -> list[tuple]:
        import numpy as np

        scores = self.vectors @ vector
        return [self.keys[i] for i in np.argsort(-scores)[:k]]

    def by_words(self, query: str, k: int = DEPTH) -> list[tuple]:
        from codeagent.index.keyword_index import tokenize

        tokens = tokenize(query)
        if not tokens:
            return []
        total = int(self.bm25.scores["num_docs"])
        docs, scores = self.bm25.retrieve([tokens], k=min(k, total), show_progress=False)
        found = []
        for doc, score in zip(docs[0], scores[0]):
            meta = doc.get("metadata", doc)
            if score > 0:
                found.append((meta["path"], int(meta["start_line"]), int(meta["end_line"])))
        return found


@cache
def encoder():
    from codeagent.index.embedding import load_encoder

    return load_encoder(MODEL, "cpu", "onnx")[0]


@cache
def embedded(text: str):
    import numpy as np

    vector = np.asarray(encoder().encode([text])[0], dtype=np.float32)
    return vector / np.linalg.norm(vector)


def fused_chunks(lists: list[list[tuple]]) -> list[tuple]:
    """The retrievers' lists (chunks best first) fused by reciprocal rank, as multi-query
    search fuses them (`mentions.fuse`, each chunk scored by its position)."""
    fused = M.fuse([[(key, -position) for position, key in enumerate(found)]
                    for found in lists])
    return [key for key, _ in fused][:DEPTH]


# ---------------------------------------------------------------- the default, rebuilt

def ranking(t: Task, chunks: list[tuple] | None = None, *,
            definitions_extra: list | None = None, definitions_weight: float = 1.0,
            files_extra: list | None = None, files_weight: float = 1.0,
            files_extra_reorders: bool = False,
            files_from_plain_definitions: bool = False,
            chunk_files: Callable[[list[str]], list] = M.files_of_chunks,
            named_words: Callable = F.word_definitions) -> F.EntityRanking:
    """`functions.rank` with the default levers, spelled out so that one piece can be
    added or swapped: one more definition ranking (at a weight; for the listed functions
    only when `files_from_plain_definitions`), one more file ranking (a prior, such as
    churn, only `files_extra_reorders` the files found otherwise), another chunk-to-file
    ranking, another reading of the prose's names. With no change it gives `rank`'s result
    (checked by the first row)."""
    chunks = t.chunks if chunks is None else chunks
    graph = t.graph
    demote_entity = lambda d: M.is_peripheral(graph.entities[d].path)  # noqa: E731
    found = F.chunk_scores(chunks, graph)
    named = F.ranked(F._sum(F.frame_definitions(t.mentions.frames(t.text), graph),
                            named_words(t.text, graph)))
    evidence = [r for r in (found, named) if r]
    weights = [1.0] * len(evidence)
    text = F.text_definitions(t.text, chunks, graph, t.read_lines)
    plain = F.fuse([*evidence, text], demote=demote_entity, weights=[*weights, F.TEXT_WEIGHT])
    listed = plain
    if definitions_extra:
        listed = F.fuse([*evidence, definitions_extra, text], demote=demote_entity,
                        weights=[*weights, definitions_weight, F.TEXT_WEIGHT])
    paths = [path for path, _, _ in chunks]
    rankings = [chunk_files(paths), t.mentions.named_files(t.text)]
    file_weights = [1.0, 1.0]
    from_definitions = plain if files_from_plain_definitions else listed
    if from_definitions:
        rankings.append(F.best_per_file(from_definitions, graph))
        file_weights.append(1.0)
    if files_extra_reorders and files_extra:
        found = {path for ranked in rankings for path, _ in ranked}
        files_extra = [(path, score) for path, score in files_extra if path in found]
    if files_extra:
        rankings.append(files_extra)
        file_weights.append(files_weight)
    files = F.fuse(rankings, demote=M.is_peripheral, weights=file_weights)
    return F.EntityRanking(files, listed)


def default(t: Task) -> F.EntityRanking:
    return F.rank(t.text, t.chunks, t.graph, t.mentions, F.Levers(), None, t.read_lines)


# ---------------------------------------------------------------- ranking levers

VENDOR_DIRS = {"vendor", "vendors", "vendored", "_vendor", "third_party", "thirdparty",
               "3rdparty", "external", "externals", "extern", "_vendored"}
_VERSION = re.compile(r"^__version__\s*=", re.M)


@contextmanager
def peripheral(also: Callable[[str], bool] | None = None, weight: float | None = None):
    """`mentions.is_peripheral` widened (and its weight changed) for one ranking."""
    before, before_weight = M.is_peripheral, M.PERIPHERAL_WEIGHT
    if also is not None:
        F.is_peripheral = M.is_peripheral = lambda p: before(p) or also(p)
    if weight is not None:
        M.PERIPHERAL_WEIGHT = weight
    try:
        yield
    finally:
        F.is_peripheral = M.is_peripheral = before
        M.PERIPHERAL_WEIGHT = before_weight


def vendored(t: Task) -> F.EntityRanking:
    """Vendored code after the library: a folder named vendor, third_party, external...,
    or a nested package whose `__init__.py` sets `__version__`."""
    inits = {p.rsplit("/", 1)[0] for p in t.mentions.paths if p.endswith("/__init__.py")}
    roots = tuple(d + "/" for d in inits
                  if "/" in d and d.rsplit("/", 1)[0] in inits
                  and any(_VERSION.match(line) for line in t.read_lines(d + "/__init__.py") or []))
    with peripheral(lambda p: bool(VENDOR_DIRS & set(p.split("/")[:-1]))
                    or p.startswith(roots)):
        return default(t)


def callees(t: Task, top: int = 10) -> list[tuple[str, float]]:
    """The library definitions the `top` named ones call, each passing its score, shared."""
    graph = t.graph
    named = F.ranked(F._sum(F.frame_definitions(t.mentions.frames(t.text), graph),
                            F.word_definitions(t.text, graph)))
    known = {e for e, _ in F.chunk_scores(t.chunks, graph)} | {e for e, _ in named}
    scores: dict[str, float] = defaultdict(float)
    for entity, score in named[:top]:
        called = {e.target for e in graph.out.get(entity, ()) if e.kind == F.INVOKES
                  and graph.entities[e.target].qualified
                  and not M.is_peripheral(graph.entities[e.target].path)}
        for target in called:
            scores[target] += score / len(called)
    return [(e, v) for e, v in F.ranked(scores) if e in known]


def in_degree(t: Task) -> list[tuple[str, float]]:
    """Files by the edges other files' definitions point at them with."""
    counts: Counter[str] = Counter()
    for source, edges in t.graph.out.items():
        source_path = t.graph.entities[source].path if source in t.graph.entities else source
        for edge in edges:
            target = t.graph.entities[edge.target].path
            if target != source_path:
                counts[target] += 1
    return F.ranked(dict(counts))


def churn(t: Task, commits: int = 200) -> list[tuple[str, float]]:
    """Files by how many of the last `commits` commits changed them."""
    changed = _git(t, "log", f"-{commits}", "--no-merges", "--name-only", "--format=", t.commit)
    return F.ranked(dict(Counter(line for line in changed.splitlines() if line.endswith(".py"))))


def _git(t: Task, *args: str) -> str:
    """What git prints; not checked: a mirror snapshot may lack old objects, and `git log`
    then stops where they are missing, having printed the commits before."""
    return subprocess.run(["git", "--git-dir", str(t.git_dir), *args], capture_output=True,
                          text=True, errors="replace").stdout


def size_normalized(t: Task, power: float) -> Callable[[list[str]], list]:
    """Files by their best chunks, divided by (lines) ** power: a big file has more chunks
    to be found by chance (negative: bigger files first)."""
    def chunk_files(paths: list[str]) -> list:
        return F.ranked({p: s / max(len(t.read_lines(p) or ()), 50) ** power
                         for p, s in M.files_of_chunks(paths)})
    return chunk_files


_PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]|%[-#0 +]*\d*(?:\.\d+)?"
                          r"[sdrifxXeEgGc%]|\{[^{}]*\}|\\n|\n|\t")
_literals: dict[str, dict] = {}


def quoted_literals(t: Task, shortest: int = 8, most: int = 5) -> list[tuple[str, float]]:
    """The code's string literals (pieces between format placeholders, `shortest` chars or
    more, docstrings left out) that the report quotes verbatim, each voting for the
    definitions spelling it when at most `most` do: option names, output headers,
    messages."""
    if t.commit not in _literals:
        where: dict[str, set] = defaultdict(set)
        for path in t.graph._in_file:
            lines = t.read_lines(path) if path.endswith(".py") and not M.is_peripheral(path) \
                else None
            for line, body in _strings("\n".join(lines) + "\n" if lines else ""):
                entity = F.owner(t.graph, t.graph.enclosing(path, line))
                for piece in _PLACEHOLDER.split(body):
                    piece = piece.strip(" :,.;\"'")
                    if len(piece) >= shortest and re.search(r"[A-Za-z]{3}", piece):
                        where[piece].add(entity)
        _literals.clear()
        _literals[t.commit] = where
    votes: dict[str, float] = defaultdict(float)
    for piece, entities in _literals[t.commit].items():
        if len(entities) <= most and piece in t.text:
            for entity in entities:
                if entity in t.graph.entities and t.graph.entities[entity].qualified:
                    votes[entity] += 1.0 / len(entities)
    return F.ranked(votes)


def _strings(source: str):
    try:
        tokens = list(pytokenize.generate_tokens(io.StringIO(source).readline))
    except (pytokenize.TokenError, SyntaxError, IndentationError):
        return
    for token in tokens:
        if token.type == pytokenize.STRING:
            body = re.sub(r"^[A-Za-z]*('''|\"\"\"|'|\")|('''|\"\"\"|'|\")$", "", token.string)
            if body.count("\n") <= 3:  # a docstring is prose, not what the program prints
                yield token.start[0], body


_history: dict[str, tuple] = {}


def similar_commits(t: Task, commits: int = 3000, top: int = 20,
                    most_files: int = 10) -> list[tuple[str, float]]:
    """Files changed by the past commits most like the report (BM25 over the messages of
    the last `commits` before the task's commit; BugLocator's idea): each of the `top`
    votes its score, shared among the library files it changed."""
    from codeagent.index.keyword_index import quiet_bm25s, tokenize

    if t.commit not in _history:
        log = _git(t, "log", "--no-merges", f"-n{commits}", "--name-only",
                   "--format=%x00%H%x01%B%x02", t.commit)
        past = []
        for record in log.split("\x00")[1:]:
            head, _, names = record.partition("\x02")
            _, _, message = head.partition("\x01")
            paths = [p for p in names.split("\n") if p.endswith(".py") and not M.is_peripheral(p)]
            if paths and message.strip():
                past.append((paths, tokenize(message) or ["_"]))
        bm25 = quiet_bm25s().BM25()
        bm25.index([words for _, words in past], show_progress=False)
        _history.clear()
        _history[t.commit] = (past, bm25)
    past, bm25 = _history[t.commit]
    query = tokenize(t.text)
    if not query or not past:
        return []
    found, scores = bm25.retrieve([query], k=min(top, len(past)), show_progress=False)
    votes: dict[str, float] = defaultdict(float)
    for i, score in zip(found[0], scores[0]):
        paths = [p for p in past[int(i)][0] if p in t.graph._in_file]
        if score > 0 and 0 < len(paths) <= most_files:
            for path in paths:
                votes[path] += float(score) / len(paths)
    return F.ranked(votes)


def title(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def title_names_double(t: Task) -> F.EntityRanking:
    def named_words(text: str, graph) -> list:
        words = F.word_definitions(text, graph)
        head = title(text)
        if head and head != text.strip():
            words = F.ranked(F._sum(words, F.word_definitions(head, graph)))
        return words
    return ranking(t, named_words=named_words)


def centroids(t: Task, weight: float) -> F.EntityRanking:
    """Files by the cosine of the report to the mean of their chunk vectors."""
    import numpy as np

    store = t.store()
    by_path: dict[str, list[int]] = defaultdict(list)
    for i, (path, _, _) in enumerate(store.keys):
        by_path[path].append(i)
    paths = sorted(by_path)
    means = np.stack([store.vectors[by_path[p]].mean(axis=0) for p in paths])
    scores = (means / np.linalg.norm(means, axis=1, keepdims=True)) @ embedded(t.text)
    return ranking(t, files_extra=[(paths[i], float(scores[i])) for i in np.argsort(-scores)],
                   files_weight=weight)


RANKING_LEVERS: dict[str, Callable[[Task], F.EntityRanking]] = {
    "the default spelled out (a check: no change)": ranking,
    "vendored code after the library": vendored,
    "callees of the named definitions (graph), weight 1":
        lambda t: ranking(t, definitions_extra=callees(t), definitions_weight=1.0),
    "the same, weight 0.5":
        lambda t: ranking(t, definitions_extra=callees(t), definitions_weight=0.5),
    "the same, weight 1, for the listed functions only (files as the default)":
        lambda t: ranking(t, definitions_extra=callees(t), files_from_plain_definitions=True),
    "peripheral files x0.25 (default x0.5)":
        lambda t: _with(peripheral(weight=0.25), default, t),
    "a file's in-degree in the graph, weight 0.25":
        lambda t: ranking(t, files_extra=in_degree(t), files_weight=0.25,
                          files_extra_reorders=True),
    "git churn (last 200 commits), weight 0.25":
        lambda t: ranking(t, files_extra=churn(t), files_weight=0.25, files_extra_reorders=True),
    "past commits like the report (BM25 over messages), weight 0.25":
        lambda t: ranking(t, files_extra=similar_commits(t), files_weight=0.25),
    "chunk evidence / file lines ** 0.2":
        lambda t: ranking(t, chunk_files=size_normalized(t, 0.2)),
    "chunk evidence x file lines ** 0.2":
        lambda t: ranking(t, chunk_files=size_normalized(t, -0.2)),
    "string literals the report quotes, weight 0.5":
        lambda t: ranking(t, definitions_extra=quoted_literals(t), definitions_weight=0.5),
    "the names in the title counted double": title_names_double,
    "a file's mean chunk vector (centroid), weight 0.25": lambda t: centroids(t, 0.25),
}


def _with(context, rank, t: Task) -> F.EntityRanking:
    with context:
        return rank(t)


# ---------------------------------------------------------------- retrieval levers

def retrieval_lists(t: Task, vector_of=None) -> list[list[tuple]]:
    """Multi-query retrieval from the kept store, unfused: each heuristic variant against
    vectors (`vector_of` may change how that list is made) and BM25."""
    from codeagent.retrieval.variants import heuristic_variants

    store = t.store()
    lists = []
    for variant in heuristic_variants(t.text):
        lists.append(vector_of(store, variant) if vector_of
                     else store.by_vector(embedded(variant)))
        lists.append(store.by_words(variant))
    return lists


def retrieval(t: Task, extra_vectors=(), extra_words=(), vector_of=None) -> list[tuple]:
    """`retrieval_lists` plus lists for `extra_vectors` (query vectors) and `extra_words`
    (BM25 queries), fused."""
    store = t.store()
    return fused_chunks([*retrieval_lists(t, vector_of),
                         *(store.by_vector(v) for v in extra_vectors),
                         *(store.by_words(q) for q in extra_words)])


def windows(text: str, size: int = 1000) -> list[str]:
    """The report in pieces of about `size` characters, cut at blank lines, else lines:
    MiniLM reads the first 256 tokens of a query and no more."""
    pieces, current = [], ""
    for paragraph in (p for p in re.split(r"\n\s*\n", text.replace("\r", "")) if p.strip()):
        while len(paragraph) > size:
            cut = paragraph.rfind("\n", 0, size)
            cut = cut if cut > size // 3 else size
            if current:
                pieces.append(current)
                current = ""
            pieces.append(paragraph[:cut])
            paragraph = paragraph[cut:]
        if current and len(current) + len(paragraph) > size:
            pieces.append(current)
            current = paragraph
        else:
            current = f"{current}\n\n{paragraph}" if current else paragraph
    return pieces + ([current] if current else [])


def window_lists(t: Task, how: str) -> list[tuple]:
    import numpy as np

    vectors = [embedded(w) for w in windows(t.text)]
    if len(vectors) < 2:
        return retrieval(t)
    if how == "each":
        return retrieval(t, extra_vectors=vectors[1:])
    if how == "max":
        store = t.store()
        scores = np.max(np.stack([store.vectors @ v for v in vectors]), axis=0)
        return fused_chunks([*retrieval_lists(t),
                             [store.keys[i] for i in np.argsort(-scores)[:DEPTH]]])
    mean = np.mean(vectors, axis=0)
    return retrieval(t, extra_vectors=[mean / np.linalg.norm(mean)])


def feedback(store: Store, variant: str, first: int = 10, beta: float = 0.5) -> list[tuple]:
    """Rocchio pseudo-relevance feedback: the query vector moved toward the mean of its
    first chunks' vectors, searched again."""
    import numpy as np

    query = embedded(variant)
    top = np.argsort(-(store.vectors @ query))[:first]
    moved = query + beta * store.vectors[top].mean(axis=0)
    return store.by_vector(moved / np.linalg.norm(moved))


def titled(t: Task, vectors: bool, words: bool) -> list[tuple]:
    head = title(t.text)
    if not head or head == t.text.strip():
        return retrieval(t)
    return retrieval(t, extra_vectors=[embedded(head)] if vectors else (),
                     extra_words=[head] if words else ())


RETRIEVAL_LEVERS: dict[str, Callable[[Task], list[tuple]]] = {
    "the report cut into ~1000-character windows, each an extra vector query":
        lambda t: window_lists(t, "each"),
    "the same, the windows' best score per chunk (max)": lambda t: window_lists(t, "max"),
    "the same, the windows' mean vector": lambda t: window_lists(t, "mean"),
    "the report's title as one more variant (vector and BM25)":
        lambda t: titled(t, True, True),
    "the title as a vector query only": lambda t: titled(t, True, False),
    "the title as a BM25 query only": lambda t: titled(t, False, True),
    "pseudo-relevance feedback (Rocchio, first 10 chunks, beta 0.5) for every vector query":
        lambda t: retrieval(t, vector_of=feedback),
}


# ---------------------------------------------------------------- scoring and tables

def scored(tasks: list[Task], rank: Callable[[Task], F.EntityRanking]) -> list:
    from codeagent.evaluation.metrics import score_task

    rows = []
    for t in tasks:
        ranked = rank(t)
        rows.append((t.task, score_task(t.task.gold_files, t.task.gold_spans,
                                        t.task.names_file, ranked.files,
                                        [d for d, _ in ranked.definitions])))
    return rows


def changed_first(rows: dict[str, list]) -> str:
    """Per lever, the tasks whose first file became right (+) or wrong (-)."""
    base = {t.instance_id: s.acc[1] for t, s in rows["default"]}
    lines = []
    for name, scored_rows in rows.items():
        moved = [("+" if s.acc[1] else "-") + t.instance_id.split("__")[1]
                 for t, s in scored_rows if s.acc[1] != base[t.instance_id]]
        if name != "default":
            lines.append(f"- {name}: {' '.join(moved) or 'none'}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tasks", type=Path)
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--dump", type=Path, required=True,
                        help="localize_ablation.py's --dump, made with --keep-stores.")
    parser.add_argument("--lever", action="append", default=[],
                        help="Only the levers whose name contains this (repeatable).")
    args = parser.parse_args()

    from codeagent.evaluation.tasks import load_tasks

    tasks = [Task(t, args.dump, args.mirrors) for t in load_tasks(args.tasks)
             if (args.dump / f"{t.instance_id}.json").exists()]
    if not tasks:
        sys.exit(f"no task is dumped in {args.dump}: run localize_ablation.py first")
    tasks.sort(key=lambda t: (t.task.repo, t.commit))  # one commit's store loaded at a time
    repos = sorted({t.task.repo for t in tasks})
    wanted = lambda name: not args.lever or any(w in name for w in args.lever)  # noqa: E731

    rows = {"default": scored(tasks, default)}
    for name, rank in RANKING_LEVERS.items():
        if wanted(name):
            rows[name] = scored(tasks, rank)
            print(f"ranking lever done: {name}", file=sys.stderr, flush=True)
    print("Ranking levers (the saved chunks; against the default ranking)\n")
    print(localize_ablation.table(rows, repos))
    print("\nFirst file changed:\n" + changed_first(rows) + "\n")

    rebuilt = {name: rank for name, rank in RETRIEVAL_LEVERS.items() if wanted(name)}
    if rebuilt:
        rows = {"default": scored(tasks, lambda t: default(_rechunked(t, retrieval(t))))}
        for name, chunks_of in rebuilt.items():
            rows[name] = scored(tasks, lambda t: default(_rechunked(t, chunks_of(t))))
            print(f"retrieval lever done: {name}", file=sys.stderr, flush=True)
        print("Retrieval levers (new queries to the kept index; against the retrieval "
              "rebuilt from it, the row named default)\n")
        print(localize_ablation.table(rows, repos))
        print("\nFirst file changed:\n" + changed_first(rows))


def _rechunked(t: Task, chunks: list[tuple]) -> Task:
    copy = object.__new__(Task)
    copy.__dict__.update(t.__dict__)
    copy.chunks = chunks
    return copy


if __name__ == "__main__":
    main()
