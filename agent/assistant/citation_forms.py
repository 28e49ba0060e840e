"""The forms a citation is written in: a path with its lines, as models and people write
them (the check itself is `citations`)."""

from __future__ import annotations

import re

# A path, then its lines: `path:12`, `path:12-40` (an L before numbers is tolerated), and
# the forms models and people write as often: `path lines 12-40`, `path, line 12`,
# `path: Lines 12-40`, `path file at lines 12-40`, `path (lines 12-40)`, `path#L12-L40`,
# the path in backticks, **bold** or <angle brackets>. To tell
# a path from prose ("note:1"), it has a directory, or an extension, or is a dotfile.
PATH = (r"(?:\.{1,2}/|/)?(?:[\w.@+-]+/)+[\w.@+-]+"   # with directories (absolute too:
                                                   # the check says why that is wrong)
        r"|\.[\w@+-][\w.@+-]*"                         # a dotfile: .env, .gitignore
        r"|[\w@+-]+(?:\.[\w@+-]+)*\.[A-Za-z_]\w*")    # a file name with an extension
                                                      # (a letter first: 1.5 is no file)
CITATION = re.compile(
    r"(?<![\w/.-])[<`*]*(" + PATH + r")[>`*]*"
    r"(?::L?|#L|[,:]? ?\(?(?: file)?,? ?(?:(?:at|in|around|on) )?[Ll]ines? )"
    r"(\d+)(?:(?:-|\u2013| to )L?(\d+))?"
    r"(?!\w)(?!\.\d)")                                  # a sentence's full stop may follow
# The lines first: `line 12 of path`, `lines 12-40 in path`.
CITATION_LINES_FIRST = re.compile(
    r"\b[Ll]ines? (\d+)(?:(?:-|\u2013| to )(\d+))? (?:of|in) (?:the file )?[<`*]*(" + PATH
    + r")(?<!\.)(?![\w/])")


def cited_places(answer: str) -> list[tuple[str, int, int]]:
    """(path, start, end) of every citation written with lines in `answer`, in order."""
    return [(path, start, end) for _, path, start, end in written_places(answer)]


def written_places(answer: str) -> list[tuple[int, str, int, int]]:
    """(offset, path, start, end) of every citation written with lines, in order."""
    found = [(m.start(), m.group(1), int(m.group(2)), int(m.group(3) or m.group(2)))
             for m in CITATION.finditer(answer)]
    found += [(m.start(), m.group(3), int(m.group(1)), int(m.group(2) or m.group(1)))
              for m in CITATION_LINES_FIRST.finditer(answer)]
    return sorted(found)
