"""What every command shares: finding the repository, common flags, settings, JSON out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

from .settings import Settings, load_settings, setting_names

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def find_repo(start: Path) -> Path:
    """The repository holding `start`: the nearest directory with an index or a .git."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / ".codeagent").is_dir() or (directory / ".git").exists():
            return directory
    return start


def repo_option(f: Callable) -> Callable:
    return click.option(
        "--repo", type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Repository to work on (default: the one holding the current directory).")(f)


def store_options(f: Callable) -> Callable:
    f = click.option("--chroma-url", metavar="URL",
                     help="Use a Chroma server (`chroma run`) instead of the embedded store.")(f)
    f = click.option("--embed-batch-size", type=click.IntRange(min=1), metavar="N",
                     help="Chunks per embedding forward pass (default 32; more on a GPU).")(f)
    f = click.option("--embed-device", type=click.Choice(["auto", "cuda", "mps", "cpu"]),
                     help="Where to embed (default auto: cuda, then mps, then cpu).")(f)
    f = click.option("--embed-model", metavar="NAME",
                     help="sentence-transformers model, hub name or directory "
                          "(default sentence-transformers/all-mpnet-base-v2).")(f)
    return f


def settings_from(repo: Path, **flags: Any) -> Settings:
    return load_settings(repo, {k: v for k, v in flags.items() if k in setting_names()})


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))



def agent_options(f: Callable) -> Callable:
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
