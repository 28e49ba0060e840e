"""Which language a file is written in, and whether tree-sitter can parse it.

A language with a grammar is split on syntax (functions, classes); everything else that is
text (docs, configs, unknown extensions) is split into overlapping line windows.
"""

from __future__ import annotations

from pathlib import PurePosixPath

EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".php": "php",
    ".kt": "kotlin", ".kts": "kotlin",
    ".scala": "scala", ".sc": "scala",
    ".swift": "swift",
    ".sh": "bash", ".bash": "bash", ".zsh": "bash",
    ".lua": "lua",
    ".md": "markdown", ".markdown": "markdown",
    ".yml": "yaml", ".yaml": "yaml",
    ".toml": "toml",
    ".json": "json", ".jsonc": "json",
    ".rst": "rst",
    ".txt": "text", ".cfg": "text", ".ini": "text",
    ".html": "html", ".htm": "html",
    ".css": "css", ".scss": "css",
    ".sql": "sql",
}

FILENAMES: dict[str, str] = {
    "Makefile": "make", "GNUmakefile": "make", "Dockerfile": "dockerfile",
    "Rakefile": "ruby", "Gemfile": "ruby", "Vagrantfile": "ruby",
    "CMakeLists.txt": "text",
}

SHEBANGS: dict[str, str] = {
    "python": "python", "bash": "bash", "sh": "bash", "zsh": "bash",
    "ruby": "ruby", "node": "javascript",
}

# Language -> grammar name in tree-sitter-languages. Swift is missing from its 1.10 build
# (the shared library lacks the symbol), so Swift files get line windows.
GRAMMARS: dict[str, str] = {
    "python": "python", "javascript": "javascript", "typescript": "typescript",
    "tsx": "tsx", "go": "go", "rust": "rust", "java": "java", "c": "c", "cpp": "cpp",
    "csharp": "c_sharp", "ruby": "ruby", "php": "php", "kotlin": "kotlin",
    "scala": "scala", "bash": "bash", "lua": "lua",
}

# Formats split into line windows even where a grammar exists: their syntax trees have no
# functions to cut on, and prose reads better in whole paragraphs of lines.
TEXT_FORMATS = frozenset({
    "markdown", "yaml", "toml", "json", "rst", "text", "html", "css", "sql", "make",
    "dockerfile",
})


def detect_language(path: str, head: bytes = b"") -> str:
    """Language name for a repository path; `head` (first bytes) resolves shebang scripts."""
    name = PurePosixPath(path).name
    if name in FILENAMES:
        return FILENAMES[name]
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    if head.startswith(b"#!"):
        interpreter = head[2:].split(b"\n", 1)[0].decode("latin-1").split()
        if interpreter and interpreter[0].endswith("/env"):
            interpreter = [arg for arg in interpreter[1:] if arg[:1] != "-" and "=" not in arg]
        if interpreter:
            program = interpreter[0].rsplit("/", 1)[-1].rstrip("0123456789.")
            if program in SHEBANGS:
                return SHEBANGS[program]
    return "text"


def grammar_for(language: str) -> str | None:
    """tree-sitter grammar to split this language on, or None for line windows."""
    if language in TEXT_FORMATS:
        return None
    return GRAMMARS.get(language)
