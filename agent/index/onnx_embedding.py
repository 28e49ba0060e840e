"""`onnx_encoder.OnnxEncoder` as a LlamaIndex embedding model: what an index run embeds
with, and what retrieval hands to LlamaIndex's retrievers, for the ONNX backends."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from codeagent.index.onnx_encoder import OnnxEncoder


class OnnxEmbedding(BaseEmbedding):
    """`OnnxEncoder` as a LlamaIndex embedding model (what the index and search use)."""

    _encoder: Any = PrivateAttr()

    def __init__(self, encoder: OnnxEncoder, model_name: str, embed_batch_size: int = 32,
                 **kwargs: Any) -> None:
        super().__init__(model_name=model_name, embed_batch_size=embed_batch_size, **kwargs)
        self._encoder = encoder

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    def count_tokens(self, texts: list[str]) -> list[int]:
        return self._encoder.count_tokens(texts)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encoder.encode([query])[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encoder.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encoder.encode(texts, self.embed_batch_size).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)
