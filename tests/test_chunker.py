"""Chunks end on definitions, carry exact line numbers, fit the model, and lose nothing."""

from __future__ import annotations

from codeagent.index.chunker import chunk_file
from codeagent.index.symbols import definitions, parse
from codeagent.textfile import split_lines
from support import SOURCES


def covered_lines(chunks):
    return {n for c in chunks for n in range(c.start_line, c.end_line + 1)}


def assert_exact_and_complete(text, chunks):
    lines = split_lines(text)
    for chunk in chunks:
        assert chunk.text == "\n".join(lines[chunk.start_line - 1:chunk.end_line])
    missing = [n for n, line in enumerate(lines, 1) if line.strip() and n not in covered_lines(chunks)]
    assert not missing


def many_functions(n=12):
    return "\n\n".join(
        f"def step_{i}(value):\n    \"\"\"Step {i}.\"\"\"\n    total = value + {i}\n"
        f"    total = total * 2\n    return total\n" for i in range(n))


def test_boundaries_fall_on_functions():
    text = many_functions()
    chunks = chunk_file("steps.py", "python", text, max_chars=300).chunks
    assert len(chunks) > 1
    for d in definitions("python", parse("python", text.encode())):
        assert any(c.start_line <= d.start_line and d.end_line <= c.end_line for c in chunks), \
            f"{d.qualified} is split across chunks"
    assert_exact_and_complete(text, chunks)


def test_methods_carry_their_qualified_symbol():
    text = SOURCES["net/redirects.py"]
    chunks = chunk_file("net/redirects.py", "python", text, max_chars=400).chunks
    parts = [c for c in chunks if c.symbol == "RedirectMixin.resolve_redirects"]
    lines = split_lines(text)
    assert lines[parts[0].start_line - 1].strip().startswith("def resolve_redirects")
    assert "RedirectMixin.resolve_redirects" in parts[0].symbols
    # the rest of the method, past the budget, still names the method it belongs to
    assert lines[parts[-1].end_line - 1].strip() == "return response"
    assert_exact_and_complete(text, chunks)


def test_oversized_function_is_split_and_keeps_its_symbol():
    body = "\n".join(f"        x{i} = compute({i})" for i in range(120))
    text = f"class Big:\n    def huge(self):\n{body}\n        return x0\n"
    chunks = chunk_file("big.py", "python", text, max_chars=500).chunks
    assert len(chunks) > 3
    assert {c.symbol for c in chunks[1:]} == {"Big.huge"}
    assert_exact_and_complete(text, chunks)


def test_token_budget_is_enforced_with_the_models_count():
    text = many_functions(4)
    long_function = "def long():\n" + "\n".join(f"    a{i} = {i}" for i in range(60)) + "\n"
    text += "\n\n" + long_function

    def fits(texts):  # pretend the model takes 40 "tokens", one per word
        return [len(t.split()) <= 40 for t in texts]

    chunks = chunk_file("f.py", "python", text, max_chars=5000, fits=fits).chunks
    assert all(len(c.text.split()) <= 40 for c in chunks)
    assert_exact_and_complete(text, chunks)


def test_file_the_parser_rejects_falls_back_to_line_windows():
    text = "<<<<<<< HEAD\nVALUE = 1\n=======\nVALUE = 2\n>>>>>>> branch\n" + many_functions(3)
    chunks = chunk_file("conflict.py", "python", text, max_chars=200, window_lines=8,
                        window_overlap=2).chunks
    assert chunks and chunks[0].start_line == 1
    assert_exact_and_complete(text, chunks)


def test_text_formats_use_overlapping_windows():
    text = "\n".join(f"Paragraph line {i}." for i in range(1, 101)) + "\n"
    chunks = chunk_file("notes.md", "markdown", text, window_lines=40, window_overlap=10).chunks
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 40), (31, 70), (61, 100)]
    assert all(c.symbol == "" for c in chunks)


def test_unknown_languages_and_swift_are_still_chunked():
    swift = "import Foundation\n\nfunc greet() -> String {\n    return \"hi\"\n}\n"
    for path, language in (("Greeter.swift", "swift"), ("notes.xyz", "text")):
        chunks = chunk_file(path, language, swift).chunks
        assert_exact_and_complete(swift, chunks)


def test_empty_and_blank_files_have_no_chunks():
    assert chunk_file("e.py", "python", "").chunks == []
    assert chunk_file("e.py", "python", "\n\n   \n").chunks == []


def test_crlf_files_keep_their_line_numbers():
    text = "def a():\r\n    return 1\r\n\r\ndef b():\r\n    return 2\r\n"
    chunks = chunk_file("crlf.py", "python", text).chunks
    assert_exact_and_complete(text, chunks)
    assert chunks[-1].end_line == 5
