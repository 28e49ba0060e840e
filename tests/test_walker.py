"""Which files the index may see, and why the others were left out."""

from __future__ import annotations

import os
import time

import pytest

from codeagent.index.languages import detect_language, grammar_for
from codeagent.index.walker import RepoRules, walk
from support import write_files


def paths_and_skips(root, **kwargs):
    result = walk(RepoRules(root, **kwargs))
    return {f.path for f in result.files}, result.skipped


def test_fixture_repo_gets_the_documented_treatment(repo):
    paths, skipped = paths_and_skips(repo)
    assert {"net/redirects.py", "broken.py", "conflict.py", "legacy.py", "empty.py",
            "keep.log", "blob.xyz"} <= paths  # blob.xyz is judged by content, at index time
    assert skipped[".env"] == "secret"
    assert skipped["big.txt"] == "too large"
    assert skipped["outside_link.py"] == "symlink outside repository"
    for ignored in ("generated/models.py", "debug.log", "node_modules/lib/index.js"):
        assert ignored not in paths and ignored not in skipped


def test_nested_gitignore_and_negation(tmp_path):
    write_files(tmp_path, {
        ".gitignore": "*.tmp\nbuild_out/\n",
        "a.tmp": "x", "a.py": "x",
        "sub/.gitignore": "!keep.tmp\nlocal_only.py\n",
        "sub/keep.tmp": "x", "sub/other.tmp": "x", "sub/local_only.py": "x",
        "local_only.py": "x",
        "build_out/x.py": "x",
        "deep/er/.gitignore": "*.py\n!main.py\n",
        "deep/er/main.py": "x", "deep/er/helper.py": "x",
    })
    paths, _ = paths_and_skips(tmp_path)
    assert paths == {".gitignore", "a.py", "sub/.gitignore", "sub/keep.tmp", "local_only.py",
                     "deep/er/.gitignore", "deep/er/main.py"}


def test_codeagentignore_and_extra_patterns_and_reinclusion_of_defaults(tmp_path):
    write_files(tmp_path, {
        ".codeagentignore": "fixtures/\n!vendor/\n",
        "fixtures/data.py": "x",
        "vendor/lib.go": "package lib",
        "app.py": "x",
        "notes/scratch.md": "x",
    })
    paths, _ = paths_and_skips(tmp_path, extra_ignore=["notes/"])
    assert paths == {".codeagentignore", "vendor/lib.go", "app.py"}


def test_default_excludes(tmp_path):
    write_files(tmp_path, {
        "app.py": "x",
        "node_modules/x/index.js": "x", ".git/config": "x", "__pycache__/a.pyc": "x",
        "myenv/pyvenv.cfg": "home = /usr", "myenv/lib/site.py": "x",
        "package-lock.json": "{}", "poetry.lock": "x", "static/app.min.js": "x",
        "dist/bundle.js": "x", "pkg.egg-info/PKG-INFO": "x",
    })
    paths, _ = paths_and_skips(tmp_path)
    assert paths == {"app.py"}


@pytest.mark.parametrize("name", [
    ".env", ".env.local", "config/.env.production", "id_rsa", "id_ed25519.pub", "server.pem",
    "tls/private.key", "credentials.json", ".aws/credentials", ".netrc", "prod.tfvars",
    "service-account-prod.json", ".ssh/config", "app.p12",
])
def test_secret_files_are_never_walked(tmp_path, name):
    write_files(tmp_path, {name: "secret", "app.py": "x"})
    paths, skipped = paths_and_skips(tmp_path)
    assert paths == {"app.py"}
    assert "secret" in skipped.values()


def test_user_can_extend_secret_patterns(tmp_path):
    write_files(tmp_path, {"deploy/vault.hcl": "token", "app.py": "x"})
    rules = RepoRules(tmp_path, extra_secrets=["*.hcl"])
    assert {f.path for f in walk(rules).files} == {"app.py"}
    assert rules.exclusion("deploy/vault.hcl") == "secret"


def test_gitignore_cannot_bring_back_a_secret(tmp_path):
    write_files(tmp_path, {".codeagentignore": "!.env\n", ".env": "TOKEN=1"})
    paths, skipped = paths_and_skips(tmp_path)
    assert ".env" not in paths and skipped[".env"] == "secret"


def test_size_limit_and_binary_extensions(tmp_path):
    write_files(tmp_path, {"small.py": "x" * 10, "large.py": "x" * 2000, "logo.png": b"\x89PNG"})
    paths, skipped = paths_and_skips(tmp_path, max_file_bytes=1000)
    assert paths == {"small.py"}
    assert skipped == {"large.py": "too large", "logo.png": "binary"}


def test_symlinks_never_lead_the_walk_outside(tmp_path):
    repo = tmp_path / "repo"
    outside = tmp_path / "outside"
    write_files(outside, {"secret.py": "x"})
    write_files(repo, {"real.py": "x"})
    os.symlink(outside, repo / "linked_dir")
    os.symlink(outside / "secret.py", repo / "linked_file.py")
    os.symlink(repo / "real.py", repo / "alias.py")
    os.symlink(repo / "missing.py", repo / "dangling.py")
    os.symlink(repo, repo / "loop")
    paths, skipped = paths_and_skips(repo)
    assert paths == {"real.py"}
    assert skipped["linked_dir"] == "symlink outside repository"
    assert skipped["linked_file.py"] == "symlink outside repository"
    assert skipped["dangling.py"] == "broken symlink"
    assert skipped["alias.py"].startswith("symlink")
    assert skipped["loop"].startswith("symlink")


def test_exclusion_of_single_paths_matches_the_walk(repo):
    rules = RepoRules(repo)
    assert rules.exclusion("net/redirects.py") is None
    assert rules.exclusion(".env") == "secret"
    assert rules.exclusion("generated/models.py") == "ignored"
    assert rules.exclusion("node_modules/lib/index.js") == "ignored"


@pytest.mark.parametrize("path,language", [
    ("a.py", "python"), ("a.js", "javascript"), ("a.ts", "typescript"), ("a.tsx", "tsx"),
    ("a.go", "go"), ("a.rs", "rust"), ("A.java", "java"), ("a.c", "c"), ("a.cpp", "cpp"),
    ("a.hpp", "cpp"), ("a.cs", "csharp"), ("a.rb", "ruby"), ("a.php", "php"),
    ("a.kt", "kotlin"), ("a.scala", "scala"), ("a.swift", "swift"), ("a.sh", "bash"),
    ("README.md", "markdown"), ("a.yaml", "yaml"), ("a.yml", "yaml"), ("a.toml", "toml"),
    ("a.json", "json"), ("a.rst", "rst"), ("Makefile", "make"), ("LICENSE", "text"),
])
def test_language_detection(path, language):
    assert detect_language(path) == language


def test_shebang_detection_and_grammar_choice():
    assert detect_language("bin/tool", b"#!/usr/bin/env python3\n") == "python"
    assert detect_language("bin/run", b"#!/bin/bash -e\n") == "bash"
    assert grammar_for("python") == "python" and grammar_for("csharp") == "c_sharp"
    assert grammar_for("markdown") is None  # text formats are split into line windows
    assert grammar_for("swift") is None  # no Swift grammar in tree-sitter-languages 1.10


def test_ignore_rules_agree_with_git_itself(tmp_path):
    """git is the oracle: the files `git ls-files --others --exclude-standard` keeps are
    exactly the files the walk keeps (on a tree none of the built-in rules touch)."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    write_files(tmp_path, {
        ".gitignore": "*.log\n!important.log\n/only_root.txt\nlogs/\n*.py[co]\ndocs/*.html\n"
                      "**/deep_tmp\nfoo?.txt\n[Tt]emp*\n\\#hash.txt\nspace.txt \n",
        "a.log": "", "important.log": "", "only_root.txt": "", "sub/only_root.txt": "",
        "logs/x.txt": "", "sub/logs/y.txt": "", "m.pyc": "", "m.py": "", "docs/a.html": "",
        "docs/deeper/b.html": "", "x/y/deep_tmp/z.txt": "", "foo1.txt": "", "foo12.txt": "",
        "Temp.txt": "", "temporary.md": "", "#hash.txt": "", "space.txt": "", "keep.txt": "",
        "sub/.gitignore": "*.txt\n!keep_me.txt\n", "sub/keep_me.txt": "", "sub/drop.txt": "",
        "sub/inner/.gitignore": "!drop_again.txt\n", "sub/inner/drop_again.txt": "",
        "sub/inner/other.txt": "",
    })
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    listed = subprocess.run(["git", "-C", str(tmp_path), "ls-files", "--others",
                             "--exclude-standard"], capture_output=True, text=True, check=True)
    paths, _ = paths_and_skips(tmp_path)
    assert paths == set(listed.stdout.split("\n")) - {""}


def _age(root, seconds=60):
    """Push every mtime into the past, as on a tree nobody touched for a while."""
    past = time.time() - seconds
    for directory, dirs, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(directory, name), (past, past), follow_symlinks=False)
        os.utime(directory, (past, past))


def test_cached_walk_is_reused_until_the_tree_changes(tmp_path, monkeypatch):
    import codeagent.index.walker as walker

    write_files(tmp_path, {"a.py": "x", "pkg/b.py": "x", ".gitignore": "*.tmp\n"})
    _age(tmp_path)
    walks = []
    real_walk = walker.walk
    monkeypatch.setattr(walker, "walk", lambda rules: walks.append(1) or real_walk(rules))
    rules, memo = RepoRules(tmp_path), {}
    first = walker.walk_cached(rules, memo)
    assert walker.walk_cached(rules, memo) is first and len(walks) == 1

    write_files(tmp_path, {"pkg/c.py": "x"})  # a new file: its directory's mtime moves
    assert "pkg/c.py" in {f.path for f in walker.walk_cached(rules, memo).files}
    _age(tmp_path)
    (tmp_path / "a.py").unlink()
    assert "a.py" not in {f.path for f in walker.walk_cached(rules, memo).files}
    _age(tmp_path)
    (tmp_path / ".gitignore").write_text("*.tmp\npkg/\n")  # an edited ignore file
    assert {f.path for f in walker.walk_cached(rules, memo).files} == {".gitignore"}


def test_cached_walk_does_not_trust_a_tree_changed_a_moment_ago(tmp_path, monkeypatch):
    import codeagent.index.walker as walker

    write_files(tmp_path, {"a.py": "x"})  # just written: same clock tick as the stamp
    walks = []
    real_walk = walker.walk
    monkeypatch.setattr(walker, "walk", lambda rules: walks.append(1) or real_walk(rules))
    rules, memo = RepoRules(tmp_path), {}
    walker.walk_cached(rules, memo)
    walker.walk_cached(rules, memo)
    assert len(walks) == 2
