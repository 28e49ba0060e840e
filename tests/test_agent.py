"""The ReAct agent against a fake Ollama (a real HTTP server, the real client): which tools
it calls with what, what the model is told when its reply is malformed, the limits, and
every way the model server can fail. Never the wording of an answer."""

from __future__ import annotations

import gc
import json
import re
import time

import pytest

from codeagent.assistant.citations import check_citations
from codeagent.assistant.limits import LOCATION
from codeagent.settings import load_settings
from codeagent.testing.fake_ollama import FakeOllama, Reply, scripted
from support import write_files

pytestmark = pytest.mark.slow

SEARCH = 'Thought: Find where redirects are followed.\nAction: semantic_search\nAction Input: {"query": "follow HTTP redirects"}'
READ = 'Thought: Read the method.\nAction: read_file\nAction Input: {"path": "net/redirects.py", "start_line": 17, "end_line": 28}'
GREP = 'Thought: Look for the limit.\nAction: grep\nAction Input: {"pattern": "MAX_REDIRECTS"}'
ANSWER = "Thought: I can answer.\nAnswer: resolve_redirects follows them (net/redirects.py:17-28)."
# What grep shows is its matching lines: an answer after it cites those.
GREP_ANSWER = ("Thought: I can answer.\nAnswer: resolve_redirects follows them, up to a limit "
               "(net/redirects.py:23-24).")


def user_messages(request):
    return [m.get("content") or "" for m in request["messages"] if m["role"] == "user"]


def everything(request):
    return "\n".join(m.get("content") or "" for m in request["messages"])


def test_two_hop_question_through_two_tools(session_for):
    with FakeOllama(scripted(SEARCH, READ, ANSWER)) as server:
        answer = session_for(server).ask("Where are redirects followed?")
    assert answer.status == "ok"
    assert [(s.tool, s.arguments) for s in answer.steps] == [
        ("semantic_search", {"query": "follow HTTP redirects"}),
        ("read_file", {"path": "net/redirects.py", "start_line": 17, "end_line": 28})]
    # each tool's result reached the model before its next reply
    assert "net/redirects.py:" in everything(server.requests[1])
    assert "hops > MAX_REDIRECTS" in everything(server.requests[2])
    assert [(c.path, c.start, c.end, c.valid) for c in answer.citations] == [
        ("net/redirects.py", 17, 28, True)]
    # the options Ollama received are ours, not the client's defaults
    options = server.requests[0]["options"]
    assert options["num_ctx"] == 8192 and options["temperature"] == 0.1
    assert "\nObservation:" in options["stop"] and server.requests[0]["keep_alive"] == "30m"


@pytest.mark.parametrize("bad,told", [
    ("The redirects are in net/redirects.py.", "Thought"),
    ("", "empty"),
    ('Thought: x\nAction: delete_everything\nAction Input: {}', "semantic_search, multi_query_search, grep"),
    ('Thought: x\nAction: grep\nAction Input: {"pattern": "MAX", "regex": }', "not valid JSON"),
    ("Thought: x\nAction: grep\nAction Input: pattern=MAX", "not a JSON object"),
    ("Thought: x\nAction: grep", "no 'Action Input:'"),
    ("Thought: I am thinking but neither act nor answer.", "neither"),
])
def test_malformed_replies_are_errors_the_model_sees_never_answers(session_for, bad, told):
    with FakeOllama(scripted(bad, GREP, GREP_ANSWER)) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert answer.status == "ok"
    assert answer.steps[0].error and told in answer.steps[0].error
    assert [s.tool for s in answer.steps if s.tool] == ["grep"]
    assert told in everything(server.requests[1]), "the model is shown the real error"
    assert answer.answer.startswith("resolve_redirects follows them")


def test_a_quoted_action_input_is_the_tools_one_required_argument(session_for):
    # Small models write `Action Input: "..."`; for a tool with one required argument it
    # has one meaning, so it is read rather than refused (a refusal costs a reply).
    quoted = 'Thought: Look for the limit.\nAction: grep\nAction Input: "MAX_REDIRECTS"'
    with FakeOllama(scripted(quoted, GREP_ANSWER)) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert answer.status == "ok"
    assert [(s.tool, s.arguments, s.error) for s in answer.steps] == [
        ("grep", {"pattern": "MAX_REDIRECTS"}, None)]
    assert len(server.requests) == 2


def test_a_repeated_call_is_refused(session_for):
    with FakeOllama(scripted(GREP, GREP, GREP_ANSWER)) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert [s.tool for s in answer.steps if s.tool and not s.error] == ["grep"]
    assert "already called grep" in answer.steps[1].error
    assert "already called grep" in everything(server.requests[2])


def test_the_same_refused_call_twice_ends_the_tool_steps(session_for):
    final = "Thought: enough\nAnswer: MAX_REDIRECTS, net/redirects.py:3."
    with FakeOllama(scripted(GREP, GREP, GREP, final)) as server:
        answer = session_for(server, locate_answer=False).ask("What limits redirects?")  # 3 malformed allowed
    assert answer.status == "incomplete" and "same refused call" in answer.reason
    assert len(server.requests) == 4, "no third refusal: the last turn came next"
    assert "no more tools can be called" in user_messages(server.requests[-1])[-1]
    assert answer.answer == "MAX_REDIRECTS, net/redirects.py:3."


def test_each_prompt_begins_with_the_last_one_also_after_a_refused_reply(session_for):
    # The model server reuses what it computed for the last prompt's beginning; a retry
    # that rewrote the beginning (the question again, the refusal before the steps) cost a
    # minute of prefill per step on a CPU after every refused reply.
    bad = "Thought: x\nAction: delete_everything\nAction Input: {}"
    with FakeOllama(scripted(GREP, "no protocol here", bad, READ, ANSWER, ANSWER)) as server:
        session = session_for(server)
        answer = session.ask("What limits redirects?")
        asked = [r["messages"] for r in server.requests]
        for before, after in zip(asked, asked[1:]):
            assert after[:len(before)] == before and len(after) > len(before)
        # in order: the refused reply, then what was wrong with it
        tail = [(m["role"], m["content"]) for m in asked[3][-2:]]
        assert tail[0] == ("assistant", bad) and tail[1][0] == "user"
        assert "delete_everything" in tail[1][1] and "grep" in tail[1][1]
        assert [m["content"] for m in asked[3]].count("What limits redirects?") == 1
        assert answer.status == "ok" and [s.tool for s in answer.steps if s.tool and
                                          not s.error] == ["grep", "read_file"]
        # a follow-up question's history keeps the steps taken, not the refused replies
        session.ask("And then?")
        follow_up = everything(server.requests[-1])
    assert "delete_everything" not in follow_up and "no protocol here" not in follow_up
    assert '"pattern": "MAX_REDIRECTS"' in follow_up


def test_step_limit_ends_with_a_tool_free_best_answer(session_for):
    final = "Thought: enough\nAnswer: Probably net/redirects.py:17-28."
    with FakeOllama(scripted(SEARCH, READ, final)) as server:
        answer = session_for(server, max_steps=2, locate_answer=False).ask("Where are redirects followed?")
    assert answer.status == "incomplete" and "2 tool steps" in answer.reason
    assert [s.tool for s in answer.steps if s.tool] == ["semantic_search", "read_file"]
    assert answer.answer == "Probably net/redirects.py:17-28."
    # the third request is the last, tool-free one: no third tool step is ever asked for
    assert len(server.requests) == 3
    assert "no more tools can be called" in user_messages(server.requests[-1])[-1]


def test_step_limit_without_a_usable_final_reply_summarises_the_findings(session_for):
    with FakeOllama(scripted(SEARCH, "not the protocol")) as server:
        answer = session_for(server, max_steps=1).ask("Where are redirects followed?")
    assert answer.status == "incomplete"
    assert "semantic_search" in answer.answer and "net/redirects.py:" in answer.answer


def test_too_many_malformed_replies_end_with_a_tool_free_answer(session_for):
    final = "Thought: enough\nAnswer: MAX_REDIRECTS, net/redirects.py:3."
    with FakeOllama(scripted(GREP, "garbage one", "garbage two", final)) as server:
        answer = session_for(server, max_parse_failures=2, locate_answer=False).ask("What limits redirects?")
    assert answer.status == "incomplete" and "malformed" in answer.reason
    assert answer.answer == "MAX_REDIRECTS, net/redirects.py:3."
    assert len(server.requests) == 4
    assert "no more tools can be called" in user_messages(server.requests[-1])[-1].lower()


def test_a_cited_prose_reply_to_the_last_turn_is_the_answer(session_for):
    # No tool can follow the last turn, so prose that cites a place is the answer; prose
    # that cites nothing is not (the summary of the tool results says more).
    prose = "The limit is MAX_REDIRECTS in net/redirects.py:3, checked in the loop."
    with FakeOllama(scripted(GREP, "garbage one", "garbage two", prose)) as server:
        answer = session_for(server, max_parse_failures=2, locate_answer=False).ask("What limits redirects?")
    assert answer.status == "incomplete" and answer.answer == prose
    assert [(c.path, c.start, c.valid) for c in answer.citations] == [
        ("net/redirects.py", 3, True)]
    with FakeOllama(scripted(GREP, "garbage one", "garbage two", "It is a limit.")) as server:
        answer = session_for(server, max_parse_failures=2).ask("What limits redirects?")
    assert answer.answer.startswith("I could not finish") and "grep" in answer.answer


def test_too_many_malformed_replies_and_no_final_answer_summarise_the_findings(session_for):
    with FakeOllama(scripted(GREP, "garbage one", "garbage two", "garbage three")) as server:
        answer = session_for(server, max_parse_failures=2).ask("What limits redirects?")
    assert answer.status == "incomplete" and "malformed" in answer.reason
    assert "grep" in answer.answer and "net/redirects.py:" in answer.answer


def test_wall_time_limit_answers_even_when_the_server_hangs(session_for):
    with FakeOllama(scripted(GREP, Reply(ANSWER, delay=30))) as server:
        started = time.monotonic()
        answer = session_for(server, question_seconds=1).ask("What limits redirects?")
    assert time.monotonic() - started < 15
    assert answer.status == "incomplete" and "time limit" in answer.reason
    assert "net/redirects.py:" in answer.answer  # what grep found before the stop


@pytest.mark.parametrize("setup,expected", [
    ("down", "stopped answering"),
    ("missing", "ollama pull"),
    ("hang", "did not answer within"),
    ("cut", "broke in the middle"),
])
def test_model_server_failures_are_one_clear_error(session_for, setup, expected):
    replies = {"hang": Reply(ANSWER, delay=5), "cut": Reply(ANSWER, cut_after=2)}
    server = None if setup == "down" else FakeOllama(scripted(replies.get(setup, ANSWER)))
    if server:
        server.start()
    try:
        extra = {"llm_model": "nope:7b"} if setup == "missing" else {}
        extra |= {"request_timeout": 1} if setup == "hang" else {}
        answer = session_for(server, **extra).ask("What limits redirects?")
    finally:
        if server:
            server.stop()
    assert answer.status == "error"
    assert expected in f"{answer.reason} {answer.hint}"


def test_follow_up_questions_see_the_conversation(session_for):
    with FakeOllama(scripted(READ, ANSWER, "Thought: from before\nAnswer: Yes, 30.")) as server:
        session = session_for(server)
        session.ask("What limits redirects?")
        session.ask("Is that limit configurable?")
        follow_up = everything(server.requests[-1])
        assert "What limits redirects?" in follow_up and "resolve_redirects follows them" in follow_up
        # the earlier steps are remembered compactly: actions as JSON, observations cut short
        assert '"path": "net/redirects.py"' in follow_up and "{'path'" not in follow_up
        assert "return response" not in follow_up and "more lines]" in follow_up
        session.reset()
    assert session.answers == [] and session.memory.get() == []


# Interrupting the workflow from inside its own event loop leaves LlamaIndex's run context
# to be torn down elsewhere; it says so as an unraisable warning. Expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_cancelled_or_failed_question_leaves_no_trace_in_the_conversation(session_for):
    with FakeOllama(scripted(GREP, ANSWER)) as server:
        session = session_for(server)

        def cancel_at_first_tool(event):
            if event.kind == "tool":
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            session.ask("What limits redirects?", emit=cancel_at_first_tool)
        assert session.memory.get_all() == []
    failing = session_for(None)  # nothing listening: the question fails
    assert failing.ask("What limits redirects?").status == "error"
    assert failing.memory.get_all() == []
    gc.collect()  # the interrupted run's coroutine: collected here, under this test's filter


def test_a_reply_that_acts_streams_no_answer(session_for):
    acting = ('Thought: check first\nAction: grep\nAction Input: {"pattern": "MAX_REDIRECTS"}\n'
              "Answer: premature")
    with FakeOllama(scripted(acting, GREP_ANSWER)) as server:
        streamed = []
        answer = session_for(server).ask("What limits redirects?",
                                         emit=lambda e: e.kind == "answer" and streamed.append(e.text))
    assert [s.tool for s in answer.steps] == ["grep"]
    assert "premature" not in "".join(streamed)
    assert "".join(streamed) == answer.answer


def test_old_observations_are_trimmed_to_fit_and_the_question_stays(session_for):
    read_all = 'Thought: read\nAction: read_file\nAction Input: {"path": "net/redirects.py"}'
    read_go = 'Thought: read\nAction: read_file\nAction Input: {"path": "storage/cache.go"}'
    with FakeOllama(scripted(read_all, read_go, ANSWER)) as server:
        session_for(server, context_window=1700, observation_tokens=600).ask(
            "Where are redirects followed?")
    last = server.requests[-1]["messages"]
    text = "\n".join(m["content"] for m in last)
    assert "trimmed to fit the context window" in text
    assert last[0]["role"] == "system" and "You are codeagent" in last[0]["content"]
    assert "Where are redirects followed?" in text
    assert "LRUCache" in text, "the newest observation is kept whole"


def test_rag_mode_answers_in_one_model_call_with_sources(session_for):
    with FakeOllama(scripted("It is resolve_redirects (net/redirects.py:17-28).")) as server:
        answer = session_for(server).ask("Where are redirects followed?", mode="rag")
    assert answer.status == "ok" and answer.mode == "rag" and answer.steps == []
    assert len(server.requests) == 1
    prompt = user_messages(server.requests[0])[0]
    # snippets come as read_file shows code: path and lines, then every line numbered
    assert "net/redirects.py lines " in prompt
    assert re.search(r"^\s+17  ", prompt, re.M)
    assert any(source.startswith("net/redirects.py:") for source in answer.sources)
    assert answer.citations[0].valid and answer.citations[0].seen


def test_citations_are_checked_against_the_files(indexed_repo, minilm):
    from codeagent.tools import ToolContext

    ctx = ToolContext(indexed_repo, load_settings(indexed_repo, environ={}), embedding=minilm)
    text = ("See net/redirects.py:17-28 and `storage/cache.go:12`, not net/redirects.py:90-95, "
            "../outside.py:1, .env:1, docs/gone.md:3 or net/redirects.py:9-2.")
    found = {c.location: (c.valid, c.reason) for c in check_citations(text, ctx)}
    assert found["net/redirects.py:17-28"] == (True, None)
    # a path cut short that only one file fits is that file; an ignored file never is
    shortened = check_citations("redirects.py:17-28 and models.py:1", ctx)
    assert [(c.location, c.valid) for c in shortened][0] == ("net/redirects.py:17-28", True)
    assert not shortened[1].valid and "no such file" in shortened[1].reason
    assert found["storage/cache.go:12"] == (True, None)
    assert "past the end" in found["net/redirects.py:90-95"][1]
    assert "outside" in found["../outside.py:1"][1]
    assert "secret" in found[".env:1"][1]
    assert "no such file" in found["docs/gone.md:3"][1]
    assert not found["net/redirects.py:9-2"][0]
    ctx.close()


def test_a_path_cut_short_that_several_files_fit_cites_none_of_them(repo, settings_for):
    from codeagent.tools import ToolContext

    write_files(repo, {"a/util.py": "A = 1\n", "b/util.py": "B = 1\n"})
    ctx = ToolContext(repo, settings_for(repo))
    [citation] = check_citations("See util.py:1.", ctx)
    assert not citation.valid and "no such file" in citation.reason
    ctx.close()


def test_a_definition_or_a_quoted_line_named_beside_its_file_cites_those_lines(tool_ctx):
    from codeagent.assistant.evidence import Evidence

    def cited(text, shown="functions, best first: net/redirects.py:17 RedirectMixin."
                          "resolve_redirects"):
        evidence = Evidence()
        evidence.add(shown)
        return [(c.location, c.valid, c.seen, c.named)
                for c in check_citations(text, tool_ctx, evidence)]

    # the definition's lines, from the index; seen: a tool result showed where it starts
    assert cited("The loop is `RedirectMixin.resolve_redirects()` in `net/redirects.py`.") == [
        ("net/redirects.py:17-28", True, True, "RedirectMixin.resolve_redirects()")]
    # a dotted module path, and a file name alone that one file fits
    assert cited("redirects.py has `net.redirects.RedirectMixin.resolve_redirects`.")[0][0] == \
        "net/redirects.py:17-28"
    # a quoted line is that line; one that no tool result showed is not seen
    assert cited("`net/redirects.py` counts hops with the line `hops += 1`.") == [
        ("net/redirects.py:22", True, False, "hops += 1")]
    assert cited("`net/redirects.py` has `hops += 1`.", "net/redirects.py:20-24")[0][2] is True
    # in order with the citations written with lines, each place once
    assert [c[0] for c in cited("See net/redirects.py:1-3 and `is_permanent` in "
                                "net/redirects.py; again net/redirects.py:31-33.")] == [
        "net/redirects.py:1-3", "net/redirects.py:31-33"]
    assert [c[0] for c in cited("See `is_permanent` in net/redirects.py and "
                                "net/redirects.py:1-3.")] == [
        "net/redirects.py:31-33", "net/redirects.py:1-3"]
    # a name alone cites its one definition only when a tool result showed it
    assert cited("The `resolve_redirects()` method loops.") == [
        ("net/redirects.py:17-28", True, True, "resolve_redirects()")]
    # nothing less certain cites anything: another file's name, a name alone that no tool
    # showed, or with another class, a quote too short to mean one line, a line in no
    # file, a file out of bounds
    for text in ["`is_permanent` is in storage/cache.go.",
                 "`net/redirects.py` is long. It has `is_permanent`.",
                 "`Session.resolve_redirects` loops.",
                 "`net/redirects.py` has `url`.",
                 "`net/redirects.py` has `return everything_here`.",
                 "`../outside.py` has `resolve_redirects`.", "`.env` holds `SECRET_KEY=x`."]:
        assert cited(text) == [], text


def test_an_answer_naming_a_definition_it_was_shown_is_ok(session_for):
    named = ("Thought: I can answer.\nAnswer: `RedirectMixin.resolve_redirects` in "
             "`net/redirects.py` follows them.")
    with FakeOllama(scripted(SEARCH, named)) as server:
        answer = session_for(server).ask("Where are redirects followed?")
    assert answer.status == "ok" and len(server.requests) == 2, "no correction turn"
    assert [(c.location, c.valid, c.seen) for c in answer.citations] == [
        ("net/redirects.py:17-28", True, True)]


def test_answer_json_has_the_documented_fields(session_for):
    with FakeOllama(scripted(GREP, GREP_ANSWER)) as server:
        data = json.loads(json.dumps(session_for(server).ask("What limits?").to_json()))
    assert {"question", "answer", "citations", "steps", "model", "timings", "status"} <= set(data)
    assert set(data["citations"][0]) >= {"path", "start", "end", "valid"}
    assert set(data["steps"][0]) >= {"thought", "tool", "arguments", "observation", "ms"}
    assert data["status"] == "ok" and data["timings"]["total_ms"] > 0


def test_the_summary_at_the_time_limit_names_what_the_first_search_found(session_for):
    # A long report's query variants fill the first 600 characters of the search's result,
    # all a step keeps; the places come after them, and the summary must still name them.
    question = ("Redirect loop: Session.resolve_redirects keeps following redirect responses "
                "past MAX_REDIRECTS when the redirect_count attribute is reset by "
                "rebuild_auth, rebuild_proxies or should_strip_auth, and the "
                "TooManyRedirects exception is never raised. Observed with follow_redirects "
                "enabled on a RedirectSession configured through configure_redirects. "
                "Expected: the redirect limit stops the loop after the configured number.")
    with FakeOllama(scripted(Reply(ANSWER, delay=30))) as server:
        answer = session_for(server, question_seconds=1, first_search=True).ask(question)
    assert answer.status == "incomplete" and "time limit" in answer.reason
    first = answer.steps[0]
    assert first.tool == "multi_query_search"
    assert not LOCATION.search(first.observation), "the places lie past the step's excerpt"
    line = answer.answer.split("multi_query_search", 1)[1].split("\n")[0]
    assert LOCATION.search(line)
    assert question not in line and " ..." in line, "the report is shown cut, as the model saw it"
