"""Bytes -> text and lines: the same numbering everywhere, nothing lost to encodings."""

from __future__ import annotations

import codecs

from codeagent.textfile import decode, holds_private_key, looks_minified, printable, split_lines


def test_utf8_latin1_and_boms_decode_without_loss():
    assert decode("héllo".encode()) == ("héllo", "utf-8")
    assert decode("café".encode("latin-1"))[0] == "café"
    assert decode(codecs.BOM_UTF8 + b"x = 1\n") == ("x = 1\n", "utf-8-sig")
    utf16 = codecs.BOM_UTF16_LE + "print('hi')\n".encode("utf-16-le")
    assert decode(utf16)[0] == "print('hi')\n"


def test_nul_bytes_mean_binary():
    assert decode(b"ELF\x00\x01\x02") is None


def test_invalid_utf8_is_still_text():
    text, encoding = decode(b"ok \xff\xfe then more")
    assert text.startswith("ok ") and text.endswith("then more")


def test_lines_end_only_at_newline():
    assert split_lines("a\r\nb\x0cc\nd") == ["a", "b\x0cc", "d"]
    assert split_lines("a\n") == ["a"]
    assert split_lines("") == []
    assert split_lines("\n\n") == ["", ""]


def test_private_keys_and_minified_files_are_recognised():
    assert holds_private_key(b"x\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc")
    assert holds_private_key(b"-----BEGIN RSA PRIVATE KEY-----")
    assert not holds_private_key(b"-----BEGIN CERTIFICATE-----")
    assert looks_minified("var a=1;" * 2000)
    assert not looks_minified("x = 1\n" * 2000)


def test_terminal_escapes_are_neutralised():
    assert printable("a\x1b[2Jb\tc") == "a\\x1b[2Jb\tc"
    assert "\x1b" not in printable("\x1b]0;title\x07")
