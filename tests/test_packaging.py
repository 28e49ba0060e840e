"""The wheel a user installs holds every module, prompt and tree-sitter query, and not the
test doubles: built from a clean copy of the checkout, as `pip install .` builds it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = {"testing"}  # agent/testing: the fake Ollama, for tests and benchmarks only


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    source = tmp_path_factory.mktemp("src") / "codeagent"
    # A clean copy: stale build/ and *.egg-info directories would leak files into the wheel.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".codeagent"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(source)],
                   check=True, capture_output=True, timeout=300)
    [built] = out.glob("codeagent-*.whl")
    return zipfile.ZipFile(built)


def expected_files() -> set[str]:
    files = set()
    for path in (ROOT / "agent").rglob("*"):
        rel = path.relative_to(ROOT / "agent")
        if rel.parts[0] in LEFT_OUT or "__pycache__" in rel.parts:
            continue
        if path.suffix in (".py", ".scm"):
            files.add(f"codeagent/{rel.as_posix()}")
    files |= {f"codeagent/tools/{p.name}" for p in (ROOT / "tools").glob("*.py")}
    files |= {f"codeagent/prompts/{p.name}" for p in (ROOT / "prompts").glob("*.md")}
    files.add("codeagent/prompts/__init__.py")
    return files


def test_every_module_prompt_and_query_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    expected = expected_files()
    assert {f for f in expected if f.endswith(".md")}, "no prompt found to check"
    assert {f for f in expected if f.endswith(".scm")}, "no query found to check"
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"


def test_every_subpackage_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    rooms = [p.name for p in (ROOT / "agent").iterdir() if (p / "__init__.py").is_file()]
    assert len(rooms) >= 6
    for name in rooms:
        if name not in LEFT_OUT:
            assert f"codeagent/{name}/__init__.py" in names


def test_the_test_doubles_are_not_shipped(wheel):
    assert not [n for n in wheel.namelist() if n.startswith("codeagent/testing/")]


def test_the_console_script_points_at_the_cli(wheel):
    [entry_points] = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "codeagent = codeagent.cli.main:main" in text


def test_the_install_brings_ripgrep_on_this_machine(wheel):
    """A Quick-start install gets a working rg in its environment: ripgrep is a dependency
    (its wheel carries the binary), for this machine's platform."""
    import os

    from packaging.requirements import Requirement

    from codeagent.executables import find_executable

    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    required = [Requirement(line.split(":", 1)[1].strip())
                for line in wheel.read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    [ripgrep] = [r for r in required if r.name == "ripgrep"]
    assert "extra" not in str(ripgrep.marker), "ripgrep only in an extra: not installed"
    if ripgrep.marker is not None and not ripgrep.marker.evaluate({"extra": ""}):
        pytest.skip("no ripgrep wheel for this platform: grep uses its Python engine")
    rg = find_executable("rg")
    assert rg is not None and os.path.dirname(rg) == os.path.dirname(sys.executable)
    done = subprocess.run([rg, "--version"], capture_output=True, text=True, timeout=30)
    [pinned] = ripgrep.specifier
    assert done.returncode == 0 and done.stdout.startswith(f"ripgrep {pinned.version}")
