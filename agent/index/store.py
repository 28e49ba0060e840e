"""The vector store: an embedded Chroma in `<repo>/.codeagent/chroma`, or a Chroma server.

Writes are upserts (re-running an interrupted batch overwrites, never duplicates) in
batches no larger than the client's `get_max_batch_size()`; LlamaIndex's ChromaVectorStore
uses `add` with a fixed batch size, so `add` is overridden here.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlparse

from codeagent.errors import IndexProblem, StoreUnavailable, UsageError
from codeagent.index.layout import collection_name

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode


class ChunkStore:
    """One repository's collection, wherever it lives. With a server, any failure of a
    call (the server stopped, restarted, unreachable) is a StoreUnavailable that names it."""

    def __init__(self, client: Any, collection: Any, location: str, server: bool) -> None:
        self.client = client
        self.collection = collection
        self.location = location
        self.server = server
        self._vector_store: Any = None

    @property
    def vector_store(self) -> Any:
        """The collection as a LlamaIndex vector store (`UpsertingChromaVectorStore`),
        made on first use: a plain search queries the collection itself and never imports
        LlamaIndex."""
        if self._vector_store is None:
            from codeagent.index.vector_store import UpsertingChromaVectorStore

            self._vector_store = UpsertingChromaVectorStore(self.collection,
                                                            self.client.get_max_batch_size())
        return self._vector_store

    def add(self, nodes: list[BaseNode]) -> None:
        with self._server_errors():
            self.vector_store.add(nodes)

    def count(self) -> int:
        with self._server_errors():
            return self.collection.count()

    def all_ids(self, page: int = 5000) -> set[str]:
        """Every chunk id the store holds (to reconcile it with the manifest)."""
        ids: set[str] = set()
        with self._server_errors():
            while True:
                got = self.collection.get(include=[], limit=page, offset=len(ids))["ids"]
                ids.update(got)
                if len(got) < page:
                    return ids

    def delete(self, ids: list[str]) -> None:
        if ids:
            with self._server_errors():
                self.vector_store.delete_ids(ids)

    @contextmanager
    def _server_errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if not self.server:
                raise
            raise StoreUnavailable(f"the Chroma server at {self.location} failed: "
                                   f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                                   "check that `chroma run` is up, then run the command "
                                   "again: what was committed is kept") from None


def open_store(repo: Path, data_dir: Path, chroma_url: str | None, model: str,
               dimension: int, create: bool) -> ChunkStore:
    """Open (or create) the collection for this repository and model."""
    client, location = _client(data_dir, chroma_url)
    name = collection_name(repo, chroma_url)
    try:
        if create:
            collection = client.get_or_create_collection(
                name, configuration={"hnsw": {"space": "cosine"}},
                metadata={"embed_model": model, "dimension": dimension},
                embedding_function=None)
        else:
            collection = client.get_collection(name, embedding_function=None)
    except Exception as exc:
        if not create and type(exc).__name__ in ("NotFoundError", "InvalidCollectionException"):
            raise IndexProblem(f"the vector store of this index is missing ({location})",
                               f"rebuild it: `codeagent index --rebuild {repo}`") from exc
        if chroma_url:
            raise StoreUnavailable(f"the Chroma server at {chroma_url} failed: {exc}",
                                   "check that `chroma run` is up and reachable") from exc
        raise
    return ChunkStore(client, collection, location, server=bool(chroma_url))


def drop_collection(repo: Path, data_dir: Path, chroma_url: str | None) -> None:
    client, _ = _client(data_dir, chroma_url)
    try:
        client.delete_collection(collection_name(repo, chroma_url))
    except Exception:  # absent already: Chroma raises NotFoundError or ValueError by version
        pass




def _client(data_dir: Path, chroma_url: str | None) -> tuple[Any, str]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not chroma_url:
        path = data_dir / "chroma"
        _forget_cached_system(str(path))
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings), str(path)
    parsed = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"invalid Chroma URL '{chroma_url}'", "use http://HOST:PORT")
    port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    try:
        client = chromadb.HttpClient(host=parsed.hostname, port=port,
                                     ssl=parsed.scheme == "https", settings=chroma_settings)
        client.heartbeat()
    except Exception as exc:
        raise StoreUnavailable(f"cannot reach the Chroma server at {chroma_url}: {exc}",
                               "start it with `chroma run --path DIR --port PORT` "
                               "or drop --chroma-url to use the embedded store") from exc
    return client, chroma_url


def _forget_cached_system(path: str) -> None:
    """Chroma keeps one System per path for the life of the process, with its vectors in
    memory: a client opened later in the same process would not see what another process
    wrote since (the counts change, the query results do not). Forgetting it makes every
    open read the disk again. Clients already open keep their own System."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with SharedSystemClient._refcount_lock:
        SharedSystemClient._identifier_to_system.pop(path, None)
        SharedSystemClient._identifier_to_refcount.pop(path, None)
