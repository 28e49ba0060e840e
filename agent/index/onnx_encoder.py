"""Embeddings through ONNX Runtime: the same sentence-transformers model, without torch.

On a CPU, ONNX Runtime runs these encoders faster than torch (bench/README.md), and a
process that only embeds a query (`codeagent search`) starts in a fraction of the time:
this module imports onnxruntime, tokenizers and numpy, never torch, transformers,
sentence-transformers or LlamaIndex (`onnx_embedding.OnnxEmbedding` wraps it for
LlamaIndex, where an index is written or fused).

The ONNX file is exported once per model from the model's local files (torch and the
`onnx` package do that, once, in the process that first asks for it) and cached under
`<Hugging Face cache>/../codeagent-onnx/` (or $CODEAGENT_ONNX_CACHE), keyed by model, a fingerprint of its files and
the backend; `onnx-int8` is the dynamic int8 quantization of the fp32 export (`RECIPES`
says which way of quantizing made it: the index records it, so vectors of two recipes are
never mixed). Each export
is checked against the torch model on fixed texts (`min_cosine` in its `export.json`):
`auto` takes ONNX only where its vectors match torch's (cosine >= `MATCH`).

What sentence-transformers does around the transformer is done here the same way, from
the model's own files: the tokenizer (tokenizer.json, truncated at max_seq_length), the
pooling of 1_Pooling/config.json (mean, CLS or max over the attention mask), and
normalization (LlamaIndex's HuggingFaceEmbedding normalizes every vector).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ONNX_BACKENDS = ("onnx", "onnx-int8")
MATCH = 0.999
"""Least cosine between an ONNX vector and torch's for the same text that counts as the
same vector: below it, `auto` keeps torch."""

EXPORT_VERSION = "1"
RECIPES = {"onnx": "1", "onnx-int8": "2"}
"""How each backend's file is made, versioned: vectors of two recipes differ as two
backends' do. onnx-int8 recipe 1 quantized every weight matrix per tensor (top-5 neighbours
as torch's 0.79 MiniLM, 0.60 mpnet); recipe 2 quantizes per output channel and keeps the
feed-forward down-projections in fp32 (0.92 and 0.90; bench/README.md)."""
INT8_RANKS_AS_FP32 = {
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db": "all-MiniLM-L6-v2",
}
"""Models (by the sha256 of their model.safetensors) whose onnx-int8 vectors, made by recipe
`INT8_MEASURED_RECIPE`, ranked the 16 localization tasks with the Acc@5 of their fp32
vectors in every retrieval mode (bench/README.md, "Embedding backends"): the only ones
`auto` embeds with int8. Any other model, or another recipe, is unmeasured. all-mpnet-base-v2
(78c0197b...) was measured and is not here: int8 lost a task from the default ranking's top
5 and two from the hybrid mode's."""
INT8_MEASURED_RECIPE = "2"
INT8_FLOOR = 0.95
"""Least cosine to torch, over `PROBES`, of an int8 export that `auto` takes (recipe 2:
0.99 for MiniLM): a guard against a quantizer that went wrong, not the criterion."""
PROBES = [
    "def resolve_redirects(self, resp, req):\n    \"\"\"Follow redirects.\"\"\"\n    return resp",
    "class LRUCache:\n    def put(self, key, value):\n        self.items[key] = value",
    "How do I configure the proxy for HTTPS requests?",
    "fn hash_password(password: &str, salt: &[u8]) -> String { argon2::hash(password) }",
    "# Deploying\n\nRun `make deploy` with AWS credentials in the environment.",
    "x" * 3000,  # longer than any model's max_seq_length: truncation must agree
    "café, naïve, 日本語のテキスト and emoji 🚀 in one line",
]


@dataclass(frozen=True)
class Export:
    """One exported model: its ONNX file and what the check against torch found."""

    path: Path
    min_cosine: float
    seconds: float


def cache_root() -> Path:
    """Beside the Hugging Face cache (HF_HOME and HF_HUB_CACHE are honored), or where
    CODEAGENT_ONNX_CACHE says."""
    if os.environ.get("CODEAGENT_ONNX_CACHE"):
        return Path(os.environ["CODEAGENT_ONNX_CACHE"])
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE).parent / "codeagent-onnx"


def export_dir(model_dir: Path, name: str, backend: str) -> Path:
    """The cache directory of `name` (found in `model_dir`) for `backend`: the model's
    files' names, sizes and mtimes are in the key, so a changed model is exported again."""
    stamp = hashlib.sha256(EXPORT_VERSION.encode())
    for path in sorted(model_dir.rglob("*")):
        if path.is_file():
            st = path.stat()
            stamp.update(f"{path.relative_to(model_dir)}:{st.st_size}:{st.st_mtime_ns}".encode())
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.strip("/"))[-80:]
    recipe = RECIPES.get(backend, "1")
    return cache_root() / f"{slug}-{stamp.hexdigest()[:12]}" / (
        backend if recipe == "1" else f"{backend}-r{recipe}")


def exported(model_dir: Path, name: str, backend: str) -> Export | None:
    """The cached export, or None when there is none yet."""
    directory = export_dir(model_dir, name, backend)
    try:
        meta = json.loads((directory / "export.json").read_text())
    except (OSError, ValueError):
        return None
    return Export(directory / "model.onnx", float(meta["min_cosine"]), float(meta["seconds"]))


def ensure_exported(model_dir: Path, name: str, backend: str) -> Export:
    """The export of `name` for `backend`, made now if it is not cached (needs torch and
    the `onnx` package; seconds for MiniLM, a minute for mpnet). Two processes asking at
    once export it once: the second waits for the first's lock."""
    from filelock import FileLock

    directory = export_dir(model_dir, name, backend)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        found = exported(model_dir, name, backend)
        if found is not None:
            return found
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".{backend}-", dir=directory.parent))
        try:
            if backend == "onnx":
                _export_fp32(model_dir, work / "model.onnx")
            else:
                _quantize_int8(ensure_exported(model_dir, name, "onnx").path,
                               work / "model.onnx")
            cosine = _check_against_torch(model_dir, work / "model.onnx")
            seconds = time.monotonic() - started
            (work / "export.json").write_text(json.dumps({
                "model": name, "backend": backend, "min_cosine": cosine,
                "seconds": round(seconds, 1), "version": EXPORT_VERSION,
                "recipe": RECIPES[backend]}))
            shutil.rmtree(directory, ignore_errors=True)
            os.replace(work, directory)  # whole or not at all: a kill leaves only `work`
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return Export(directory / "model.onnx", cosine, seconds)


def weights_digest(model_dir: Path, name: str) -> str | None:
    """sha256 of the model's model.safetensors (None without one): the Hugging Face cache's
    blob name where it is a link into the cache, else computed once per state of its files
    and kept beside its exports."""
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        return None
    blob = weights.resolve().name
    if weights.is_symlink() and re.fullmatch("[0-9a-f]{64}", blob):
        return blob
    kept = export_dir(model_dir, name, "onnx").parent / "weights.sha256"
    try:
        return kept.read_text().strip()
    except OSError:
        pass
    digest = hashlib.sha256()
    with open(weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    kept.parent.mkdir(parents=True, exist_ok=True)
    partial = kept.with_suffix(f".{os.getpid()}")
    partial.write_text(digest.hexdigest())
    os.replace(partial, kept)
    return digest.hexdigest()


def int8_ranks_as_fp32(model_dir: Path, name: str) -> bool:
    """Whether today's int8 recipe was measured to rank as fp32 does for this model."""
    return (RECIPES["onnx-int8"] == INT8_MEASURED_RECIPE
            and weights_digest(model_dir, name) in INT8_RANKS_AS_FP32)


class OnnxEncoder:
    """A sentence-transformers model run by ONNX Runtime: texts -> normalized vectors."""

    def __init__(self, model_dir: Path, onnx_path: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = _sentence_config(model_dir)
        self.max_tokens = config["max_seq_length"]
        self.pooling = config["pooling"]
        self._counter = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._counter.no_padding()  # whole texts, for counting
        self._counter.no_truncation()
        self._encoder = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._encoder.enable_truncation(self.max_tokens)
        pad = config["pad_token"]
        self._encoder.enable_padding(pad_id=self._encoder.token_to_id(pad) or 0, pad_token=pad)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Normalized float32 vectors, one row per text; batches of similar lengths (as
        sentence-transformers sorts them), returned in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            out[chosen] = self._batch([texts[i] for i in chosen])
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text, special tokens included, without truncation."""
        return [len(e.ids) for e in self._counter.encode_batch(texts, add_special_tokens=True)]

    def _batch(self, texts: list[str]) -> np.ndarray:
        encoded = self._encoder.encode_batch(texts, add_special_tokens=True)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask,
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64)}
        hidden = self.session.run(None, {name: feed[name] for name in self.inputs})[0]
        vectors = _pool(hidden, mask, self.pooling)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def _pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask[:, :, None].astype(hidden.dtype)
    if pooling == "max":
        return np.where(weights > 0, hidden, -1e9).max(axis=1)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def _sentence_config(model_dir: Path) -> dict[str, Any]:
    """What sentence-transformers reads around the transformer: max_seq_length, pooling,
    and the tokenizer's padding token."""
    def read(name: str) -> dict[str, Any]:
        try:
            return json.loads((model_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    bert = read("sentence_bert_config.json")
    pooling_dir = next((m.get("path") for m in read("modules.json") if isinstance(m, dict)
                        and str(m.get("type", "")).endswith("Pooling")), "1_Pooling")
    pool = read(f"{pooling_dir}/config.json")
    mode = ("cls" if pool.get("pooling_mode_cls_token") else
            "max" if pool.get("pooling_mode_max_tokens") else "mean")
    special = read("special_tokens_map.json").get("pad_token", "[PAD]")
    pad = special.get("content", "[PAD]") if isinstance(special, dict) else str(special)
    max_len = int(bert.get("max_seq_length") or read("config.json").get(
        "max_position_embeddings", 512))
    return {"max_seq_length": max_len, "pooling": mode, "pad_token": pad}


def _export_fp32(model_dir: Path, dest: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    sample = tokenizer(["an example", "a second, longer example text"], padding=True,
                       return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Hidden(torch.nn.Module):  # positional inputs in, last hidden state out
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(names, args))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(model), tuple(sample[n] for n in names), str(dest),
                          input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)


def _quantize_int8(fp32: Path, dest: Path) -> None:
    """Dynamic int8: weights (and the token embedding table) quantized per output channel
    (per tensor, one outlier column coarsens a whole matrix), and the MatMuls that read an
    activation's output left in fp32. Those are the feed-forward
    down-projections: GELU's outputs have the widest range of any activation in a
    transformer, and their per-tensor dynamic scale is where most of int8's error came from
    (MiniLM's least cosine to torch 0.988 -> 0.995 without them, at 1.7x -> 1.4x fp32's speed)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice on pre-processing, to root
    try:
        quantize_dynamic(str(fp32), str(dest), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gather"],
                         nodes_to_exclude=activation_fed_matmuls(onnx.load(str(fp32)).graph))
    finally:
        logging.disable(logging.NOTSET)


ACTIVATIONS = {"Erf", "Gelu", "FastGelu", "Tanh", "Relu", "Sigmoid"}


def activation_fed_matmuls(graph: Any, depth: int = 4) -> list[str]:
    """MatMul nodes whose first input comes from an activation within `depth` producing
    nodes (an exported GELU is Div, Erf, Add, Mul, Mul: the MatMul after it)."""
    producer = {out: node for node in graph.node for out in node.output}

    def fed(name: str, left: int) -> bool:
        node = producer.get(name)
        if node is None or left == 0:
            return False
        if node.op_type in ACTIVATIONS:
            return True
        if node.op_type == "MatMul":
            return False
        return any(fed(i, left - 1) for i in node.input)

    return [n.name for n in graph.node if n.op_type == "MatMul" and fed(n.input[0], depth)]


def _check_against_torch(model_dir: Path, onnx_path: Path) -> float:
    """The least cosine, over `PROBES`, between this export's vectors and torch's."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir), device="cpu").encode(
        PROBES, normalize_embeddings=True, convert_to_numpy=True)
    ours = OnnxEncoder(model_dir, onnx_path).encode(PROBES)
    return float(np.min(np.sum(reference * ours, axis=1)))
