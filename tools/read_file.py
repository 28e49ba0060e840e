"""read_file: numbered lines of one file, a window at a time."""

from __future__ import annotations

import stat
from typing import Annotated

from codeagent.textfile import decode, holds_private_key, printable, split_lines

from .context import Budget, ToolContext, ToolError, clip, exact_glob, one_line

MAX_WINDOW = 200
READ_MAX_BYTES = 16 * 1024 * 1024
"""The largest file read_file reads (it reads a file whole to number its lines). Files too
large to index are read up to this size: the index's limit is about embedding, not reading."""


def read_file(
    ctx: ToolContext,
    path: Annotated[str, "File path relative to the repository root, as the tools print it."],
    start_line: Annotated[int, "First line to show (1-based)."] = 1,
    end_line: Annotated[int | None, "Last line to show; default: as far as the window allows."] = None,
) -> str:
    """Show a file's lines with their numbers, up to 200 lines at a time, and the file's
    total line count. Use it to read the code around a search hit (give the start_line
    from the hit), or a whole small file; read on with the start_line the output suggests.
    To find where something is, use grep, find_symbol or semantic_search first."""
    absolute, rel = ctx.resolve(path)
    if not absolute.exists():
        near = ctx.same_name(rel)
        if near:  # a small model often gives the file name alone, or a path cut short
            raise ToolError(f"no file '{rel}' in the repository; files of that name: "
                            f"{', '.join(near)}")
        raise ToolError(f"no file '{rel}' in the repository; list_files or grep can find the "
                        "right path")
    if absolute.is_dir():
        see = (f"list_files(path_glob='{exact_glob(rel, directory=True)}')" if rel
               else "list_files()")
        raise ToolError(f"'{printable(rel) or '.'}' is a directory; {see} shows its files")
    info = absolute.stat()
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read forever
        raise ToolError(f"'{printable(rel)}' is not a regular file")
    large = info.st_size > ctx.settings.max_file_bytes
    if large and info.st_size > READ_MAX_BYTES:
        raise ToolError(f"'{printable(rel)}' is {info.st_size} bytes: no tool reads a file this "
                        f"large (read_file reads up to {READ_MAX_BYTES}; it is not indexed, and "
                        "grep skips it)")
    data = absolute.read_bytes()
    if holds_private_key(data):
        raise ToolError(f"'{printable(rel)}' holds a private key: it is never shown")
    decoded = decode(data)
    if decoded is None:
        raise ToolError(f"'{printable(rel)}' is a binary file")
    lines = split_lines(decoded[0])
    total = len(lines)
    if total == 0:
        return f"{rel} is empty (0 lines)"
    if start_line < 1:
        raise ToolError(f"start_line must be 1 or more (the file has {total} lines)")
    if start_line > total:
        raise ToolError(f"start_line {start_line} is past the end: {rel} has {total} lines")
    if end_line is not None and end_line < start_line:
        raise ToolError(f"end_line {end_line} is before start_line {start_line}")
    last = min(total, end_line if end_line is not None else total, start_line + MAX_WINDOW - 1)
    width = len(str(last))
    budget = Budget(ctx.settings.observation_tokens)
    budget.add("")  # the header goes here once the shown range is known
    shown = start_line - 1
    for number in range(start_line, last + 1):
        if not budget.add(f"{number:>{width}}  {clip(lines[number - 1])}"):
            break
        shown = number
    budget.lines[0] = one_line(f"{rel} lines {start_line}-{shown} of {total}:")
    if shown < total:
        budget.lines.append(f"({total - shown} more lines; read on with "
                            f"read_file(path='{rel}', start_line={shown + 1}))")
    else:
        budget.lines.append("(end of file)")
    if large:  # what the model saw here, the searches cannot find again
        budget.lines.append("(too large to index: grep and the searches skip this file)")
    return "\n".join(budget.lines)
