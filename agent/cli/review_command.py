"""`codeagent review`: a diff (the working tree, --staged, --base REF, or a file) reviewed
with what it touches, rendered for people, scripts, code scanning or workflow annotations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import click

from codeagent.cli.common import (CONTEXT, agent_options, repo_option, settings_from, store_options,
                                  update_index)
from codeagent.errors import EXIT_NOT_REVIEWED, LLMUnavailable


@click.command(context_settings=CONTEXT)
@click.argument("diff", required=False, type=click.File("r", encoding="utf-8", errors="replace"))
@repo_option
@agent_options
@store_options
@click.option("--base", metavar="REF",
              help="Review this branch's changes since it left REF (git diff REF...HEAD).")
@click.option("--staged", is_flag=True, help="Review the staged changes (the index vs HEAD).")
@click.option("--format", "fmt", default="markdown", show_default=True,
              type=click.Choice(["markdown", "json", "sarif", "github"]),
              help="markdown for people; json; sarif (2.1.0, for code scanning); github "
                   "(workflow annotations).")
@click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high"]),
              help="Exit 1 when a finding is this severe or worse; exit 9 when no model "
                   "judged the change or a file of it (not with --no-llm).")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Leave out files matching GLOB (repeatable).")
@click.option("--no-llm", is_flag=True,
              help="Search-only: report what the change touches, without a model's judgment.")
@click.option("--no-index", is_flag=True, help="Do not update the index first.")
def review(diff: TextIO | None, repo: Path, base: str | None, staged: bool, fmt: str,
           fail_on: str | None, exclude: tuple[str, ...], no_llm: bool, no_index: bool,
           **flags: Any) -> None:
    """Review a change: the working tree vs HEAD by default, --staged, --base REF, or a
    unified diff in DIFF ("-" for stdin).

    Every changed file is reviewed with what it touches elsewhere: the symbols it
    changes and their callers, found with the agent's tools. Findings carry a severity
    (high, medium, low, info), the lines, and an explanation citing the code used.
    Without Ollama (or with --no-llm) the report is that impact alone, and says first
    that it was not reviewed. With --fail-on, exit status 1 when a finding reaches the
    severity, else 9 when no model judged the change or some file of it (Ollama down, a
    reply without usable findings); --no-llm asks for the impact alone and exits 0.
    """
    from codeagent.assistant.llm import check_ollama
    from codeagent.review.diffs import from_git, parse
    from codeagent.review.findings import at_least
    from codeagent.review.formats import render
    from codeagent.review.reviewer import review as run_review

    settings = settings_from(repo, **flags)
    if diff is not None and (base or staged):
        raise click.UsageError("give a diff, or --base / --staged, not both")
    change = parse(diff.read(), diff.name) if diff is not None else from_git(repo, base, staged)
    unavailable = None
    if not no_llm:
        try:
            check_ollama(settings)
        except LLMUnavailable as exc:
            unavailable = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
            click.echo(f"warning: {exc.message}; reviewing in search-only mode (the impact, "
                       f"no judgments). {exc.hint}", err=True)
    if not no_index:
        update_index(repo, settings, quiet=True)
    show = sys.stderr.isatty()
    progress = (lambda path, n, total: click.echo(f"[{n}/{total}] reviewing {path}", err=True)
                ) if show else None
    report = run_review(repo, settings, change, use_llm=not no_llm, exclude=exclude, base=base,
                        progress=progress, unavailable=unavailable)
    click.echo(render(report, fmt))
    reason = report.not_reviewed()
    if report.unjudged:
        click.echo(f"warning: not reviewed: {reason}", err=True)
    if fail_on and any(at_least(f.severity, fail_on) for f in report.findings):
        sys.exit(1)
    if fail_on and reason and not report.search_only:
        sys.exit(EXIT_NOT_REVIEWED)
