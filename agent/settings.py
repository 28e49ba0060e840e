"""One settings object: defaults < `.codeagent.toml` in the repo < `CODEAGENT_*` env < flags.

Every field can be set in all three places under the same name (`embed_model` in the TOML
file, `CODEAGENT_EMBED_MODEL` in the environment, `--embed-model` where a command has the
flag). `Settings.sources` records where each value came from, so that "was this chosen by
the user?" has an answer (the embedding fallback and `codeagent config` need it).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from codeagent.errors import UsageError

DEFAULT_EMBED_MODEL = "sentence-transformers/all-mpnet-base-v2"
CONFIG_FILE = ".codeagent.toml"
ENV_PREFIX = "CODEAGENT_"
CHOICES = {"agent_protocol": ("auto", "react", "native"),
           "embed_backend": ("auto", "torch", "onnx", "onnx-int8")}
"""Settings whose value must be one of a few words."""
MINIMUMS = {"max_file_bytes": 1, "window_lines": 1, "search_k": 1,
            "observation_tokens": 1, "context_window": 1, "request_timeout": 1,
            "max_steps": 1, "question_seconds": 1}
"""Numbers for which 0 makes no sense (a file of 0 bytes, a 0-second timeout); every other
number only has to be >= 0 (for embed_batch_size, 0 means the device's own batch)."""


@dataclass
class Settings:
    """Everything codeagent can be told. Field docstrings are the documentation."""

    embed_model: str = DEFAULT_EMBED_MODEL
    """Hugging Face sentence-transformers model (hub name or local directory) for embeddings."""

    embed_device: str = "auto"
    """Where to embed: auto (cuda, then mps, then cpu), cuda, mps or cpu."""

    embed_batch_size: int = 0
    """Chunks per forward pass of the embedding model; 0 leaves it to the device: 4 on a CPU
    (a transformer's activations for a few chunks stay in the CPU's cache: 1.2-1.5x the
    chunks/s of 32 here, bench/README.md), 32 on a GPU."""

    embed_backend: str = "auto"
    """What runs the embedding model: torch, onnx (ONNX Runtime, fp32), onnx-int8, or auto
    (on a CPU onnx-int8 for a model measured to rank as fp32 does, else onnx where its vectors
    match torch's, else torch; on a GPU torch, in fp16 on CUDA). A new index records it."""

    max_file_bytes: int = 1_000_000
    """Files larger than this are skipped (reported as 'too large')."""

    ignore_patterns: list[str] = field(default_factory=list)
    """Extra gitignore-style patterns to leave out, on top of .gitignore and .codeagentignore."""

    secret_patterns: list[str] = field(default_factory=list)
    """Extra gitignore-style patterns of secret files, never indexed or shown."""

    window_lines: int = 40
    """Lines per chunk for text formats and files tree-sitter cannot parse."""

    window_overlap: int = 10
    """Lines shared by consecutive line-window chunks."""

    chroma_url: str | None = None
    """A Chroma server (http://host:port, started with `chroma run`) instead of the embedded store."""

    search_k: int = 10
    """Hits returned by `codeagent search` when -k is not given."""

    observation_tokens: int = 1500
    """Most tokens one tool result may take in the model's context (output is capped to it)."""

    rerank_model: str | None = None
    """Cross-encoder that reranks multi-query results (hub name or directory); off when unset."""

    ollama_host: str = "http://127.0.0.1:11434"
    """Ollama server for the agent commands; OLLAMA_HOST is honored."""

    llm_model: str = "codellama:34b"
    """Ollama model that drives the agent."""

    context_window: int = 8192
    """Tokens of context the model gets (Ollama's num_ctx); observations are trimmed to fit."""

    temperature: float = 0.1
    """Sampling temperature: low, so tool calls follow the protocol."""

    llm_seed: int | None = None
    """Sampling seed for the model (Ollama's seed option): the same question gets the same
    answer, for benchmarks and bug reports; unset, Ollama picks one per request."""

    request_timeout: int = 180
    """Seconds one Ollama request may take (a 34B model on a CPU is slow)."""

    keep_alive: str = "30m"
    """How long Ollama keeps the model loaded after a request."""

    max_steps: int = 12
    """Tool calls per question; at the limit the agent answers with what it found."""

    question_seconds: int = 600
    """Wall time per question; at the limit the agent answers with what it found."""

    max_parse_failures: int = 3
    """Malformed replies in a row before the agent stops retrying."""

    agent_protocol: str = "auto"
    """How the agent calls tools: react (the text protocol, any model), native (Ollama's tool
    calls, for models with the 'tools' capability) or auto (react: measured better)."""

    first_search: bool = True
    """Start each question with a multi_query_search for it, shown as the first observation."""

    citation_retries: int = 1
    """Times the agent is shown the citation check's verdict and may correct its answer."""

    locate_answer: bool = True
    """An answer that still cites nothing checkable is asked once for the places it rests
    on, and the last answer of an agent at a limit is asked with its places: both picked
    from those the tools showed (JSON under Ollama's `format`)."""

    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Where each field's value came from: default, file, env or flag (not a setting)."""

    def explicit(self, name: str) -> bool:
        """True when the user chose this value (file, env or flag) rather than the default."""
        return self.sources.get(name, "default") != "default"


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings) if f.name != "sources"]


def load_settings(repo: Path | None, flags: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings for a repository; flags that are None were not given."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    settings.sources = {name: "default" for name in setting_names()}
    layers: list[tuple[str, dict[str, Any]]] = []
    if repo is not None:
        layers.append(("file", _read_config_file(repo / CONFIG_FILE)))
    layers.append(("env", _read_environment(environ)))
    layers.append(("flag", {k: v for k, v in (flags or {}).items() if v is not None}))
    where: dict[str, str] = {}
    for source, values in layers:
        for name, raw in values.items():
            where[name] = _where(name, source, repo, environ)
            setattr(settings, name, _coerce(name, raw, where[name]))
            settings.sources[name] = source
    if settings.window_overlap >= settings.window_lines:
        raise UsageError(
            f"setting 'window_overlap' ({settings.window_overlap}, from "
            f"{where.get('window_overlap', 'the default')}) must be less than 'window_lines' "
            f"({settings.window_lines}, from {where.get('window_lines', 'the default')})",
            "lower window_overlap or raise window_lines")
    settings.ollama_host = normalize_ollama_host(settings.ollama_host)
    return settings


def _where(name: str, source: str, repo: Path | None, environ: Mapping[str, str]) -> str:
    """Where a value came from, as the user would look for it."""
    if source == "file" and repo is not None:
        return str(repo / CONFIG_FILE)
    if source == "env":
        key = ENV_PREFIX + name.upper()
        return f"${key}" if key in environ or name != "ollama_host" else "$OLLAMA_HOST"
    return "--" + name.replace("_", "-")


def chroma_url_for(settings: Settings, recorded: str | None) -> str | None:
    """The Chroma server to use (None: embedded): the user's explicit choice, else wherever
    the index already lives, so forgetting --chroma-url once never moves an index."""
    if settings.explicit("chroma_url") or recorded is None:
        return settings.chroma_url
    return None if recorded == "embedded" else recorded


def normalize_ollama_host(host: str) -> str:
    """Accept what OLLAMA_HOST accepts ("0.0.0.0", "host:port", URLs) and return a URL."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    scheme, rest = host.split("://", 1)
    if ":" not in rest.rsplit("]", 1)[-1]:
        rest += ":11434"
    if rest.startswith("0.0.0.0"):
        rest = "127.0.0.1" + rest[len("0.0.0.0"):]
    return f"{scheme}://{rest}"


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", "fix or remove the file") from exc
    for name in data:
        _check_known(name, str(path))
    return data


def _read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if environ.get("OLLAMA_HOST"):
        values["ollama_host"] = environ["OLLAMA_HOST"]
    for key, raw in environ.items():
        if key.startswith(ENV_PREFIX) and raw != "":
            name = key[len(ENV_PREFIX):].lower()
            if name in setting_names():
                values[name] = raw
    return values


def _check_known(name: str, where: str) -> None:
    if name not in setting_names():
        close = difflib.get_close_matches(name, setting_names(), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "see `codeagent config` for the names"
        raise UsageError(f"unknown setting '{name}' in {where}", hint)


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Turn a TOML, environment or flag value into the field's type, or explain why not
    (`source`: where the value was given, for the message)."""
    default = getattr(Settings(), name)
    kind = type(default)
    if default is None and _annotation(name).startswith("int"):
        default, kind = 0, int  # an optional whole number: coerced like one
    try:
        if isinstance(default, list):
            if isinstance(raw, str):
                return [part.strip() for part in raw.split(",") if part.strip()]
            return [str(item) for item in raw]
        if isinstance(default, bool):
            if isinstance(raw, str):
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(raw)
            return bool(raw)
        if isinstance(default, float):
            value = float(raw)
            if value < 0:
                raise ValueError(raw)
            return value
        if isinstance(default, int):
            value = int(raw)
            if value < MINIMUMS.get(name, 0):
                raise ValueError(raw)
            return value
        if name in CHOICES:
            if str(raw) in CHOICES[name]:
                return str(raw)
            raise ValueError(raw)
        if default is None or kind is str:
            return str(raw) if raw is not None else None
    except (TypeError, ValueError):
        pass
    if name in CHOICES:
        raise UsageError(f"setting '{name}' from {source} has an invalid value: {raw!r}",
                         f"expected one of {', '.join(CHOICES[name])}")
    minimum = MINIMUMS.get(name, 0)
    expected = (f"a whole number >= {minimum}" if kind is int else "a number >= 0"
                if kind is float else "a " + kind.__name__)
    raise UsageError(f"setting '{name}' from {source} has an invalid value: {raw!r}",
                     f"expected {expected}")


def _annotation(name: str) -> str:
    return str(next(f.type for f in dataclasses.fields(Settings) if f.name == name))
