"""What every tool shares: the repository it is jailed to, and the rules of its output.

The model controls every argument, so every path goes through `ToolContext.resolve` (the
jail: no absolute paths, `~`, `..` out of the root, NUL bytes, symlinks leading out,
secrets or ignored files), and every observation through `Budget` (a small local model
pays for each token of context). Errors the model can act on are `ToolError`s: one line,
never a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from codeagent.errors import IndexProblem
from codeagent.index.walker import RepoRules, glob_matches
from codeagent.settings import Settings
from codeagent.textfile import CHARS_PER_TOKEN, decode, printable, split_lines


class ToolError(Exception):
    """A bad argument or an empty world, explained in one line the model can act on."""


@dataclass
class ToolContext:
    """One repository, its settings, and what the tools open lazily (index, model, LLM)."""

    repo: Path
    settings: Settings
    embedding: Any = None
    """(model, EmbeddingInfo) to use instead of loading the index's model (tests)."""
    llm: Any = None
    """A LlamaIndex LLM for query variants; None means heuristic variants."""
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    """What tools keep between calls of one session (grep's sniff results)."""
    filling: Any = None
    """The index run going on in this process (chat's `index.background.BackgroundIndex`),
    or None. While it fills a first index, keyword search and find_symbol read its quick
    index, and what needs vectors says how far the run is instead of failing."""
    rules: RepoRules = field(init=False)
    _searcher: Any = field(default=None, init=False, repr=False)
    _manifest: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.repo = self.repo.resolve()
        self.rules = RepoRules.from_settings(self.repo, self.settings)

    def searcher(self) -> Any:
        """The open index (manifest, store, embedding model), opened on first use. While a
        first index fills there is none yet: a ToolError says how far it is."""
        if self._searcher is None:
            from codeagent.retrieval.semantic import Searcher

            try:
                self._searcher = Searcher(self.repo, self.settings, embedding=self.embedding)
            except IndexProblem:
                if self.filling is not None and self.filling.running():
                    raise ToolError(self.still_filling("semantic search")) from None
                raise
        return self._searcher

    def still_filling(self, what: str, after_chunking: bool = False) -> str:
        """One line for a tool that cannot answer yet because the first index is filling:
        how far it is, when `what` works (`after_chunking`: once the files are chunked),
        and what works now."""
        if self.filling.quick is not None:
            works = "grep, find_symbol, read_file, list_files and multi_query_search (by keyword)"
        else:
            works = "grep, read_file and list_files"
        when = "once the files are chunked (seconds)" if after_chunking else "when it is done"
        return (f"the index is still filling ({self.filling.progress()}): {what} works "
                f"{when}; {works} work now")

    def partial(self) -> str | None:
        """A note for results read while an index run changes the index, else None."""
        if self.filling is None or not self.filling.running():
            return None
        return f"(partial: the index is still being updated, {self.filling.progress()})"

    def spans(self, question: str, k: int) -> Any:
        """The k best code spans for `question` (a `retrieval.spans.Spans`) in this
        repository's index, the files read through the jail, the query variants written by
        `llm` when one is set; by keyword only, from the quick index, while a first index
        fills. ToolError when there is no usable index."""
        from codeagent.retrieval.spans import KeywordSearcher, find_spans

        quick = self.filling.quick if self.filling is not None else None
        try:
            searcher = self.searcher()
        except ToolError:
            if quick is None:
                raise ToolError(self.still_filling("multi_query_search",
                                                   after_chunking=True)) from None
            searcher = KeywordSearcher(self.repo, quick)
        except IndexProblem as exc:
            raise ToolError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from None
        found = find_spans(searcher, question, k, self.settings, read_lines=self.current_lines,
                           llm=self.llm)
        if isinstance(searcher, KeywordSearcher):
            found.notes.insert(0, f"by keyword only: the index is still filling "
                                  f"({self.filling.progress()}); meaning joins when it is done")
        elif (note := self.partial()) is not None:
            found.notes.insert(0, note)
        return found

    def current_lines(self, path: str) -> list[str] | None:
        """A hit's file as it is now, through the jail (the index may be older than a
        symlink)."""
        try:
            absolute, _ = self.resolve(path)
            decoded = decode(absolute.read_bytes())
        except (ToolError, OSError):
            return None
        return split_lines(decoded[0]) if decoded is not None else None

    def refresh(self) -> None:
        """Reopen the index if another process (`codeagent index` in another terminal)
        changed it since it was opened, so no question is answered from stale vectors."""
        if self._searcher is not None and self._searcher.stale():
            self.close()

    def manifest(self) -> Any:
        """The index's manifest (symbols, chunks) without loading the embedding model;
        while a first index fills, the quick index's (not kept: the real one follows)."""
        if self._manifest is None:
            from codeagent.index.layout import open_manifest_readonly

            try:
                self._manifest = open_manifest_readonly(self.repo)
            except IndexProblem:
                if self.filling is not None and self.filling.quick is not None:
                    return self.filling.quick.manifest
                raise
        return self._manifest

    def graph(self) -> Any:
        """The entity graph (`index.graph.CodeGraph`) of `manifest()`, resolved again once
        its definitions and references change (`load_graph` keeps it until then)."""
        from codeagent.index.graph import load_graph

        return load_graph(self.manifest())

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None

    def resolve(self, user_path: str) -> tuple[Path, str]:
        """(absolute path, repository-relative POSIX path) of a path the model gave, or a
        ToolError saying why it is out of bounds. The path need not exist."""
        if not isinstance(user_path, str) or not user_path.strip():
            raise ToolError("path is empty: give a path relative to the repository root")
        raw = user_path.strip()
        if "\x00" in raw:
            raise ToolError("path contains a NUL byte")
        if "\\" in raw and not (self.repo / raw).exists():
            raw = raw.replace("\\", "/")  # a Windows-style path; unless a name holds one
        if raw.startswith("~"):
            raise ToolError(f"'{printable(raw)}' is outside the repository: paths are relative "
                            "to its root, '~' is not allowed")
        if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or "://" in raw:
            raise ToolError(f"'{printable(raw)}' is an absolute path: give it relative to the "
                            "repository root, as the other tools print it")
        normal = os.path.normpath(raw)
        if normal == ".." or normal.startswith("../"):
            raise ToolError(f"'{printable(raw)}' leads outside the repository")
        rel = "" if normal == "." else PurePosixPath(normal).as_posix()
        absolute = self.repo / rel
        real = Path(os.path.realpath(absolute))
        if real != self.repo and self.repo not in real.parents:
            raise ToolError(f"'{printable(raw)}' is a symlink that leads outside the repository")
        for candidate in {rel, real.relative_to(self.repo).as_posix() if real != self.repo else ""}:
            if candidate:
                self._check_visible(candidate, raw)
        return absolute, rel

    def same_name(self, rel: str, most: int = 5) -> list[str]:
        """Visible files whose path ends with the one given (`modutils.py`,
        `nodes/as_string.py`): a small model often gives the file name alone, or a path
        cut short."""
        from codeagent.index.walker import walk_cached

        tail = "/" + rel.lstrip("/")
        walked = walk_cached(self.rules, self.cache.setdefault("walk", {}))
        readable = [f.path for f in walked.files] + [  # too large to index is still read
            path for path, why in walked.skipped.items() if why == "too large"]
        return sorted(path for path in readable if ("/" + path).endswith(tail))[:most]

    def _check_visible(self, rel: str, raw: str) -> None:
        why = self.rules.exclusion(rel)
        if why == "secret":
            raise ToolError(f"'{printable(raw)}' is a secret file (keys, credentials, .env): "
                            "it is never shown")
        if why == "ignored":
            raise ToolError(f"'{printable(raw)}' is excluded by the ignore rules (.gitignore, "
                            ".codeagentignore, built-in excludes)")


class Budget:
    """Collects output lines until the observation's token budget is spent."""

    def __init__(self, tokens: int) -> None:
        self.chars_left = int(tokens * CHARS_PER_TOKEN)
        self.lines: list[str] = []
        self.full = False

    def add(self, line: str) -> bool:
        """Add a line (made printable, and one line: a newline inside it, as in a file
        name, is shown as \\n); False, and nothing added, once the budget is spent."""
        line = one_line(line)
        if self.full or len(line) + 1 > self.chars_left:
            self.full = True
            return False
        self.lines.append(line)
        self.chars_left -= len(line) + 1
        return True

    def fits(self, lines: list[str]) -> bool:
        return sum(len(printable(line)) + 1 for line in lines) <= self.chars_left

    def add_blocks(self, blocks: list[list[str]]) -> int:
        """Add whole blocks (a hit and its lines) while they fit; how many went in."""
        shown = 0
        for block in blocks:
            if not self.fits(block):
                break
            for line in block:
                self.add(line)
            shown += 1
        return shown

    def text(self) -> str:
        return "\n".join(self.lines)


def clip(line: str, width: int = 200) -> str:
    """One line of code, cut to a width a model can afford (minified code has no end)."""
    return line if len(line) <= width else line[:width] + " ..."


def snippet(header: str, lines: list[str], shown: int = 6) -> list[str]:
    """A search hit as the model sees it: its header, its first lines, how many more."""
    block = [header] + ["    " + clip(line, 160) for line in lines[:shown]]
    if len(lines) > shown:
        block.append(f"    ... ({len(lines) - shown} more lines)")
    return block


def broader_glob(path_glob: str, paths: list[str]) -> tuple[str, int] | None:
    """A broader glob to offer when `path_glob` matched nothing, with how many paths it
    matches; offered only when it matches some ('lib/redirects.py' -> '*redirects.py')."""
    tail = path_glob.strip().rstrip("/").rsplit("/", 1)[-1].lstrip("*")
    broader = f"*{tail}" if tail else ""
    if not broader or broader == path_glob.strip():
        return None
    found = glob_matches(broader, paths)
    return (broader, len(found)) if found else None


def exact_glob(path: str, directory: bool = False) -> str:
    """The path_glob that matches this one repository path and nothing else: anchored at
    the root (an unanchored 'src/' matches every src/ at any depth), its wildcard
    characters and trailing spaces escaped (gitignore syntax)."""
    escaped = re.sub(r"([\\\[\]*?])", r"\\\1", path)
    escaped = re.sub(r" (?= *$)", r"\\ ", escaped)
    return "/" + escaped + ("/" if directory else "")


def one_line(text: str) -> str:
    """Text safe to print as one line: control characters escaped, newlines as \\n."""
    return printable(text).replace("\n", "\\n")
