"""Errors a user can act on. Each carries the exit code the CLI returns and a hint."""

from __future__ import annotations


class CodeagentError(Exception):
    """An error with a message for people and the fix, printed without a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  -> {self.hint}" if self.hint else self.message


class UsageError(CodeagentError):
    """Bad arguments or settings."""

    exit_code = 2


class IndexProblem(CodeagentError):
    """The index is missing, busy, damaged or was built with another model."""

    exit_code = 3


class IndexBusy(IndexProblem):
    """Another process holds the writer lock."""


class ModelMismatch(IndexProblem):
    """The index was built with another embedding model than the one asked for."""


class StoreUnavailable(IndexProblem):
    """The vector store (embedded Chroma or a Chroma server) cannot be opened or reached."""


class LLMUnavailable(CodeagentError):
    """Ollama is not reachable or the model is not pulled."""

    exit_code = 4


class ModelNotPulled(LLMUnavailable):
    """Ollama answers, but does not have the model."""

    def __init__(self, model: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.model = model


class EmbeddingUnavailable(CodeagentError):
    """The embedding model cannot be loaded."""

    exit_code = 5


EXIT_INCOMPLETE = 6
"""ask: answered, but a step or time limit was hit (the answer is best effort)."""
EXIT_SOME_FAILED = 7
"""run: some questions of the batch failed (each is recorded in the output)."""
EXIT_UNVERIFIED = 8
"""ask: answered, but its citations did not pass the check (invalid, unseen, or none)."""
EXIT_NOT_REVIEWED = 9
"""review --fail-on: no model judged the change, or some file of it (Ollama unreachable, a
reply without usable findings); not with --no-llm, where the impact alone is the answer."""
EXIT_INTERRUPTED = 130
