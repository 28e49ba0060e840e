"""Semantic search over an index: open it with the model that built it, query, filter.

The index records its embedding model; searching with another one would compare vectors
from different spaces, so asking for a different model is an error that says how to
re-index instead.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from codeagent.errors import IndexProblem, ModelMismatch
from codeagent.index.keyword_index import is_whole_chunk
from codeagent.index.layout import (EMBEDDED_COLLECTION, backend_to_use, data_dir,
                                    open_manifest_readonly, store_stamp)
from codeagent.index.manifest import Manifest
from codeagent.index.walker import glob_matches
from codeagent.settings import Settings, chroma_url_for


@dataclass(frozen=True)
class Hit:
    path: str
    start_line: int
    end_line: int
    symbol: str
    language: str
    score: float
    """Cosine similarity of query and chunk, -1..1."""
    text: str

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Searcher:
    """An open index: manifest, store and embedding model, ready for many queries."""

    def __init__(self, repo: Path, settings: Settings, embedding: Any = None) -> None:
        from codeagent.index.embedding import canonical_name, load_embedding, load_encoder
        from codeagent.index.onnx_encoder import ONNX_BACKENDS
        from codeagent.index.store import open_store

        self.repo = repo
        self.manifest: Manifest = open_manifest_readonly(repo)
        self.model_name = self.manifest.get("model") or ""
        self.generation = self.manifest.get("generation")
        self._mentions: Any = None
        self._model: Any = None
        self._encoder: Any = None
        self._vector_index: Any = None
        self.batch_size = settings.embed_batch_size
        if not self.model_name:  # complete, but no file was ever embedded: it is empty
            return
        dimension = int(self.manifest.get("dimension") or 0)
        asked = canonical_name(settings.embed_model)
        if settings.explicit("embed_model") and asked != self.model_name:
            raise ModelMismatch(
                f"this index was built with '{self.model_name}' ({dimension}-d), "
                f"not with '{asked}'; vectors of different models cannot be compared",
                f"search with --embed-model {self.model_name}, or re-index with the other "
                f"model: `codeagent index --rebuild --embed-model {asked}`")
        backend = backend_to_use(self.manifest, settings)
        if embedding is not None:
            self._model, info = embedding
        elif backend in ONNX_BACKENDS:  # the encoder alone: no torch, no LlamaIndex yet
            self._encoder, info = load_encoder(self.model_name, settings.embed_device, backend)
        else:
            self._model, info = load_embedding(self.model_name, settings.embed_device,
                                               settings.embed_batch_size, backend=backend)
        if info.dimension != dimension:
            raise ModelMismatch(
                f"this index holds {dimension}-d vectors but '{info.name}' makes "
                f"{info.dimension}-d ones",
                "re-index: `codeagent index --rebuild`")
        recorded_store = self.manifest.get("store") or "embedded"
        chroma_url = chroma_url_for(settings, recorded_store)
        if chroma_url is None:
            self._check_when_suspect(repo)
        if (chroma_url or "embedded") != recorded_store:
            raise IndexProblem(f"the index of {repo} lives in {recorded_store}, not in "
                               f"{chroma_url or 'the embedded store'}",
                               "search without --chroma-url (or chroma_url), or index there "
                               "first: `codeagent index --chroma-url URL`")
        self.repo_data = data_dir(repo)
        self.embedded = chroma_url is None
        with self._store_errors():
            self.store = open_store(repo, self.repo_data, chroma_url, self.model_name,
                                    dimension, create=False)
        self.keywords: Any = None
        """The keyword index to use instead of the one on disk (None: that one)."""

    @property
    def model(self) -> Any:
        """The LlamaIndex embedding model (for the retrievers that fuse with BM25)."""
        if self._model is None and self._encoder is not None:
            from codeagent.index.embedding import batch_size_for
            from codeagent.index.onnx_embedding import OnnxEmbedding

            self._model = OnnxEmbedding(self._encoder, model_name=self.model_name,
                                        embed_batch_size=batch_size_for(self.batch_size, "cpu"))
        return self._model

    @property
    def vector_index(self) -> Any:
        """A LlamaIndex VectorStoreIndex over the store, made on first use (it imports
        LlamaIndex, seconds that a plain search does without); None for an empty index."""
        if self._vector_index is None and self.model_name:
            from llama_index.core import VectorStoreIndex

            self._vector_index = VectorStoreIndex.from_vector_store(self.store.vector_store,
                                                                    embed_model=self.model)
        return self._vector_index

    def query_vector(self, query: str) -> list[float]:
        if self._encoder is not None:
            return self._encoder.encode([query])[0].tolist()
        return self.model.get_query_embedding(query)

    def close(self) -> None:
        self.manifest.close()

    def mentions(self) -> Any:
        """The index's files and definitions, for matching what a question names (a
        `Mentions`), built on first use (~0.1 s per 10k definitions) and kept while this
        index is open: a changed index is reopened, so it is never stale."""
        if self._mentions is None:
            from codeagent.retrieval.mentions import Mentions

            self._mentions = Mentions(self.manifest)
        return self._mentions

    def graph(self) -> Any:
        """The index's entity graph (`index.graph.CodeGraph`; `load_graph` keeps it while
        the symbols stay as they are)."""
        from codeagent.index.graph import load_graph

        return load_graph(self.manifest)

    def stale(self) -> bool:
        """Another process changed the index since this one was opened: an open store would
        go on answering from the vectors it loaded (Chroma keeps them in memory)."""
        return self.manifest.get("generation") != self.generation

    def _check_when_suspect(self, repo: Path) -> None:
        """When the last run did not finish, or the store's files are not what it left (and
        no run is going on now), probe the store in a child process before opening it
        here: damage must not crash this process."""
        from codeagent.index.health import probe
        from codeagent.index.lock import writer_active

        recorded = self.manifest.get("store_stamp")
        suspect = self.manifest.get("clean") == "0" or (
            recorded is not None and recorded != store_stamp(data_dir(repo)))
        if not suspect or writer_active(data_dir(repo)):
            return
        health = probe(data_dir(repo) / "chroma", EMBEDDED_COLLECTION)
        if not health.ok:
            self.manifest.close()
            raise IndexProblem(f"the index of {repo} is damaged ({health.reason})",
                               f"run `codeagent index {repo}` to repair it")

    def search(self, query: str, k: int = 10, language: str | None = None,
               path_glob: str | None = None) -> list[Hit]:
        where = self._where(language, path_glob)
        if where is False or not self.model_name:
            return []
        vector = self.query_vector(query)
        with self._store_errors():
            found = self.store.collection.query(
                query_embeddings=[vector], n_results=k, where=where,
                include=["documents", "metadatas", "distances"])
        return [_hit(meta, text, distance) for meta, text, distance in zip(
                    found["metadatas"][0], found["documents"][0], found["distances"][0])
                if meta and is_whole_chunk(meta)]

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        """The embedded store failing to open or answer means it is damaged: say so, and
        mark the index unclean so that the next `codeagent index` probes and repairs it."""
        try:
            yield
        except (IndexProblem, KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # Chroma's Rust code panics (a BaseException) on some
            if not self.embedded or type(exc).__module__.split(".")[0] not in (
                    "chromadb", "pyo3_runtime"):
                raise
            self.manifest.set_many({"clean": "0"})
            raise IndexProblem(f"the index's vector store is damaged ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:200]})",
                               "run `codeagent index` to repair it") from None

    def _where(self, language: str | None, path_glob: str | None) -> Any:
        """Chroma's `where` for the filters (None: none; False: no file can match)."""
        parts: list[dict[str, Any]] = []
        if language:
            parts.append({"language": language})
        if path_glob:
            paths = matching_paths(self.manifest, path_glob)
            if not paths:
                return False
            parts.append({"path": {"$in": paths}})
        return None if not parts else parts[0] if len(parts) == 1 else {"$and": parts}


def matching_paths(manifest: Manifest, glob: str) -> list[str]:
    """Indexed paths matching a gitignore-style glob (`*.py`, `src/`, `src/**/test_*.py`)."""
    return glob_matches(glob, [path for path, record in manifest.files().items()
                               if record.skipped is None])


def _hit(stored: dict[str, Any], text: str, distance: float) -> Hit:
    # The chunk's own metadata, as written (Chroma's flat copy turns None into "").
    meta = json.loads(stored.get("_node_content") or "{}").get("metadata") or stored
    # The collection's space is cosine: its distance is 1 - cosine similarity.
    return Hit(meta["path"], int(meta["start_line"]), int(meta["end_line"]), meta["symbol"],
               meta["language"], round(1.0 - float(distance), 4), text or "")
