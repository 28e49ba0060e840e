"""Embedding with a content-addressed cache: unchanged text is never embedded twice.

Keys are (model, exact text embedded), so reverted edits, re-chunking and branch switches
reuse vectors; a renamed file is embedded again because its path is part of the text.
"""

from __future__ import annotations

import sqlite3
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr


class EmbeddingCache:
    """Vectors by (model, text) in SQLite, so unchanged text is never embedded twice."""

    def __init__(self, path: Path, model: str) -> None:
        self.path = path
        self.model = model
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")

    def key(self, text: str) -> str:
        return sha256(f"{self.model}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})",
                part)
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32).tolist()
        return found

    def put_many(self, items: list[tuple[str, list[float]]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(key, np.asarray(vec, dtype=np.float32).tobytes()) for key, vec in items])

    def close(self) -> None:
        self._db.close()


class CachedEmbedding(BaseEmbedding):
    """Wraps an embedding model: cached vectors are reused, the rest embedded longest first.

    Sorting a run's texts by length before batching keeps padding (wasted compute) low, as
    sentence-transformers does within one encode call; longest first also makes the early
    ETA pessimistic rather than hopeful. Each batch is cached as soon as it is done, so an
    interrupted run loses at most one batch of work.
    """

    _inner: Any = PrivateAttr()
    _cache: EmbeddingCache | None = PrivateAttr()
    _batch: int = PrivateAttr()
    _on_batch: Callable[[int, int], None] | None = PrivateAttr()
    _embedded: int = PrivateAttr(default=0)
    _step_done: int = PrivateAttr(default=0)
    _step_total: int = PrivateAttr(default=0)

    def __init__(self, inner: Any, cache: EmbeddingCache | None, batch_size: int,
                 on_batch: Callable[[int, int], None] | None = None) -> None:
        super().__init__(model_name=inner.model_name, embed_batch_size=2048)
        self._inner = inner
        self._cache = cache
        self._batch = batch_size
        self._on_batch = on_batch

    @classmethod
    def class_name(cls) -> str:
        return "CachedEmbedding"

    def set_progress(self, on_batch: Callable[[int, int], None] | None) -> None:
        """on_batch(done, total): texts of the current pipeline step (or call) done so far,
        of how many."""
        self._on_batch = on_batch

    def __call__(self, nodes: Any, **kwargs: Any) -> Any:
        """As a pipeline step: progress counts over all of `nodes`, which LlamaIndex hands
        to the model 2,048 texts per call (counted per call, it went back to 0 each time)."""
        self._step_done, self._step_total = 0, len(nodes)
        try:
            return super().__call__(nodes, **kwargs)
        finally:
            self._step_total = 0

    @property
    def embedded_count(self) -> int:
        """Texts really embedded so far (cache misses)."""
        return self._embedded

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._inner.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        keys = [self._cache.key(t) if self._cache else str(i) for i, t in enumerate(texts)]
        found = self._cache.get_many(keys) if self._cache else {}
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items(),
                         key=lambda item: -len(item[1]))
        base, total = (self._step_done, self._step_total) if self._step_total else (0, len(texts))
        self._step_done += len(texts)
        done = base + len(texts) - len(missing)
        if self._on_batch and done > base:
            self._on_batch(done, total)
        for i in range(0, len(missing), self._batch):
            batch = missing[i:i + self._batch]
            vectors = self._inner.get_text_embedding_batch([t for _, t in batch])
            if self._cache:
                self._cache.put_many(list(zip((k for k, _ in batch), vectors)))
            found.update(zip((k for k, _ in batch), vectors))
            self._embedded += len(batch)
            if self._on_batch:
                done += len(batch)
                self._on_batch(done, total)
        return [found[k] for k in keys]
