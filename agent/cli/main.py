"""The `codeagent` command. Thin: parse flags, build settings, call the library, print.

Heavy libraries (torch, transformers, chromadb, llama-index) are imported inside the
commands that need them, so `codeagent --help` answers at once.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import click

from . import __version__
from .cli_agent import ask, chat, doctor, review, run
from .cli_eval import evaluation
from .cli_common import (CONTEXT, emit_json, find_repo, repo_option, settings_from,
                         store_options)
from .errors import EXIT_INTERRUPTED, CodeagentError
from .settings import Settings, load_settings, setting_names

@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="codeagent")
def cli() -> None:
    """A local code assistant: index a repository, then search it.

    \b
      codeagent index ~/src/myrepo
      codeagent search "where are HTTP redirects followed" --repo ~/src/myrepo
      codeagent status --repo ~/src/myrepo
      codeagent tool read_file --path src/app.py --start-line 10 --repo ~/src/myrepo

    Settings come from defaults < .codeagent.toml in the repository < CODEAGENT_* variables
    < flags (see `codeagent config`). The index lives in <repo>/.codeagent/.
    """


@cli.command(context_settings=CONTEXT)
@click.argument("path", required=False,
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
def index(path: Path | None, repo: Path | None, rebuild: bool, quiet: bool, verbose: bool,
          as_json: bool, **flags: Any) -> None:
    """Index PATH (default: --repo, or the current repository), embedding only changes.

    The first run embeds every file; later runs re-embed only files whose content changed
    and drop chunks of deleted or renamed files. Ctrl-C keeps everything finished so far.
    """
    from .console import RichProgress, index_summary_lines
    from .indexer import run_index

    root = (path or repo or find_repo(Path.cwd())).resolve()
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


@cli.command(context_settings=CONTEXT)
@click.argument("query")
@repo_option
@store_options
@click.option("-k", "k", type=click.IntRange(min=1), help="Number of hits (default 10).")
@click.option("--lang", metavar="LANGUAGE", help="Only chunks of this language (python, go, ...).")
@click.option("--path", "path_glob", metavar="GLOB",
              help="Only files matching a gitignore-style glob: '*.py', 'src/', 'src/**/test_*'.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON (with full text).")
def search(query: str, repo: Path | None, k: int | None, lang: str | None,
           path_glob: str | None, as_json: bool, **flags: Any) -> None:
    """Find the chunks of code closest in meaning to QUERY.

    Prints `path:start-end  symbol  score` and the first lines of each hit, best first;
    the score is the cosine similarity of query and chunk.
    """
    from .console import hit_lines
    from .search import Searcher

    root = (repo or find_repo(Path.cwd())).resolve()
    settings = settings_from(root, **flags)
    searcher = Searcher(root, settings)
    try:
        hits = searcher.search(query, k or settings.search_k, lang, path_glob)
    finally:
        searcher.close()
    if as_json:
        emit_json({"query": query, "model": searcher.model_name,
                    "hits": [hit.to_json() for hit in hits]})
    else:
        click.echo("\n".join(hit_lines(hits)))


@cli.command(context_settings=CONTEXT)
@repo_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(repo: Path | None, as_json: bool) -> None:
    """Show what the index holds: files, chunks, model, store, last update."""
    from .console import status_lines
    from .indexer import open_manifest_readonly

    root = (repo or find_repo(Path.cwd())).resolve()
    manifest = open_manifest_readonly(root)
    try:
        files = manifest.files()
        _, chunks = manifest.counts()
        indexed = [f for f in files.values() if f.skipped is None]
        last_run = manifest.get_json("last_run") or {}
        store = manifest.get("store") or "embedded"
        info = {
            "repo": str(root), "files": len(indexed), "chunks": chunks,
            "model": manifest.get("model"), "dimension": int(manifest.get("dimension") or 0),
            "fallback_from": manifest.get("fallback_from") or None,
            "store": str(root / ".codeagent" / "chroma") if store == "embedded" else store,
            "updated_at": manifest.get("updated_at"),
            "languages": dict(Counter(f.language for f in indexed).most_common()),
            "skipped": last_run.get("skipped", {}),
        }
    finally:
        manifest.close()
    if as_json:
        emit_json(info)
    else:
        click.echo("\n".join(status_lines(info)))


class ToolCommands(click.Group):
    """One command per agent tool, its flags made from the tool's arguments."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from .tools import TOOLS

        return sorted(TOOLS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        import inspect
        import typing

        from .tools import TOOLS, description, parameters

        fn = TOOLS.get(name)
        if fn is None:
            return None
        params: list[click.Parameter] = []
        for param in parameters(fn):
            kind, doc = str, ""
            if typing.get_origin(param.annotation) is typing.Annotated:
                kind, doc = typing.get_args(param.annotation)[:2]
            base = next((t for t in (bool, int, str) if t == kind or t in typing.get_args(kind)), str)
            flag = "--" + param.name.replace("_", "-")
            required = param.default is inspect.Parameter.empty
            if base is bool:
                params.append(click.Option([f"{flag}/--no-{flag[2:]}", param.name],
                                           default=param.default, help=doc))
            else:
                params.append(click.Option([flag, param.name], type=base, required=required,
                                           default=None if required else param.default,
                                           help=doc, show_default=not required))
        params.append(click.Option(["--repo"], type=click.Path(exists=True, file_okay=False,
                                                                path_type=Path),
                                   help="Repository (default: the one holding the current "
                                        "directory)."))

        def run(repo: Path | None, **args: Any) -> None:
            from .tools import ToolContext, bind

            root = (repo or find_repo(Path.cwd())).resolve()
            context = ToolContext(root, settings_from(root))
            try:
                output = bind(fn, context)(**args)
            finally:
                context.close()
            click.echo(output)
            if output.startswith("error:"):
                sys.exit(1)

        return click.Command(name, params=params, callback=run, help=description(fn),
                             context_settings=CONTEXT)


@cli.group(cls=ToolCommands, context_settings=CONTEXT)
def tool() -> None:
    """Run one of the agent's tools yourself, exactly as the model calls it.

    \b
      codeagent tool read_file --path src/x.py --start-line 10 --end-line 40
      codeagent tool grep --pattern "def send" --path-glob "*.py"
      codeagent tool find_symbol --name Session.send

    Exit status 1 when the tool answers with an error line.
    """


@cli.command(context_settings=CONTEXT)
@repo_option
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
def config(repo: Path | None, as_json: bool) -> None:
    """Show every setting, its value and where it came from (default, file, env, flag)."""
    import dataclasses

    root = (repo or find_repo(Path.cwd())).resolve()
    settings = load_settings(root)
    values = {name: getattr(settings, name) for name in setting_names()}
    if as_json:
        emit_json({name: {"value": value, "source": settings.sources[name]}
                    for name, value in values.items()})
        return
    docs = _field_docs()
    for field in dataclasses.fields(Settings):
        if field.name in values:
            click.echo(f"{field.name} = {values[field.name]!r}  [{settings.sources[field.name]}]")
            click.echo(f"    {docs.get(field.name, '')}")


def _field_docs() -> dict[str, str]:
    """The docstrings under Settings' fields, read from the source (they are the docs)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(Settings))
    docs, last = {}, None
    for node in tree.body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            last = node.target.id
        elif last and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs[last] = str(node.value.value).strip()
            last = None
    return docs


def _show_warning(message: Any, category: Any, filename: str, lineno: int,
                  file: Any = None, line: Any = None) -> None:
    click.echo(f"warning: {message}", err=True)


def _quiet_libraries() -> None:
    """Our warnings reach the user; the libraries' deprecation chatter does not."""
    warnings.showwarning = _show_warning
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module=r"(transformers|torch|chromadb|llama_index)\b")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


for _command in (ask, run, chat, review, doctor):
    cli.add_command(_command)
cli.add_command(evaluation, name="eval")


def main(argv: list[str] | None = None) -> None:
    _quiet_libraries()
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        code = cli.main(args=argv, prog_name="codeagent", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CodeagentError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted: everything finished so far is kept; run the command again "
                   "to continue", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)
