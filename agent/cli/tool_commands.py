"""`codeagent tool NAME`: one of the agent's tools run by a person, exactly as the model
calls it; its flags are made from the tool's arguments."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from codeagent.cli.common import CONTEXT, resolve_repo, settings_from


class ToolCommands(click.Group):
    """One command per agent tool, its flags made from the tool's arguments."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from codeagent.tools import TOOLS

        return sorted(TOOLS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from codeagent.tools import TOOLS, arguments, description

        fn = TOOLS.get(name)
        if fn is None:
            return None
        params: list[click.Parameter] = []
        for arg in arguments(fn):
            flag = "--" + arg.name.replace("_", "-")
            if arg.kind is bool:
                params.append(click.Option([f"{flag}/--no-{flag[2:]}", arg.name],
                                           default=arg.default, help=arg.doc))
            else:
                params.append(click.Option([flag, arg.name], type=arg.kind,
                                           required=arg.required, default=arg.default,
                                           help=arg.doc, show_default=not arg.required))
        params.append(click.Option(["--repo"], type=click.Path(exists=True, file_okay=False,
                                                                path_type=Path),
                                   callback=resolve_repo,
                                   help="Repository (default: the one holding the current "
                                        "directory)."))

        def run(repo: Path, **args: Any) -> None:
            from codeagent.tools import ToolContext, bind

            context = ToolContext(repo, settings_from(repo))
            try:
                output = bind(fn, context)(**args)
            finally:
                context.close()
            click.echo(output)
            if output.startswith("error:"):
                sys.exit(1)

        return click.Command(name, params=params, callback=run, help=description(fn),
                             context_settings=CONTEXT)


@click.group(cls=ToolCommands, context_settings=CONTEXT)
def tool() -> None:
    """Run one of the agent's tools yourself, exactly as the model calls it.

    \b
      codeagent tool read_file --path src/x.py --start-line 10 --end-line 40
      codeagent tool grep --pattern "def send" --path-glob "*.py"
      codeagent tool find_symbol --name Session.send

    Exit status 1 when the tool answers with an error line.
    """
