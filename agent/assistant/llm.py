"""Ollama, set up explicitly (context window, temperature, timeouts, keep-alive are ours,
not the client's defaults), the check before the first question, and plain-words
explanations of the ways a running request fails."""

from __future__ import annotations

import asyncio
import ssl
from functools import lru_cache
from typing import Any

from codeagent.errors import LLMUnavailable, ModelNotPulled
from codeagent.settings import Settings

ANSWER_TOKENS = 1024
"""Most tokens one reply may take (num_predict); kept free in the context window."""

# codellama writes the tool's result itself unless stopped; the real one comes from us.
STOP = ["\nObservation:"]


def make_llm(settings: Settings, native: bool = False) -> Any:
    """A client per question (its async connection pool belongs to the question's event
    loop), sharing one SSL context: building one loads the CA bundle, about 20 ms.
    `native`: the model calls tools through Ollama's API (no ReAct stop sequence)."""
    import ollama
    from llama_index.llms.ollama import Ollama

    timeout = float(settings.request_timeout)
    options: dict[str, Any] = {"num_predict": ANSWER_TOKENS}
    if settings.llm_seed is not None:
        options["seed"] = settings.llm_seed
    if not native:
        options["stop"] = STOP
    return Ollama(model=settings.llm_model, base_url=settings.ollama_host,
                  request_timeout=timeout, context_window=settings.context_window,
                  temperature=settings.temperature, keep_alive=settings.keep_alive,
                  is_function_calling_model=native, additional_kwargs=options,
                  client=ollama.Client(settings.ollama_host, timeout=timeout,
                                       verify=_ssl_context()),
                  async_client=ollama.AsyncClient(settings.ollama_host, timeout=timeout,
                                                  verify=_ssl_context()))


async def reply_within(llm: Any, messages: list[Any], seconds: float,
                       format: Any = None) -> tuple[str, dict[str, Any]]:
    """The model's reply as far as it got in `seconds`, and the server's last chunk (with
    the token counts only if it finished). Streamed, so a reply cut at the deadline keeps
    what it wrote: a 1.5B model on a CPU once wrote 1024 tokens (158 s) into a last answer
    asked with 90 s left, and the whole answer was lost to the tools' summary."""
    got: dict[str, Any] = {"text": "", "raw": {}}

    async def read() -> None:
        async for chunk in await llm.astream_chat(messages, format=format):
            got["text"] = chunk.message.content or ""
            got["raw"] = chunk.raw if isinstance(chunk.raw, dict) else {}

    try:
        await asyncio.wait_for(read(), max(seconds, 0.0))
    except asyncio.TimeoutError:
        pass
    return got["text"], got["raw"]


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def check_ollama(settings: Settings, timeout: float = 5.0) -> list[str]:
    """The models Ollama has; LLMUnavailable (with the fix) when it is not reachable or
    the configured model is not among them."""
    import httpx

    host = settings.ollama_host
    try:
        reply = httpx.get(f"{host}/api/tags", timeout=timeout)
        reply.raise_for_status()
        models = [m.get("name") or m.get("model") for m in reply.json().get("models", [])]
    except (httpx.HTTPError, ValueError) as exc:
        raise LLMUnavailable(f"Ollama is not reachable at {host} ({type(exc).__name__})",
                             "start it with `ollama serve`, or point OLLAMA_HOST (or "
                             "--ollama-host) at where it runs") from None
    if not has_model(models, settings.llm_model):
        pulled = ", ".join(sorted(filter(None, models))) or "none"
        raise ModelNotPulled(settings.llm_model,
                             f"the model '{settings.llm_model}' is not pulled in Ollama at {host}",
                             f"run `ollama pull {settings.llm_model}` (pulled now: {pulled}), "
                             "or choose one with --llm-model")
    return models


def capabilities(settings: Settings, timeout: float = 5.0) -> set[str]:
    """What Ollama says the model can do (/api/show: "completion", "tools", ...); empty when
    it does not say (an old Ollama), which counts as no tool calling."""
    import httpx

    try:
        reply = httpx.post(f"{settings.ollama_host}/api/show",
                           json={"model": settings.llm_model}, timeout=timeout)
        reply.raise_for_status()
        return set(reply.json().get("capabilities") or [])
    except (httpx.HTTPError, ValueError):
        return set()


def choose_protocol(settings: Settings, model_capabilities: set[str]) -> str:
    """"react" or "native" for this model. auto is native tool calls for a model whose
    /api/show lists "tools", and the ReAct text protocol for any other (codellama has no
    tool calling in Ollama). On qwen2.5-coder:1.5b, on today's code, native calls were
    measured at least as right as ReAct, at half the time, with no question left unfinished
    (bench/README.md, runs Q-T: file Acc@1 over two seeds, s/task p50); on the code of
    2026-12-01 they were far worse, so this is re-measured when the agent changes."""
    wanted = settings.agent_protocol
    if wanted == "native" and "tools" not in model_capabilities:
        raise LLMUnavailable(f"the model '{settings.llm_model}' has no tool calling in Ollama "
                             "(its /api/show lists no 'tools' capability)",
                             "use --agent-protocol react (or auto), or a model with tools")
    if wanted == "auto":
        return "native" if "tools" in model_capabilities else "react"
    return wanted


def has_model(models: list[str], wanted: str) -> bool:
    wanted = wanted if ":" in wanted else f"{wanted}:latest"
    return wanted in {m if ":" in m else f"{m}:latest" for m in models if m}


def explain_llm_error(exc: BaseException, settings: Settings) -> LLMUnavailable | None:
    """What went wrong talking to Ollama mid-question, or None if `exc` is not about that."""
    import httpx

    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if name == "ConnectionError" or isinstance(exc, httpx.ConnectError):
        return LLMUnavailable(f"Ollama stopped answering at {settings.ollama_host}",
                              "check that `ollama serve` is running")
    if status == 404:
        return LLMUnavailable(f"Ollama does not have the model '{settings.llm_model}'",
                              f"run `ollama pull {settings.llm_model}`")
    if isinstance(exc, httpx.TimeoutException):
        return LLMUnavailable(f"Ollama did not answer within {settings.request_timeout} s",
                              "a large model on a CPU is slow: raise request_timeout, or use "
                              "a smaller model with --llm-model")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return LLMUnavailable("the connection to Ollama broke in the middle of a reply",
                              "ask again; if it keeps happening, check Ollama's log")
    if name == "ResponseError":
        return LLMUnavailable(f"Ollama refused the request: {exc}",
                              "check Ollama's log; the model may be too large for memory")
    return None
