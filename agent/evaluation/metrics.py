"""Localization metrics, as the field reports them (LocAgent, Agentless, SWE-bench Lite).

- file Acc@k: the task counts when *all* its gold files are among the top k files;
- MRR: the mean of 1 / the rank of the first gold file (0 when none is ranked);
- function recall@k: the share of the gold functions among the top k predicted ones.

Ties are counted against the ranker: a gold file tied with others is ranked after all of
them, so a ranker cannot score by luck of ordering (a constant score ranks nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

KS = (1, 3, 5, 10)
FUNCTION_KS = (5, 10)


def ranks(gold: Iterable[str], ranking: list[tuple[str, float]]) -> dict[str, int | None]:
    """The rank of each gold item (1 = best; ties pessimistic; None = not ranked).
    A path ranked twice counts at its best place."""
    best: dict[str, float] = {}
    for path, score in ranking:
        if path not in best or score > best[path]:
            best[path] = score
    found: dict[str, int | None] = {}
    for item in gold:
        if item not in best:
            found[item] = None
            continue
        found[item] = sum(1 for score in best.values() if score >= best[item])
    return found


def positional(items: list[str]) -> list[tuple[str, float]]:
    """A ranking without scores (a list, best first) as distinct scores."""
    return [(item, float(-n)) for n, item in enumerate(items)]


def acc_at(k: int, gold: list[str], ranking: list[tuple[str, float]]) -> bool:
    found = ranks(gold, ranking)
    return bool(gold) and all(r is not None and r <= k for r in found.values())


def reciprocal_rank(gold: list[str], ranking: list[tuple[str, float]]) -> float:
    found = [r for r in ranks(gold, ranking).values() if r is not None]
    return 1.0 / min(found) if found else 0.0


def recall_at(k: int, gold: list[str], ranked: list[str]) -> float:
    """Share of `gold` in the first k distinct items of `ranked`."""
    top = list(dict.fromkeys(ranked))[:k]
    return sum(1 for g in set(gold) if g in top) / len(set(gold)) if gold else 0.0


def gold_functions(spans: dict[str, list[str]]) -> list[str]:
    return [f"{path}:{name}" for path, names in spans.items() for name in names]


@dataclass
class Score:
    """One task's result in one mode."""
    acc: dict[int, bool]
    rr: float
    function_recall: dict[int, float] | None
    names_file: bool


def score_task(gold_files: list[str], gold_spans: dict[str, list[str]], names_file: bool,
               files: list[tuple[str, float]], functions: list[str]) -> Score:
    gold_fns = gold_functions(gold_spans)
    return Score({k: acc_at(k, gold_files, files) for k in KS},
                 reciprocal_rank(gold_files, files),
                 {k: recall_at(k, gold_fns, functions) for k in FUNCTION_KS}
                 if gold_fns else None, names_file)


@dataclass
class Summary:
    tasks: int
    acc: dict[int, float]
    mrr: float
    function_tasks: int
    function_recall: dict[int, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"tasks": self.tasks, **{f"acc@{k}": round(v, 4) for k, v in self.acc.items()},
                "mrr": round(self.mrr, 4), "function_tasks": self.function_tasks,
                **{f"function_recall@{k}": round(v, 4)
                   for k, v in self.function_recall.items()}}


def summarize(scores: list[Score]) -> Summary:
    n = len(scores)
    with_fns = [s.function_recall for s in scores if s.function_recall is not None]
    return Summary(
        n, {k: sum(s.acc[k] for s in scores) / n if n else 0.0 for k in KS},
        sum(s.rr for s in scores) / n if n else 0.0, len(with_fns),
        {k: sum(r[k] for r in with_fns) / len(with_fns) for k in FUNCTION_KS} if with_fns else {})
