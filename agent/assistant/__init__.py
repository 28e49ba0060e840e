"""A question -> the agent (or one RAG answer) -> a checked answer."""
