"""The chat REPL driven as a user drives it: keys through prompt-toolkit's pipe input, what
is printed read back from its output, the model a fake Ollama on loopback. Asserts which
tools ran with what, what reached the model, and what the user sees; never the wording a
model would produce (the scripted replies are ours)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import threading
import time

import pytest
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import NodeWithScore, TextNode
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput, create_output
from rich.console import Console

from codeagent.assistant.answer import Event
from codeagent.assistant.llm import check_ollama
from codeagent.assistant.session import Session
from codeagent.cli.repl import Repl, run_repl
from codeagent.cli.repl_render import span_lines
from codeagent.cli.thinking import Spinner, Thinking
from codeagent.errors import LLMUnavailable
from codeagent.index.embedding import EmbeddingInfo
from codeagent.index.run import run_index
from codeagent.settings import load_settings
from codeagent.testing.fake_ollama import FakeOllama, Reply, scripted
from support import assert_index_matches_disk, make_repo, write_files

ESC_ENTER = "\x1b\r"  # what a terminal sends for Alt+Enter
CTRL_C = "\x03"


def action(tool: str, **arguments) -> str:
    return f"Thought: use {tool}.\nAction: {tool}\nAction Input: {json.dumps(arguments)}"


def final(text: str) -> str:
    return f"Thought: I can answer.\nAnswer: {text}"


def drive(repo, settings, keys, tmp_path, *, close=True, **kwargs):
    """Type `keys` into a real REPL; (exit code, everything it printed). With close, the
    input ends after the keys (Ctrl-D)."""
    buffer = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        if close:
            pipe.close()
        code = run_repl(repo, settings, input=pipe, output=create_output(stdout=buffer),
                        history_path=tmp_path / "history", **kwargs)
    return code, buffer.getvalue().replace("\r\n", "\n")


def printed_lines(text):
    """The lines the REPL printed, without the prompt and the toolbar redrawn."""
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    return [line for line in lines if line and not line.startswith(("codeagent>", "search>"))
            and not line.endswith("| /help")]


def settings_at(repo, server, **flags):
    # The REPL's own behaviour: the scripts are the model's every reply, so no search is made
    # before the first step, and no correction turn or request for the places an answer
    # rests on follows a failed citation check.
    return load_settings(repo, {"ollama_host": server.url, "first_search": False,
                                "citation_retries": 0, "locate_answer": False, **flags},
                         environ={})


def user_contents(request):
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def everything(request):
    return "\n".join(m.get("content") or "" for m in request["messages"])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_question_streams_tool_steps_and_answer(indexed_repo, minilm, tmp_path):
    answer = "resolve_redirects follows them (net/redirects.py:17-28)."
    script = scripted(action("semantic_search", query="follow HTTP redirects"),
                      action("read_file", path="net/redirects.py", start_line=17),
                      final(answer))
    with FakeOllama(script, piece_chars=5) as server:
        code, text = drive(indexed_repo, settings_at(indexed_repo, server),
                           "Where are redirects followed?\r", tmp_path, embedding=minilm)
    assert code == 0
    lines = printed_lines(text)
    tool_lines = [line for line in lines if line.startswith("→")]
    assert tool_lines == ['→ semantic_search {"query": "follow HTTP redirects"}',
                          '→ read_file {"path": "net/redirects.py", "start_line": 17}']
    # each tool line is followed by the first line of what the tool returned
    first = lines.index(tool_lines[0])
    assert lines[first + 1].startswith("← ") and "closest to" in lines[first + 1]
    second = lines.index(tool_lines[1])
    assert lines[second + 1] == "← net/redirects.py lines 17-33 of 33:"
    # the answer arrived in 5-character pieces and is shown as one text, after the steps
    assert answer in lines and lines.index(answer) > second
    assert "citations: 1 verified" in lines
    assert len(server.requests) == 3


@pytest.mark.slow
def test_follow_up_question_carries_the_previous_turn(indexed_repo, minilm, tmp_path):
    script = scripted(action("grep", pattern="MAX_REDIRECTS"),
                      final("The limit is MAX_REDIRECTS (net/redirects.py:3)."),
                      action("read_file", path="net/redirects.py", start_line=20),
                      final("It raises RedirectError (net/redirects.py:24)."))
    with FakeOllama(script) as server:
        code, text = drive(indexed_repo, settings_at(indexed_repo, server),
                           "How many redirects are followed?\rWhat happens past it?\r",
                           tmp_path, embedding=minilm)
    assert code == 0
    follow_up = server.requests[2]
    assert user_contents(follow_up)[:1] == ["How many redirects are followed?"]
    assert user_contents(follow_up)[-1] == "What happens past it?"
    assert "The limit is MAX_REDIRECTS (net/redirects.py:3)." in everything(follow_up)
    assert '→ read_file {"path": "net/redirects.py", "start_line": 20}' in printed_lines(text)


@pytest.mark.slow
def test_reset_empties_the_memory(indexed_repo, minilm, tmp_path):
    script = scripted(final("First (net/redirects.py:3)."), final("Second."))
    with FakeOllama(script) as server:
        drive(indexed_repo, settings_at(indexed_repo, server),
              "first question\r/reset\rsecond question\r", tmp_path, embedding=minilm)
    assert user_contents(server.requests[1]) == ["second question"]
    assert "First (net/redirects.py:3)." not in everything(server.requests[1])


@pytest.mark.slow
def test_sources_and_trace_show_the_last_answer(indexed_repo, minilm, tmp_path):
    malformed = "I think I should grep for it."  # no Thought: a refused reply, then a retry
    script = scripted(malformed, action("grep", pattern="is_permanent"),
                      final("See net/redirects.py:31-33 and net/redirects.py:90 "
                            "and nowhere/missing.py:2 ."))
    with FakeOllama(script) as server:
        code, text = drive(indexed_repo, settings_at(indexed_repo, server),
                           "Which redirects are permanent?\r/sources\r/trace\r", tmp_path,
                           embedding=minilm)
    lines = printed_lines(text)
    assert any(line.startswith("! retry: ") and "Thought:" in line for line in lines)
    assert ("citations: 1 verified, 2 not found: net/redirects.py:90 (line 90 is past the end "
            "(net/redirects.py has 33 lines)); nowhere/missing.py:2 (no such file in the "
            "repository)") in lines
    assert "✓ net/redirects.py:31-33" in lines
    assert "✗ net/redirects.py:90  (line 90 is past the end (net/redirects.py has 33 lines))" \
        in lines
    assert "✗ nowhere/missing.py:2  (no such file in the repository)" in lines
    trace = lines[lines.index("✗ nowhere/missing.py:2  (no such file in the repository)") + 1:]
    assert trace[0].startswith("1. refused reply") and "Thought:" in trace[0]
    assert trace[1].startswith('2. grep {"pattern": "is_permanent"}  (model ')
    assert trace[2] == "thought: use grep."
    assert trace[3].startswith("← ") and "is_permanent" in trace[3]


class GatedEmbedding(MockEmbedding):
    """Constant vectors, but documents wait for `gate`: an index run that is still
    embedding for as long as a test needs, without any timing."""

    def __init__(self, gate):
        super().__init__(embed_dim=8)
        self._gate = gate

    def _get_text_embeddings(self, texts):
        assert self._gate.wait(120), "the test never opened the gate"
        return [self._get_vector() for _ in texts]


def until(condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def observations(answer):
    return {step.tool: step.observation for step in answer.steps if step.tool}


def chat_while_filling(root, session, pipe, buffer, tmp_path, embedding, gate, user):
    """Chat with its index run in the background while `user` types into `pipe` from a
    thread; the gate is opened whatever happens, so the run can end."""
    helper = threading.Thread(target=user, daemon=True)
    helper.start()
    try:
        return run_repl(root, session.settings, session=session, input=pipe,
                        output=create_output(stdout=buffer),
                        history_path=tmp_path / "history", embedding=embedding, index=True)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the REPL")
    finally:
        gate.set()
        session.close()
        helper.join(10)


@pytest.mark.timeout(180)
def test_chat_opens_and_answers_while_the_first_index_fills(tmp_path):
    root = make_repo(tmp_path / "repo", hostile=False)  # never indexed
    gate = threading.Event()
    embedding = (GatedEmbedding(gate), EmbeddingInfo("gated-8", 8, "cpu", 256))
    # the search made for each question before the model's first step is multi_query_search
    script = scripted(action("semantic_search", query="follow redirects"),
                      action("find_symbol", name="resolve_redirects"),
                      final("net/redirects.py:17-28"),
                      action("semantic_search", query="redirect loop limit"),
                      final("net/redirects.py:17-28"))
    buffer = io.StringIO()
    with FakeOllama(script) as server, create_pipe_input() as pipe:
        session = Session(root, settings_at(root, server, first_search=True),
                          embedding=embedding)

        def user():
            until(lambda: session.ctx.filling is not None and session.ctx.filling.quick,
                  "the files are chunked")
            until(lambda: session.ctx.filling.phase == "embedding", "embedding has begun")
            pipe.send_text("where are redirects followed?\r")
            until(lambda: len(session.answers) == 1, "the first answer")
            pipe.send_text(f"half a line{CTRL_C}")  # Ctrl-C at the prompt while it fills
            pipe.send_text("/sources\r")  # read after the Ctrl-C: the REPL went on
            until(lambda: "code the search-only" in buffer.getvalue()
                  or "✓ net/redirects.py:17-28" in buffer.getvalue(), "the /sources reply")
            assert session.ctx.filling.running(), "Ctrl-C stopped the index run"
            gate.set()
            assert session.ctx.filling.wait(120)
            pipe.send_text("and now?\r")
            until(lambda: len(session.answers) == 2, "the second answer")
            pipe.send_text("/exit\r")

        code = chat_while_filling(root, session, pipe, buffer, tmp_path, embedding, gate, user)
    assert code == 0
    filling = session.ctx.filling
    assert filling.phase == "done" and filling.error is None, filling.error
    # while the vectors were missing: semantic search said so in one line, find_symbol and
    # keyword search answered from the chunked files
    first = observations(session.answers[0])
    assert first["semantic_search"].startswith("error: the index is still filling (0 of ")
    assert "\n" not in first["semantic_search"] and "grep" in first["semantic_search"]
    assert "net/redirects.py:17-" in first["find_symbol"]
    assert "by keyword only" in first["multi_query_search"]
    assert "net/redirects.py:" in first["multi_query_search"]
    # the status bar showed how far the index was, then that it was in
    assert re.search(r"index: 0 of \d+ files embedded", buffer.getvalue())
    lines = printed_lines(buffer.getvalue())
    # said before the question that followed it
    assert lines.index("the index is in: semantic search is on") < lines.index(
        '→ semantic_search {"query": "redirect loop limit"}')
    # once it was in, semantic search answered; nothing was lost to Ctrl-C
    assert "chunks closest to" in observations(session.answers[1])["semantic_search"]
    assert_index_matches_disk(root, set(filling.quick.manifest.files()))


@pytest.mark.timeout(180)
def test_leaving_while_the_index_fills_stops_it_cleanly(tmp_path):
    root = make_repo(tmp_path / "repo", hostile=False)
    gate = threading.Event()
    embedding = (GatedEmbedding(gate), EmbeddingInfo("gated-8", 8, "cpu", 256))
    buffer = io.StringIO()
    with FakeOllama(scripted()) as server, create_pipe_input() as pipe:
        # one batch holds every chunk: the one the gate holds is all there is to embed
        session = Session(root, settings_at(root, server, embed_batch_size=32),
                          embedding=embedding)

        def user():
            until(lambda: session.ctx.filling is not None
                  and session.ctx.filling.phase == "embedding", "embedding has begun")
            pipe.send_text("/exit\r")
            until(lambda: "stopping the index run" in buffer.getvalue(), "the stop")
            gate.set()  # the batch being embedded ends; the run stops before storing it

        code = chat_while_filling(root, session, pipe, buffer, tmp_path, embedding, gate, user)
    assert code == 0
    filling = session.ctx.filling
    assert filling.phase == "stopped" and not filling.running()
    assert_index_matches_disk(root, set())  # nothing half-stored
    # the next run goes on from there (the vectors made are in the cache) and completes it
    summary = run_index(root, session.settings, embedding=embedding)
    assert summary.embedded == 0
    assert_index_matches_disk(root, set(filling.quick.manifest.files()))


def test_status_line_follows_the_steps_of_the_turn(repo, tmp_path):
    # What the spinner line says is driven by the turn's events: which step, which tool.
    script = scripted(action("grep", pattern="formatPrice"),
                      action("read_file", path="web/format.js"), final("web/format.js:2"))
    drawn = io.StringIO()
    with FakeOllama(script) as server, create_pipe_input() as pipe:
        session = Session(repo, settings_at(repo, server))
        repl = Repl(repo, session, offline_reason=None, input=pipe,
                    output=create_output(stdout=io.StringIO()),
                    history_path=tmp_path / "history", embedding=None)
        console = Console(file=drawn, force_terminal=True, width=120)
        repl.make_spinner = lambda thinking: Spinner(thinking, console=console,
                                                     auto_refresh=False)
        pipe.send_text("how are prices formatted?\r")
        pipe.close()
        assert repl.run() == 0
        session.close()
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "\n", drawn.getvalue())
    shown = [re.sub(r"\d+ s", "N s", line) for line in
             re.findall(r"(?:thinking|running \w+)… \d+ s · step \d+(?: · \w+)?", text)]
    assert [line for n, line in enumerate(shown) if n == 0 or shown[n - 1] != line] == [
        "thinking… N s · step 1", "running grep… N s · step 1",
        "thinking… N s · step 2 · grep", "running read_file… N s · step 2",
        "thinking… N s · step 3 · read_file"]


def test_ask_draws_the_status_line_on_stderr_only_when_it_is_a_terminal():
    from codeagent.cli.agent_commands import _Printer

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    events = [Event("tool", "grep", {"arguments": {"pattern": "x"}}),
              Event("observation", "1 match")]
    for err, drawn in ((Terminal(), True), (io.StringIO(), False)):
        out = io.StringIO()
        printer = _Printer(out, err)
        for event in events:
            printer(event)
        printer.spinner.hide()
        assert bool(re.search(r"thinking… \d+ s · step 2 · grep", err.getvalue())) is drawn
        assert "-> grep" in err.getvalue() and "thinking" not in out.getvalue()


def test_status_line_counts_seconds_and_hides_while_the_answer_streams():
    now = [100.0]
    thinking = Thinking(clock=lambda: now[0])
    now[0] = 112.4
    assert thinking.text() == "thinking… 12 s · step 1"
    thinking.update(Event("retry", "no Action"))  # a refused reply: the model writes again
    assert thinking.text() == "thinking… 12 s · step 2"
    thinking.update(Event("answer", "It is"))
    assert not thinking.visible
    thinking.update(Event("check", "the citation check failed"))  # a correction follows
    assert thinking.visible


def test_help_lists_every_command_and_unknown_commands_are_refused(repo, settings_for,
                                                                    tmp_path):
    code, text = drive(repo, settings_for(repo), "/help\r/frobnicate\r/tr\r", tmp_path)
    assert code == 0
    lines = printed_lines(text)
    listed = {line.split()[0].rstrip(",") for line in lines if line.startswith("/")}
    assert listed == {f"/{name}" for name in ("help", "reset", "sources", "trace", "index",
                                              "model", "rag", "exit")}
    assert any(line.startswith("/exit, /quit ") for line in lines)
    assert any("Alt+Enter" in line for line in lines if line.startswith("keys:"))
    assert "unknown command /frobnicate: /help lists the commands" in lines
    # a unique prefix runs the command: /tr is /trace, with nothing to trace yet
    assert lines[-1] == "no answer yet: ask a question first"


@pytest.mark.slow
def test_rag_answers_from_one_retrieval(indexed_repo, minilm, tmp_path):
    with FakeOllama(scripted("Redirects are followed in net/redirects.py:17-28.")) as server:
        code, text = drive(indexed_repo, settings_at(indexed_repo, server),
                           "/rag where are HTTP redirects followed?\r/sources\r", tmp_path,
                           embedding=minilm)
    lines = printed_lines(text)
    assert len(server.requests) == 1
    prompt = everything(server.requests[0])
    assert "where are HTTP redirects followed?" in prompt and "net/redirects.py lines " in prompt
    assert not any(line.startswith("→") for line in lines)
    assert "Redirects are followed in net/redirects.py:17-28." in lines
    assert "✓ net/redirects.py:17-28" in lines
    sources = lines[lines.index("✓ net/redirects.py:17-28") + 1:]
    assert sources[0].startswith("sources the answer was written from")
    assert any(line.startswith("net/redirects.py:") for line in sources[1:])


def test_model_switch_is_checked_with_ollama(repo, tmp_path):
    with FakeOllama(scripted(final("ok")), models=("codellama:34b", "qwen2.5-coder:7b")) as server:
        settings = settings_at(repo, server)
        code, text = drive(repo, settings, "/model missing:1b\r/model qwen2.5-coder:7b\r"
                                           "a question\r", tmp_path)
    lines = printed_lines(text)
    assert any(line.startswith("error: the model 'missing:1b' is not pulled") for line in lines)
    assert any("ollama pull missing:1b" in line for line in lines)
    assert "the model stays codellama:34b" in lines
    assert settings.llm_model == "qwen2.5-coder:7b"
    assert [request["model"] for request in server.requests] == ["qwen2.5-coder:7b"]


@pytest.mark.slow
def test_index_command_makes_new_files_searchable(tmp_path, minilm):
    root = make_repo(tmp_path / "repo", hostile=False)
    run_index(root, load_settings(root, environ={}), embedding=minilm)
    # on disk, not yet in the index: the first question cannot find it, the second can
    write_files(root, {"rollout/flags.py": '"""Feature flags for the gradual rollout of new '
                                           'features."""\nFLAGS = {"new_ui": 0.1}\n'})
    search = action("semantic_search", query="feature flags for the gradual rollout", k=1)
    script = scripted(search, final("not there"), search, final("rollout/flags.py:1-2"))
    with FakeOllama(script) as server:
        session = Session(root, settings_at(root, server), embedding=minilm)
        try:
            code, text = drive(root, session.settings, "where are feature flags?\r/index\r"
                               "and now?\r", tmp_path, session=session, embedding=minilm)
        finally:
            session.close()
    before, after = session.answers[0].steps[0], session.answers[1].steps[0]
    assert "rollout/flags.py" not in before.observation
    assert after.observation.split("\n")[1].startswith("rollout/flags.py:1-")
    assert any(line.startswith(f"Indexed {root}") and "1 added" in line
               for line in printed_lines(text))


@pytest.mark.slow
def test_search_only_mode_when_ollama_is_down(indexed_repo, minilm, tmp_path):
    settings = load_settings(indexed_repo, {"ollama_host": f"http://127.0.0.1:{free_port()}",
                                            "first_search": False}, environ={})
    with pytest.raises(LLMUnavailable) as down:
        check_ollama(settings, timeout=2)
    code, text = drive(indexed_repo, settings, "where are HTTP redirects followed?\r/sources\r"
                       "/trace\r", tmp_path, offline_reason=down.value, embedding=minilm)
    assert code == 0
    lines = printed_lines(text)
    assert f"search-only mode: {down.value.message}" in lines
    assert any("ollama serve" in line for line in lines)
    assert any("ollama pull codellama:34b" in line for line in lines)
    listed = next(n for n, line in enumerate(lines)
                  if line.startswith("code the search-only reply showed"))
    hits = [line for line in lines[:listed] if re.match(r"\S+:\d+-\d+  ", line)]
    assert hits and hits[0].startswith("net/redirects.py:")
    shown = [hit.split()[0] for hit in hits]
    # /sources lists the hits of the search-only reply, /trace its search and the result's
    # first line
    assert lines[listed] == f"code the search-only reply showed ({len(shown)}):"
    sources = lines[listed + 1:]
    assert sources[:len(shown)] == shown
    trace = sources[len(shown):]
    assert trace[0].startswith('1. search {"question": "where are HTTP redirects followed?"')
    assert trace[1] == f"← {len(shown)} spans: {', '.join(shown)}"


def test_status_bar_names_the_model_that_is_not_pulled(repo, tmp_path):
    # Ollama answers (/api/tags, /api/show) but lacks the model: the bar says which and how
    # to get it, not that Ollama is unavailable.
    with FakeOllama(scripted(), models=("qwen2.5-coder:7b",)) as server:
        settings = settings_at(repo, server)
        with pytest.raises(LLMUnavailable) as missing:
            check_ollama(settings)
        session = Session(repo, settings)
        with create_pipe_input() as pipe:
            repl = Repl(repo, session, offline_reason=missing.value, input=pipe,
                        output=DummyOutput(), history_path=tmp_path / "history",
                        embedding=None)
            toolbar = repl._toolbar()
            repl.cmd_model("missing:1b")  # a refused switch does not change what is missing
            after_refusal = repl._toolbar()
        session.close()
        down = Repl(repo, Session(repo, settings), offline_reason=LLMUnavailable("down"),
                    input=None, output=DummyOutput(), history_path=tmp_path / "history",
                    embedding=None)
    assert "search-only (model codellama:34b not pulled: ollama pull codellama:34b)" in toolbar
    assert "Ollama unavailable" not in toolbar
    assert after_refusal == toolbar
    assert "search-only (Ollama unavailable)" in down._toolbar()
    down.session.close()


def test_search_hits_keep_the_indentation_of_their_lines():
    code = "class A:\n    def put(self, key):\n        if key:\n\n            return 1\n"
    node = TextNode(text=code, metadata={"path": "a.py", "start_line": 1, "end_line": 5,
                                         "symbol": "A.put", "focus_line": 2})
    lines = [text for _, text in span_lines([NodeWithScore(node=node, score=1.0)])]
    # from the best part on, less the indentation those lines share, blank lines left out
    assert lines == ["a.py:1-5  A.put", "    def put(self, key):", "        if key:",
                     "            return 1"]


@pytest.mark.slow
def test_model_command_leaves_search_only_mode(indexed_repo, minilm, tmp_path):
    with FakeOllama(scripted(action("grep", pattern="formatPrice"), final("web/format.js:2")),
                    models=("qwen2.5-coder:7b",)) as server:
        settings = settings_at(indexed_repo, server)
        with pytest.raises(LLMUnavailable) as missing:
            check_ollama(settings)
        code, text = drive(indexed_repo, settings,
                           "how are prices formatted?\r/model qwen2.5-coder:7b\r"
                           "how are prices formatted?\r", tmp_path,
                           offline_reason=missing.value, embedding=minilm)
    lines = printed_lines(text)
    assert "(search-only mode: the code that matches the question)" in lines
    assert '→ grep {"pattern": "formatPrice"}' in lines
    assert len(server.requests) == 2  # the first question never reached the model
    assert lines.index("(search-only mode: the code that matches the question)") < \
        lines.index('→ grep {"pattern": "formatPrice"}')


def test_step_limit_shows_the_stop_and_the_best_effort_answer(repo, tmp_path):
    script = scripted(action("grep", pattern="LRUCache"), final("Best effort: storage/cache.go:3"))
    with FakeOllama(script) as server:
        code, text = drive(repo, settings_at(repo, server, max_steps=1), "what evicts?\r",
                           tmp_path)
    lines = printed_lines(text)
    assert "(stopped: all 1 tool steps were used)" in lines
    assert "Best effort: storage/cache.go:3" in lines  # written without streaming: shown whole
    assert any(line.startswith("(incomplete: ") for line in lines)


def test_answer_is_what_streams_after_the_last_step(repo, tmp_path):
    # A tool call whose reply runs on into an "Answer:" streams that text before the tool
    # runs; the answer shown once at the end is the one after the last step.
    premature = action("grep", pattern="formatPrice") + "\nAnswer: a guess"
    with FakeOllama(scripted(premature, final("the real answer"))) as server:
        code, text = drive(repo, settings_at(repo, server), "how are prices shown?\r",
                           tmp_path)
    lines = printed_lines(text)
    assert '→ grep {"pattern": "formatPrice"}' in lines
    assert lines.count("the real answer") == 1


@pytest.mark.timeout(30)  # the input stays open: only a handled /exit ends this REPL
def test_ctrl_c_cancels_the_running_turn(repo, tmp_path):
    with FakeOllama(scripted(Reply(final("too late"), delay=10))) as server:
        buffer = io.StringIO()
        with create_pipe_input() as pipe:
            pipe.send_text("why so slow?\r/exit\r")
            # Ctrl-C once the model is asked (not after a fixed delay: on a busy machine
            # the turn may not have started by then), and the time from there measured.
            sent: list[float] = []
            cancelled: list[float] = []
            done = threading.Event()

            def interrupt_when_asked() -> None:
                while not server.requests and not done.wait(0.05):
                    pass
                if not done.is_set():
                    sent.append(time.monotonic())
                    os.kill(os.getpid(), signal.SIGINT)
                # Timed to the cancel notice, not to the REPL's end: /exit then waits for
                # the first index run (which may still be loading its model) to stop.
                while "cancelled:" not in buffer.getvalue() and not done.wait(0.02):
                    pass
                cancelled.append(time.monotonic())

            interrupter = threading.Thread(target=interrupt_when_asked, daemon=True)
            interrupter.start()
            try:
                code = run_repl(repo, settings_at(repo, server), input=pipe,
                                output=create_output(stdout=buffer),
                                history_path=tmp_path / "history")
            except KeyboardInterrupt:
                pytest.fail("Ctrl-C escaped the REPL")
            finally:
                interrupter.join(1)  # it ends at the notice, or now that `done` is set
                done.set()
                interrupter.join()
            elapsed = cancelled[0] - sent[0]
    assert code == 0
    assert elapsed < 5  # the model's reply would take 10 s
    lines = printed_lines(buffer.getvalue())
    assert any(line.startswith("cancelled: back at the prompt") for line in lines)
    assert "too late" not in buffer.getvalue()
    assert len(server.requests) == 1


def test_ctrl_c_at_the_prompt_drops_the_line(repo, tmp_path):
    with FakeOllama(scripted()) as server:
        code, _ = drive(repo, settings_at(repo, server), f"half a question{CTRL_C}/exit\r",
                        tmp_path)
    assert code == 0
    assert server.requests == []


def test_multiline_input_and_history(repo, tmp_path):
    with FakeOllama(scripted(final("ok"))) as server:
        code, _ = drive(repo, settings_at(repo, server),
                        f"first line{ESC_ENTER}second line\r", tmp_path)
    assert code == 0  # the input ended: Ctrl-D leaves
    assert user_contents(server.requests[0]) == ["first line\nsecond line"]
    assert "+first line\n+second line" in (tmp_path / "history").read_text()


def test_completion_of_commands_and_paths(repo, settings_for, tmp_path):
    session = Session(repo, settings_for(repo))
    with create_pipe_input() as pipe:
        repl = Repl(repo, session, offline_reason=None, input=pipe, output=DummyOutput(),
                    history_path=tmp_path / "history", embedding=None)

        def complete(text):
            found = repl.prompt.completer.get_completions(Document(text), CompleteEvent())
            return [completion.text for completion in found]

        assert complete("/tr") == ["/trace"]
        assert set(complete("/")) >= {"/help", "/rag", "/exit", "/quit"}
        assert complete("explain net/re") == ["net/redirects.py"]
        assert complete("what does redirects.") == ["net/redirects.py"]
        assert complete("/rag what is in storage/") == ["storage/", "storage/cache.go"]
        assert complete(".en") == []  # secrets are never offered
        assert complete("redirects") == []  # a plain word is not taken for a path
    session.close()
