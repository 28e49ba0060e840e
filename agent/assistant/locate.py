"""Answers that can only cite what the tools showed: the model picks places from a list.

Used twice. The last, tool-free turn of an agent at a limit (`final_choice`) asks for the
answer as JSON, `{"places": [...], "answer": "..."}`. And an answer that still cites
nothing checkable after its correction is asked once more, for the places it rests on
(`locate`).

A small model often answers in prose that names no location the citation check can hold
(a bare file name, a function without lines), or ends at a limit with nothing cited. Asked
again in words, it writes the same kind of answer. So the question is put as a choice: the
reply must be JSON whose `places` are taken from the places the tool results named, in the
order shown (`Evidence.shown`), which Ollama enforces by decoding under the JSON schema
given as `format` (a grammar: the model cannot write a place that is not on the list).
The answer keeps its words and gains a line of checked locations; the citation check then
runs as for any answer, so nothing here can make an invalid citation pass.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from codeagent.assistant.llm import reply_within
from codeagent.prompts import load_prompt

MAX_OFFERED = 40
"""Places offered, the first shown first: the grammar grows with the list."""
MAX_CHOSEN = 5
WHERE = "Where:"
"""How the line of located places begins in the answer."""


def offered(shown: dict[str, str]) -> list[str]:
    """The places to choose from, as the reply must spell them."""
    return list(shown)[:MAX_OFFERED]


def schema(places: list[str], with_answer: bool = False) -> dict[str, Any]:
    """A JSON object with up to MAX_CHOSEN distinct places, each one of `places`, and
    (first the places, so that a reply cut short still has them) the answer's words. Asked
    where a written answer rests, the model may pick none (and the answer stays
    unverified); the last turn's answer is written with at least one."""
    properties: dict[str, Any] = {"places": {
        "type": "array", "minItems": 1 if with_answer else 0, "maxItems": MAX_CHOSEN,
        "uniqueItems": True,
        "items": {"type": "string", "enum": places}}}
    if with_answer:
        properties["answer"] = {"type": "string"}
    return {"type": "object", "required": list(properties), "properties": properties}


def chosen(reply: str, places: list[str]) -> list[str]:
    """The places of a reply, in its order; only offered ones count (a server that ignores
    `format` may write anything). A reply cut short by the token limit keeps the places
    it wrote in full."""
    value = _json(reply)
    picked = value.get("places") if isinstance(value, dict) else None
    if not isinstance(picked, list):
        found = _PLACES.search(reply or "")
        picked = re.findall(r'"((?:[^"\\]|\\.)*)"', found.group(1)) if found else []
    allowed = set(places)
    return list(dict.fromkeys(p for p in picked if isinstance(p, str) and p in allowed))[
        :MAX_CHOSEN]


def answered(reply: str) -> str:
    """The answer's words of a reply (what was written of them, if it was cut short)."""
    value = _json(reply)
    if isinstance(value, dict):
        return value.get("answer") if isinstance(value.get("answer"), str) else ""
    found = re.search(r'"answer"\s*:\s*"((?:[^"\\]|\\.)*)', reply or "")
    if not found:
        return ""
    try:
        return json.loads(f'"{found.group(1).rstrip(chr(92))}"')
    except ValueError:
        return found.group(1)


def _json(reply: str) -> Any:
    try:
        return json.loads(reply)
    except ValueError:
        return None


_PLACES = re.compile(r'"places"\s*:\s*\[([^\]]*)')


async def locate(llm: Any, question: str, answer: str, shown: dict[str, str],
                 seconds: float) -> tuple[list[str], dict[str, Any]]:
    """The places (of `shown`) that `answer` rests on, as the model picks them within
    `seconds`, and the call's cost (llm_ms, prompt_tokens). No place was shown, or the
    model picked none: an empty list."""
    from llama_index.core.base.llms.types import ChatMessage

    places = offered(shown)
    if not places:
        return [], {}
    prompt = load_prompt("locate_answer", question=question, answer=answer or "(none)",
                         places=listed(places, shown), most=MAX_CHOSEN)
    started = time.monotonic()
    text, raw = await reply_within(llm, [ChatMessage(role="user", content=prompt)], seconds,
                                   schema(places))
    cost = {"llm_ms": round((time.monotonic() - started) * 1000, 1),
            "prompt_tokens": int(raw.get("prompt_eval_count") or 0)}
    return chosen(text, places), cost


async def final_choice(llm: Any, messages: list[Any], why: str, shown: dict[str, str],
                       seconds: float) -> str | None:
    """The answer of the last, tool-free turn (`messages`: the conversation so far), asked
    as JSON whose places are those the tool results showed, and cut at `seconds` (the
    places come first, so a cut reply keeps them); None when none was shown or the reply
    holds no place or no words (a bare list of places answers nothing)."""
    from llama_index.core.base.llms.types import ChatMessage

    places = offered(shown)
    if not places:
        return None
    prompt = load_prompt("final_choice", why=why, places=listed(places, shown),
                         most=MAX_CHOSEN)
    text, _ = await reply_within(llm, [*messages, ChatMessage(role="user", content=prompt)],
                                 seconds, schema(places, with_answer=True))
    picked, words = chosen(text, places), answered(text).strip()
    return with_places(words, picked, shown) if picked and words else None


def listed(places: list[str], shown: dict[str, str]) -> str:
    """The places as the prompt lists them, each with the name found there."""
    return "\n".join(f"- {place}" + (f"  {shown[place]}" if shown[place] else "")
                     for place in places)


def with_places(answer: str, places: list[str], shown: dict[str, str]) -> str:
    """The answer with a line of the places it rests on."""
    named = ", ".join(place + (f" ({shown[place]})" if shown.get(place) else "")
                      for place in places)
    return f"{answer.rstrip()}\n\n{WHERE} {named}".lstrip()
