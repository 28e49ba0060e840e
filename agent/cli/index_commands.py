"""`codeagent index`, `search` and `status`: build the index, query it, describe it."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from codeagent.cli.common import CONTEXT, emit_json, repo_option, settings_from, store_options


@click.command(context_settings=CONTEXT)
@click.argument("path", required=False, is_eager=True,  # --repo's default reads it
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@repo_option
@store_options
@click.option("--max-file-bytes", type=click.IntRange(min=1), metavar="BYTES",
              help="Skip files larger than this (default 1000000).")
@click.option("--rebuild", is_flag=True,
              help="Forget the index and embed every file again (needed to change the model).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@click.option("-v", "--verbose", is_flag=True, help="List every skipped file and why.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def index(path: Path | None, repo: Path, rebuild: bool, quiet: bool, verbose: bool,
          as_json: bool, **flags: Any) -> None:
    """Index PATH (default: --repo, or the current repository), embedding only changes.

    The first run embeds every file; later runs re-embed only files whose content changed
    and drop chunks of deleted or renamed files. Ctrl-C keeps everything finished so far.
    """
    from codeagent.cli.console import RichProgress, index_summary_lines
    from codeagent.index.run import run_index

    root = path.resolve() if path else repo
    settings = settings_from(root, **flags)
    show_progress = not quiet and not as_json and sys.stderr.isatty()
    summary = run_index(root, settings, rebuild=rebuild,
                        progress=RichProgress() if show_progress else None)
    if as_json:
        emit_json({"repo": str(root), "added": summary.added, "changed": summary.changed,
                    "removed": summary.removed, "unchanged": summary.unchanged,
                    "skipped": summary.skipped_counts(), "chunks_written": summary.chunks_written,
                    "embedded": summary.embedded, "files": summary.files,
                    "chunks": summary.chunks, "seconds": round(summary.seconds, 3),
                    "model": summary.model, "notes": summary.notes,
                    "skipped_files": summary.skipped if verbose else None})
    elif not quiet:
        click.echo("\n".join(index_summary_lines(root, summary, verbose)))


@click.command(context_settings=CONTEXT)
@click.argument("query")
@repo_option
@store_options
@click.option("-k", "k", type=click.IntRange(min=1), help="Number of hits (default 10).")
@click.option("--lang", metavar="LANGUAGE", help="Only chunks of this language (python, go, ...).")
@click.option("--path", "path_glob", metavar="GLOB",
              help="Only files matching a gitignore-style glob: '*.py', 'src/', 'src/**/test_*'.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON (with full text).")
def search(query: str, repo: Path, k: int | None, lang: str | None,
           path_glob: str | None, as_json: bool, **flags: Any) -> None:
    """Find the chunks of code closest in meaning to QUERY.

    Prints `path:start-end  symbol  score` and the first lines of each hit, best first;
    the score is the cosine similarity of query and chunk. With --json, also the
    definitions (functions, classes, methods) ranked from those hits and the names the
    query uses.
    """
    from codeagent.cli.console import hit_lines
    from codeagent.retrieval.semantic import Searcher

    settings = settings_from(repo, **flags)
    searcher = Searcher(repo, settings)
    try:
        hits = searcher.search(query, k or settings.search_k, lang, path_glob)
        empty = not searcher.manifest.counts()[1]
        functions = definition_hits(searcher, query, hits, settings) if as_json else []
    finally:
        searcher.close()
    if as_json:
        emit_json({"query": query, "model": searcher.model_name or None,
                    "hits": [hit.to_json() for hit in hits], "functions": functions})
    elif empty:
        click.echo(f"nothing is indexed: the index of {repo} holds no files (see what was "
                   f"left out and why: `codeagent index -v {repo}`)")
    else:
        click.echo("\n".join(hit_lines(hits)))


def definition_hits(searcher: Any, query: str, hits: list[Any],
                    settings: Any) -> list[dict[str, Any]]:
    """The definitions `functions.rank` makes of a search's hits, as JSON objects (their
    files read as the tools read them: through the jail, secrets and ignored files never)."""
    from codeagent.retrieval.functions import rank
    from codeagent.tools.context import ToolContext

    graph = searcher.graph()
    reader = ToolContext(searcher.repo, settings).current_lines
    ranked = rank(query, [(h.path, h.start_line, h.end_line) for h in hits], graph,
                  searcher.mentions(), read_lines=reader)
    return [{"path": e.path, "name": e.qualified, "kind": e.kind, "start_line": e.start_line,
             "end_line": e.end_line, "score": round(score, 6)}
            for e, score in ((graph.entities[d], score) for d, score in
                             ranked.definitions[:len(hits)])]


@click.command(context_settings=CONTEXT)
@repo_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(repo: Path, as_json: bool) -> None:
    """Show what the index holds: files, chunks, model, store, last update."""
    from codeagent.cli.console import status_lines
    from codeagent.index.layout import data_dir, open_manifest_readonly, recorded_backend_of
    from codeagent.index.lock import running_writer

    manifest = open_manifest_readonly(repo)
    try:
        files = manifest.files()
        _, chunks = manifest.counts()
        indexed = [f for f in files.values() if f.skipped is None]
        last_run = manifest.get_json("last_run") or {}
        store = manifest.get("store") or "embedded"
        info = {
            "repo": str(repo), "files": len(indexed), "chunks": chunks,
            "model": manifest.get("model"), "dimension": int(manifest.get("dimension") or 0),
            "backend": recorded_backend_of(manifest) if manifest.get("model") else None,
            "fallback_from": manifest.get("fallback_from") or None,
            "fallback_reason": manifest.get("fallback_reason") or None,
            "store": str(data_dir(repo) / "chroma") if store == "embedded" else store,
            "updated_at": manifest.get("updated_at"),
            "languages": dict(Counter(f.language for f in indexed).most_common()),
            "skipped": last_run.get("skipped", {}),
            "running": running_writer(data_dir(repo)),
        }
    finally:
        manifest.close()
    if as_json:
        emit_json(info)
    else:
        click.echo("\n".join(status_lines(info)))
