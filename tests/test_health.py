"""The store's health probe: its verdicts on a sound, a missing, a garbled and a crashed
store, each from a child process, and a fork server shared by every probe of a process."""

from __future__ import annotations

import multiprocessing.forkserver
import os
import signal

import pytest

from codeagent.index import health
from codeagent.index.layout import EMBEDDED_COLLECTION, data_dir
from codeagent.index.run import run_index
from support import make_repo

pytestmark = pytest.mark.skipif(health._METHOD != "forkserver", reason="no fork server here")


@pytest.fixture
def indexed(tmp_path, mock_embedding, settings_for):
    repo = make_repo(tmp_path / "repo", hostile=False)
    run_index(repo, settings_for(repo), embedding=mock_embedding)
    return repo


def test_a_sound_store_is_ok_with_its_count(indexed):
    verdict = health.probe(data_dir(indexed) / "chroma", EMBEDDED_COLLECTION)
    assert verdict.ok and verdict.count and verdict.count > 0


def test_a_missing_store_is_not_ok_and_says_why(tmp_path):
    verdict = health.probe(tmp_path / "chroma", EMBEDDED_COLLECTION)
    assert not verdict.ok and "missing" in verdict.reason


def test_a_garbled_store_is_not_ok(indexed):
    with open(data_dir(indexed) / "chroma" / "chroma.sqlite3", "r+b") as db:
        db.seek(100)
        db.write(os.urandom(4096))
    verdict = health.probe(data_dir(indexed) / "chroma", EMBEDDED_COLLECTION)
    assert not verdict.ok and verdict.reason


def test_a_probe_that_dies_is_a_crash_not_a_hang_or_an_ok(indexed):
    started = health.Probe(data_dir(indexed) / "chroma", EMBEDDED_COLLECTION)
    os.kill(started._proc.pid, signal.SIGKILL)  # as a segfault in Chroma's native code ends it
    verdict = started.result()
    assert not verdict.ok and verdict.reason == "opening the store crashed (signal 9)"


def test_every_probe_of_a_process_forks_from_one_server_that_holds_chromadb(indexed):
    chroma = data_dir(indexed) / "chroma"
    assert health.probe(chroma, EMBEDDED_COLLECTION).ok
    server = multiprocessing.forkserver._forkserver._forkserver_pid
    assert health.probe(chroma, EMBEDDED_COLLECTION).ok
    assert multiprocessing.forkserver._forkserver._forkserver_pid == server
    with open(f"/proc/{server}/cmdline", "rb") as cmdline:
        assert b"chromadb" in cmdline.read(), "the server imports chromadb before it forks"
