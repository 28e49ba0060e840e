"""A fake Ollama: a real HTTP server on loopback that speaks Ollama's API and answers chat
from a scripted policy. Tests and benchmarks drive the real Ollama client against it.

    with FakeOllama(scripted("Thought: ...\\nAction: grep\\nAction Input: {...}",
                             "Thought: done\\nAnswer: ...")) as server:
        settings.ollama_host = server.url

It implements what codeagent uses: POST /api/chat (streamed as chunked NDJSON, or one JSON
object), GET /api/tags, POST /api/show (with the model's capabilities), GET /api/version.
A reply can carry native tool calls (`Reply(tool_calls=[call("grep", pattern="x")])`),
sent as Ollama sends them: the text first, then one chunk with `message.tool_calls`, then
the final chunk. A reply can also misbehave as a real server does: answer late (a hang),
stop mid-stream (a cut connection), write slowly, or fail with an HTTP error.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

DEFAULT_MODEL = "codellama:34b"


@dataclass
class Reply:
    """One answer to /api/chat."""

    text: str = ""
    delay: float = 0.0
    """Seconds to wait before answering at all (a server that hangs)."""
    piece_delay: float = 0.0
    """Seconds between streamed pieces: a model that writes slowly (a small one on a CPU
    writes a few tokens a second, and may go on to the token limit)."""
    cut_after: int | None = None
    """Stream only this many pieces, then drop the connection mid-body."""
    status: int = 200
    error: str | None = None
    """With a status >= 400, Ollama's {"error": ...} body."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Native tool calls, as Ollama's message.tool_calls (see `call`)."""


def call(name: str, **arguments: Any) -> dict[str, Any]:
    """One native tool call as Ollama returns it."""
    return {"function": {"name": name, "arguments": arguments}}


Policy = Callable[[dict[str, Any]], "Reply | str"]
"""Given the /api/chat request body, the reply (a plain string is a normal answer)."""


def scripted(*replies: Reply | str) -> Policy:
    """Replies in order, one per chat request; a request past the script is an HTTP 500."""
    queue = list(replies)
    lock = threading.Lock()

    def policy(request: dict[str, Any]) -> Reply | str:
        with lock:
            if not queue:
                return Reply(status=500, error="the fake server's script has no more replies")
            return queue.pop(0)

    return policy


@dataclass
class FakeOllama:
    policy: Policy
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    capabilities: tuple[str, ...] = ("completion",)
    """What /api/show says the models can do; add "tools" for native tool calling."""
    context_length: int = 16384
    piece_chars: int = 12
    """Characters per streamed chunk: replies arrive in pieces, as a model's tokens do."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every /api/chat request body received, in order."""
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeOllama":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeOllama":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def has_model(self, name: str) -> bool:
        wanted = name if ":" in name else f"{name}:latest"
        return wanted in self.models


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timed out) leaves the reply nowhere to go: expected here.
        pass


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOllama
    protocol_version = "HTTP/1.1"
    # As Ollama's own server: without it, Nagle holds each reply's first chunk until the
    # client's delayed ACK, about 40 ms a request that no real server adds.
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:  # quiet: tests read their own output
        pass

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            self._json(200, {"models": [_model_entry(m) for m in self.fake.models]})
        elif self.path == "/api/version":
            self._json(200, {"version": "0.12.0-fake"})
        else:
            self._json(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/api/show":
            if not self.fake.has_model(body.get("model", "")):
                return self._json(404, {"error": f"model '{body.get('model')}' not found"})
            return self._json(200, {"details": {"family": "llama", "format": "gguf"},
                                    "model_info": {"llama.context_length":
                                                   self.fake.context_length},
                                    "capabilities": list(self.fake.capabilities)})
        if self.path != "/api/chat":
            return self._json(404, {"error": f"no route {self.path}"})
        self.fake.requests.append(body)
        model = body.get("model", "")
        if not self.fake.has_model(model):
            return self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
        reply = self.fake.policy(body)
        reply = Reply(text=reply) if isinstance(reply, str) else reply
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status >= 400:
            return self._json(reply.status, {"error": reply.error or "fake failure"})
        prompt_tokens = sum(len(m.get("content") or "") for m in body.get("messages", [])) // 4
        if body.get("stream", True):
            self._stream(model, reply, prompt_tokens)
        else:  # written as slowly, sent at once
            time.sleep(reply.piece_delay * len(list(_pieces(reply.text, self.fake.piece_chars))))
            final = _chunk(model, reply.text, True, prompt_tokens, len(reply.text) // 4)
            if reply.tool_calls:
                final["message"]["tool_calls"] = reply.tool_calls
            self._json(200, final)

    def _stream(self, model: str, reply: Reply, prompt_tokens: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for n, piece in enumerate(_pieces(reply.text, self.fake.piece_chars)):
            if reply.cut_after is not None and n >= reply.cut_after:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # mid-body: the client sees a broken stream
                return
            if n and reply.piece_delay:
                time.sleep(reply.piece_delay)
            self._write_chunk(_chunk(model, piece, False))
        if reply.tool_calls:
            calls = _chunk(model, "", False)
            calls["message"]["tool_calls"] = reply.tool_calls
            self._write_chunk(calls)
        self._write_chunk(_chunk(model, "", True, prompt_tokens, len(reply.text) // 4))
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: dict[str, Any]) -> None:
        line = json.dumps(data).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _pieces(text: str, size: int) -> Iterator[str]:
    for i in range(0, len(text), size):
        yield text[i:i + size]


def _chunk(model: str, content: str, done: bool, prompt_tokens: int = 0,
           eval_tokens: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {"model": model, "created_at": "2026-11-25T00:00:00Z",
                            "message": {"role": "assistant", "content": content}, "done": done}
    if done:
        data.update(done_reason="stop", total_duration=1_000_000, load_duration=0,
                    prompt_eval_count=prompt_tokens, prompt_eval_duration=500_000,
                    eval_count=eval_tokens, eval_duration=500_000)
    return data


def _model_entry(name: str) -> dict[str, Any]:
    return {"name": name, "model": name, "modified_at": "2026-11-25T00:00:00Z",
            "size": 19_000_000_000, "digest": "0" * 64,
            "details": {"format": "gguf", "family": "llama", "parameter_size": "34B",
                        "quantization_level": "Q4_0"}}
