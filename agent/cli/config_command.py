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
    indexed = _index_model(repo)
    if as_json:
        shown = {name: {"value": value, "source": settings.sources[name]}
                 for name, value in values.items()}
        if indexed:
            shown["embed_model"]["index"] = indexed
        emit_json(shown)
        return
    from codeagent.cli.console import fallback_note

    docs = _field_docs()
    for field in dataclasses.fields(Settings):
        if field.name in values:
            click.echo(f"{field.name} = {values[field.name]!r}  [{settings.sources[field.name]}]")
            if field.name == "embed_model" and indexed:
                click.echo(f"    the index uses {indexed['model']!r}" + (
                    ": " + fallback_note(indexed["fallback_from"], indexed["fallback_reason"])
                    if indexed["fallback_from"] else ""))
            click.echo(f"    {docs.get(field.name, '')}")


def _index_model(repo: Path | None) -> dict[str, str | None] | None:
    """The model the repository's index was really built with (the setting may name
    another: the default when the index holds its fallback), or None without an index."""
    from codeagent.errors import CodeagentError
    from codeagent.index.layout import open_manifest_readonly

    if repo is None:
        return None
    try:
        manifest = open_manifest_readonly(repo)
    except CodeagentError:
        return None
    try:
        model = manifest.get("model")
        return {"model": model, "fallback_from": manifest.get("fallback_from") or None,
                "fallback_reason": manifest.get("fallback_reason") or None} if model else None
    finally:
        manifest.close()


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
