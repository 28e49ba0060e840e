"""LlamaIndex's ChromaVectorStore, with writes that are upserts (re-running an interrupted
batch overwrites, never duplicates) in batches no larger than the client's
`get_max_batch_size()`; LlamaIndex's own `add` uses a fixed batch size."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.utils import node_to_metadata_dict
from llama_index.vector_stores.chroma import ChromaVectorStore


class UpsertingChromaVectorStore(ChromaVectorStore):
    """ChromaVectorStore whose writes are idempotent upserts in client-sized batches."""

    _max_batch: int = PrivateAttr()

    def __init__(self, chroma_collection: Any, max_batch: int) -> None:
        super().__init__(chroma_collection=chroma_collection)
        self._max_batch = max_batch

    def add(self, nodes: list[BaseNode], **add_kwargs: Any) -> list[str]:
        for i in range(0, len(nodes), self._max_batch):
            batch = nodes[i:i + self._max_batch]
            metadatas = []
            for node in batch:
                meta = node_to_metadata_dict(node, remove_text=True, flat_metadata=True)
                metadatas.append({k: ("" if v is None else v) for k, v in meta.items()})
            self._collection.upsert(
                ids=[n.node_id for n in batch],
                embeddings=[n.get_embedding() for n in batch],
                metadatas=metadatas,
                documents=[n.get_content(metadata_mode=MetadataMode.NONE) for n in batch])
        return [n.node_id for n in nodes]

    def delete_ids(self, ids: list[str]) -> None:
        for i in range(0, len(ids), self._max_batch):
            self._collection.delete(ids=ids[i:i + self._max_batch])
