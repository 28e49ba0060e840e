"""The optional cross-encoder that reorders multi-query spans (`rerank_model`)."""

from __future__ import annotations

import logging
from functools import lru_cache

from llama_index.core.postprocessor.types import BaseNodePostprocessor

from codeagent.index.embedding import local_model, looks_like_a_path

RERANK_TOP = 100
"""More than fusion ever passes on; the caller cuts to k."""


def load_reranker(name: str, device: str) -> tuple[BaseNodePostprocessor | None, str | None]:
    """(SentenceTransformerRerank, None), or (None, why reranking is off). Never downloads:
    a tool call must not stall on a network, so the model is a directory or in the cache."""
    found = local_model(name)
    if found is None and looks_like_a_path(name):
        return None, (f"reranking off: the cross-encoder '{name}' is not a directory on this "
                      "machine; results keep the fused order")
    if found is None:
        return None, (f"reranking off: the cross-encoder '{name}' is neither a local "
                      "directory nor in the Hugging Face cache; results keep the fused order")
    path = found[0]
    try:
        return _reranker(str(path), device), None
    except Exception as exc:  # sentence-transformers raises many kinds for a bad model
        detail = " ".join(str(exc).split())[:160]
        return None, (f"reranking off: the cross-encoder '{name}' cannot be loaded "
                      f"({type(exc).__name__}: {detail}); results keep the fused order")


@lru_cache(maxsize=2)
def _reranker(path: str, device: str) -> BaseNodePostprocessor:
    """Loaded once per process: loading takes seconds, keeping it costs little."""
    from llama_index.core.postprocessor import SentenceTransformerRerank

    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    # trust_remote_code off: a model from the cache must not run code of its own.
    return SentenceTransformerRerank(top_n=RERANK_TOP, model=path, device=device,
                                     trust_remote_code=False)
