"""Tag queries: every language with a grammar yields its definitions and references.

Each fixture under fixtures/languages holds a container (class, struct, module, ... where
the language has one) with a method, a top-level function, and a call of that function from
the method. The language comes from the file name, so detection is exercised too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codeagent.index import symbols
from codeagent.index.languages import GRAMMARS, detect_language

FIXTURES = Path(__file__).parent / "fixtures" / "languages"


# file -> (language, every definition as (qualified name, kind),
#          start lines of some of them, calls as (name, line), other references
#          as (name, kind, line)).
CASES = {
    "sample.py": (
        "python",
        {("Greeter", "class"), ("Greeter.__init__", "method"), ("Greeter.greet", "method"),
         ("Greeter.Inner", "class"), ("Greeter.Inner.deep", "method"),
         ("LoudGreeter", "class"), ("LoudGreeter.greet", "method"), ("shout", "function")},
        {"Greeter": 11, "Greeter.greet": 17, "Greeter.Inner.deep": 24, "shout": 6},
        [("shout", 20), ("greet", 34)],
        [("Greeter", "base", 28), ("sys", "import", 3)],
    ),
    "sample.js": (
        "javascript",
        {("shout", "function"), ("whisper", "function"), ("farewell", "function"),
         ("Greeter", "class"), ("Greeter.constructor", "method"), ("Greeter.greet", "method"),
         ("Greeter.create", "method"), ("LoudGreeter", "class"),
         ("LoudGreeter.greet", "method")},
        {"shout": 4, "whisper": 8, "Greeter": 14, "Greeter.greet": 19},
        [("shout", 21), ("whisper", 21), ("greet", 31)],
        [("Greeter", "class", 25), ("Greeter", "class", 29)],
    ),
    "sample.ts": (
        "typescript",
        {("Named", "interface"), ("Named.greet", "method"), ("Greeting", "type"),
         ("Tone", "enum"), ("shout", "function"), ("whisper", "function"),
         ("Greeter", "class"), ("Greeter.constructor", "method"), ("Greeter.greet", "method"),
         ("Greeter.create", "method"), ("Base", "class"), ("Base.tone", "method"),
         ("Util", "namespace"), ("Util.pad", "function")},
        {"Named": 2, "Greeting": 7, "whisper": 18, "Greeter.greet": 23, "Util.pad": 38},
        [("shout", 25), ("whisper", 25)],
        [("Named", "interface", 20), ("Greeter", "class", 29), ("Greeting", "type", 23)],
    ),
    "sample.tsx": (
        "tsx",
        {("GreeterProps", "interface"), ("Label", "type"), ("shout", "function"),
         ("Badge", "function"), ("Greeter", "class"), ("Greeter.greet", "method"),
         ("Greeter.render", "method")},
        {"GreeterProps": 4, "Badge": 15, "Greeter": 17, "Greeter.greet": 18},
        [("shout", 20), ("Badge", 26), ("greet", 26)],
        [("Component", "class", 17), ("Label", "type", 18)],
    ),
    "sample.go": (
        "go",
        {("Greeter", "struct"), ("Speaker", "interface"), ("Speaker.Greet", "method"),
         ("Tone", "type"), ("Shout", "function"), ("Greet", "method"),
         ("NewGreeter", "function")},
        {"Greeter": 10, "Speaker": 15, "Tone": 20, "Shout": 23, "Greet": 28},
        [("Shout", 31), ("Sprintf", 29), ("ToUpper", 24)],
        [("Greeter", "type", 38)],
    ),
    "sample.rs": (
        "rust",
        {("Greeter", "struct"), ("Tone", "enum"), ("Speaker", "trait"),
         ("Speaker.speak", "method"), ("shout", "function"), ("Greeter", "impl"),
         ("Greeter.new", "method"), ("Greeter.greet", "method"), ("Greeter.fmt", "method"),
         ("util", "namespace"), ("util.pad", "function")},
        {"Speaker": 14, "shout": 19, "Greeter.new": 24, "Greeter.greet": 28,
         "Greeter.fmt": 35},
        [("shout", 30), ("to_string", 25)],
        [("Display", "trait", 34), ("Greeter", "type", 25), ("format", "macro", 20)],
    ),
    "Sample.java": (
        "java",
        {("Sample", "class"), ("Sample.Speaker", "interface"),
         ("Sample.Speaker.greet", "method"), ("Sample.Tone", "enum"),
         ("Sample.shout", "method"), ("Sample.Greeter", "class"),
         ("Sample.Greeter.Greeter", "method"), ("Sample.Greeter.greet", "method"),
         ("Sample.main", "method")},
        {"Sample": 6, "Sample.shout": 13, "Sample.Greeter": 17, "Sample.main": 31},
        [("shout", 27), ("greet", 33), ("toUpperCase", 14)],
        [("Greeter", "class", 32), ("Speaker", "interface", 17)],
    ),
    "sample.c": (
        "c",
        {("greeter", "struct"), ("tone_t", "struct"), ("mood", "enum"),
         ("shout", "function"), ("greeter_greet", "function"), ("main", "function")},
        # shout returns a pointer: its name sits under a pointer_declarator.
        {"greeter": 7, "tone_t": 11, "shout": 17, "greeter_greet": 25, "main": 37},
        [("shout", 29), ("greeter_greet", 39), ("strdup", 18)],
        [],
    ),
    "sample.cpp": (
        "cpp",
        {("greet", "namespace"), ("greet.shout", "function"), ("greet.Greeter", "class"),
         ("greet.Greeter.Greeter", "method"), ("greet.Greeter.greet", "method"),
         ("greet.Greeter.print", "method"), ("greet.LoudGreeter", "class"),
         ("greet.LoudGreeter.greet", "method"), ("greet.Point", "struct"),
         ("greet.Point.sum", "method"), ("greet.print", "method"), ("main", "function")},
        # greet.print is the out-of-class definition `void Greeter::print() const {...}`.
        {"greet.shout": 8, "greet.Greeter.greet": 17, "greet.Point": 34, "greet.print": 39},
        [("shout", 19), ("greet", 31), ("greet", 40), ("print", 47), ("transform", 9)],
        [("Greeter", "class", 28)],
    ),
    "Sample.cs": (
        "csharp",
        {("Greet", "namespace"), ("Greet.ISpeaker", "interface"),
         ("Greet.ISpeaker.Greet", "method"), ("Greet.Tone", "enum"), ("Greet.Point", "struct"),
         ("Greet.Point.Sum", "method"), ("Greet.Text", "class"), ("Greet.Text.Shout", "method"),
         ("Greet.Greeter", "class"), ("Greet.Greeter.Greeter", "method"),
         ("Greet.Greeter.Greet", "method"), ("Greet.Greeter.Main", "method")},
        {"Greet.Point": 12, "Greet.Text.Shout": 20, "Greet.Greeter": 26,
         "Greet.Greeter.Greet": 35},
        [("Shout", 38), ("Greet", 44), ("WriteLine", 44)],
        [("Greeter", "class", 43), ("ISpeaker", "class", 26)],
    ),
    "sample.rb": (
        "ruby",
        {("shout", "function"), ("Greetings", "module"), ("Greetings.Greeter", "class"),
         ("Greetings.Greeter.initialize", "method"), ("Greetings.Greeter.greet", "method"),
         ("Greetings.Greeter.create", "method"), ("Greetings.LoudGreeter", "class"),
         ("Greetings.LoudGreeter.greet", "method")},
        # create is `def self.create`.
        {"shout": 4, "Greetings": 8, "Greetings.Greeter.greet": 16,
         "Greetings.Greeter.create": 21},
        [("shout", 18), ("create", 33), ("upcase", 5)],
        [("Greeter", "class", 26)],
    ),
    "sample.php": (
        "php",
        {("Greet", "namespace"), ("Speaker", "interface"), ("Speaker.greet", "method"),
         ("Polite", "trait"), ("Polite.thank", "method"), ("shout", "function"),
         ("Greeter", "class"), ("Greeter.__construct", "method"), ("Greeter.greet", "method"),
         ("Greeter.create", "method")},
        {"Polite": 10, "shout": 18, "Greeter": 23, "Greeter.greet": 31},
        [("shout", 34), ("create", 43), ("greet", 43), ("strtoupper", 20)],
        [("Greeter", "class", 39), ("Speaker", "interface", 23)],
    ),
    "sample.kt": (
        "kotlin",
        {("Speaker", "interface"), ("Speaker.greet", "method"), ("Tone", "enum"),
         ("shout", "function"), ("Greeter", "class"), ("Greeter.greet", "method"),
         ("Greeter.create", "method"), ("Registry", "object"),
         ("Registry.register", "method"), ("main", "function")},
        # create sits in an unnamed companion object, so it qualifies under the class.
        {"shout": 10, "Greeter": 14, "Greeter.greet": 15, "Greeter.create": 21,
         "Registry": 25},
        [("shout", 17), ("register", 35), ("uppercase", 11)],
        [("Speaker", "class", 14)],
    ),
    "sample.scala": (
        "scala",
        {("Speaker", "trait"), ("Speaker.greet", "method"), ("Text", "object"),
         ("Text.shout", "method"), ("whisper", "function"), ("Greeter", "class"),
         ("Greeter.greet", "method"), ("Point", "class"), ("Point.sum", "method"),
         ("Main", "object"), ("Main.main", "method")},
        {"Text": 8, "whisper": 12, "Greeter": 14, "Greeter.greet": 15},
        [("shout", 17), ("whisper", 17), ("greet", 28)],
        [("Greeter", "class", 27), ("Speaker", "class", 14)],
    ),
    "sample.sh": (
        "bash",
        {("shout", "function"), ("greet", "function"), ("main", "function")},
        # greet is `function greet {...}`, shout is `shout() {...}`.
        {"shout": 5, "greet": 10, "main": 21},
        [("shout", 15), ("greet", 22), ("main", 26)],
        [],
    ),
    "sample.lua": (
        "lua",
        {("shout", "function"), ("new", "function"), ("greet", "method"),
         ("helper", "function"), ("whisper", "function")},
        # shout is `local function`, new is `function M.new`, greet is `function M:greet`,
        # whisper is `local whisper = function`. The file opens with a comment, which the
        # Lua grammar needs before it parses anything right (see test_definition_shapes).
        {"shout": 4, "new": 8, "greet": 14, "helper": 22, "whisper": 26},
        [("shout", 17), ("setmetatable", 9), ("upper", 5)],
        [],
    ),
}


def test_every_fixture_has_a_case() -> None:
    assert {path.name for path in FIXTURES.iterdir()} == set(CASES)


def test_every_grammar_has_a_compiling_query_and_a_fixture() -> None:
    assert {case[0] for case in CASES.values()} == set(GRAMMARS)
    for language in GRAMMARS:
        assert symbols.has_tags(language), language


@pytest.fixture(params=sorted(CASES), ids=lambda name: name)
def case(request):
    name = request.param
    language, defined, lines, calls, others = CASES[name]
    source = (FIXTURES / name).read_bytes()
    assert detect_language(name) == language
    tree = symbols.parse(language, source)
    assert tree is not None and not tree.root_node.has_error
    return language, tree, defined, lines, calls, others


def test_definitions(case) -> None:
    language, tree, defined, lines, _, _ = case
    found = symbols.definitions(language, tree)
    assert {(d.qualified, d.kind) for d in found} == defined
    # No construct is reported twice (two patterns matching one node).
    assert len({(d.qualified, d.kind, d.start_line) for d in found}) == len(found)
    starts = {}
    for d in found:
        starts.setdefault(d.qualified, d.start_line)
        assert d.qualified.rsplit(".", 1)[-1] == d.name
        assert d.start_line <= d.end_line
    for qualified, line in lines.items():
        assert starts[qualified] == line, qualified


def test_references(case) -> None:
    language, tree, _, _, calls, others = case
    found = {(r.name, r.kind, r.line) for r in symbols.references(language, tree)}
    for name, line in calls:
        assert (name, "call", line) in found
    for reference in others:
        assert reference in found


def test_definitions_in_source_order(case) -> None:
    language, tree, *_ = case
    found = symbols.definitions(language, tree)
    assert [d.start_line for d in found] == sorted(d.start_line for d in found)


@pytest.mark.parametrize("language", sorted(GRAMMARS))
def test_empty_source_yields_nothing(language: str) -> None:
    tree = symbols.parse(language, b"")
    assert symbols.definitions(language, tree) == []
    assert symbols.references(language, tree) == []


@pytest.mark.parametrize(("language", "source", "expected"), [
    # C: functions returning pointers to pointers and function pointers; typedefs.
    ("c", b"int **f(void) { return 0; }\nstatic int (*g(int x))(int) { return 0; }\n"
          b"typedef struct node { int v; } node_t;\n",
     {("f", "function"), ("g", "function"), ("node", "struct"), ("node_t", "type")}),
    # C++: templates, operators, destructors, reference returns, nested qualification.
    ("cpp", b"template <typename T> class Box { T get() { return v; } };\n"
            b"Foo::~Foo() {}\nA& a::B::f() { return x; }\nbool operator==(A, A) {}\n",
     {("Box", "class"), ("Box.get", "method"), ("~Foo", "method"), ("f", "method"),
      ("operator==", "function")}),
    # Rust: generic impls are named after their type.
    ("rust", b"struct W<T>(T);\nimpl<T> W<T> { fn get(&self) {} }\n",
     {("W", "struct"), ("W", "impl"), ("W.get", "method")}),
    # JavaScript: functions assigned to members.
    ("javascript", b"exports.run = function () {};\nobj.go = () => 1;\n",
     {("run", "function"), ("go", "function")}),
    # Ruby: `class A::B`, setters and operators.
    ("ruby", b"class A::B\n  def x=(v); end\n  def ==(o); end\nend\n",
     {("B", "class"), ("B.x=", "method"), ("B.==", "method")}),
    # Lua: dotted names take the last part; table fields holding functions. (Sources start
    # with a comment: a fresh Lua parser of tree-sitter-languages 1.10.2 misparses, or hangs
    # on, code until it has lexed one comment.)
    ("lua", b"-- m\nfunction a.b.c() end\nlocal t = { f = function() end }\n",
     {("c", "function"), ("f", "function")}),
])
def test_definition_shapes(language: str, source: bytes, expected: set) -> None:
    tree = symbols.parse(language, source)
    assert {(d.qualified, d.kind) for d in symbols.definitions(language, tree)} == expected


def test_lua_first_file_without_a_comment_does_not_hang_the_indexer():
    # In a fresh process the Lua grammar used to hang on its first input unless that input
    # began with a comment; the chunker must return promptly either way.
    import subprocess
    import sys

    probe = ("from codeagent.index.chunker import chunk_file\n"
             "r = chunk_file('b.lua', 'lua', 'foo(x)\\nM.f = function(y)\\n  return y\\nend\\n')\n"
             "print(len(r.chunks), [d.qualified for d in r.definitions])\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "1" and "'f'" in out.stdout


def test_definitions_ending_with_their_newline_end_on_their_own_line():
    source = b"#define MAX(a, b) ((a) > (b) ? (a) : (b))\nint x;\n"
    macro = [d for d in symbols.definitions("c", symbols.parse("c", source)) if d.name == "MAX"][0]
    assert (macro.start_line, macro.end_line) == (1, 1)
