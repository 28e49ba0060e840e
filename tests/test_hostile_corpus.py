"""Hostile input: a repository of every nasty file (tests/hostile.py) indexed, searched and
read. Indexing finishes, every file left out is reported with its reason, no line of an
indexable file is lost, and the tools neither crash, hang, leak secrets nor print a name's
control characters raw."""

from __future__ import annotations

import re
import threading

import pytest

from codeagent.index import run as indexer
from codeagent.index import walker
from codeagent.index.run import run_index
from codeagent.settings import load_settings
from codeagent.textfile import decode
from codeagent.tools import TOOLS, ToolContext, bind
from codeagent.tools.grep import find_matches
from codeagent.tools.read_file import READ_MAX_BYTES
from hostile import IGNORED, INDEXED, NOT_LISTED, TEXT, Races, build_corpus
from support import assert_index_matches_disk

UNREPORTED = (INDEXED, IGNORED, NOT_LISTED)
VANISHED = {"race/vanish_walk.py", "race/vanish_plan.py", "race/vanish_batch.py"}
DENIED = {"race/denied.py", "race/denied_plan.py", "race/denied_batch.py"}
SECRET_TEXT = ("hostile-secret", "PRIVATE KEY", "Host x")
# Raw control characters a name may carry; "\n" only ever separates the output's lines.
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The corpus indexed twice (mock embedding), the races staged during the first run.
    The denials stay in force for the whole module, so the tools meet them too."""
    from llama_index.core.embeddings import MockEmbedding

    from codeagent.index.embedding import EmbeddingInfo

    root = tmp_path_factory.mktemp("hostile") / "repo"
    corpus = build_corpus(root)
    embedding = (MockEmbedding(embed_dim=8), EmbeddingInfo("mock-8", 8, "cpu", 256))
    with pytest.MonkeyPatch.context() as monkeypatch:
        races = Races(root)
        try:
            races.install(monkeypatch, indexer, walker)
            settings = load_settings(root, environ={})
            first = run_index(root, settings, embedding=embedding)
            second = run_index(root, settings, embedding=embedding)
            yield root, corpus, first, second, settings
        finally:
            races.restore_permissions()


def expected_skips(corpus, leave_out=()):
    return {path: case.expected for path, case in corpus.items()
            if case.expected not in UNREPORTED and path not in leave_out}


def test_the_corpus_is_hostile_enough(hostile):
    _, corpus, *_ = hostile
    assert len(corpus) >= 30
    kinds = {case.expected for case in corpus.values()}
    assert {"binary", "too large", "minified", "secret", "unreadable", "broken symlink",
            "not a regular file", "symlink outside repository"} <= kinds


def test_every_file_left_out_is_reported_with_its_reason(hostile):
    _, corpus, first, *_ = hostile
    assert first.skipped == expected_skips(corpus)


def test_no_line_of_an_indexable_file_is_lost(hostile):
    root, corpus, first, *_ = hostile
    indexed = {path for path, case in corpus.items() if case.expected == INDEXED}
    assert first.added == len(indexed)
    chunks = assert_index_matches_disk(root, indexed)
    texts = "\n".join(meta["text"] for meta in chunks.values())
    for secret in SECRET_TEXT:
        assert secret not in texts
    # decoded, not mangled: each encoding's text is there as written
    assert "café naïve Müller" in texts and "Müller, café" in texts and "€ 10" in texts
    assert "tail \x00 after 8 KB" in texts  # a NUL past the sniff is text, kept as such


def test_a_second_run_changes_nothing(hostile):
    _, corpus, first, second, _ = hostile
    # the vanished files are gone; everything else is judged as before
    assert second.skipped == expected_skips(corpus, leave_out=VANISHED)
    assert (second.added, second.changed, second.removed) == (0, 0, 0)
    assert second.chunks_written == 0 and second.embedded == 0
    assert second.chunks == first.chunks


def test_grep_finds_the_marker_in_every_text_file_it_may_read(hostile):
    root, corpus, _, _, settings = hostile
    ctx = ToolContext(root, settings)
    try:
        files, _ = find_matches(ctx, TEXT)
        output = bind(TOOLS["grep"], ctx)(pattern=TEXT)
    finally:
        ctx.close()
    readable = {path for path, case in corpus.items()
                if case.expected in (INDEXED, "minified") and path not in VANISHED
                and TEXT in (decode((root / path).read_bytes()) or ("",))[0]}
    # ripgrep reads the denied files where the OS lets it (as root): no verdict on them
    assert {f.path for f in files} - DENIED == readable
    assert not output.startswith("error:")
    assert not RAW_CONTROL.search(output)


@pytest.mark.parametrize("tool,kwargs", [
    ("grep", {"pattern": "NAME ="}),
    ("grep", {"pattern": "NAME", "path_glob": "names/"}),
    ("list_files", {"path_glob": "names/"}),
])
def test_odd_names_are_printed_one_line_each_with_controls_escaped(hostile, tool, kwargs):
    root, _, _, _, settings = hostile
    ctx = ToolContext(root, settings)
    try:
        output = bind(TOOLS[tool], ctx)(**kwargs)
    finally:
        ctx.close()
    assert not RAW_CONTROL.search(output), "a name's control characters reach the output raw"
    lines = output.split("\n")
    assert not any(line.startswith("line.py") for line in lines), \
        "the name with a newline is split over two lines"
    named = [line for line in lines if line.startswith("names/")]
    assert len(named) == 11, named


def call_with_timeout(fn, seconds=3, **kwargs):
    """The tool's answer, or None if it did not answer in time (it blocked)."""
    answer = []
    thread = threading.Thread(target=lambda: answer.append(fn(**kwargs)), daemon=True)
    thread.start()
    thread.join(seconds)
    return answer[0] if answer else None


# What read_file must refuse (an "error:" line), by what the corpus expects of a path. A
# file too large to index is read, up to the size read_file reads at all.
REFUSED = {"secret", "binary", "unreadable", "broken symlink",
           "symlink outside repository", "not a regular file", "name is not valid UTF-8",
           IGNORED}


def test_read_file_answers_every_path_of_the_corpus(hostile):
    """No hang, nothing out of bounds shown, every text file shown, names printed safely."""
    root, corpus, _, _, settings = hostile
    ctx = ToolContext(root, settings)
    read = bind(TOOLS["read_file"], ctx)
    problems: dict[str, list[str]] = {"blocked": [], "shown": [], "failed": [], "unsafe": []}
    try:
        for path, case in sorted(corpus.items()):
            output = call_with_timeout(read, path=path)
            if output is None:
                problems["blocked"].append(path)
                _unblock(root / path)
                continue
            refused = output.startswith("error:")
            in_secret_dir = case.expected == NOT_LISTED and corpus.get(
                path.split("/")[0] + "/", case).expected == "secret"
            unreadable_size = case.expected == "too large" and (
                root / path).stat().st_size > READ_MAX_BYTES
            if (case.expected in REFUSED or in_secret_dir or unreadable_size) and not refused \
                    or any(secret in output for secret in SECRET_TEXT):
                problems["shown"].append(path)
            if (case.expected == INDEXED or case.expected == "too large"
                    and not unreadable_size) and refused:
                problems["failed"].append(f"{path!r}: {output}")
            if RAW_CONTROL.search(output) or any(line.startswith("line.py")
                                                 for line in output.split("\n")):
                problems["unsafe"].append(path)
    finally:
        ctx.close()
    assert problems == {"blocked": [], "shown": [], "failed": [], "unsafe": []}


def _unblock(fifo):
    """Let a reader blocked on a FIFO go: open it for writing, then close it (EOF)."""
    import os

    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def test_a_name_that_is_not_utf8_never_stops_a_run_of_the_real_model(tmp_path, minilm):
    """The corpus above is embedded by a mock without a tokenizer; the real tokenizer is
    where such a name (text with surrogate escapes) ended every run in a TypeError."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "ok.py").write_text("def ok():\n    return 1\n")
    (root / "caf\udce9.py").write_bytes(b"def f():\n    pass\n")
    settings = load_settings(root, environ={})
    summary = run_index(root, settings, embedding=minilm)
    assert summary.skipped == {"caf\ufffd.py": "name is not valid UTF-8"}
    assert (summary.added, summary.files) == (1, 1)
    assert run_index(root, settings, embedding=minilm).unchanged == 1
