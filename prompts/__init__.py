"""Prompt templates: Markdown files in this package, filled by name.

Placeholders are Python format fields (`{question}`); literal braces are doubled (`{{`),
as in LlamaIndex's own templates. A placeholder without a value, or a value no placeholder
uses, is an error: either one means the template and its caller drifted apart, and the
model would silently get a prompt nobody wrote.
"""

from __future__ import annotations

import string
from importlib import resources
from typing import Any


class PromptError(ValueError):
    """A template that is missing, malformed, or does not fit the values given."""


def load_prompt(name: str, **variables: Any) -> str:
    """The template `prompts/<name>.md` with every `{placeholder}` filled from `variables`."""
    return load_template(name, set(variables)).format(**variables)


def load_template(name: str, fields: set[str]) -> str:
    """The template `prompts/<name>.md` unfilled, for a caller that formats it later (the
    ReAct header, which LlamaIndex fills with the tool list); its placeholders must be
    exactly `fields`."""
    try:
        template = resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"there is no prompt template '{name}' ({name}.md in "
                          f"{__name__})") from None
    try:
        found = {field for _, field, _, _ in string.Formatter().parse(template)
                 if field is not None}
    except ValueError as exc:  # a single brace: the author meant a literal one
        raise PromptError(f"prompt '{name}' is malformed ({exc}); write literal braces "
                          "as {{ and }}") from None
    odd = sorted(field for field in found if not field.isidentifier())
    if odd:
        raise PromptError(f"prompt '{name}' has placeholders other than plain names: {odd}")
    missing, unused = found - fields, fields - found
    if missing:
        raise PromptError(f"prompt '{name}' needs {', '.join(sorted(missing))}, which "
                          "were not given")
    if unused:
        raise PromptError(f"prompt '{name}' has no placeholder for "
                          f"{', '.join(sorted(unused))}")
    return template
