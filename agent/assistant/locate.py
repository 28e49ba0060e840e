"""The last resort of an answer that cites nothing checkable: the model is asked once more,
for the places its answer rests on, and can only name places the tools showed it.

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

import time
from typing import Any

from codeagent.prompts import load_prompt

MAX_OFFERED = 40
"""Places offered, the first shown first: the grammar grows with the list."""
MAX_CHOSEN = 5
WHERE = "Where:"
"""How the line of located places begins in the answer."""


def offered(shown: dict[str, str]) -> list[str]:
    """The places to choose from, as the reply must spell them."""
    return list(shown)[:MAX_OFFERED]


def schema(places: list[str]) -> dict[str, Any]:
    """A JSON object with 1..MAX_CHOSEN distinct places, each one of `places`."""
    return {"type": "object", "required": ["places"], "properties": {"places": {
        "type": "array", "minItems": 1, "maxItems": MAX_CHOSEN, "uniqueItems": True,
        "items": {"type": "string", "enum": places}}}}


def chosen(reply: str, places: list[str]) -> list[str]:
    """The places of a reply, in its order; only offered ones count (a server that ignores
    `format` may write anything)."""
    import json

    try:
        value = json.loads(reply)
    except ValueError:
        return []
    picked = value.get("places") if isinstance(value, dict) else None
    if not isinstance(picked, list):
        return []
    allowed = set(places)
    return list(dict.fromkeys(p for p in picked if isinstance(p, str) and p in allowed))[
        :MAX_CHOSEN]


async def locate(llm: Any, question: str, answer: str,
                 shown: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """The places (of `shown`) that `answer` rests on, as the model picks them, and the
    call's cost (llm_ms, prompt_tokens). No place was shown, or the model picked none:
    an empty list."""
    from llama_index.core.base.llms.types import ChatMessage

    places = offered(shown)
    if not places:
        return [], {}
    listed = "\n".join(f"- {place}" + (f"  {shown[place]}" if shown[place] else "")
                       for place in places)
    prompt = load_prompt("locate_answer", question=question, answer=answer or "(none)",
                         places=listed, most=MAX_CHOSEN)
    started = time.monotonic()
    reply = await llm.achat([ChatMessage(role="user", content=prompt)], format=schema(places))
    raw = reply.raw if isinstance(reply.raw, dict) else {}
    cost = {"llm_ms": round((time.monotonic() - started) * 1000, 1),
            "prompt_tokens": int(raw.get("prompt_eval_count") or 0)}
    return chosen(reply.message.content or "", places), cost


def with_places(answer: str, places: list[str], shown: dict[str, str]) -> str:
    """The answer with a line of the places it rests on."""
    named = ", ".join(place + (f" ({shown[place]})" if shown.get(place) else "")
                      for place in places)
    return f"{answer.rstrip()}\n\n{WHERE} {named}".lstrip()
