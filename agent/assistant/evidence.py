"""What the model was shown: the places of the repository its tool results named.

An answer must rest on what the agent saw. Every tool result (and every snippet of the RAG
prompt) is read for the places it shows: read_file's window (`path lines 10-40 of 90:`),
grep's matched and context lines under each file header, and every `path:line` or
`path:start-end` it names (search hits, definitions, references), with the same pattern the
citation check uses. A citation is *seen* when its lines overlap one of those places.
"""

from __future__ import annotations

import re
from collections import defaultdict

from codeagent.assistant.citations import CITATION

READ_WINDOW = re.compile(r"^(\S.*?) lines (\d+)-(\d+) of \d+:$", re.M)
GREP_FILE = re.compile(r"^(\S.*?) \(\d+ match(?:es)?\)$")
GREP_LINE = re.compile(r"^\s+(\d+)[:-]")


class Evidence:
    def __init__(self) -> None:
        self.places: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def add(self, observation: str) -> None:
        """Every place `observation` (a tool result) shows."""
        for path, start, end in READ_WINDOW.findall(observation):
            self.add_place(path, int(start), int(end))
        for match in CITATION.finditer(observation):
            start = int(match.group(2))
            self.add_place(match.group(1), start, int(match.group(3) or start))
        current = None
        for line in observation.split("\n"):
            header = GREP_FILE.match(line)
            if header:
                current = header.group(1)
                continue
            number = GREP_LINE.match(line) if current else None
            if number:
                self.add_place(current, int(number.group(1)), int(number.group(1)))
            elif current and line and not line.startswith(" "):
                current = None  # the file's block ended

    def add_place(self, path: str, start: int, end: int) -> None:
        self.places[_normal(path)].append((start, end))

    def covers(self, path: str, start: int, end: int) -> bool:
        """Some place shown overlaps lines start..end of path."""
        return any(s <= end and start <= e for s, e in self.places.get(_normal(path), ()))


def _normal(path: str) -> str:
    return path[2:] if path.startswith("./") else path
