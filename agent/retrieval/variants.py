"""A question asked several ways: the model's rewrites, or heuristic variants made from
its identifiers and key words, for vector search and BM25 to fail differently on."""

from __future__ import annotations

import logging
import re
from typing import Any

from codeagent.index import keyword_index
from codeagent.index.keyword_index import split_identifier

MAX_VARIANTS = 4

log = logging.getLogger(__name__)


def query_variants(question: str, llm: Any = None) -> tuple[list[str], str | None]:
    """The question first, then up to MAX_VARIANTS - 1 rewrites of it: from `llm` when
    given, heuristic otherwise or when the LLM fails (with a note saying so)."""
    if llm is not None:
        try:
            rewrites = _llm_rewrites(question, llm)
        except Exception as exc:  # unreachable, timed out, refused: search goes on without
            log.warning("query variants from the LLM failed (%s: %s); using heuristic ones",
                        type(exc).__name__, exc)
            return (heuristic_variants(question),
                    f"the LLM failed ({type(exc).__name__}), so heuristic variants were used")
        if rewrites:
            return _distinct([question, *rewrites])[:MAX_VARIANTS], None
        log.warning("the LLM's query variants were unusable; using heuristic ones")
        return (heuristic_variants(question),
                "the LLM gave no usable variants, so heuristic ones were used")
    return heuristic_variants(question), None


def heuristic_variants(question: str) -> list[str]:
    """The question; the identifiers in it (for BM25); its key words (without question
    words); and the identifiers spelled as words (`get user name`, for the embeddings)."""
    names = identifiers(question)
    words = [word for word in re.findall(r"[\w./-]*\w", question)
             if word in names or word.lower() not in _NOT_KEY]
    spelled = " ".join(piece for name in names for piece in split_identifier(name))
    return _distinct([question, " ".join(names), " ".join(words), spelled])[:MAX_VARIANTS]


def identifiers(question: str) -> list[str]:
    """Code names in a question: quoted or backticked text, dotted names and paths, and
    words in camelCase, PascalCase, snake_case, kebab-case or followed by `()`."""
    found = [m.group(1) or m.group(2) or m.group(3) for m in _QUOTED.finditer(question)]
    for match in _NAME.finditer(_QUOTED.sub(" ", question)):
        name, called = match.group(1).rstrip(".-"), match.group(2)
        parts = name.split(".")
        if len(parts) > 1 and (all(p.isdigit() for p in parts) or min(map(len, parts)) < 2):
            continue  # version numbers and abbreviations (3.11, e.g.)
        if called or _CAMEL.search(name) or any(mark in name for mark in "./_-"):
            found.append(name)
    return _distinct(found)


def _llm_rewrites(question: str, llm: Any) -> list[str]:
    from codeagent.prompts import load_prompt

    prompt = load_prompt("query_variants", question=question, count=MAX_VARIANTS - 1)
    answer = str(llm.complete(prompt).text)
    # Small models parrot their instructions; a line of the prompt (the question
    # included) is no rewrite.
    parroted = {_bare(line) for line in prompt.splitlines()}
    rewrites = []
    for line in answer.splitlines():
        line = _bare(line)
        # Preambles ("Here are the queries:"), fences and essays are not queries either.
        if (line and line not in parroted and not line.endswith(":") and len(line) <= 200
                and len(line.split()) <= 24):
            rewrites.append(line)
    return _distinct(rewrites)[:MAX_VARIANTS - 1]


def _bare(line: str) -> str:
    return _LIST_MARK.sub("", line.strip()).strip("`\"' ")


def _distinct(items: list[str]) -> list[str]:
    seen, kept = set(), []
    for item in items:
        key = " ".join(item.lower().split())
        if key and key not in seen:
            seen.add(key)
            kept.append(" ".join(item.split()))
    return kept


_QUOTED = re.compile(r"`([^`\n]+)`|\"([^\"\n]+)\"|(?<!\w)'([^'\n]+)'(?!\w)")
_NAME = re.compile(r"([\w$]+(?:[./-][\w$]+)*)(\(\))?")
_CAMEL = re.compile(r"[a-z0-9][A-Z]|[A-Z]{2,}[a-z]")
_LIST_MARK = re.compile(r"^(?:[-*\u2022]+|\d+[.)])\s*")
_NOT_KEY = keyword_index.STOPWORDS | {
    "can", "could", "would", "should", "please", "find", "show", "tell", "explain", "code",
    "happen", "happens", "there", "here", "anywhere", "somewhere"}
