"""Semantic search with the real bundled MiniLM: concepts find the file that holds them."""

from __future__ import annotations

import pytest

from codeagent.errors import IndexProblem, ModelMismatch
from codeagent.index.run import run_index
from codeagent.retrieval.semantic import Searcher
from codeagent.settings import load_settings
from support import make_repo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, minilm):
    root = make_repo(tmp_path_factory.mktemp("search") / "repo", hostile=False)
    run_index(root, load_settings(root, environ={}), embedding=minilm)
    searcher = Searcher(root, load_settings(root, environ={}), embedding=minilm)
    yield root, searcher
    searcher.close()


@pytest.mark.parametrize("query,path", [
    ("where are HTTP redirects followed", "net/redirects.py"),
    ("evict the least recently used entry when the cache is full", "storage/cache.go"),
    ("hash a password with a salt before storing it", "auth/password.rs"),
    ("how do I roll back a deployment", "docs/deploy.md"),
    ("format a price in cents for display", "web/format.js"),
])
def test_a_concept_finds_its_file_first(indexed, query, path):
    _, searcher = indexed
    hits = searcher.search(query, k=5)
    assert hits[0].path == path
    assert -1.0 <= hits[-1].score <= hits[0].score <= 1.0


def test_hits_name_exact_lines_and_symbols(indexed):
    root, searcher = indexed
    hit = searcher.search("follow redirects until there are no more", k=1)[0]
    lines = (root / hit.path).read_text().split("\n")
    assert hit.text == "\n".join(lines[hit.start_line - 1:hit.end_line])
    assert hit.symbol.startswith("Redirect")


def test_language_and_path_filters(indexed):
    _, searcher = indexed
    assert {h.language for h in searcher.search("cache", k=10, language="go")} == {"go"}
    assert {h.path for h in searcher.search("price", k=10, path_glob="web/")} == {"web/format.js"}
    assert {h.path for h in searcher.search("x", k=10, path_glob="*.rs")} == {"auth/password.rs"}
    assert searcher.search("x", k=10, path_glob="nothing/here/") == []


def test_searching_with_another_model_is_refused(indexed, minilm):
    root, _ = indexed
    settings = load_settings(root, {"embed_model": "sentence-transformers/all-mpnet-base-v2"},
                             environ={})
    with pytest.raises(ModelMismatch) as err:
        Searcher(root, settings, embedding=minilm)
    assert "--rebuild" in err.value.hint and "all-MiniLM-L6-v2" in err.value.hint


def test_searching_a_repository_without_an_index_says_how_to_make_one(tmp_path, minilm):
    with pytest.raises(IndexProblem) as err:
        Searcher(tmp_path, load_settings(tmp_path, environ={}), embedding=minilm)
    assert "codeagent index" in err.value.hint
