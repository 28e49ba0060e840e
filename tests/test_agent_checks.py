"""What keeps a small model's answer honest, against the fake Ollama: native tool calls for
models that have them, the first search, the citation check with its correction turn, and
prompts with nothing a model could copy as a real path. Never the wording of an answer."""

from __future__ import annotations

import json
import re

import pytest

from codeagent.assistant.citation_forms import CITATION
from codeagent.testing.fake_ollama import FakeOllama, Reply, call, scripted

pytestmark = pytest.mark.slow

TOOLS = ("completion", "tools")
GREP = 'Thought: Look for the limit.\nAction: grep\nAction Input: {"pattern": "MAX_REDIRECTS"}'
READ = ('Thought: Read it.\nAction: read_file\nAction Input: {"path": "net/redirects.py", '
        '"start_line": 17, "end_line": 28}')
CITES_SEEN = "Thought: I can answer.\nAnswer: MAX_REDIRECTS caps them (net/redirects.py:3)."
CITES_PAST_END = "Thought: I can answer.\nAnswer: They are capped at net/redirects.py:90."


def everything(request):
    return "\n".join(m.get("content") or "" for m in request["messages"])


# --- native tool calls -----------------------------------------------------------------

def test_a_model_with_tools_gets_native_tool_calls(session_for):
    replies = scripted(Reply(tool_calls=[call("grep", pattern="MAX_REDIRECTS")]),
                       Reply("MAX_REDIRECTS caps them (net/redirects.py:3)."))
    with FakeOllama(replies, capabilities=TOOLS) as server:
        answer = session_for(server, agent_protocol="native").ask("What limits redirects?")
    assert answer.status == "ok" and answer.protocol == "native"
    assert [(s.tool, s.arguments) for s in answer.steps] == [("grep", {"pattern": "MAX_REDIRECTS"})]
    first, second = server.requests
    assert {t["function"]["name"] for t in first["tools"]} >= {"grep", "read_file"}
    assert "stop" not in first["options"], "no ReAct stop sequence for native calls"
    # the tool's result went back as a tool message, and the answer is checked as ever
    assert any(m["role"] == "tool" and "MAX_REDIRECTS = 30" in m["content"]
               for m in second["messages"])
    assert [(c.location, c.valid, c.seen) for c in answer.citations] == [
        ("net/redirects.py:3", True, True)]


def test_auto_is_react_for_a_model_without_tool_calling(session_for):
    with FakeOllama(scripted(GREP, CITES_SEEN)) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert answer.protocol == "react" and answer.status == "ok"
    assert "tools" not in server.requests[0] or not server.requests[0]["tools"]
    assert "\nObservation:" in server.requests[0]["options"]["stop"]


def test_auto_is_native_for_a_model_with_tool_calling(session_for):
    replies = scripted(Reply(tool_calls=[call("grep", pattern="MAX_REDIRECTS")]),
                       Reply("MAX_REDIRECTS caps them (net/redirects.py:3)."))
    with FakeOllama(replies, capabilities=TOOLS) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert answer.protocol == "native" and answer.status == "ok"
    assert {t["function"]["name"] for t in server.requests[0]["tools"]} >= {"grep", "read_file"}
    assert [(s.tool, s.arguments) for s in answer.steps] == [("grep", {"pattern": "MAX_REDIRECTS"})]


def test_native_asked_of_a_model_without_tools_is_an_error_with_the_fix(session_for):
    with FakeOllama(scripted(CITES_SEEN)) as server:
        answer = session_for(server, agent_protocol="native").ask("What limits redirects?")
    assert answer.status == "error" and "tool calling" in answer.reason
    assert "--agent-protocol react" in answer.hint and server.requests == []


def test_native_refusals_repeats_and_calls_written_as_text(session_for):
    grep = Reply(tool_calls=[call("grep", pattern="MAX_REDIRECTS")])
    as_text = Reply('{"name": "read_file", "arguments": {"path": "net/redirects.py"}}')
    unknown = Reply(tool_calls=[call("delete_everything")])
    replies = scripted(grep, grep, as_text, unknown, Reply("Capped (net/redirects.py:3)."))
    with FakeOllama(replies, capabilities=TOOLS) as server:
        answer = session_for(server, agent_protocol="native",
                             max_parse_failures=4).ask("What limits redirects?")
    assert answer.status == "ok"
    assert [s.tool for s in answer.steps if s.tool] == ["grep"], "each refused call is undone"
    errors = [s.error for s in answer.steps if s.error]
    assert "already called grep" in errors[0]
    assert "tool call as text" in errors[1]
    assert "no tool 'delete_everything'" in errors[2]
    # the model read each refusal after the reply it refused, in order
    last = server.requests[-1]["messages"]
    told = [m["content"] for m in last if m["role"] in ("tool", "user")][-3:]
    assert "already called" in told[0] and "as text" in told[1] and "delete_everything" in told[2]


def test_native_step_limit_ends_with_a_tool_free_answer(session_for):
    grep = Reply(tool_calls=[call("grep", pattern="MAX_REDIRECTS")])
    with FakeOllama(scripted(grep, Reply("Capped at net/redirects.py:3.")),
                    capabilities=TOOLS) as server:
        answer = session_for(server, agent_protocol="native", max_steps=1,
                             locate_answer=False).ask("What limits redirects?")
    assert answer.status == "incomplete" and "1 tool steps" in answer.reason
    assert answer.answer == "Capped at net/redirects.py:3."
    assert not server.requests[-1].get("tools"), "the last call offers no tools"


# --- the first search -------------------------------------------------------------------

def test_the_first_search_is_the_models_first_observation(session_for):
    repeat = ('Thought: search\nAction: multi_query_search\nAction Input: '
              '{"question": "Where are redirects followed?", "k": 8}')
    with FakeOllama(scripted(repeat, READ, "Thought: ok\nAnswer: net/redirects.py:17-28")) as server:
        answer = session_for(server, first_search=True).ask("Where are redirects followed?")
    first = answer.steps[0]
    assert (first.tool, first.arguments) == ("multi_query_search", {
        "question": "Where are redirects followed?", "k": 8}) and first.llm_ms == 0
    # before the model's first reply, it has the search's result, as its own first step
    assert "spans for" in everything(server.requests[0]) and "net/redirects.py:" in \
        everything(server.requests[0])
    assert "already called multi_query_search" in answer.steps[1].error
    assert [s.tool for s in answer.steps if s.tool] == ["multi_query_search", "read_file"]
    assert answer.status == "ok"


HEADER = re.compile(r"^\S+:\d+-\d+  \S.*$", re.M)


def pasting(request):
    """A model that answers with the first search's result pasted back (its first span):
    what small models did in 7 of 16 questions."""
    text = everything(request)
    return "Thought: I can answer.\nAnswer: " + "\n".join(
        text[HEADER.search(text).start():].split("\n")[:6])


def test_a_tool_result_pasted_back_is_unverified_though_it_cites(session_for):
    with FakeOllama(pasting) as server:
        answer = session_for(server, first_search=True).ask("Where are redirects followed?")
    assert any(c.valid and c.seen for c in answer.citations)
    assert answer.status == "unverified" and "repeats tool results" in answer.reason
    # Not sent back: a small model pastes again, and each try costs a minute on a CPU.
    assert len(server.requests) == 1


def test_the_first_search_copied_as_it_was_shown_is_refused_too(session_for):
    # A long question is shown cut in the first step; copying that is no new search.
    question = "Where are redirects followed? " + "The client loops on a 301 forever. " * 5
    shown = question[:100] + " ..."
    copied = ('Thought: search\nAction: multi_query_search\nAction Input: '
              + json.dumps({"question": shown, "k": 8}))
    with FakeOllama(scripted(copied, READ, "Thought: ok\nAnswer: net/redirects.py:17-28")) as server:
        answer = session_for(server, first_search=True).ask(question)
    assert shown in everything(server.requests[0]), "the first step shows the question cut"
    assert "already called multi_query_search" in answer.steps[1].error
    assert [s.tool for s in answer.steps if s.tool and not s.error] == [
        "multi_query_search", "read_file"]


def test_the_first_search_in_native_mode(session_for):
    with FakeOllama(scripted(Reply("It is net/redirects.py:17-28.")), capabilities=TOOLS) as server:
        answer = session_for(server, agent_protocol="native", first_search=True).ask("Where are redirects followed?")
    messages = server.requests[0]["messages"]
    assert messages[-2]["role"] == "assistant" and messages[-2]["tool_calls"][0]["function"][
        "name"] == "multi_query_search"
    assert messages[-1]["role"] == "tool" and "spans for" in messages[-1]["content"]
    assert answer.status == "ok" and answer.citations[0].seen


# --- the citation check -----------------------------------------------------------------

def test_an_invalid_citation_is_shown_to_the_model_which_corrects_it(session_for):
    with FakeOllama(scripted(GREP, CITES_PAST_END, CITES_SEEN)) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert answer.status == "ok" and answer.answer.endswith("(net/redirects.py:3).")
    correction = server.requests[-1]["messages"][-1]["content"]
    assert "net/redirects.py:90" in correction and "past the end" in correction
    assert any(s.error and "citation check" in s.error for s in answer.steps)
    assert answer.question == "What limits redirects?"


def test_an_answer_that_stays_invalid_is_unverified_never_ok(session_for):
    with FakeOllama(scripted(GREP, CITES_PAST_END, CITES_PAST_END)) as server:
        answer = session_for(server, citation_retries=1,
                             locate_answer=False).ask("What limits redirects?")
    assert answer.status == "unverified" and "past the end" in answer.reason
    assert len(server.requests) == 3, "one correction, no more"


# --- the places an answer rests on ------------------------------------------------------

UNCITED = "Thought: I can answer.\nAnswer: MAX_REDIRECTS caps them, in the redirect code."


def locating(*replies, pick=lambda offered: offered[:1], words="MAX_REDIRECTS caps them."):
    """The scripted replies; a request with a JSON schema as `format` (the places an
    answer rests on) is answered as Ollama would, with JSON choosing `pick(offered)`."""
    script = scripted(*replies)

    def policy(request):
        schema = request.get("format")
        if isinstance(schema, dict):
            offered = schema["properties"]["places"]["items"]["enum"]
            reply = {"places": pick(offered)}
            if "answer" in schema["properties"]:  # the last turn writes the answer too
                reply["answer"] = words
            return json.dumps(reply)
        return script(request)

    return policy


def offered_in(request):
    return request["format"]["properties"]["places"]["items"]["enum"]


def test_an_answer_citing_nothing_is_asked_for_its_places_among_those_shown(session_for):
    with FakeOllama(locating(GREP, UNCITED, UNCITED)) as server:
        answer = session_for(server).ask("What limits redirects?")
    asked = server.requests[-1]
    offered = offered_in(asked)
    # only places the grep result showed, as the citation check spells them
    assert offered and all(place.startswith("net/redirects.py:") for place in offered)
    assert "What limits redirects?" in everything(asked) and "caps them" in everything(asked)
    assert answer.located == offered[:1]
    assert answer.status == "ok", "the located place is real and was shown"
    assert [(c.location, c.valid, c.seen) for c in answer.citations] == [
        (offered[0], True, True)]
    assert answer.answer.startswith("MAX_REDIRECTS caps them, in the redirect code.")
    assert answer.timings["llm_calls"] == 3, "the answer, its correction, the places"


def test_a_place_that_was_not_offered_is_never_taken(session_for):
    # A server that ignores `format` may write anything: only offered places count.
    with FakeOllama(locating(GREP, UNCITED, UNCITED,
                             pick=lambda offered: ["net/redirects.py:1-40"])) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert "net/redirects.py:1-40" not in offered_in(server.requests[-1])
    assert answer.located == [] and answer.status == "unverified"
    assert "cites no code" in answer.reason


def test_a_model_asked_where_its_answer_rests_may_pick_nothing(session_for):
    with FakeOllama(locating(GREP, UNCITED, UNCITED, pick=lambda offered: [])) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert server.requests[-1]["format"]["properties"]["places"]["minItems"] == 0
    assert answer.located == [] and answer.status == "unverified"
    assert "Where:" not in answer.answer


def test_an_answer_that_cites_is_not_asked_and_the_setting_turns_it_off(session_for):
    with FakeOllama(locating(GREP, CITES_SEEN)) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert answer.status == "ok" and not any("format" in r for r in server.requests)
    with FakeOllama(locating(GREP, UNCITED, UNCITED)) as server:
        answer = session_for(server, locate_answer=False).ask("What limits redirects?")
    assert answer.status == "unverified" and not any("format" in r for r in server.requests)


def test_the_last_turn_at_a_limit_answers_by_picking_places_shown(session_for):
    # A model stuck on a refused call still ends with an answer that cites: the last,
    # tool-free turn is asked as JSON whose places are those the tool results showed.
    def last_turn(request):
        offered = offered_in(request)
        return json.dumps({"places": offered[:2], "answer": "MAX_REDIRECTS caps them."})

    script = scripted(GREP, GREP, GREP)

    def policy(request):
        return last_turn(request) if isinstance(request.get("format"), dict) else script(request)

    with FakeOllama(policy) as server:
        answer = session_for(server).ask("What limits redirects?")
    last = server.requests[-1]
    assert "no more tools can be called" in last["messages"][-1]["content"]
    assert last["format"]["required"] == ["places", "answer"]
    offered = offered_in(last)
    assert offered and all(place.startswith("net/redirects.py:") for place in offered)
    assert answer.status == "incomplete" and "same refused call" in answer.reason
    assert answer.answer.startswith("MAX_REDIRECTS caps them.")
    assert [(c.location, c.valid, c.seen) for c in answer.citations] == [
        (place, True, True) for place in offered[:2]]
    assert len(server.requests) == 4, "no locate call after an answer that cites"


def test_the_native_last_turn_picks_places_too(session_for):
    grep = Reply(tool_calls=[call("grep", pattern="MAX_REDIRECTS")])
    with FakeOllama(locating(grep, pick=lambda offered: offered[:1]),
                    capabilities=TOOLS) as server:
        answer = session_for(server, agent_protocol="native", max_steps=1).ask(
            "What limits redirects?")
    last = server.requests[-1]
    assert not last.get("tools") and "answer" in last["format"]["properties"]
    assert answer.status == "incomplete" and answer.citations[0].seen
    assert answer.citations[0].location == offered_in(last)[0]


def test_near_the_time_limit_the_tool_steps_stop_and_the_model_answers(session_for):
    # Stopped at the limit itself there is no time to ask the model, and the answer is the
    # tools' summary: the steps stop with a share of the time left for the last answer.
    slow_grep = Reply(GREP, delay=3.8)
    with FakeOllama(locating(slow_grep, READ)) as server:
        answer = session_for(server, question_seconds=4).ask("What limits redirects?")
    assert answer.status == "incomplete" and "time limit" in answer.reason
    assert [s.tool for s in answer.steps if s.tool] == ["grep"], "no step after the reserve"
    assert isinstance(server.requests[-1].get("format"), dict), "the last turn was asked"
    assert answer.citations and answer.citations[0].seen
    assert not answer.answer.startswith("I could not finish")


def test_the_time_kept_for_the_last_answer_is_at_least_the_slowest_reply(session_for):
    # Under a 4 s limit (and the session's 5 s of grace) a tenth of the limit still seems
    # enough for a third reply at 2.5 s; after a reply of 2 s it is not, and the model
    # answers instead of being cut off (at 9 s) into the tools' summary.
    replies = (Reply(GREP, delay=0.5), Reply(READ, delay=2), Reply(GREP, delay=7))
    with FakeOllama(locating(*replies)) as server:
        answer = session_for(server, question_seconds=4).ask("What limits redirects?")
    assert [s.tool for s in answer.steps if s.tool] == ["grep", "read_file"]
    assert isinstance(server.requests[-1].get("format"), dict), "the last turn was asked"
    assert answer.status == "incomplete" and answer.citations[0].seen
    assert not answer.answer.startswith("I could not finish")


def test_a_last_answer_that_runs_past_the_time_left_keeps_what_it_wrote(session_for):
    # A small model on a CPU wrote 1024 tokens (158 s) into its last answer with 90 s
    # left; waited for whole, it was lost to the tools' summary. Streamed and cut at the
    # time left, it keeps its places (written first) and the words so far.
    def policy(request):
        if not isinstance(request.get("format"), dict):
            return Reply(GREP, delay=3.8)
        text = json.dumps({"places": offered_in(request)[:1],
                           "answer": "MAX_REDIRECTS caps them." + " And more." * 100})
        return Reply(text, piece_delay=0.1)  # about 10 s, with about 3 s left

    with FakeOllama(policy) as server:
        answer = session_for(server, question_seconds=4).ask("What limits redirects?")
    assert answer.status == "incomplete" and "time limit" in answer.reason
    assert answer.answer.startswith("MAX_REDIRECTS caps them. And more.")
    assert "And more." * 100 not in answer.answer, "cut where the time ran out"
    assert answer.citations and answer.citations[0].seen


def test_a_last_turn_reply_without_places_ends_in_the_summary(session_for):
    with FakeOllama(scripted(GREP, GREP, GREP, "not JSON at all")) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert answer.status == "incomplete" and answer.answer.startswith("I could not finish")


def test_a_last_turn_of_places_without_words_ends_in_the_summary(session_for):
    # A bare list of places answers nothing: the tools' summary says what was found.
    with FakeOllama(locating(GREP, GREP, GREP, words="")) as server:
        answer = session_for(server).ask("What limits redirects?")
    assert isinstance(server.requests[-1].get("format"), dict), "the last turn was asked"
    assert answer.status == "incomplete" and answer.answer.startswith("I could not finish")


def test_a_rag_answer_citing_nothing_is_asked_for_its_places_among_its_snippets(session_for):
    with FakeOllama(locating("It is the redirect code.")) as server:
        answer = session_for(server).ask("Where are redirects followed?", mode="rag")
    offered = offered_in(server.requests[-1])
    # the snippets the answer was written from, a one-line one spelled `path:line`
    assert set(offered) == {re.sub(r":(\d+)-\1$", r":\1", s) for s in answer.sources}
    assert answer.status == "ok" and answer.located == offered[:1]


@pytest.mark.parametrize("text,why", [
    ("Thought: sure\nAnswer: They are capped at storage/cache.go:1-5.", "no tool result showed"),
    ("Thought: sure\nAnswer: Redirects are capped, trust me.", "cites no code"),
    ("Thought: sure\nAnswer: See src/app.py:10-24.", "no such file"),
])
def test_unseen_missing_or_no_citation_is_unverified(session_for, text, why):
    with FakeOllama(scripted(GREP, text)) as server:
        answer = session_for(server, citation_retries=0).ask("What limits redirects?")
    assert answer.status == "unverified" and why in answer.reason


def test_rag_answers_are_checked_too(session_for):
    with FakeOllama(scripted("It is in net/redirects.py:900-910.")) as server:
        answer = session_for(server).ask("Where are redirects followed?", mode="rag")
    assert answer.status == "unverified" and not answer.citations[0].valid
    with FakeOllama(scripted("It is net/redirects.py:17-28.")) as server:
        answer = session_for(server).ask("Where are redirects followed?", mode="rag")
    assert answer.status == "ok" and answer.citations[0].seen


# --- the prompts ------------------------------------------------------------------------

def test_no_prompt_shows_a_path_a_model_could_cite(session_for):
    """A small model copies examples: the system prompts, tool descriptions and every
    template must hold no path:line and no path with a directory and an extension."""
    from importlib import resources

    with FakeOllama(scripted()) as server:
        session = session_for(server)
    texts = [p.read_text(encoding="utf-8") for p in
             resources.files("codeagent.prompts").iterdir() if p.name.endswith(".md")]
    texts += [t.metadata.description + json.dumps(t.metadata.get_parameters_dict())
              for t in session.tools]
    assert len(texts) > 10
    for text in texts:
        assert not CITATION.search(text), CITATION.search(text)
        assert not re.search(r"(?<![\w*])[\w.-]+/[\w-]+\.[a-z]{1,4}\b", text), text[:200]


def test_an_answer_written_at_a_limit_is_corrected_too(session_for):
    uncited = "Thought: enough\nAnswer: They are capped, trust me."
    with FakeOllama(scripted(GREP, "garbage", "garbage", uncited, CITES_SEEN)) as server:
        answer = session_for(server, max_parse_failures=2,
                             locate_answer=False).ask("What limits redirects?")
    assert answer.status == "ok" and answer.answer.endswith("(net/redirects.py:3).")
    assert "cites no code" in server.requests[-1]["messages"][-1]["content"]


def test_a_summary_made_without_the_model_is_not_sent_for_correction(session_for):
    with FakeOllama(scripted(GREP, "garbage", "garbage", "garbage")) as server:
        answer = session_for(server, max_parse_failures=2).ask("What limits redirects?")
    assert answer.status == "incomplete" and answer.answer.startswith("I could not finish")
    assert len(server.requests) == 4, "three replies, the tool-free one, and no correction"


@pytest.mark.parametrize("text,place", [
    ("see net/redirects.py:17-28.", ("net/redirects.py", 17, 28)),
    ("- **net/redirects.py**: Lines 17-28", ("net/redirects.py", 17, 28)),
    ("`net/redirects.py` file at lines 17-28 to", ("net/redirects.py", 17, 28)),
    ("in net/redirects.py lines 17-28 and", ("net/redirects.py", 17, 28)),
    ("net/redirects.py (lines 17 to 28)", ("net/redirects.py", 17, 28)),
    ("<net/redirects.py>:17-28", ("net/redirects.py", 17, 28)),
    ("net/redirects.py#L17-L28", ("net/redirects.py", 17, 28)),
    ("at line 23 of `net/redirects.py`.", ("net/redirects.py", 23, 23)),
    ("/home/me/lib/net/redirects.py:23", ("/home/me/lib/net/redirects.py", 23, 23)),
    ("at lines 17-28 of net/redirects.py.", ("net/redirects.py", 17, 28)),
])
def test_the_citation_forms_small_models_write_are_read(text, place):
    from codeagent.assistant.citation_forms import cited_places

    assert cited_places(text) == [place]


@pytest.mark.parametrize("text", ["note:1", "the lines are long", "a.py lines are", "v:2",
                                  "1.5 lines 3", "version 3.11:2"])
def test_prose_is_not_a_citation(text):
    from codeagent.assistant.citation_forms import cited_places

    assert cited_places(text) == []


def test_a_seed_reaches_every_request(session_for):
    with FakeOllama(scripted(GREP, CITES_SEEN)) as server:
        session_for(server, llm_seed=3).ask("What limits redirects?")
    assert [r["options"]["seed"] for r in server.requests] == [3, 3]


def test_a_reply_after_a_refused_one_is_sampled_more_freely(session_for):
    # At the configured low temperature a small model writes a refused call again, word
    # for word; the retry is sampled warmer, and every other reply as configured.
    with FakeOllama(scripted(GREP, GREP, READ, CITES_SEEN)) as server:
        answer = session_for(server, temperature=0.1).ask("What limits redirects?")
    assert answer.status == "ok"
    assert [r["options"]["temperature"] for r in server.requests] == [0.1, 0.1, 0.7, 0.1]


def test_a_native_retry_is_sampled_more_freely_and_the_last_turn_as_configured(session_for):
    grep = Reply(tool_calls=[call("grep", pattern="MAX_REDIRECTS")])
    with FakeOllama(locating(grep, grep, grep, pick=lambda offered: offered[:1]),
                    capabilities=TOOLS) as server:
        answer = session_for(server, agent_protocol="native", temperature=0.1,
                             max_parse_failures=2).ask("What limits redirects?")
    assert answer.status == "incomplete"
    temperatures = [r["options"]["temperature"] for r in server.requests]
    # the call, its refused repeat, the warmer retry (refused again: stuck), the last turn
    assert temperatures == [0.1, 0.1, 0.7, 0.1]


def test_the_warmer_retry_does_not_leak_into_later_calls(session_for):
    with FakeOllama(locating(GREP, GREP, UNCITED)) as server:
        answer = session_for(server, temperature=0.1, citation_retries=0).ask(
            "What limits redirects?")
    assert answer.located, "the answer was asked for its places"
    # the grep, its repeat, the retry (answering), the locate call right after it
    assert [r["options"]["temperature"] for r in server.requests] == [0.1, 0.1, 0.7, 0.1]


def test_a_citation_is_seen_only_within_what_was_shown():
    from codeagent.assistant.evidence import Evidence

    shown = Evidence()
    shown.add('1 match in 1 file for "x":\npkg/a.py (1 match)\n  250: x = 1')
    shown.add("pkg/b.py:10-40  f\n    def f():")
    assert shown.covers("pkg/a.py", 250, 250) and not shown.covers("pkg/a.py", 1, 900)
    assert shown.covers("pkg/b.py", 10, 40) and shown.covers("pkg/b.py", 12, 20)
    assert not shown.covers("pkg/b.py", 1, 90) and not shown.covers("pkg/c.py", 1, 1)


def test_places_offered_are_grep_matches_and_reads_context_lines_only_seen():
    from codeagent.assistant.evidence import Evidence

    shown = Evidence.of(['1 match in 1 file for "x":\npkg/a.py (1 match)\n  249- # x\n'
                         '  250: x = 1\n  251- y = 2',
                         "pkg/a.py lines 240-260 of 900:\n240  def f():"])
    assert shown.shown == {"pkg/a.py:250": "", "pkg/a.py:240-260": ""}
    assert shown.covers("pkg/a.py", 249, 251)


def test_pasted_results_are_told_from_answers_that_quote_or_cite():
    from codeagent.assistant.evidence import Evidence

    shown = Evidence.of(["net/redirects.py:17-28  resolve_redirects\n    while resp.is_redirect:"
                         "\n        i += 1\n    ... (9 more lines)"])
    assert shown.repeated("net/redirects.py:17-28  resolve_redirects\n    while resp.is_redirect:")
    # pasted from the conversation's memory, where the result was cut shorter, in the
    # ReAct format: still the tool's lines
    assert shown.repeated("Answer: here\nnet/redirects.py:17-28  resolve_redirects\n"
                          "    while resp.is_redirect:\n[9 more lines]")
    assert not shown.repeated("The loop `while resp.is_redirect:` follows them "
                              "(net/redirects.py:17-28); nothing caps it.")
    assert not shown.repeated("It loops here:\n    while resp.is_redirect:\nwith no cap, "
                              "so a 301 to itself never ends (net/redirects.py:17-28).")


def test_a_citation_by_name_is_shown_with_the_name_it_was_given():
    from types import SimpleNamespace

    from codeagent.assistant.citations import Citation
    from codeagent.cli.console import citation_lines
    from codeagent.cli.repl_render import sources_lines

    named = Citation("net/redirects.py", 17, 28, True, None, True, "resolve_redirects")
    answer = SimpleNamespace(answer="...", citations=[named], mode="agent")
    assert citation_lines(answer) == [
        "citations: 1 of 1 verified", "  ok  net/redirects.py:17-28 (`resolve_redirects`)"]
    assert sources_lines(answer) == ["✓ net/redirects.py:17-28 (`resolve_redirects`)"]
