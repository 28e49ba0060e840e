"""`ask --mode rag`: the seed system's query engine, kept as the fast path. One retrieval
(multi-query fused, top 8 spans), one generation over the snippets (with their line
numbers, as read_file shows code, so the answer can cite lines), the answer with its
sources. No tools, no loop: a few seconds instead of a dozen model calls."""

from __future__ import annotations

import time
from typing import Any

from codeagent.assistant.answer import Answer, Emit, Event
from codeagent.errors import IndexProblem
from codeagent.prompts import load_prompt

RAG_K = 8
SNIPPET_LINES = 60  # a merged span can be long; the prompt must stay small


async def rag_answer(ctx: Any, question: str, llm: Any, emit: Emit, evidence: Any,
                     search: str | None = None) -> Answer:
    """The answer from one retrieval (of `search`, default the question); `evidence` (an
    Evidence) learns what the model saw."""
    from llama_index.core.base.llms.types import ChatMessage

    from codeagent.tools import ToolError

    started = time.monotonic()
    try:
        found = ctx.spans(search or question, RAG_K)
    except ToolError as exc:
        raise IndexProblem(str(exc), f"run `codeagent index {ctx.repo}`") from None
    model = ctx.settings.llm_model
    if found.unsearchable or not found.hits:
        why = found.unsearchable or "no code in the index matches the question"
        return Answer(question, "", "error", "rag", model, reason=why)
    sources, blocks = [], []
    for hit in found.hits:
        meta = hit.node.metadata
        start = int(meta["start_line"])
        lines = hit.node.get_content().split("\n")[:SNIPPET_LINES]
        end = start + len(lines) - 1
        sources.append(f"{meta['path']}:{start}-{end}")
        # As read_file shows code: the model cites the numbers it reads beside each line.
        block = f"{meta['path']} lines {start}-{end} of the file ({meta.get('symbol') or '-'}):\n"
        block += "\n".join(f"{n:>4}  {line}" for n, line in enumerate(lines, start))
        blocks.append(block)
        evidence.add_place(meta["path"], start, end)
    retrieval_ms = (time.monotonic() - started) * 1000
    prompt = load_prompt("rag_answer", question=question, snippets="\n\n".join(blocks))
    text, tokens = "", 0
    async for piece in await llm.astream_chat([ChatMessage(role="user", content=prompt)]):
        if piece.delta:
            text += piece.delta
            emit(Event("answer", piece.delta))
        if isinstance(piece.raw, dict):
            tokens = int(piece.raw.get("prompt_eval_count") or tokens)
    llm_ms = (time.monotonic() - started) * 1000 - retrieval_ms
    return Answer(question, text.strip(), "ok", "rag", model, sources=sources,
                  timings={"retrieval_ms": round(retrieval_ms, 1), "llm_ms": round(llm_ms, 1),
                           "llm_calls": 1, "prompt_tokens": tokens,
                           "max_prompt_tokens": tokens})
