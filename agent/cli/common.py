"""What every command shares: finding the repository, common flags, settings, JSON out,
and bringing the index up to date before a question."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from codeagent.errors import UsageError
from codeagent.index.layout import DATA_DIR
from codeagent.settings import Settings, load_settings, setting_names
from codeagent.textfile import displayable

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def find_repo(start: Path) -> Path | None:
    """The repository holding `start`: the nearest directory with an index or a .git;
    None when there is none up to the root."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / DATA_DIR).is_dir() or (directory / ".git").exists():
            return directory
    return None


def resolve_repo(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """The --repo callback: the path given, else the repository holding the current
    directory, else the command's PATH argument (`index DIR` makes DIR a repository).
    Outside any repository that is an error, never a guess such as `/`."""
    found = resolve_optional_repo(ctx, param, value)
    if found is None and not _path_argument_given(ctx):
        raise not_a_repository()
    return found


def _path_argument_given(ctx: click.Context) -> bool:
    """Whether the command's PATH argument (eager, so parsed before --repo) was given."""
    return any(isinstance(p, click.Argument) and p.name == "path" for p in ctx.command.params) \
        and ctx.params.get("path") is not None


def resolve_optional_repo(ctx: click.Context, param: click.Parameter,
                          value: Path | None) -> Path | None:
    """resolve_repo for commands that can do without a repository (`config`, `doctor`):
    None outside any."""
    return value.resolve() if value is not None else find_repo(Path.cwd())


def not_a_repository() -> UsageError:
    return UsageError(
        f"not inside a repository: neither {Path.cwd()} nor a directory above it has a .git "
        "or a codeagent index (.codeagent/)",
        "pass --repo PATH or cd into a repository; to index a directory that is not one, "
        "name it: `codeagent index DIR`")


def repo_option(f: Callable | None = None, *, optional: bool = False) -> Callable:
    """`--repo PATH`, given to the command as an absolute path: the one given, else the
    repository holding the current directory (`optional`: None outside any)."""
    option = click.option(
        "--repo", type=click.Path(exists=True, file_okay=False, path_type=Path),
        callback=resolve_optional_repo if optional else resolve_repo,
        help="Repository to work on (default: the one holding the current directory).")
    return option(f) if f is not None else option


def store_options(f: Callable) -> Callable:
    f = click.option("--chroma-url", metavar="URL",
                     help="Use a Chroma server (`chroma run`) instead of the embedded store.")(f)
    f = click.option("--embed-batch-size", type=click.IntRange(min=1), metavar="N",
                     help="Chunks per embedding forward pass (default: 4 on a CPU, 32 on "
                          "a GPU).")(f)
    f = click.option("--embed-backend", type=click.Choice(["auto", "torch", "onnx", "onnx-int8"]),
                     help="What runs the embedding model (default auto: on a CPU ONNX "
                          "Runtime, int8 for a model measured to rank as fp32 does (MiniLM), "
                          "else fp32 where its vectors match torch's; on a GPU torch, fp16 on "
                          "CUDA). An "
                          "index keeps the backend it was built with.")(f)
    f = click.option("--embed-device", type=click.Choice(["auto", "cuda", "mps", "cpu"]),
                     help="Where to embed (default auto: cuda, then mps, then cpu).")(f)
    f = click.option("--embed-model", metavar="NAME",
                     help="sentence-transformers model, hub name or directory "
                          "(default sentence-transformers/all-mpnet-base-v2).")(f)
    return f


def agent_options(f: Callable) -> Callable:
    f = click.option("--agent-protocol", type=click.Choice(["auto", "react", "native"]),
                     help="How the model calls tools: react (text, any model), native "
                          "(Ollama's tool calls, for models that have them) or auto "
                          "(default: native where the model has tool calling, else react).")(f)
    f = click.option("--max-steps", type=click.IntRange(min=1), metavar="N",
                     help="Tool calls per question before answering with what was found "
                          "(default 12).")(f)
    f = click.option("--question-seconds", type=click.IntRange(min=1), metavar="S",
                     help="Wall time per question (default 600).")(f)
    f = click.option("--llm-model", metavar="NAME",
                     help="Ollama model that drives the agent (default codellama:34b).")(f)
    f = click.option("--ollama-host", metavar="URL",
                     help="Ollama server (default $OLLAMA_HOST or http://127.0.0.1:11434).")(f)
    return f


def settings_from(repo: Path | None, **flags: Any) -> Settings:
    """The settings of `repo` (its .codeagent.toml; None: none), the environment, and the
    flags that were given (a flag left out is None and overrides nothing)."""
    return load_settings(repo, {k: v for k, v in flags.items() if k in setting_names()})


def emit_json(data: Any) -> None:
    """`data` as JSON on stdout; a path the OS gave in bytes that are not UTF-8 (a
    repository's own name, say) is shown with U+FFFD, as JSON holds only text."""
    click.echo(displayable(json.dumps(data, indent=2, ensure_ascii=False)))


def update_index(root: Path, settings: Settings, *, quiet: bool) -> None:
    """Index what changed (with a progress bar on a terminal), and say what it did."""
    from codeagent.cli.console import RichProgress
    from codeagent.index.run import run_index

    show = not quiet and sys.stderr.isatty()
    summary = run_index(root, settings, progress=RichProgress() if show else None)
    if not quiet and (summary.added or summary.changed or summary.removed):
        click.echo(f"index updated: {summary.added} added, {summary.changed} changed, "
                   f"{summary.removed} removed ({summary.chunks_written} chunks)", err=True)
