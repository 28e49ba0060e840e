"""The shape of the code, checked from the modules' own imports: rooms (subpackages of
agent/) that depend only on the rooms below them, no import cycle, no stray module at the
top, and no long module without a reason."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Installed, agent/ is `codeagent`, tools/ is `codeagent.tools`, prompts/ `codeagent.prompts`.
SOURCES = {"agent": "codeagent", "tools": "codeagent.tools", "prompts": "codeagent.prompts"}
BASE = {"codeagent", "codeagent.errors", "codeagent.settings", "codeagent.textfile",
        "codeagent.executables", "codeagent.prompts"}
# Lower numbers are lower layers; a module may import its own layer and those below.
LAYERS = {"index": 1, "retrieval": 2, "tools": 3, "assistant": 4, "review": 5,
          "evaluation": 5, "mcp_server": 6, "cli": 7}
LONG = 350
LONG_REASON = "Why this module is long:"


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in SOURCES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = modules()


def imports_of(name: str, path: Path) -> set[str]:
    """The codeagent modules `name` imports anywhere in it (lazy imports included), each
    resolved to the module itself (`from codeagent.index import walker` -> the walker)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target.startswith("codeagent") and target != name:
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def room(name: str) -> str | None:
    """The subpackage a module belongs to; None for the base modules."""
    if name in BASE:
        return None
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_graph_is_read_from_the_real_imports():
    # The checks below mean nothing on an empty or wrongly resolved graph.
    assert len(MODULES) > 50
    assert "codeagent.index.manifest" in GRAPH["codeagent.index.run"]
    assert "codeagent.tools.context" in GRAPH["codeagent.tools"]
    assert "codeagent.retrieval.semantic" in GRAPH["codeagent.tools.context"]  # a lazy import


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_point_down_only(name):
    mine = room(name)
    if name == "codeagent.__main__":
        return  # the entry point sits above everything
    wrong = []
    for target in GRAPH[name]:
        theirs = room(target)
        if theirs is None or theirs == mine:
            continue
        if mine is None:
            wrong.append(f"{target} (a base module imports a room)")
        elif mine == "testing" or theirs == "testing":
            wrong.append(f"{target} (the test doubles stand apart: base modules only)")
        elif LAYERS[theirs] >= LAYERS[mine]:
            wrong.append(f"{target} ({theirs} is not below {mine})")
    assert not wrong, f"{name} imports " + ", ".join(sorted(wrong))


def test_only_the_base_modules_sit_at_the_top_of_agent():
    top = sorted(path.stem for path in (ROOT / "agent").glob("*.py"))
    assert top == ["__init__", "__main__", "errors", "executables", "settings", "textfile"]
    rooms = sorted(p.name for p in (ROOT / "agent").iterdir()
                   if p.is_dir() and (p / "__init__.py").exists())
    assert rooms == sorted([*LAYERS.keys() - {"tools"}, "testing"])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_long_module_says_why(name):
    path = MODULES[name]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if lines > LONG:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert LONG_REASON in doc, (f"{path.relative_to(ROOT)} has {lines} lines: split it, "
                                    f"or say in its docstring '{LONG_REASON} ...'")


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "bench").glob("*.py")))
def test_a_benchmark_imports_only_what_the_package_has(script):
    """Benchmarks run by hand, not in CI: a rename in the package must not leave one
    importing a name that is gone (found once, on a run that had waited for hours)."""
    import importlib

    tree = ast.parse((ROOT / "bench" / script).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("codeagent"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(
                    f"{node.module}.{alias.name}") is not None, \
                    f"bench/{script}: {node.module} has no {alias.name}"
