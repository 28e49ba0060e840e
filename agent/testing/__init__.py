"""Test doubles that tests and benchmarks share: a fake Ollama server on loopback."""
