"""The tools the model sees. One module per tool; each is a typed function whose docstring
is the description the model reads, its first argument the ToolContext it is bound to.

`build_tools` binds them to one repository for LlamaIndex; `bind` is also what the CLI
(`codeagent tool NAME`) calls, so the model and a person debugging see the same thing.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .context import ToolContext, ToolError
from .find_symbol import find_symbol
from .grep import grep
from .list_files import list_files
from .multi_query_search import multi_query_search
from .read_file import read_file
from .semantic_search import semantic_search

TOOLS: dict[str, Callable[..., str]] = {fn.__name__: fn for fn in (
    semantic_search, multi_query_search, grep, find_symbol, read_file, list_files)}

READS_INDEX = frozenset({"semantic_search", "multi_query_search", "find_symbol"})
"""The tools that answer from the index (the rest read the files on disk): what a caller
keeping the index fresh must update before them."""

__all__ = ["READS_INDEX", "TOOLS", "Argument", "ToolContext", "ToolError", "arguments", "bind",
           "build_tools", "description", "parameters"]


def description(fn: Callable[..., str]) -> str:
    return inspect.getdoc(fn) or fn.__name__


def parameters(fn: Callable[..., str]) -> list[inspect.Parameter]:
    """The arguments the model gives (everything after the context)."""
    return list(inspect.signature(fn, eval_str=True).parameters.values())[1:]


@dataclass(frozen=True)
class Argument:
    """One argument of a tool, as the CLI's flags and the converter need it."""

    name: str
    kind: type
    """bool, int or str: what a given value is converted to."""
    doc: str
    """The Annotated description (what the model reads)."""
    default: Any
    required: bool


def arguments(fn: Callable[..., str]) -> list[Argument]:
    """The tool's arguments with their base type and description."""
    found = []
    for param in parameters(fn):
        meta = typing.get_args(param.annotation)[1:] if typing.get_origin(
            param.annotation) is typing.Annotated else ()
        kind = _base_type(param.annotation)
        required = param.default is inspect.Parameter.empty
        found.append(Argument(param.name, kind if kind in (bool, int, str) else str,
                              str(meta[0]) if meta else "", None if required else param.default,
                              required))
    return found


def bind(fn: Callable[..., str], ctx: ToolContext) -> Callable[..., str]:
    """The tool as a caller sees it: context bound, arguments checked and converted (models
    send "10" for 10), and every failure turned into one line starting with "error:"."""
    params = parameters(fn)
    by_name = {p.name: p for p in params}

    @functools.wraps(fn)
    def call(**kwargs: Any) -> str:
        try:
            return fn(ctx, **_convert(fn.__name__, by_name, kwargs))
        except ToolError as exc:
            return f"error: {exc}"
        except Exception as exc:  # a tool must answer, whatever broke underneath
            detail = " ".join(str(exc).split())[:300]
            return f"error: {fn.__name__} failed ({type(exc).__name__}: {detail})"

    call.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    return call


def build_tools(ctx: ToolContext, names: Iterable[str] | None = None) -> list[Any]:
    """LlamaIndex FunctionTools for the named tools (default: all), bound to `ctx`."""
    from llama_index.core.tools import FunctionTool

    chosen = list(names) if names is not None else list(TOOLS)
    unknown = [name for name in chosen if name not in TOOLS]
    if unknown:
        raise ValueError(f"unknown tools {unknown}; known: {sorted(TOOLS)}")
    return [FunctionTool.from_defaults(fn=bind(TOOLS[name], ctx), name=name,
                                       description=description(TOOLS[name]))
            for name in chosen]


def _convert(tool: str, params: dict[str, inspect.Parameter],
             given: dict[str, Any]) -> dict[str, Any]:
    unknown = [name for name in given if name not in params]
    if unknown:
        raise ToolError(f"{tool} has no argument {', '.join(map(repr, unknown))}; "
                        f"its arguments are: {', '.join(params)}")
    missing = [p.name for p in params.values()
               if p.default is inspect.Parameter.empty and p.name not in given]
    if missing:
        raise ToolError(f"{tool} needs the argument {', '.join(map(repr, missing))}")
    return {name: _to_type(tool, params[name], value) for name, value in given.items()}


def _to_type(tool: str, param: inspect.Parameter, value: Any) -> Any:
    kind = _base_type(param.annotation)
    if value is None:
        return None
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.strip().lower() in ("true", "yes", "1", "on"):
                    return True
                if value.strip().lower() in ("false", "no", "0", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is str:
            return value if isinstance(value, str) else str(value)
    except (TypeError, ValueError):
        raise ToolError(f"{tool}: argument '{param.name}' must be "
                        f"{'a whole number' if kind is int else kind.__name__}, "
                        f"got {value!r}") from None
    return value


def _base_type(annotation: Any) -> Any:
    """str for Annotated[str | None, ...]: the type a value must be converted to."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else annotation
    return annotation
