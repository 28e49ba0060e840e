"""Branch switches in a real git repository: a checkout re-embeds only the chunks whose
text is new, the index then holds exactly the checked-out branch, and switching back
embeds nothing (the embedding cache is keyed by content, not by path history)."""

from __future__ import annotations

import subprocess

import pytest
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.embeddings import MockEmbedding

from codeagent.index.embedding import EmbeddingInfo
from codeagent.index.run import run_index
from codeagent.settings import load_settings
from support import SOURCES, assert_index_matches_disk, make_repo, write_files

NEW_FUNCTION = '''\
def redirect_budget(config):
    """How many redirects a client may follow, from its configuration."""
    return int(config.get("max_redirects", MAX_REDIRECTS))


'''

BRANCH_ADDS = {
    "web/cart.js": "// The shopping cart.\nexport function total(items) {\n"
                   "  return items.reduce((sum, item) => sum + item.cents, 0);\n}\n",
    "net/retry.py": '"""Retrying failed requests."""\n\n\ndef backoff(attempt):\n'
                    '    """Seconds to wait before the next attempt: doubling, capped."""\n'
                    "    return min(60, 2 ** attempt)\n",
}
BRANCH_DELETES = ["storage/cache.go", "config/app.yaml"]
BRANCH_RENAMES = {"docs/deploy.md": "docs/deployment.md"}
MODIFIED = "net/redirects.py"


class CountingEmbedding(MockEmbedding):
    """MockEmbedding that records every text it is asked to embed."""

    _texts: list = PrivateAttr(default_factory=list)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._texts.extend(texts)
        return super()._get_text_embeddings(texts)

    def take(self) -> list[str]:
        taken, self._texts = self._texts, []
        return taken


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


def tracked(repo) -> set[str]:
    return set(git(repo, "ls-files", "-z").split("\0")) - {""}


def embedded_paths(texts: list[str]) -> set[str]:
    """The path each embedded text names in its header ("path: ...")."""
    return {text.split("\n", 1)[0].removeprefix("path: ") for text in texts}


def make_git_repo(root):
    """main: the fixture sources and a longer module; feature: one modified file (a
    function inserted near the top, shifting every line below, and one constant changed),
    two added, two deleted and one renamed."""
    repo = make_repo(root, hostile=False)
    write_files(repo, {"net/session.py": "".join(
        f'def helper_{i}(value):\n    """Helper number {i}."""\n    return value + {i}\n\n\n'
        for i in range(40))})
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    source = SOURCES[MODIFIED]
    head, rest = source.split("class RedirectError", 1)
    changed = head + NEW_FUNCTION + "class RedirectError" + rest
    write_files(repo, {MODIFIED: changed.replace("MAX_REDIRECTS = 30", "MAX_REDIRECTS = 10"),
                       **BRANCH_ADDS})
    for path in BRANCH_DELETES:
        git(repo, "rm", "-q", path)
    for old, new in BRANCH_RENAMES.items():
        git(repo, "mv", old, new)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    git(repo, "checkout", "-q", "main")
    return repo


@pytest.fixture
def counting():
    model = CountingEmbedding(embed_dim=8)
    return model, EmbeddingInfo("mock-8", 8, "cpu", 256)


def test_branch_switches_embed_only_new_content(tmp_path, counting):
    model = counting[0]
    repo = make_git_repo(tmp_path / "repo")
    settings = load_settings(repo, environ={})

    first = run_index(repo, settings, embedding=counting)
    on_main = model.take()
    assert first.embedded == len(on_main) > 0 and len(set(on_main)) == len(on_main)
    main_files = tracked(repo)
    assert_index_matches_disk(repo, main_files)

    # What the feature branch needs embedded at all: a fresh index of it, cache empty.
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", "--branch", "feature", str(repo), str(fresh))
    run_index(fresh, load_settings(fresh, environ={}), embedding=counting)
    feature_texts = set(model.take())

    git(repo, "checkout", "-q", "feature")
    switched = run_index(repo, settings, embedding=counting)
    on_feature = model.take()
    assert set(on_feature) == feature_texts - set(on_main), "exactly the new texts"
    assert switched.embedded == len(on_feature) < switched.chunks_written
    changed_paths = {MODIFIED, *BRANCH_ADDS, *BRANCH_RENAMES.values()}
    assert embedded_paths(on_feature) == changed_paths
    assert (switched.added, switched.changed, switched.removed) == (3, 1, 3)
    assert_index_matches_disk(repo, tracked(repo))
    assert tracked(repo) == main_files - set(BRANCH_DELETES) - set(BRANCH_RENAMES) | {
        *BRANCH_ADDS, *BRANCH_RENAMES.values()}

    git(repo, "checkout", "-q", "main")
    back = run_index(repo, settings, embedding=counting)
    assert model.take() == [] and back.embedded == 0
    assert back.chunks_written > 0, "the files that came back were written again"
    assert (back.added, back.changed, back.removed) == (3, 1, 3)
    assert_index_matches_disk(repo, main_files)


def test_a_branch_switch_inside_a_file_reuses_its_unchanged_chunks(tmp_path, counting):
    """Lines inserted at the top move every chunk below them; their text is unchanged,
    so only the chunks around the insertion are embedded again."""
    model = counting[0]
    repo = make_git_repo(tmp_path / "repo")
    settings = load_settings(repo, environ={})
    run_index(repo, settings, embedding=counting)
    model.take()
    git(repo, "checkout", "-q", "-b", "shifted")
    path = repo / "net/session.py"
    path.write_text("import functools\n\n\n" + path.read_text())
    git(repo, "commit", "-q", "-am", "shift every line by 3")
    summary = run_index(repo, settings, embedding=counting)
    again = model.take()
    assert summary.changed == 1 and summary.chunks_written > 2 * len(again)
    assert embedded_paths(again) == {"net/session.py"}
    assert_index_matches_disk(repo, tracked(repo))
