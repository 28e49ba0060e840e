"""The keyword index: code-aware tokens, and BM25 kept in step with every index run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from codeagent.index import keyword_index
from codeagent.index.keyword_index import BUILDING, DIRNAME, STOPWORDS, tokenize
from codeagent.index.layout import data_dir
from codeagent.index.manifest import Manifest
from codeagent.index.run import run_index
from codeagent.retrieval.fusion import keyword_retriever
from support import write_files

STYLES = {
    "camel.js": "function getUserName(account) {\n  return account.profile.display;\n}\n",
    "snake.py": "def get_user_name(account):\n    return account.profile.display\n",
    "pascal.cs": "class Accounts {\n  string GetUserName(Account a) { return a.Display; }\n}\n",
    "kebab.el": "(defun get-user-name (account)\n  (profile-display account))\n",
    "other.py": "def parse_invoice(blob):\n    return blob.split(';')\n",
}


def hits(root, query, k=10):
    retriever = keyword_retriever(data_dir(root), k)
    return [(hit.node.metadata["path"], hit.node.node_id) for hit in retriever.retrieve(query)]


def paths(root, query, k=10):
    return [path for path, _ in hits(root, query, k)]


def corpus_ids(root):
    lines = (data_dir(root) / DIRNAME / "corpus.jsonl").read_text().splitlines()
    return {json.loads(line)["node_id"] for line in lines}


def manifest_ids(root):
    manifest = Manifest(data_dir(root) / "manifest.sqlite")
    try:
        return manifest.chunk_ids()
    finally:
        manifest.close()


@pytest.fixture
def styles_repo(tmp_path, settings_for, mock_embedding):
    root = tmp_path / "styles"
    write_files(root, STYLES)
    run_index(root, settings_for(root), embedding=mock_embedding)
    return root


@pytest.mark.parametrize("name, whole", [
    ("getUserName", "getusername"), ("get_user_name", "get_user_name"),
    ("GetUserName", "getusername"), ("get-user-name", "get-user-name")])
def test_every_naming_style_gives_the_words_and_the_whole_name(name, whole):
    assert tokenize(name) == ["get", "user", "name", whole]


def test_acronyms_digits_and_stopwords_are_cut_sensibly():
    assert tokenize("HTTPServer") == ["http", "server", "httpserver"]
    assert tokenize("sha256 parseJSON") == ["sha", "256", "sha256", "parse", "json", "parsejson"]
    # single characters alone mean nothing; the whole word keeps them
    assert tokenize("v2 x") == ["v2"]
    assert tokenize("Where is the user of this?") == ["user"]
    assert tokenize("is_a") == ["is_a"]
    assert tokenize("café_crème") == ["café", "crème", "café_crème"]


def test_stopwords_include_those_bm25s_drops_from_queries():
    from bm25s.stopwords import STOPWORDS_EN

    assert set(STOPWORDS_EN) <= STOPWORDS


def test_words_find_every_naming_style(styles_repo):
    found = paths(styles_repo, "user name")
    assert set(found) == {"camel.js", "snake.py", "pascal.cs", "kebab.el"}
    assert "other.py" not in paths(styles_repo, "user name")


@pytest.mark.parametrize("query, expected", [
    ("get_user_name", "snake.py"), ("get-user-name", "kebab.el"),
    ("where is get_user_name?", "snake.py")])
def test_an_exact_identifier_ranks_its_own_chunk_first(styles_repo, query, expected):
    found = paths(styles_repo, query)
    assert found[0] == expected
    assert len(found) == 4  # the other styles still match by their words


def test_camel_and_pascal_case_share_their_whole_name(styles_repo):
    assert set(paths(styles_repo, "getUserName")[:2]) == {"camel.js", "pascal.cs"}


def test_no_shared_token_means_no_hit(styles_repo):
    assert paths(styles_repo, "zeppelin") == []
    assert paths(styles_repo, "what is the") == []


def test_the_keyword_index_follows_every_index_run(repo, settings_for, mock_embedding):
    settings = settings_for(repo)
    run_index(repo, settings, embedding=mock_embedding)
    assert corpus_ids(repo) == manifest_ids(repo)
    assert paths(repo, "RedirectMixin")[0] == "net/redirects.py"
    assert "web/format.js" in paths(repo, "formatPrice")

    (repo / "net/redirects.py").write_text(
        "def follow_zeppelin_hops(response):\n    return response.zeppelin\n")
    run_index(repo, settings, embedding=mock_embedding)
    assert corpus_ids(repo) == manifest_ids(repo)
    assert paths(repo, "zeppelin") == ["net/redirects.py"]
    assert paths(repo, "RedirectMixin") == []

    (repo / "web/format.js").unlink()
    run_index(repo, settings, embedding=mock_embedding)
    assert corpus_ids(repo) == manifest_ids(repo)
    assert "web/format.js" not in paths(repo, "formatPrice price cents currency")
    assert {node_id for _, node_id in hits(repo, "zeppelin")} <= manifest_ids(repo)


def test_a_missing_or_half_built_keyword_index_is_rebuilt_by_a_no_op_run(
        styles_repo, settings_for, mock_embedding):
    live = data_dir(styles_repo) / DIRNAME
    marker = data_dir(styles_repo) / BUILDING
    before = corpus_ids(styles_repo)

    marker.touch()  # a rebuild killed half-way: not trusted, and redone
    assert keyword_retriever(data_dir(styles_repo), 5) is None
    summary = run_index(styles_repo, settings_for(styles_repo), embedding=mock_embedding)
    assert summary.unchanged == len(STYLES) and not marker.exists()
    assert corpus_ids(styles_repo) == before

    shutil.rmtree(live)
    run_index(styles_repo, settings_for(styles_repo), embedding=mock_embedding)
    assert corpus_ids(styles_repo) == before

    # Counts that cannot be read (or an index from before they were kept) are not reused:
    # the update tokenizes every chunk again.
    (live / "tf.npz").write_bytes(b"garbled")
    (styles_repo / "other.py").write_text("def parse_zeppelin(blob):\n    return blob\n")
    run_index(styles_repo, settings_for(styles_repo), embedding=mock_embedding)
    assert paths(styles_repo, "zeppelin") == ["other.py"]
    assert set(paths(styles_repo, "user name")) == {"camel.js", "snake.py", "pascal.cs",
                                                    "kebab.el"}


def test_no_chunks_no_keyword_index(styles_repo, settings_for, mock_embedding):
    for name in STYLES:
        (styles_repo / name).unlink()
    run_index(styles_repo, settings_for(styles_repo), embedding=mock_embedding)
    assert not (data_dir(styles_repo) / DIRNAME).exists()
    assert manifest_ids(styles_repo) == set()


def test_a_no_op_run_loads_neither_bm25s_nor_llama_index(styles_repo):
    script = ("import sys\nfrom pathlib import Path\n"
              "from codeagent.index.run import run_index\n"
              "from codeagent.settings import load_settings\n"
              f"root = Path({str(styles_repo)!r})\n"
              "summary = run_index(root, load_settings(root, environ={}))\n"
              "print(summary.unchanged, [m for m in ('bm25s', 'llama_index', 'torch', "
              "'chromadb', 'numpy', 'scipy') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(len(STYLES)), "[]"]


def score_columns(bm25):
    """Every token's scores over the documents, by token: comparable across vocabularies."""
    import scipy.sparse as sp

    scores = bm25.scores
    matrix = sp.csc_matrix((scores["data"], scores["indices"], scores["indptr"]),
                           shape=(scores["num_docs"], len(scores["indptr"]) - 1))
    return {token: matrix[:, i].toarray().ravel().tolist()
            for token, i in bm25.vocab_dict.items() if token}


def test_an_updated_keyword_index_is_the_one_a_fresh_build_gives(
        repo, tmp_path, settings_for, mock_embedding, monkeypatch):
    settings = settings_for(repo)
    run_index(repo, settings, embedding=mock_embedding)
    tokenized = []
    monkeypatch.setattr(keyword_index, "tokenize",
                        lambda text: tokenized.append(text) or tokenize(text))
    (repo / "net/redirects.py").write_text(
        "def follow_zeppelin_hops(response):\n    return response.zeppelin\n")
    (repo / "web/format.js").unlink()
    (repo / "net/zeppelin_client.py").write_text(
        "class ZeppelinClient:\n    def fetch_redirects(self, url):\n        return url\n")
    summary = run_index(repo, settings, embedding=mock_embedding)
    assert 0 < len(tokenized) == summary.chunks_written < summary.chunks  # only new chunks
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    manifest = Manifest(data_dir(repo) / "manifest.sqlite")
    try:
        keyword_index.update(fresh_dir, manifest)
    finally:
        manifest.close()
    updated, fresh = keyword_index.load(data_dir(repo)), keyword_index.load(fresh_dir)
    assert score_columns(updated) == score_columns(fresh)
    assert list(updated.corpus) == list(fresh.corpus)
    for query in ("zeppelin redirects", "RedirectMixin", "formatPrice", "fetch url", "hops"):
        assert (hits(repo, query) == [(hit.node.metadata["path"], hit.node.node_id) for hit
                                      in keyword_retriever(fresh_dir, 10).retrieve(query)])
    assert set(paths(repo, "zeppelin")) == {"net/redirects.py", "net/zeppelin_client.py"}


def test_the_scores_are_those_bm25s_computes(repo, settings_for, mock_embedding):
    import bm25s

    run_index(repo, settings_for(repo), embedding=mock_embedding)
    manifest = Manifest(data_dir(repo) / "manifest.sqlite")
    try:
        ours = keyword_index.build(manifest)
        rows = manifest.chunk_rows()
        texts = manifest.chunk_texts(row[0] for row in rows)
    finally:
        manifest.close()
    theirs = bm25s.BM25()
    theirs.index([tokenize(f"{row[1]}\n{texts[row[0]]}") for row in rows], show_progress=False)
    assert score_columns(ours) == score_columns(theirs)
    assert set(ours.vocab_dict) == set(theirs.vocab_dict)
