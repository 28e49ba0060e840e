"""Agent overhead: the time a ReAct step spends outside the LLM (tools, prompt building,
stream parsing, the workflow), and the prompt each step sends.

    python bench/agent_overhead.py [--questions 20] [--piece-chars 4] [--profile]

The fixture repository of the tests (tests/support.py) is built in a scratch directory and
indexed with the bundled MiniLM. Each question runs through `Session.ask` against the fake
Ollama (a real HTTP server on loopback that answers at once), scripted as five tool steps
(semantic_search, grep, read_file, find_symbol, list_files) and an answer. The fake streams
each reply in pieces of --piece-chars characters; a real Ollama streams about one token
(~4 characters) per chunk, hence the default.

Per tool step, from `Answer.steps`: wall = llm_ms + ms (the model phase as the agent sees
it, then the tool). Three clocks split it:
  - http wait: time the Ollama client spent awaiting the request and each streamed chunk
    (the client's `chat` wrapped; what a real model's generation replaces);
  - between chunks: time the agent spent on each chunk before asking for the next one
    (LlamaIndex's per-chunk response objects, the ReAct stream parsing, our events);
  - server: the fake server's own time per request (its handler, timed).
Outside HTTP = wall - http wait: the overhead a real model would add nothing to.
Prompt tokens are the fake server's estimate (characters of all messages / 4), the prompt
characters are counted from the requests the server received.

The fake server's sockets have TCP_NODELAY, as a real Ollama's have (Go's net/http sets
it); --keep-nagle turns it off to show the difference: without it, Nagle's algorithm holds the first streamed chunk until the client's
delayed ACK, about 40 ms per request that no real server costs (--keep-nagle shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WARMUP = 2  # questions run first and not counted: imports, grammars, BM25 and Chroma warm up

# One question per concept of the fixture repository, each with arguments that find it.
SPECS = [
    ("How are HTTP redirects followed and limited?", "follow HTTP redirects", "MAX_REDIRECTS",
     "net/redirects.py", 17, "resolve_redirects", "net/"),
    ("How does the cache evict entries?", "evict the least recently used entry", "capacity",
     "storage/cache.go", 1, "Put", "storage/"),
    ("How are passwords hashed?", "hash a password with a salt", "rounds", "auth/password.rs",
     1, "hash_password", "auth/"),
    ("How are prices formatted for display?", "format money amounts", "toFixed",
     "web/format.js", 1, "formatPrice", "web/"),
]


def replies(spec: tuple) -> list[str]:
    question, query, pattern, path, start, symbol, glob = spec
    calls = [("semantic_search", {"query": query, "k": 5}), ("grep", {"pattern": pattern}),
             ("read_file", {"path": path, "start_line": start}), ("find_symbol", {"name": symbol}),
             ("list_files", {"path_glob": glob})]
    out = [f"Thought: I need to look with {tool}.\nAction: {tool}\nAction Input: "
           f"{json.dumps(arguments)}" for tool, arguments in calls]
    out.append(f"Thought: I can answer now.\nAnswer: {symbol} does it, in {path}:{start}-"
               f"{start + 5}; the search, grep and listing agree ({path}:{start}).")
    return out


class Clocks:
    """Client-side timing of every /api/chat exchange, and the fake server's own time."""

    def __init__(self) -> None:
        self.calls: list[dict[str, float]] = []
        self.server_ms: list[float] = []

    def install(self, nodelay: bool) -> None:
        import ollama

        from codeagent.testing import fake_ollama

        fake_ollama._Handler.disable_nagle_algorithm = nodelay

        chat, handle, clocks = ollama.AsyncClient.chat, fake_ollama._Handler.do_POST, self

        async def timed_chat(client: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = await chat(client, *args, **kwargs)
            if not kwargs.get("stream"):
                clocks.calls.append({"wait": _ms(started), "between": 0.0, "chunks": 1})
                return result
            return clocks._timed_stream(result, _ms(started))

        def timed_handle(handler: Any) -> None:
            started = time.perf_counter()
            try:
                handle(handler)
            finally:
                if handler.path == "/api/chat":
                    clocks.server_ms.append(_ms(started))

        ollama.AsyncClient.chat = timed_chat
        fake_ollama._Handler.do_POST = timed_handle

    async def _timed_stream(self, stream: Any, waited: float) -> Any:
        record = {"wait": waited, "between": 0.0, "chunks": 0}
        self.calls.append(record)
        iterator = stream.__aiter__()
        while True:
            asked = time.perf_counter()
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                record["wait"] += _ms(asked)
                return
            got = time.perf_counter()
            record["wait"] += _ms(asked)
            record["chunks"] += 1
            yield chunk
            record["between"] += _ms(got)  # the consumer's time on this chunk


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(statistics.median(ordered), 1), "p95": round(pick(0.95), 1)}


def run(questions: int, piece_chars: int, profile: bool, nodelay: bool) -> dict[str, Any]:
    sys.path.insert(0, str(HERE.parent / "tests"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from codeagent.assistant.session import Session
    from codeagent.index.embedding import load_embedding
    from codeagent.index.run import run_index
    from codeagent.settings import load_settings
    from codeagent.testing.fake_ollama import FakeOllama, scripted
    from support import make_repo

    clocks = Clocks()
    clocks.install(nodelay)
    embedding = load_embedding(MODEL, "cpu", 32)
    with tempfile.TemporaryDirectory() as scratch:
        root = make_repo(Path(scratch) / "repo")
        run_index(root, load_settings(root, environ={}), embedding=embedding)
        total = WARMUP + questions
        specs = [SPECS[n % len(SPECS)] for n in range(total)]
        script = [reply for spec in specs for reply in replies(spec)]
        with FakeOllama(scripted(*script), piece_chars=piece_chars) as server:
            # The scripted steps are all the model's: no search is made before them.
            session = Session(root, load_settings(root, {"ollama_host": server.url,
                                                         "first_search": False},
                                                  environ={}), embedding=embedding)
            profiler = None
            answers = []
            for n, spec in enumerate(specs):
                if n == WARMUP and profile:
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
                session.reset()  # each question alone: comparable prompts, no growing history
                answers.append(session.ask(spec[0]))
            if profiler is not None:
                profiler.disable()
            session.close()
            requests = list(server.requests)
    result = summarize(answers[WARMUP:], clocks, requests, WARMUP, profiler)
    result.update(piece_chars=piece_chars, tcp_nodelay=nodelay)
    return result


def summarize(answers: list[Any], clocks: Clocks, requests: list[dict], skip: int,
              profiler: Any) -> dict[str, Any]:
    per_question = len(replies(SPECS[0]))
    calls = clocks.calls[skip * per_question:]
    server = clocks.server_ms[skip * per_question:]
    requests = requests[skip * per_question:]
    wall, outside, outside_server, tools, waits, between, llm = [], [], [], [], [], [], []
    tokens, chars, tool_by_tool, outside_by_tool = [], [], {}, {}
    question_overhead, answer_outside = [], []
    for q, answer in enumerate(answers):
        assert answer.status == "ok" and len(answer.steps) == per_question - 1, answer.to_json()
        mine = range(q * per_question, (q + 1) * per_question)
        for step, i in zip(answer.steps, mine):
            step_wall = step.llm_ms + step.ms
            wall.append(step_wall)
            outside.append(step_wall - calls[i]["wait"])
            outside_server.append(step_wall - server[i])
            tools.append(step.ms)
            llm.append(step.llm_ms)
            waits.append(calls[i]["wait"])
            between.append(calls[i]["between"])
            tokens.append(step.prompt_tokens or 0)
            chars.append(sum(len(m.get("content") or "") for m in requests[i]["messages"]))
            tool_by_tool.setdefault(step.tool, []).append(step.ms)
            outside_by_tool.setdefault(step.tool, []).append(outside[-1])
        http = sum(calls[i]["wait"] for i in mine)
        question_overhead.append((answer.timings["total_ms"] - http) / per_question)
        last = mine[-1]
        answer_phase = answer.timings["total_ms"] - sum(s.llm_ms + s.ms for s in answer.steps)
        answer_outside.append(answer_phase - calls[last]["wait"])
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}",
        "questions": len(answers), "tool_steps_per_question": per_question - 1,
        "llm_calls_per_question": per_question,
        "chunks_per_reply_p50": statistics.median(c["chunks"] for c in calls),
        "tool_step_ms": {
            "wall (llm_ms + ms)": percentiles(wall),
            "outside HTTP (wall - http wait)": percentiles(outside),
            "wall - fake server time": percentiles(outside_server),
            "tool (ms)": percentiles(tools),
            "model phase (llm_ms)": percentiles(llm),
            "http wait": percentiles(waits),
            "agent time between chunks": percentiles(between),
            "fake server": percentiles(server),
        },
        "tool_ms_by_tool": {tool: percentiles(v) for tool, v in tool_by_tool.items()},
        "outside_http_ms_by_tool": {tool: percentiles(v) for tool, v in outside_by_tool.items()},
        "answer_step_outside_http_ms": percentiles(answer_outside),
        "question_outside_http_per_llm_call_ms": percentiles(question_overhead),
        "prompt_tokens_per_step (fake server: chars/4)": percentiles(tokens),
        "prompt_chars_per_step": percentiles(chars),
    }
    if profiler is not None:
        result["profile"] = top_functions(profiler)
    return result


def top_functions(profiler: Any, n: int = 25) -> list[str]:
    import io
    import pstats

    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(n)
    return [line for line in stream.getvalue().split("\n") if line.strip()][-n - 1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--piece-chars", type=int, default=4,
                        help="characters per streamed chunk (a real Ollama: ~1 token, ~4)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the measured questions; top functions by own time")
    parser.add_argument("--keep-nagle", action="store_true",
                        help="leave the fake server's sockets as they are (no TCP_NODELAY)")
    args = parser.parse_args()
    print(json.dumps(run(args.questions, args.piece_chars, args.profile, not args.keep_nagle),
                     indent=2))


if __name__ == "__main__":
    main()
