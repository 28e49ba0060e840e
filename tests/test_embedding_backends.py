"""The embedding backends: ONNX Runtime (fp32, int8) beside torch, exported once from the
local model, recorded by the index, never mixed, and a search that needs no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from codeagent.errors import ModelMismatch
from codeagent.index import onnx_encoder
from codeagent.index.embedding import GPU_NODES, load_embedding, resolve_model_dir, token_counter
from codeagent.index.layout import open_manifest_readonly
from codeagent.index.run import run_index
from codeagent.retrieval.semantic import Searcher
from codeagent.settings import load_settings
from support import SOURCES, make_repo

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
HEAVY = ("torch", "transformers", "sentence_transformers")


@pytest.fixture(scope="module")
def onnx_minilm():
    return load_embedding(MINILM, "cpu", 32, backend="onnx")


def test_onnx_vectors_and_token_counts_are_torchs(minilm, onnx_minilm):
    texts = list(SOURCES.values()) + ["x" * 5000, "naïve café 日本語 🚀"]
    ours = np.array(onnx_minilm[0].get_text_embedding_batch(texts))
    theirs = np.array(minilm[0].get_text_embedding_batch(texts))
    assert ours.shape == theirs.shape
    assert np.min(np.sum(ours * theirs, axis=1)) >= onnx_encoder.MATCH
    query = "follow HTTP redirects"
    assert np.dot(onnx_minilm[0].get_query_embedding(query),
                  minilm[0].get_query_embedding(query)) >= onnx_encoder.MATCH
    assert token_counter(onnx_minilm[0])(texts) == token_counter(minilm[0])(texts)
    info = onnx_minilm[1]
    assert (info.name, info.dimension, info.max_tokens, info.backend) == \
        (MINILM, minilm[1].dimension, minilm[1].max_tokens, "onnx")
    assert info.identity != minilm[1].identity  # their vectors are cached apart


def test_the_export_is_made_once_and_records_its_check(onnx_minilm, monkeypatch):
    model_dir = resolve_model_dir(MINILM)
    found = onnx_encoder.exported(model_dir, MINILM, "onnx")
    assert found is not None and found.path.is_file()
    meta = json.loads((found.path.parent / "export.json").read_text())
    assert meta["min_cosine"] >= onnx_encoder.MATCH and meta["backend"] == "onnx"
    assert str(found.path).startswith(os.environ["CODEAGENT_ONNX_CACHE"])

    def no_export(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_encoder, "_export_fp32", no_export)
    assert onnx_encoder.ensure_exported(model_dir, MINILM, "onnx").path == found.path
    load_embedding(MINILM, "cpu", backend="onnx")


def test_int8_is_its_own_export(onnx_minilm):
    model, info = load_embedding(MINILM, "cpu", backend="onnx-int8")
    export = onnx_encoder.exported(resolve_model_dir(MINILM), MINILM, "onnx-int8")
    assert info.backend == "onnx-int8" and export is not None
    assert export.path.stat().st_size < 0.5 * onnx_encoder.exported(
        resolve_model_dir(MINILM), MINILM, "onnx").path.stat().st_size
    assert len(model.get_query_embedding("redirects")) == info.dimension


def test_auto_takes_int8_only_for_a_model_measured_with_todays_recipe(onnx_minilm,
                                                                      monkeypatch):
    def auto() -> str:
        return load_embedding(MINILM, "cpu", backend="auto")[1].backend

    assert auto() == "onnx-int8"  # the bundled MiniLM's weights are in the measured list
    with monkeypatch.context() as patched:
        patched.setattr(onnx_encoder, "INT8_RANKS_AS_FP32", {})  # another model
        assert auto() == "onnx"
    with monkeypatch.context() as patched:
        patched.setattr(onnx_encoder, "INT8_MEASURED_RECIPE", "1")  # measured another recipe
        assert auto() == "onnx"
    with monkeypatch.context() as patched:
        patched.setattr(onnx_encoder, "INT8_FLOOR", 1.01)  # an export that went wrong
        assert auto() == "onnx"


def test_the_weights_digest_is_the_caches_blob_name_or_computed_once(tmp_path):
    import hashlib

    blob = tmp_path / "blobs" / hashlib.sha256(b"weights").hexdigest()
    blob.parent.mkdir()
    blob.write_bytes(b"not what the name says")  # a link into a cache is not read
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "model.safetensors").symlink_to(blob)
    assert onnx_encoder.weights_digest(linked, "linked") == blob.name
    copied = tmp_path / "copied"
    copied.mkdir()
    (copied / "model.safetensors").write_bytes(b"weights")
    assert onnx_encoder.weights_digest(copied, "copied") == blob.name
    [kept] = onnx_encoder.cache_root().rglob("copied-*/weights.sha256")
    kept.write_text("f" * 64)  # a second ask reads what the first kept
    assert onnx_encoder.weights_digest(copied, "copied") == "f" * 64
    assert onnx_encoder.weights_digest(tmp_path, "none") is None


def test_int8_leaves_the_feed_forward_outputs_in_fp32(onnx_minilm):
    import onnx

    model_dir = resolve_model_dir(MINILM)
    load_embedding(MINILM, "cpu", backend="onnx-int8")
    fp32 = onnx.load(str(onnx_encoder.exported(model_dir, MINILM, "onnx").path)).graph
    kept = onnx_encoder.activation_fed_matmuls(fp32)
    layers = {n.name.split("/")[3] for n in fp32.node if "/encoder/layer." in n.name}
    assert len(kept) == len(layers) == 6  # one down-projection per layer, nothing else
    assert all(name.endswith("/output/dense/MatMul") and "attention" not in name
               for name in kept)
    int8 = onnx.load(str(onnx_encoder.exported(model_dir, MINILM, "onnx-int8").path)).graph
    still_fp32 = {n.name for n in int8.node if n.op_type == "MatMul"}
    assert set(kept) <= still_fp32
    quantized = [n for n in int8.node if n.op_type == "MatMulInteger"]
    weights = {i.name: i for i in int8.initializer}
    scales = [weights[n.input[3]] for n in quantized if n.input[3] in weights]
    assert quantized and scales and all(len(s.dims) == 1 and s.dims[0] > 1 for s in scales)


def test_an_index_of_an_earlier_int8_recipe_is_a_mismatch_not_mixed(tmp_path):
    repo = make_repo(tmp_path / "repo", hostile=False)
    (repo / ".codeagent.toml").write_text(f'embed_model = "{MINILM}"\n')
    run_index(repo, load_settings(repo, {"embed_backend": "onnx-int8"}, environ={}))
    manifest = open_manifest_readonly(repo)
    assert (manifest.get("backend"), manifest.get("backend_recipe")) == \
        ("onnx-int8", onnx_encoder.RECIPES["onnx-int8"])
    manifest.close()
    from codeagent.index.manifest import Manifest

    old = Manifest(repo / ".codeagent" / "manifest.sqlite")
    old.set_many({"backend_recipe": ""})  # as an index of the first recipe reads
    old.close()
    for attempt in (lambda: Searcher(repo, load_settings(repo, environ={})),
                    lambda: run_index(repo, load_settings(repo, environ={}))):
        with pytest.raises(ModelMismatch, match="earlier onnx-int8 export") as caught:
            attempt()
        assert "--rebuild --embed-backend onnx-int8" in caught.value.hint
    rebuilt = run_index(repo, load_settings(repo, {"embed_backend": "onnx-int8"}, environ={}),
                        rebuild=True)
    assert rebuilt.chunks > 0
    hits = Searcher(repo, load_settings(repo, environ={})).search("follow HTTP redirects", k=1)
    assert hits[0].path == "net/redirects.py"


def test_auto_keeps_torch_where_the_export_fails(monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(onnx_encoder, "ensure_exported", broken)
    assert load_embedding(MINILM, "cpu", backend="auto")[1].backend == "torch"
    assert "cannot export" in caplog.text


def test_the_index_records_its_backend_and_never_mixes_two(tmp_path, onnx_minilm):
    repo = make_repo(tmp_path / "repo", hostile=False)
    (repo / ".codeagent.toml").write_text(f'embed_model = "{MINILM}"\n')
    first = run_index(repo, load_settings(repo, {"embed_backend": "onnx"}, environ={}))
    manifest = open_manifest_readonly(repo)
    assert manifest.get("backend") == "onnx"
    manifest.close()
    assert first.embedded == first.chunks > 0

    with pytest.raises(ModelMismatch, match="embedded by the onnx backend, not by torch"):
        run_index(repo, load_settings(repo, {"embed_backend": "torch"}, environ={}))
    with pytest.raises(ModelMismatch, match="a query must be embedded the way the index was"):
        Searcher(repo, load_settings(repo, {"embed_backend": "torch"}, environ={}))
    # Not asked for: the index's own backend is used, whatever the default would pick.
    hits = Searcher(repo, load_settings(repo, environ={})).search("follow HTTP redirects", k=1)
    assert hits[0].path == "net/redirects.py"

    rebuilt = run_index(repo, load_settings(repo, {"embed_backend": "torch"}, environ={}),
                        rebuild=True)
    manifest = open_manifest_readonly(repo)
    assert manifest.get("backend") == "torch"
    manifest.close()
    assert rebuilt.embedded == rebuilt.chunks  # none of the onnx vectors reused


def test_auto_on_cuda_is_torch_in_half_precision(monkeypatch):
    """No GPU here: the wiring alone, with sentence-transformers' model stood in for."""
    import llama_index.embeddings.huggingface as huggingface

    from codeagent.index import embedding

    calls: list[str] = []

    class Inner:
        max_seq_length = 256

        def half(self):
            calls.append("half")
            return self

        def get_embedding_dimension(self):
            return 384

    class StandIn:
        def __init__(self, **kwargs):
            calls.append(kwargs["device"])
            self._model = Inner()

    monkeypatch.setattr(embedding, "pick_device", lambda preference: "cuda")
    monkeypatch.setattr(huggingface, "HuggingFaceEmbedding", StandIn)
    info = load_embedding(MINILM, "auto", backend="auto")[1]
    assert calls == ["cuda", "half"] and (info.backend, info.device) == ("torch", "cuda")
    calls.clear()
    load_embedding(MINILM, "auto", backend="torch")
    assert calls == ["cuda"]  # torch asked for by name: fp32, as before


def test_the_cpu_is_found_without_torch_where_no_gpu_can_be(tmp_path, monkeypatch):
    from codeagent.index import embedding

    monkeypatch.setitem(sys.modules, "torch", None)  # an import of torch now fails
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(embedding, "GPU_NODES", (str(tmp_path / "nvidiactl"),))
    assert embedding.pick_device("auto") == "cpu"
    assert embedding.pick_device("cpu") == "cpu"
    (tmp_path / "nvidiactl").touch()  # a driver is there: only torch can tell
    with pytest.raises(ImportError):
        embedding.pick_device("auto")


@pytest.mark.slow
@pytest.mark.skipif(any(os.path.exists(node) for node in GPU_NODES),
                    reason="a GPU driver is here: auto asks torch")
def test_an_auto_index_run_on_a_cpu_never_imports_torch(tmp_path, onnx_minilm):
    load_embedding(MINILM, "cpu", backend="auto")  # the export auto takes, made beforehand
    repo = make_repo(tmp_path / "repo", hostile=False)
    (repo / ".codeagent.toml").write_text(f'embed_model = "{MINILM}"\n')
    probe = ("import sys, json\nfrom codeagent.cli.main import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
             f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    out = subprocess.run([sys.executable, "-c", probe, "index", str(repo), "--json"],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ))
    *summary, last = out.stdout.strip().splitlines()
    assert json.loads(last) == [0, []], out.stderr
    assert json.loads("\n".join(summary))["chunks"] > 0
    manifest = open_manifest_readonly(repo)
    assert manifest.get("backend") == "onnx-int8"
    manifest.close()


@pytest.mark.slow
def test_a_search_on_an_onnx_index_never_imports_torch(tmp_path, onnx_minilm):
    repo = make_repo(tmp_path / "repo", hostile=False)
    run_index(repo, load_settings(repo, {"embed_model": MINILM}, environ={}),
              embedding=onnx_minilm)
    probe = ("import sys, json\nfrom codeagent.cli.main import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
             f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    out = subprocess.run([sys.executable, "-c", probe, "search", "follow HTTP redirects",
                          "--repo", str(repo), "--json", "-k", "1"],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ))
    *answer, last = out.stdout.strip().splitlines()
    assert json.loads(last) == [0, []], out.stderr
    hits = json.loads("\n".join(answer))
    assert hits["hits"][0]["path"] == "net/redirects.py"
