"""The `codeagent` command: the click group, and `main`, which turns every failure into
one message and an exit code.

Heavy libraries (torch, transformers, chromadb, llama-index) are imported inside the
commands that need them, so `codeagent --help` answers at once.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from typing import Any

import click

from codeagent import __version__
from codeagent.cli.agent_commands import ask, chat, doctor, run
from codeagent.cli.common import CONTEXT
from codeagent.cli.config_command import config
from codeagent.cli.eval_commands import evaluation
from codeagent.cli.index_commands import index, search, status
from codeagent.cli.mcp_command import mcp
from codeagent.cli.review_command import review
from codeagent.cli.tool_commands import tool
from codeagent.errors import EXIT_INTERRUPTED, CodeagentError


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


for _command in (index, search, status, tool, config, ask, run, chat, review, doctor, mcp):
    cli.add_command(_command)
cli.add_command(evaluation, name="eval")


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


def _never_fail_on_output() -> None:
    """A name the OS gave in bytes that are not UTF-8 (a repository's own name, say) is
    printed with a replacement character rather than ending the command in a traceback."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> None:
    _quiet_libraries()
    _never_fail_on_output()
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
