"""codeagent: a local, agentic code assistant (index, search, ask, review)."""

__version__ = "0.1.0"
