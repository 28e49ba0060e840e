"""What a bug report names, as file rankings (`mentions.py`), and their use by
multi_query_search: traceback frames, written paths and dotted modules find their files;
unknown paths and version numbers find nothing; a file is ranked by its best few chunks;
tests and docs rank after the code; the fused order is what the tool shows."""

from __future__ import annotations

import re

import pytest

from codeagent.index.layout import open_manifest_readonly
from codeagent.index.run import run_index
from codeagent.retrieval.mentions import Mentions, files_of_chunks, fuse, is_peripheral
from codeagent.tools.context import ToolContext
from codeagent.tools.multi_query_search import multi_query_search
from support import write_files

FILES = {
    "pkg/reader.py": "def parse_header(data):\n    return data[:4]\n\n\nclass Reader:\n"
                     "    def read(self, stream):\n        return parse_header(stream)\n",
    "pkg/writer.py": "def write_record(out, record):\n    out.write(record)\n",
    "pkg/codec/__init__.py": "def decode_frame(frame):\n    return frame\n",
    "other/reader.py": "def unrelated():\n    return 1\n",
    "tests/test_reader.py": "from pkg.reader import parse_header\n\n\n"
                            "def test_parse_header():\n    assert parse_header(b'abcd')\n",
    **{f"pkg/common{i}.py": "def run():\n    pass\n" for i in range(14)},
}


@pytest.fixture
def indexed(tmp_path, settings_for, mock_embedding):
    repo = tmp_path / "repo"
    write_files(repo, FILES)
    run_index(repo, settings_for(repo), embedding=mock_embedding)
    manifest = open_manifest_readonly(repo)
    yield repo, Mentions(manifest)
    manifest.close()


def paths(ranking):
    return [path for path, _ in ranking]


def test_traceback_frames_and_written_paths_name_files(indexed):
    _, mentions = indexed
    report = ('Traceback (most recent call last):\n'
              '  File "/venv/lib/site-packages/pkg/writer.py", line 2, in write_record\n'
              'ValueError\nreader.py may be involved too\n')
    ranked = dict(mentions.named_files(report))
    # The frame's path is matched by its tail and counts double; "reader.py" names both
    # files ending so, equally.
    assert ranked == {"pkg/writer.py": 2.0, "pkg/reader.py": 1.0, "other/reader.py": 1.0}
    assert paths(mentions.named_files("fix pkg/reader.py")) == ["pkg/reader.py"]
    assert mentions.named_files("see /somewhere/else/missing.py") == []


def test_dotted_modules_name_files_and_packages(indexed):
    _, mentions = indexed
    assert paths(mentions.named_files("calling pkg.reader.Reader.read fails")) == [
        "pkg/reader.py"]
    assert paths(mentions.named_files("in pkg.codec the frames")) == ["pkg/codec/__init__.py"]
    assert mentions.named_files("e.g. version 3.11 or i.e. this") == []


def test_peripheral_files_rank_after_the_code_and_ties_share_a_rank():
    assert is_peripheral("tests/test_reader.py") and is_peripheral("src/app/conftest.py")
    assert is_peripheral("testing/python/approx.py") and is_peripheral("doc/en/example/x.py")
    assert not is_peripheral("pkg/testutils.py") and not is_peripheral("pkg/docstring.py")
    ranked = fuse([[("tests/test_reader.py", 2.0), ("pkg/reader.py", 1.0)]], demote=is_peripheral)
    assert paths(ranked) == ["pkg/reader.py", "tests/test_reader.py"]
    tied = dict(fuse([[("a.py", 1.0), ("b.py", 1.0), ("c.py", 0.5)]]))
    assert tied["a.py"] == tied["b.py"] > tied["c.py"]


def test_a_file_is_ranked_by_its_best_few_chunks():
    # b.py has the best chunk, a.py the next three: three good chunks beat one.
    ranked = files_of_chunks(["b.py", "a.py", "a.py", "a.py", "c.py"])
    assert paths(ranked) == ["a.py", "b.py", "c.py"]
    # Only the best AGG_CHUNKS count: a fourth chunk adds nothing.
    assert dict(files_of_chunks(["a.py"] * 3)) == dict(files_of_chunks(["a.py"] * 9))


def test_reorder_moves_a_named_files_items_up(indexed):
    _, mentions = indexed
    retrieved = ["other/reader.py", "pkg/common1.py", "pkg/writer.py", "other/reader.py"]
    order = mentions.reorder("crash in pkg/writer.py", retrieved)
    assert [retrieved[i] for i in order][0] == "pkg/writer.py"
    # Without mentions the order is retrieval's: a file's second item after the next
    # file's first.
    assert mentions.reorder("nothing named here", retrieved) == [0, 1, 3, 2]


def test_multi_query_search_shows_the_named_file_first(indexed, settings_for, mock_embedding):
    repo, _ = indexed
    ctx = ToolContext(repo, settings_for(repo), embedding=mock_embedding)
    try:
        # Keywords point at the reader (read, parse, header); the traceback at the writer.
        out = multi_query_search(ctx, 'reading: the reader parses the header, reads it and '
                                      'fails\n  File "/venv/site-packages/pkg/writer.py", '
                                      'line 2', k=3)
    finally:
        ctx.close()
    first = next(line for line in out.splitlines() if re.match(r"\S+:\d+-\d+  ", line))
    assert first.startswith("pkg/writer.py:")
