"""`codeagent config`: every setting, its value, and where the value came from."""

from __future__ import annotations

from pathlib import Path

import click

from codeagent.cli.common import CONTEXT, emit_json, repo_option
from codeagent.settings import Settings, load_settings, setting_names


@click.command(context_settings=CONTEXT)
@repo_option(optional=True)
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
def config(repo: Path | None, as_json: bool) -> None:
    """Show every setting, its value and where it came from (default, file, env, flag)."""
    import dataclasses

    settings = load_settings(repo)
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
