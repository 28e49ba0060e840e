"""`codeagent eval localize` and `codeagent eval history`: retrieval, and the agent's and
RAG's answers, measured per mode on the same tasks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from codeagent.cli.common import CONTEXT, agent_options, emit_json, repo_option, store_options

DEFAULT_WORKDIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
    / "codeagent" / "eval"


def _common(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True,
                     help="Print the summary as JSON instead of a Markdown table.")(f)
    f = click.option("--fresh", is_flag=True,
                     help="Start --out over instead of going on from the predictions in it.")(f)
    f = click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
                     default=DEFAULT_WORKDIR, show_default=True,
                     help="Where the checkouts (and their indexes) live between runs.")(f)
    f = click.option("--mode", "modes", multiple=True, type=click.Choice(_modes()),
                     help="Modes to run (repeatable; default: every retrieval mode). agent "
                          "and rag answer each task through the Ollama model, and the files "
                          "their checked citations name are the ranking.")(f)
    return agent_options(store_options(f))


def _say(line: str) -> None:
    click.echo(line, err=True)


def _modes() -> list[str]:
    from codeagent.evaluation.answers import MODES as ANSWER_MODES
    from codeagent.evaluation.localize import MODES

    return [*MODES, *ANSWER_MODES]


@click.group(context_settings=CONTEXT)
def evaluation() -> None:
    """Measure how well retrieval finds the files a fix changed (file Acc@k, MRR,
    function recall), per retrieval mode, on bug reports or on your own history."""


@evaluation.command(context_settings=CONTEXT)
@click.argument("tasks_file", metavar="TASKS.jsonl",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mirrors", required=True, type=click.Path(exists=True, file_okay=False,
                                                          path_type=Path),
              help="Directory of git mirrors: <owner>+<name>/repo (the fetch layout), "
                   "<owner>+<name>, or <name>.git.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("localize-predictions.jsonl"), show_default=True,
              help="Predictions, one JSON line per task and mode (instance_id, mode, "
                   "found_files best first, found_functions).")
@click.option("--reference", multiple=True, metavar="NAME=FILE",
              help="Score another tool's predictions (JSONL with instance_id, found_files) "
                   "as a row, e.g. locagent=../shared/bench/locagent-claude35-predictions.jsonl.")
@click.option("--include", "includes", multiple=True, metavar="GLOB", default=("*.py",),
              show_default=True, help="Check out and index only files whose name matches GLOB "
                                      "(repeatable); the benchmark's fixes are Python.")
@click.option("--repo-filter", metavar="OWNER/NAME", multiple=True,
              help="Only the tasks of these repositories.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N tasks.")
@_common
def localize(tasks_file: Path, mirrors: Path, out: Path, reference: tuple[str, ...],
             includes: tuple[str, ...], repo_filter: tuple[str, ...], limit: int | None,
             modes: tuple[str, ...], workdir: Path, fresh: bool, as_json: bool,
             **flags: Any) -> None:
    """Localize SWE-bench-style bug reports: for each task, index the repository at its
    base_commit (incrementally from the previous one) and rank files for the report.

    \b
    codeagent eval localize ../shared/bench/swebench-lite-localization.jsonl \\
        --mirrors /work/.mirror --out preds.jsonl \\
        --reference locagent=../shared/bench/locagent-claude35-predictions.jsonl
    """
    from codeagent.evaluation.tasks import Checkout, load_tasks, mirror_for

    tasks = load_tasks(tasks_file)
    if repo_filter:
        tasks = [t for t in tasks if t.repo in repo_filter]
    tasks = tasks[:limit] if limit else tasks
    references = [_reference(item) for item in reference]
    sources = {repo: mirror_for(mirrors, repo) for repo in dict.fromkeys(t.repo for t in tasks)}
    _run(tasks, lambda repo: Checkout(sources[repo], workdir / repo.replace("/", "+"),
                                      only=includes, say=_say),
         None, modes, out, references, fresh, as_json, flags)


@evaluation.command(context_settings=CONTEXT)
@repo_option
@click.option("--commits", type=click.IntRange(min=1), default=30, show_default=True,
              help="How many commits to turn into tasks (newest first).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Predictions file [default: <workdir>/<repo>-history.jsonl].")
@_common
def history(repo: Path, commits: int, out: Path | None, modes: tuple[str, ...],
            workdir: Path, fresh: bool, as_json: bool, **flags: Any) -> None:
    """Evaluate on your repository's own history: each commit's message is a query and
    the files it modified are the answer, searched in the tree of its parent commit.

    Merges, commits of more than 10 files, trivial messages ("bump version", "fix
    typo") and commits that modify no indexed file are skipped. Your settings
    (.codeagent.toml: ignore patterns, model) apply.
    """
    from codeagent.evaluation.tasks import Checkout, history_tasks
    from codeagent.index.walker import RepoRules
    from codeagent.settings import load_settings

    rules = RepoRules.from_settings(repo, load_settings(repo, flags))
    tasks = list(history_tasks(repo, commits,
                               indexable=lambda path: rules.exclusion(path) is None))
    if not tasks:
        raise click.ClickException(f"no usable commits in {repo}'s history (merges, huge and "
                                   "trivial commits are skipped)")
    click.echo(f"{len(tasks)} tasks from the last commits of {repo.name}", err=True)
    checkout_dir = workdir / f"{repo.name}-history"
    _run(tasks, lambda _: Checkout(repo, checkout_dir, say=_say), repo, modes,
         out or workdir / f"{repo.name}-history.jsonl", [], fresh, as_json, flags)


def _run(tasks: list, checkout: Any, config_root: Path | None, modes: tuple[str, ...], out: Path,
         references: list[tuple[str, Path]], fresh: bool, as_json: bool,
         flags: dict[str, Any]) -> None:
    from codeagent.evaluation.answers import MODES as ANSWER_MODES
    from codeagent.evaluation.answers import summary_rows, summary_table
    from codeagent.evaluation.localize import MODES
    from codeagent.evaluation.runs import evaluate, read_predictions, score, table
    from codeagent.index.embedding import default_allows_fallback, load_embedding
    from codeagent.settings import load_settings

    chosen = list(modes) or list(MODES)
    if fresh and out.exists():
        out.unlink()

    # The settings of the repository evaluated (its .codeagent.toml, for history), the
    # environment and the flags; the checkout's own files are not trusted for them.
    base = load_settings(config_root, flags)
    answering = [m for m in chosen if m in ANSWER_MODES]
    if answering:  # a missing model is one message now, not an error per task later
        from codeagent.assistant.llm import check_ollama

        check_ollama(base)
    # As for `codeagent index`: the default model falls back to the bundled one (with a
    # warning naming both); a model the user chose must load or the run stops.
    embedding = load_embedding(base.embed_model, base.embed_device, base.embed_batch_size,
                               default_allows_fallback(base.embed_model,
                                                       base.explicit("embed_model")),
                               base.embed_backend)
    click.echo(f"{len(tasks)} tasks, modes {', '.join(chosen)}, model {embedding[1].name} "
               f"({embedding[1].backend}); "
               f"predictions -> {out}", err=True)
    run = evaluate(tasks, checkout, base, chosen, out, embedding=embedding, say=_say)
    predictions = read_predictions(out)
    for name, path in references:
        predictions += read_predictions(path, mode=name)
    rows = score(tasks, predictions, [*chosen, *(name for name, _ in references)])
    # A reference may cover only some tasks (LocAgent's: the 57 of the test split): every
    # mode again on just those, side by side with it.
    subsets = {}
    for name, _ in references:
        covered = {p.instance_id for p in predictions if p.mode == name}
        subsets[name] = score([t for t in tasks if t.instance_id in covered], predictions,
                              [*chosen, name])
    answers = summary_rows([p for p in predictions if p.instance_id in
                            {t.instance_id for t in tasks}], answering)
    if as_json:
        emit_json({"model": embedding[1].name, "predictions": str(out),
                   "llm_model": base.llm_model if answering else None,
                   "index_seconds": round(run.index_seconds, 1), "embedded": run.embedded,
                   "rows": [row.to_json() for row in rows], "answers": answers,
                   "on_reference_tasks": {name: [row.to_json() for row in subset]
                                          for name, subset in subsets.items()}})
    else:
        click.echo(table(rows))
        if answers:
            click.echo(f"\nHow the answers came about ({base.llm_model}):\n")
            click.echo(summary_table(answers))
        for name, subset in subsets.items():
            click.echo(f"\nOn the {subset[-1].all.tasks} tasks that {name} predicted:\n")
            click.echo(table(subset))
        click.echo(f"\nmodel {embedding[1].name}; {run.commits} commits indexed in "
                   f"{run.index_seconds:.0f} s ({run.embedded} chunks embedded); "
                   f"predictions in {out}", err=True)


def _reference(item: str) -> tuple[str, Path]:
    name, sep, path = item.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise click.BadParameter(f"{item!r}: give NAME=FILE with an existing file",
                                 param_hint="--reference")
    return name, Path(path)
