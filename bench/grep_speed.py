"""grep tool vs ripgrep: what the model pays for one grep, over what bare rg takes.

    python bench/grep_speed.py --repo /path/to/materialized/repo [--repeat 15]
        [--literal NAME ...] [--regex PATTERN ...]

For each pattern, alternating the two in one loop so that both see the same machine:
- tool: `bind(grep, ctx)(pattern=...)` as the model calls it (the walk with the ignore and
  secret rules, both rg passes, Python's share, formatting to the token budget), in a
  ToolContext that has already answered once (a session). The first call of a fresh
  context, which also sniffs every file, is reported apart as `tool_first_call_ms`;
- rg: `rg --no-config --ignore-case [--fixed-strings] PATTERN .` in the repository, output
  captured: the same matching work (the tool is case-insensitive, literal unless asked);
- walk: `walk(rules)` alone, the share of the tool that belongs to the file rules.
Prints medians and the ratio tool / rg (target <= 1.5) as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from codeagent.executables import find_executable
from codeagent.index.walker import walk
from codeagent.settings import load_settings
from codeagent.tools import ToolContext, bind
from codeagent.tools.grep import grep


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def measure(repo: Path, pattern: str, regex: bool, repeat: int) -> dict:
    settings = load_settings(repo, {}, environ={})
    first_ms, _ = timed(lambda: bind(grep, ToolContext(repo, settings))(pattern=pattern,
                                                                         regex=regex))
    ctx = ToolContext(repo, settings)
    tool = bind(grep, ctx)
    header = tool(pattern=pattern, regex=regex).splitlines()[0]
    rg = [find_executable("rg"), "--no-config", "--ignore-case", *([] if regex else ["--fixed-strings"]),
          "-e", pattern, "."]
    tool_ms, rg_ms, walk_ms = [], [], []
    for _ in range(repeat):
        tool_ms.append(timed(lambda: tool(pattern=pattern, regex=regex))[0])
        rg_ms.append(timed(lambda: subprocess.run(rg, cwd=repo, capture_output=True,
                                                  stdin=subprocess.DEVNULL))[0])
        walk_ms.append(timed(lambda: walk(ctx.rules))[0])
    tool_median, rg_median = statistics.median(tool_ms), statistics.median(rg_ms)
    walk_median = statistics.median(walk_ms)
    return {
        "pattern": pattern, "regex": regex, "result": header,
        "tool_ms": round(tool_median, 1), "tool_first_call_ms": round(first_ms, 1),
        "rg_ms": round(rg_median, 1), "walk_ms": round(walk_median, 1),
        "ratio": round(tool_median / rg_median, 2),
        "ratio_without_walk": round((tool_median - walk_median) / rg_median, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, required=True, help="a materialized repository")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--literal", action="append", help="literal patterns (repeatable)")
    parser.add_argument("--regex", action="append", help="regex patterns (repeatable)")
    args = parser.parse_args()
    repo = args.repo.resolve()
    literals = args.literal or ["__version__", "return"]
    regexes = args.regex or [r"def \w+\(self"]
    version = subprocess.run([find_executable("rg"), "--version"], capture_output=True, text=True).stdout
    report = {
        "repo": str(repo),
        "files_searched": len(walk(ToolContext(repo, load_settings(repo, {}, environ={}))
                                   .rules).files),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "ripgrep": version.splitlines()[0] if version else None,
        "repeat": args.repeat,
        "results": [measure(repo, p, False, args.repeat) for p in literals]
        + [measure(repo, p, True, args.repeat) for p in regexes],
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
