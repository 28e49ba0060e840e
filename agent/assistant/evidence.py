"""What the model was shown: the places of the repository its tool results named.

An answer must rest on what the agent saw. Every tool result (and every snippet of the RAG
prompt) is read for the places it shows: read_file's window (`path lines 10-40 of 90:`),
grep's matched and context lines under each file header, and every `path:line` or
`path:start-end` it names (search hits, definitions, references), with the same pattern the
citation check uses. A citation is *seen* when its lines lie within the places shown (a few
lines of slack at either end: a function cited from its first line to its last, as a hit
named it): a grep match on line 250 does not make `path:1-900` seen.

The places are also kept in the order they were shown, each with what the result said
beside it (a symbol, a definition's name): the choices offered when an answer has to say
where it rests (`locate.py`). And the results' lines are kept, to tell an answer from a
tool result pasted back (a small model's answer was the first search's output, word for
word, in 7 of 16 questions of run O): that makes no judgment, whatever it cites.
"""

from __future__ import annotations

import re
from collections import defaultdict

from codeagent.assistant.citation_forms import CITATION

READ_WINDOW = re.compile(r"^(\S.*?) lines (\d+)-(\d+) of \d+:$", re.M)
GREP_FILE = re.compile(r"^(\S.*?) \(\d+ match(?:es)?\)$")
GREP_LINE = re.compile(r"^\s+(\d+)([:-])")
READ_REST = re.compile(r"^ of \d+:")
SLACK = 3
# Lines only a tool result writes: a span's header (`path:12-40  Name`), read_file's
# (`path lines 10-40 of 90:`), the mark of lines left out (`... (20 more lines)`), and the
# mark of a result cut short in the conversation's memory (`[59 more lines]`).
TOOL_LINE = re.compile(r"^(\S+:\d+-\d+  \S|\S+ lines \d+-\d+ of \d+:$"
                       r"|\.\.\. \((\d+ more lines|from line \d+)\)|\[\d+ more lines)")
PASTED_SHARE = 0.5
"""An answer at least this share of whose lines are lines of tool results, a header or
mark among them, repeats a result rather than answering."""


class Evidence:
    def __init__(self) -> None:
        self.places: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lines: set[str] = set()
        """Every line of every tool result, stripped."""
        self.shown: dict[str, str] = {}
        """`path:start-end` of each place named, in the order shown -> what was said beside
        it (its symbol, or "")."""

    @classmethod
    def of(cls, observations: list[str]) -> "Evidence":
        """What these tool results show, in order."""
        evidence = cls()
        for observation in observations:
            evidence.add(observation)
        return evidence

    def add(self, observation: str) -> None:
        """Every place `observation` (a tool result) shows, and its lines."""
        self.lines.update(line.strip() for line in observation.split("\n") if line.strip())
        for path, start, end in READ_WINDOW.findall(observation):
            self.add_place(path, int(start), int(end))
        for match in CITATION.finditer(observation):
            start = int(match.group(2))
            self.add_place(match.group(1), start, int(match.group(3) or start),
                           _label(observation[match.end():]))
        current = None
        for line in observation.split("\n"):
            header = GREP_FILE.match(line)
            if header:
                current = header.group(1)
                continue
            number = GREP_LINE.match(line) if current else None
            if number:
                # a context line is seen, but offered as a place only where it matched
                self.add_place(current, int(number.group(1)), int(number.group(1)),
                               offer=number.group(2) == ":")
            elif current and line and not line.startswith(" "):
                current = None  # the file's block ended

    def add_place(self, path: str, start: int, end: int, label: str = "",
                  offer: bool = True) -> None:
        self.places[_normal(path)].append((start, end))
        location = f"{_normal(path)}:{start}" + (f"-{end}" if end != start else "")
        if offer and not self.shown.get(location):
            self.shown[location] = label

    def repeated(self, answer: str) -> bool:
        """`answer` is, for the most part, tool results pasted back."""
        lines = [line.strip() for line in answer.split("\n") if line.strip()]
        # a tool's own line counts as copied even from the memory's shorter copy
        copied = [line for line in lines if line in self.lines or TOOL_LINE.match(line)]
        return (len(copied) >= PASTED_SHARE * len(lines) > 0
                and any(TOOL_LINE.match(line) for line in copied))

    def covers(self, path: str, start: int, end: int) -> bool:
        """Lines start..end of path lie within the places shown (joined where they touch,
        with SLACK lines at either end)."""
        merged: list[list[int]] = []
        for s, e in sorted(self.places.get(_normal(path), ())):
            if merged and s - SLACK <= merged[-1][1] + SLACK + 1:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return any(s - SLACK <= start and end <= e + SLACK for s, e in merged)


def _label(rest: str) -> str:
    """What a tool result says right after a place, up to the line's end or a comma: the
    symbol of a search hit, the name of a definition (`  method  Session.send`)."""
    said = rest.split("\n", 1)[0].split(",", 1)[0]
    if READ_REST.match(said):
        return ""  # read_file's header: `of 90:` names nothing
    said = " ".join(word for word in said.split() if word != "-")
    return re.sub(r"\(similarity [\d.]+\)", "", said).strip()[:LABEL_CHARS]


LABEL_CHARS = 60


def _normal(path: str) -> str:
    return path[2:] if path.startswith("./") else path
