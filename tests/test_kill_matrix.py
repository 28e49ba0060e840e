"""The kill matrix (bench/kill_matrix.py): `codeagent index` killed with SIGKILL, SIGTERM and
SIGINT at every phase of a run, then run again, must end with an index that matches the
disk exactly; a store damaged between runs must be repaired or rebuilt, and said so.

The driver runs in its own process: it forks the CLI runs from a parent that never opened
a Chroma store, which this pytest process cannot promise. One run serves every test here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
from kill_matrix import DAMAGES  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    out = tmp_path_factory.mktemp("kill-matrix") / "summary.json"
    done = subprocess.run([sys.executable, str(BENCH / "kill_matrix.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=540)
    if not out.exists():  # the driver itself failed: its own traceback says why
        pytest.fail(f"kill_matrix.py exited {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def test_every_kill_at_every_phase_is_recovered_by_the_next_run(matrix):
    points = matrix["kill_points"]
    assert len(set(points)) == len(points) >= 20
    phases = {point.split("/")[1].split(":")[0] for point in points}
    assert {"embed", "journal", "upsert", "commit", "delete", "bm25", "touch", "meta", "probe",
            "quarantine", "reconcile", "store", "bm25_save"} <= phases
    assert matrix["kills"] == {"SIGKILL": len(points), "SIGTERM": len(points),
                               "SIGINT": len(points)}
    assert matrix["exit_codes"] == {"SIGKILL": {"-9": len(points)},
                                    "SIGTERM": {"130": len(points)},
                                    "SIGINT": {"130": len(points)}}
    # The recovery runs did clean up after the killed ones (the journal was exercised).
    assert any("cleaned up" in note for note in matrix["recovery"]["notes"])
    failures = [f"{c['scenario']}/{c['point']} {c['signal']}: {c['problems']}"
                for c in matrix["failures"]]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("modified", [False, True], ids=["as-is", "with-a-change"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_store_is_repaired_or_rebuilt_and_said_so(matrix, damage, modified):
    label = damage + " + a modified file" * modified
    [case] = [d for d in matrix["damage"] if d["damage"] == label]
    assert not case["problems"], "\n".join([f"{label}: exit {case['exit']}, said {case['said']}"]
                                           + case["problems"])
