"""How much of each prompt the model server computed afresh, from the log of
`../shared/local_llm/serve.sh` (a line per request: prompt tokens, cached, new, seconds):
the requests that continued the previous prompt but reused less of it than it had.

    python bench/server_prefill.py SERVER.log [--from HH:MM:SS] [--to HH:MM:SS]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

LINE = re.compile(r"^(\d\d:\d\d:\d\d) chat \S+: prompt (\d+) tok \((\d+) cached, (\d+) new\) "
                  r"in ([\d.]+)s")
MARGIN = 50
"""Tokens of the previous prompt a continuation may fail to reuse (its last turn's end)."""


def requests(log: Path, start: str, end: str) -> list[tuple[str, int, int, int, float]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if (m := LINE.match(line)) and start <= m.group(1) <= end:
            found.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                          float(m.group(5))))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--from", dest="start", default="00:00:00")
    parser.add_argument("--to", dest="end", default="99:99:99")
    args = parser.parse_args()
    found = requests(args.log, args.start, args.end)
    prompt = sum(r[1] for r in found)
    new = sum(r[3] for r in found)
    print(f"{len(found)} requests; prompt tokens {prompt}; computed afresh {new} "
          f"({new / max(prompt, 1):.0%}); prefill {sum(r[4] for r in found):.0f} s")
    # A continuation is longer than the request before it; one that reused some of it but
    # not all began differently (a new question reuses next to nothing and is not one).
    restarted = [(a, b) for a, b in zip(found, found[1:])
                 if b[1] > a[1] and MARGIN < b[2] < a[1] - MARGIN]
    print(f"continuations that recomputed part of the previous prompt: {len(restarted)}, "
          f"{sum(a[1] - b[2] for a, b in restarted)} tokens")
    for a, b in restarted:
        print(f"  {b[0]}: prompt {b[1]}, reused {b[2]} of the previous {a[1]}, "
              f"prefill {b[4]:.0f} s")


if __name__ == "__main__":
    main()
