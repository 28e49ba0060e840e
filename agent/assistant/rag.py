"""`ask --mode rag`: the seed system's query engine, kept as the fast path. One retrieval
(multi-query fused, top 8 spans), one generation over numbered snippets, the answer with
its sources. No tools, no loop: a few seconds instead of a dozen model calls."""

from __future__ import annotations

import time
from typing import Any

from codeagent.assistant.answer import Answer, Emit, Event
from codeagent.errors import IndexProblem
from codeagent.prompts import load_prompt

RAG_K = 8
SNIPPET_LINES = 60  # a merged span can be long; the prompt must stay small


async def rag_answer(ctx: Any, question: str, llm: Any, emit: Emit) -> Answer:
    from llama_index.core.base.llms.types import ChatMessage

    from codeagent.tools import ToolError

    started = time.monotonic()
    try:
        found = ctx.spans(question, RAG_K)
    except ToolError as exc:
        raise IndexProblem(str(exc), f"run `codeagent index {ctx.repo}`") from None
    model = ctx.settings.llm_model
    if found.unsearchable or not found.hits:
        why = found.unsearchable or "no code in the index matches the question"
        return Answer(question, "", "error", "rag", model, reason=why)
    sources, blocks = [], []
    for n, hit in enumerate(found.hits, 1):
        meta = hit.node.metadata
        location = f"{meta['path']}:{meta['start_line']}-{meta['end_line']}"
        sources.append(location)
        lines = hit.node.get_content().split("\n")[:SNIPPET_LINES]
        blocks.append(f"[{n}] {location}  {meta.get('symbol') or ''}\n" + "\n".join(lines))
    retrieval_ms = (time.monotonic() - started) * 1000
    prompt = load_prompt("rag_answer", question=question, snippets="\n\n".join(blocks))
    text = ""
    async for piece in await llm.astream_chat([ChatMessage(role="user", content=prompt)]):
        if piece.delta:
            text += piece.delta
            emit(Event("answer", piece.delta))
    answer = Answer(question, text.strip(), "ok", "rag", model, sources=sources,
                    timings={"retrieval_ms": round(retrieval_ms, 1),
                             "llm_ms": round((time.monotonic() - started) * 1000 - retrieval_ms, 1)})
    return answer
