"""A hostile repository: every kind of file an indexer meets in the wild, each with the
treatment codeagent's rules give it, and the races a walk can lose (files that vanish or
become unreadable between being listed and being read), staged deterministically.

    corpus = build_corpus(root)            # writes the files; corpus[path].expected
    races = Races(root, corpus); races.install(monkeypatch)
    summary = run_index(root, settings, embedding=mock)

`expected` is "indexed", "ignored" (left out by ignore rules: not reported, as git does
not report them), "not listed" (inside a directory left out whole, which is reported) or
the reason `IndexSummary.skipped` must give.
"""

from __future__ import annotations

import codecs
import os
import pathlib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

INDEXED = "indexed"
IGNORED = "ignored"
NOT_LISTED = "not listed"
TEXT = "HOSTILE marker line"  # a line every text file holds, for grep to find

_HUGE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    path: str
    """Repository-relative; for a directory left out whole, the directory."""
    what: str
    """What makes it nasty, for the table in bench/README.md."""
    expected: str


def _case(corpus: dict[str, Hostile], path: str, what: str, expected: str) -> None:
    corpus[path] = Hostile(path, what, expected)


def _write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def _lines(n: int, template: str = "value_{i} = {i}  # line {i}") -> str:
    return "".join(template.format(i=i) + "\n" for i in range(n))


def build_corpus(root: Path) -> dict[str, Hostile]:
    """Write the hostile files under `root` (a fresh directory); path -> what to expect."""
    root.mkdir(parents=True, exist_ok=True)
    corpus: dict[str, Hostile] = {}

    def text(rel: str, content: str | bytes, what: str, expected: str = INDEXED) -> None:
        _write(root, rel, content)
        _case(corpus, rel, what, expected)

    # Syntax errors: the parser rejects the file, line windows keep every line.
    text("syntax/broken.py", f"# {TEXT}\ndef broken(:\n    return [1, 2\n\nclass Fine:\n    pass\n",
         "Python syntax error")
    text("syntax/broken.js", f"// {TEXT}\nfunction f( {{\n  return 1;\n}}}}\nconst x = ;\n",
         "JavaScript syntax error")
    text("syntax/broken.go", f"package main\n// {TEXT}\nfunc main( {{\n\tfmt.Println(\"x\"\n}}\n",
         "Go syntax error")
    text("syntax/broken.rs", f"// {TEXT}\nfn main() {{\n    let x = ;\n    if {{\n}}\n",
         "Rust syntax error")
    text("syntax/broken.c", f"/* {TEXT} */\n#include <stdio.h>\nint main( {{\n  printf(\"%d\"\n",
         "C syntax error")
    text("syntax/unclosed.py", f'# {TEXT}\nDOC = """never closed\n' + _lines(200),
         "unterminated string over 200 lines")
    text("syntax/conflict.py", f"# {TEXT}\n<<<<<<< HEAD\nVALUE = 1\n||||||| base\nVALUE = 0\n"
         "=======\nVALUE = 2\n>>>>>>> feature\n", "merge-conflict markers (diff3)")
    text("syntax/conflict.go", f"package x\n// {TEXT}\n<<<<<<< ours\nfunc A() {{}}\n=======\n"
         "func B() {{}}\n>>>>>>> theirs\n", "merge-conflict markers in Go")

    # Encodings: decoded, never dropped, never mangled into other lines.
    body = f"# {TEXT}\nname = 'café naïve Müller'\nprice = '€ 10'\n"
    text("enc/latin1.py", f"# {TEXT}\nNAME = 'Müller, café'\n".encode("latin-1"), "latin-1")
    text("enc/utf16le.txt", codecs.BOM_UTF16_LE + body.encode("utf-16-le"), "UTF-16 LE with BOM")
    text("enc/utf16be.txt", codecs.BOM_UTF16_BE + body.encode("utf-16-be"), "UTF-16 BE with BOM")
    text("enc/utf32le.txt", codecs.BOM_UTF32_LE + body.encode("utf-32-le"), "UTF-32 LE with BOM")
    text("enc/utf8bom.py", codecs.BOM_UTF8 + body.encode(), "UTF-8 with BOM")
    text("enc/invalid_utf8.py", f"# {TEXT}\nok = 1\n".encode() + b"bad = '\xc3\x28 \xa0\xa1'\n"
         b"also_ok = 2\n", "invalid UTF-8 bytes in a UTF-8 file (read as cp1252)")
    text("enc/undefined_cp1252.py", f"# {TEXT}\n".encode() + b"x = '\x81\x8d\x8f\x90\x9d'\n",
         "bytes undefined in cp1252 (read as latin-1)")
    text("enc/utf16_no_bom.txt", body.encode("utf-16-le"), "UTF-16 without a BOM (NULs)",
         "binary")

    # Binary.
    text("bin/nul.py", f"# {TEXT}\n".encode() + b"x = 1\x00\x01\x02\n", "NUL bytes", "binary")
    text("bin/late_nul.txt", _lines(1000).encode() + b"tail \x00 after 8 KB\n" +
         f"{TEXT}\n".encode(), "a NUL after the first 8 KB (text by the sniff)")
    text("bin/picture.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "binary extension",
         "binary")

    # Size and line length.
    line = b"print('a fifty megabyte file of code')\n"
    text("big/huge.txt", line * (_HUGE_BYTES // len(line) + 1), "50 MB of code", "too large")
    text("big/over_limit.txt", b"y" * 999_999 + b"\n" + b"z", "1,000,001 bytes", "too large")
    text("big/bundle.js", "var a=1;" * 4000, "minified JavaScript (one 32 KB line)", "minified")
    text("big/app.min.js", "var a=1;" * 4000, "*.min.js", IGNORED)
    text("big/one_line.py", "X = [" + "1234567, " * 11_111 + "]", "a single 100 KB line of code",
         "minified")
    text("big/long_line_among_many.py", f"# {TEXT}\n" + _lines(300) + "Y = [" +
         "1234567, " * 11_111 + "]\n" + _lines(20, "tail_{i} = {i}"),
         "one 100 KB line among 321 short ones")

    # Line endings and layout characters.
    text("eol/crlf.py", f"# {TEXT}\r\n" + _lines(50).replace("\n", "\r\n"), "CRLF endings")
    text("eol/cr_only.py", f"# {TEXT}\r" + _lines(30).replace("\n", "\r"),
         "lone-CR endings (one line to an editor that splits on LF)")
    text("eol/mixed.txt", f"{TEXT}\r\nunix\nold mac\rwindows\r\n\r\nend",
         "mixed endings, no final newline")
    text("eol/formfeed.py", f"# {TEXT}\n\x0c\ndef a():\n    return 1\n\x0c\n\x0cdef b():\n"
         "    return 2\n", "form feeds")
    text("eol/escape.py", f"# {TEXT}\nBANNER = '\x1b[2J\x1b]0;pwned\x07'\n",
         "terminal escape sequences")

    # Nothing, or nearly nothing.
    text("empty/empty.py", "", "empty file")
    text("empty/whitespace.py", "   \n\t\n\n  \x0b \r\n", "whitespace only")
    text("empty/blank.md", "\n" * 500, "500 blank lines")
    text("comment/long_comment.py", "".join(f"# {TEXT} {i}: a very long comment\n"
                                            for i in range(3000)), "3,000 lines of comment")
    text("comment/block.js", "/*\n" + "".join(f" * {TEXT} {i}\n" for i in range(2000)) + " */\n",
         "one 2,000-line block comment")

    # Depth.
    deep = "/".join(f"d{i:02d}" for i in range(60))
    text(f"deep/{deep}/bottom.py", f"# {TEXT}\nDEPTH = 60\n", "60 nested directories")

    # Symlinks.
    links = root / "links"
    links.mkdir()
    os.symlink("loop_b", links / "loop_a")
    os.symlink("loop_a", links / "loop_b")
    _case(corpus, "links/loop_a", "symlink loop a -> b -> a", "broken symlink")
    _case(corpus, "links/loop_b", "symlink loop b -> a -> b", "broken symlink")
    os.symlink("..", links / "up")
    _case(corpus, "links/up", "directory symlink to an ancestor",
          "symlink (its target is indexed under its own path)")
    os.symlink(".", links / "self")
    _case(corpus, "links/self", "directory symlink to itself",
          "symlink (its target is indexed under its own path)")
    os.symlink("nowhere.py", links / "dangling.py")
    _case(corpus, "links/dangling.py", "dangling symlink", "broken symlink")
    os.symlink("/dev/zero", links / "zero.txt")
    _case(corpus, "links/zero.txt", "symlink to /dev/zero", "symlink outside repository")
    os.symlink("../syntax/broken.py", links / "inside.py")
    _case(corpus, "links/inside.py", "symlink to a file inside",
          "symlink (its target is indexed under its own path)")

    # Not a regular file: reading a FIFO blocks until someone writes.
    (root / "special").mkdir()
    os.mkfifo(root / "special/pipe.py")
    _case(corpus, "special/pipe.py", "named pipe (FIFO)", "not a regular file")

    # Names.
    for name, what in [("with space.py", "space in the name"),
                       ("new\nline.py", "newline in the name"),
                       ("tab\tname.py", "tab in the name"),
                       ("café.py", "non-ASCII name (é)"),
                       ("日本/コード.py", "non-ASCII names (日本)"),
                       ("emoji_🚀.py", "emoji in the name"),
                       ("-rf.py", "name starting with '-'"),
                       ("--help", "name that is a flag"),
                       ("back\\slash.py", "backslash in the name"),
                       ("esc\x1b[31m.py", "escape sequence in the name"),
                       ("quote'\"$(x).py", "quotes and $() in the name")]:
        text(f"names/{name}", f"# {TEXT}\nNAME = {name!r}\n", what)

    # Names that are not UTF-8 (Latin-1 bytes): Python reads them with surrogate escapes,
    # which SQLite, Chroma, tokenizers and JSON all refuse; reported under a shown name.
    _write(root, "undecodable/caf\udce9.py", f"# {TEXT}\n")
    _case(corpus, "undecodable/caf\ufffd.py", "file name not UTF-8 (Latin-1 é)",
          "name is not valid UTF-8")
    _write(root, "undecodable/d\udce9j\udce0/inner.py", f"# {TEXT}\n")
    _case(corpus, "undecodable/d\ufffdj\ufffd/", "directory name not UTF-8",
          "name is not valid UTF-8")
    _case(corpus, "undecodable/d\ufffdj\ufffd/inner.py", "inside it", NOT_LISTED)

    # Secrets: never indexed, whatever the name.
    text("secrets/.env", f"API_TOKEN=hostile-secret\n# {TEXT}\n", ".env", "secret")
    text("secrets/id_rsa", f"key\n{TEXT}\n", "id_rsa", "secret")
    text("secrets/notes.txt", f"{TEXT}\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
         "a private key under a harmless name", "secret")
    text(".ssh/config", f"Host x\n# {TEXT}\n", "inside .ssh/", NOT_LISTED)
    _case(corpus, ".ssh/", ".ssh/ directory (left out whole)", "secret")

    # Ignore rules: a .gitignore git reads without complaint, odd lines included.
    gitignore = ("# comment\n\n   \n!\n\\\ntrailing\\\n[\n*.tmp\n\\#hash.txt\n/rooted.txt\n"
                 "padded.txt   \n**/deep_ignored.py\nwin.txt\r\n").encode() + b"\xff\xfe junk\n"
    text(".gitignore", gitignore, ".gitignore with odd lines ('!', '\\\\', '[', CRLF, junk bytes)")
    text("ignore/scratch.tmp", f"{TEXT}\n", "ignored by '*.tmp'", IGNORED)
    text("#hash.txt", f"{TEXT}\n", "ignored by an escaped '#'", IGNORED)
    text("rooted.txt", f"{TEXT}\n", "ignored by '/rooted.txt'", IGNORED)
    text("ignore/rooted.txt", f"{TEXT}\n", "not ignored by '/rooted.txt' deeper down")
    text("padded.txt", f"{TEXT}\n", "ignored by a pattern with trailing spaces", IGNORED)
    text("ignore/a/b/deep_ignored.py", f"# {TEXT}\n", "ignored by '**/'", IGNORED)
    text("win.txt", f"{TEXT}\n", "ignored by a CRLF line", IGNORED)
    text("[", f"{TEXT}\n", "named '[' (an unclosed bracket pattern matches nothing)")
    text("!", f"{TEXT}\n", "named '!' (a lone '!' pattern matches nothing)")
    text("ignore/.gitignore", "[\nodd[.txt\n*.log\n", "nested .gitignore with unclosed brackets")
    text("ignore/[", f"{TEXT}\n", "named '[' under a '[' pattern (git: matches nothing)")
    text("ignore/odd[.txt", f"{TEXT}\n", "named 'odd[.txt' under that pattern (no match)")
    text("ignore/debug.log", f"{TEXT}\n", "ignored by a nested '*.log'", IGNORED)
    text("node_modules/pkg/index.js", f"// {TEXT}\n", "node_modules/", IGNORED)
    text(".git/config", f"[core]\n# {TEXT}\n", ".git/", IGNORED)

    # Races, staged by Races: see there.
    for rel, what, expected in RACES:
        text(rel, f"# {TEXT}\n" + _lines(5), what, expected)
    text("race/denied_dir/inside.py", f"# {TEXT}\n", "inside a directory that became unreadable",
         NOT_LISTED)
    _case(corpus, "race/denied_dir", "directory unreadable when listed", "unreadable")
    return corpus


RACES = [
    ("race/vanish_walk.py", "deleted between listing and stat (walk)", "unreadable"),
    ("race/vanish_plan.py", "deleted after the walk, before it was read", "unreadable"),
    ("race/vanish_batch.py", "deleted after the plan read it, before embedding", "unreadable"),
    ("race/denied.py", "chmod 000 from the start", "unreadable"),
    ("race/denied_plan.py", "chmod 000 after the walk", "unreadable"),
    ("race/denied_batch.py", "chmod 000 after the plan read it", "unreadable"),
    ("race/to_binary.py", "turned binary after the plan read it", "binary"),
    ("race/grew.txt", "grew past the size limit after the walk", "too large"),
]


class Races:
    """Stages the races of RACES at the exact moment each can happen, deterministically.

    The walk lists a directory, then stats each entry: `vanish_walk` is deleted in between
    (a scandir that deletes it right after listing), and `denied_dir` cannot be listed.
    After the walk and before the plan reads the files: `vanish_plan` is deleted,
    `denied_plan` denied, `grew` grows past the limit. After the plan read a file and before
    its batch reads it again: `vanish_batch` is deleted, `denied_batch` denied, `to_binary`
    rewritten with NULs. Each race happens in the first run only. Denial is chmod 000, and
    where that stops nobody (root) a read or listing of the path raises PermissionError, as
    the OS would.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.denied: set[Path] = set()
        self.reads: dict[Path, int] = {}
        self.walks_done = 0
        probe = self.root / "race/denied.py"
        probe.chmod(0)
        try:
            probe.read_bytes()
            self.simulate = True  # root: permissions stop nothing
        except PermissionError:
            self.simulate = False
        self._deny(probe)

    def _deny(self, path: Path) -> None:
        path.chmod(0)
        self.denied.add(path)

    def _path(self, rel: str) -> Path:
        return self.root / rel

    def install(self, monkeypatch, indexer_module, walker_module) -> None:
        real_walk = indexer_module.walk
        real_read = pathlib.Path.read_bytes
        real_scandir = os.scandir
        races = self

        def walk_then_race(rules):
            result = real_walk(rules)
            if races.walks_done:
                return result
            races.walks_done += 1
            races._path("race/vanish_plan.py").unlink()
            races._deny(races._path("race/denied_plan.py"))
            with open(races._path("race/grew.txt"), "ab") as grow:
                grow.write(b"# grown past the size limit, line after line\n" * 23_000)
            return result

        def scandir(path="."):
            where = Path(os.fspath(path)).resolve()
            if where == races._path("race/denied_dir") and races.simulate:
                raise PermissionError(13, "Permission denied", os.fspath(path))
            if where != races._path("race"):
                return real_scandir(path)
            with real_scandir(path) as it:
                entries = list(it)
            races._path("race/vanish_walk.py").unlink(missing_ok=True)
            return _Listed(entries)

        def read_bytes(path: pathlib.Path) -> bytes:
            absolute = Path(os.path.abspath(path))
            if absolute in races.denied and races.simulate:
                raise PermissionError(13, "Permission denied", str(path))
            data = real_read(path)
            count = races.reads[absolute] = races.reads.get(absolute, 0) + 1
            if count == 1:
                after_first_read = {
                    races._path("race/vanish_batch.py"): lambda p: p.unlink(),
                    races._path("race/denied_batch.py"): races._deny,
                    races._path("race/to_binary.py"): lambda p: p.write_bytes(b"\x00\x01bin"),
                }.get(absolute)
                if after_first_read:
                    after_first_read(absolute)
            return data

        self._deny(self._path("race/denied_dir"))
        monkeypatch.setattr(indexer_module, "walk", walk_then_race)
        monkeypatch.setattr(walker_module, "os", _os_with(scandir=scandir))
        monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)

    def restore_permissions(self) -> None:
        for path in self.denied:
            if path.exists():
                path.chmod(0o755 if path.is_dir() else 0o644)


class _Listed(list):
    """What `os.scandir` returns, already listed: iterable and a context manager."""

    def __enter__(self) -> "_Listed":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _os_with(**overrides: Callable) -> types.SimpleNamespace:
    """The os module with some functions replaced, for one module's eyes only."""
    namespace = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os)
                                         if not name.startswith("__")})
    for name, fn in overrides.items():
        setattr(namespace, name, fn)
    return namespace

