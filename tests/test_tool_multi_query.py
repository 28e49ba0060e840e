"""multi_query_search: variants, fusion of vector and keyword rankings, merged spans, rerank."""

from __future__ import annotations

import re
import shutil

import pytest
from llama_index.core.base.llms.types import CompletionResponse, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.mock import MockLLM
from llama_index.core.schema import NodeWithScore, TextNode

from codeagent.index.layout import data_dir
from codeagent.index.run import run_index
from codeagent.prompts import PromptError, load_prompt
from codeagent.retrieval.functions import EntityRanking
from codeagent.retrieval.fusion import SpanMerger, keyword_retriever, multi_query
from codeagent.retrieval.variants import heuristic_variants, identifiers, query_variants
from codeagent.tools import TOOLS, bind
from codeagent.tools.context import ToolContext, ToolError
from codeagent.tools.multi_query_search import multi_query_search
from support import write_files


class ScriptedLLM(CustomLLM):
    """Answers every prompt with `answer` (or raises `error`), and keeps the prompts."""

    answer: str = ""
    error: Exception | None = None
    prompts: list[str] = []

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata()

    def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
        self.prompts.append(prompt)
        if self.error is not None:
            raise self.error
        return CompletionResponse(text=self.answer)

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
        raise NotImplementedError


@pytest.fixture
def ctx(repo, settings_for, mock_embedding):
    """The fixture repository indexed with constant vectors: BM25 decides, quickly."""
    run_index(repo, settings_for(repo), embedding=mock_embedding)
    context = ToolContext(repo, settings_for(repo), embedding=mock_embedding)
    yield context
    context.close()


def hit_lines(output):
    return [line for line in output.splitlines() if re.match(r"\S+:\d+-\d+  ", line)]


# --- query variants ----------------------------------------------------------------------

def test_identifiers_of_every_kind_are_picked_out():
    question = ("Why does `resolve_redirects` call RedirectMixin.send() with getUserName from "
                "net/redirects.py and HTTPServer, raising 'too many hops', e.g. on Python 3.11?")
    assert identifiers(question) == ["resolve_redirects", "too many hops",
                                     "RedirectMixin.send", "getUserName", "net/redirects.py",
                                     "HTTPServer"]
    assert identifiers("how are passwords hashed?") == []


def test_heuristic_variants_are_the_question_its_names_and_its_key_words():
    variants = heuristic_variants("Where does `get_user_name` read the display name?")
    assert variants == ["Where does `get_user_name` read the display name?",
                        "get_user_name", "get_user_name read display name", "get user name"]
    assert heuristic_variants("how are passwords hashed") == [
        "how are passwords hashed", "passwords hashed"]
    assert heuristic_variants("token") == ["token"]


def test_llm_variants_are_used_when_the_llm_gives_them():
    llm = ScriptedLLM(answer="Here are the queries:\n1. get_display_name User\n"
                             "- where the profile name is read\n* `account.profile`\n")
    variants, note = query_variants("Where is the user name read?", llm)
    assert variants == ["Where is the user name read?", "get_display_name User",
                        "where the profile name is read", "account.profile"]
    assert note is None
    assert "Where is the user name read?" in llm.prompts[0]


@pytest.mark.parametrize("llm", [ScriptedLLM(error=ConnectionError("refused")),
                                 ScriptedLLM(answer=""), MockLLM()],
                         ids=["unreachable", "silent", "parrots-the-prompt"])
def test_a_failing_llm_falls_back_to_heuristic_variants(llm, caplog):
    question = "Why does `get_user_name` return None?"
    variants, note = query_variants(question, llm)
    assert variants == heuristic_variants(question)
    assert "heuristic" in note
    assert "heuristic" in caplog.text


def test_prompt_loader_fills_the_template_and_fails_loudly():
    text = load_prompt("query_variants", question="where is X?", count=3)
    assert "where is X?" in text and "3" in text and "{" not in text
    with pytest.raises(PromptError, match="count"):
        load_prompt("query_variants", question="where is X?")
    with pytest.raises(PromptError, match="extra"):
        load_prompt("query_variants", question="q", count=3, extra="unused")
    with pytest.raises(PromptError, match="no_such_prompt"):
        load_prompt("no_such_prompt")


# --- merging spans -------------------------------------------------------------------------

def node(path, start, end, score, symbol=""):
    meta = {"path": path, "start_line": start, "end_line": end, "symbol": symbol,
            "language": "python"}
    return NodeWithScore(node=TextNode(id_=f"{path}{start}", metadata=meta), score=score)


FILES = {
    "a.py": [f"a{n}" for n in range(1, 41)],
    "b.py": ["b1", "b2", "b3", "", "", "b6", "b7", "b8", "b9", "b10"],
}


def span(hit):
    meta = hit.node.metadata
    return meta["path"], meta["start_line"], meta["end_line"], hit.score


def test_overlapping_and_adjacent_hits_in_a_file_become_one_span():
    nodes = [node("a.py", 25, 32, 0.9, "late"), node("a.py", 1, 10, 0.5, "head"),
             node("a.py", 8, 20, 0.7, "head"),      # overlaps 1-10
             node("a.py", 21, 24, 0.2, "middle"),   # touches 8-20 and 25-32
             node("b.py", 1, 3, 0.4), node("b.py", 6, 8, 0.3),  # blank lines between
             node("gone.py", 1, 5, 1.0)]            # unreadable now: left out
    merged = SpanMerger(FILES.get).postprocess_nodes(nodes)
    assert [span(hit) for hit in merged] == [("a.py", 1, 32, 0.9), ("b.py", 1, 8, 0.4)]
    first = merged[0].node
    assert first.get_content() == "\n".join(FILES["a.py"][0:32])
    assert first.metadata["symbol"] == "head, middle, late"
    assert first.metadata["focus_line"] == 25  # where the best part starts


def test_separate_hits_stay_apart_and_keep_the_fused_order():
    nodes = [node("b.py", 9, 10, 0.6), node("a.py", 1, 5, 0.6), node("a.py", 7, 9, 0.5),
             node("b.py", 1, 2, 0.1)]
    merged = SpanMerger(FILES.get).postprocess_nodes(nodes)
    assert [span(hit) for hit in merged] == [
        ("b.py", 9, 10, 0.6), ("a.py", 1, 5, 0.6), ("a.py", 7, 9, 0.5), ("b.py", 1, 2, 0.1)]


def test_adjacent_hits_merge_only_up_to_the_span_limit():
    nodes = [node("a.py", 1, 10, 0.5), node("a.py", 11, 20, 0.4), node("a.py", 21, 30, 0.3),
             node("a.py", 28, 35, 0.2)]  # overlapping hits merge whatever the limit
    merged = SpanMerger(FILES.get, max_lines=20).postprocess_nodes(nodes)
    assert [span(hit) for hit in merged] == [("a.py", 1, 20, 0.5), ("a.py", 21, 35, 0.3)]


def test_files_are_ranked_from_all_candidates_and_the_first_ones_are_shown(
        tmp_path, settings_for, mock_embedding):
    # 30 files say "coupon" more often than deep.py: by keyword, its chunk comes 31st, past
    # the few dozen chunks spans are merged from. The entity ranking reads all candidates;
    # whatever it puts first is shown first, with the lines of its best chunk.
    files = {f"shop/m{i:02}.py": "def f():\n    return 'coupon coupon coupon coupon'\n"
             for i in range(30)}
    files["deep.py"] = "def apply():\n    return 'coupon', 'order', 'total', 'cart'\n"
    write_files(tmp_path, files)
    run_index(tmp_path, settings_for(tmp_path), embedding=mock_embedding)
    seen = []

    def entities(chunks):
        seen.append([path for path, _, _ in chunks])
        return EntityRanking([("deep.py", 1.0)] + [(p, 0.5) for p, _, _ in chunks
                                                   if p != "deep.py"])

    found = multi_query(None, data_dir(tmp_path), ["coupon"], 3,
                        lambda path: (tmp_path / path).read_text().splitlines(),
                        entities=entities)
    assert seen[0].index("deep.py") >= 30, "the ranking saw every candidate"
    assert [span(hit)[:3] for hit in found.hits][0] == ("deep.py", 1, 2)
    assert len(found.hits) == 3


# --- the tool ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ({"question": "  "}, "empty"), ({"question": "x", "k": 0}, "between"),
    ({"question": "x", "k": 21}, "between")])
def test_bad_arguments_are_tool_errors(ctx, args, message):
    with pytest.raises(ToolError, match=message):
        multi_query_search(ctx, **args)


def test_output_names_spans_variants_and_how_to_read_more(ctx):
    output = multi_query_search(ctx, "How does `resolve_redirects` stop after MAX_REDIRECTS?",
                                k=3)
    lines = output.splitlines()
    assert lines[1].startswith("variants: ") and '"resolve_redirects MAX_REDIRECTS"' in lines[1]
    hits = hit_lines(output)
    assert 1 <= len(hits) <= 3
    assert hits[0].startswith("net/redirects.py:1-") and "RedirectMixin" in hits[0]
    assert "read_file" in lines[-1]
    assert "reranking" not in output  # none asked for
    # the functions, best first: the one the question names, in the file found
    functions = next(line for line in lines if line.startswith("functions, best first: "))
    assert functions.split(": ", 1)[1].startswith(
        "net/redirects.py:17 RedirectMixin.resolve_redirects")


def test_the_definitions_text_is_read_through_the_tools_jailed_reader(ctx, monkeypatch):
    from codeagent.retrieval import functions

    seen = []
    real = functions.text_definitions

    def spy(text, chunks, graph, read_lines):
        first = chunks[0][0]
        seen.append((first, read_lines(first), read_lines("../outside.py")))
        return real(text, chunks, graph, read_lines)

    monkeypatch.setattr(functions, "text_definitions", spy)
    multi_query_search(ctx, "How does `resolve_redirects` stop after MAX_REDIRECTS?", k=3)
    (first, lines, outside), = seen
    assert lines and lines == (ctx.repo / first).read_text().split("\n")[:len(lines)]
    assert outside is None


def test_output_stays_within_the_observation_budget(ctx):
    ctx.settings.observation_tokens = 150
    output = multi_query_search(ctx, "redirects cache password price deploy", k=10)
    assert len(output) <= 150 * 3.5 + 200  # the budget, plus the two closing lines
    assert "left out" in output and len(hit_lines(output)) < 10


def test_unavailable_reranker_is_reported_once_and_results_still_come(ctx):
    ctx.settings.rerank_model = "no-such-org/no-such-cross-encoder"
    output = multi_query_search(ctx, "LRUCache Put evicts", k=2)
    assert output.count("reranking off") == 1
    assert hit_lines(output)[0].startswith("storage/cache.go:")


def test_a_broken_llm_does_not_break_the_search(ctx):
    ctx.llm = ScriptedLLM(error=TimeoutError("ollama did not answer"))
    output = multi_query_search(ctx, "where is hash_password?", k=2)
    assert "heuristic" in output
    assert hit_lines(output)[0].startswith("auth/password.rs:")


def test_the_llm_variants_are_searched_and_shown(ctx):
    ctx.llm = ScriptedLLM(answer="NewLRUCache capacity\nleast recently used eviction\n")
    output = multi_query_search(ctx, "what happens when the store is full?", k=2)
    assert output.splitlines()[1] == ('variants: "what happens when the store is full?" | '
                                      '"NewLRUCache capacity" | "least recently used eviction"')
    assert hit_lines(output)[0].startswith("storage/cache.go:")


def test_without_an_index_the_error_says_how_to_build_it(repo, settings_for):
    context = ToolContext(repo, settings_for(repo))
    with pytest.raises(ToolError, match="codeagent index"):
        multi_query_search(context, "anything")


def test_the_bound_tool_converts_arguments_and_reports_errors(ctx):
    from codeagent.tools import bind

    tool = bind(multi_query_search, ctx)
    assert hit_lines(tool(question="formatPrice", k="1"))[0].startswith("web/format.js:")
    assert tool(question="", k=3).startswith("error: question is empty")


def test_without_a_keyword_index_vector_search_still_answers(ctx):
    shutil.rmtree(data_dir(ctx.repo) / "bm25")
    output = multi_query_search(ctx, "formatPrice", k=2)
    assert "keyword search off" in output and len(hit_lines(output)) == 2


def test_hits_in_files_gone_since_indexing_are_not_cited(ctx):
    for path in ctx.searcher().manifest.files():
        (ctx.repo / path).unlink(missing_ok=True)
    output = multi_query_search(ctx, "how are redirects followed?")
    assert output.startswith('nothing found for "how are redirects followed?"')
    assert "grep" in output and not hit_lines(output)


@pytest.mark.parametrize("files", [{"empty.py": ""}, {}], ids=["no chunks", "no files"])
def test_an_empty_index_says_so(tmp_path, settings_for, mock_embedding, files):
    write_files(tmp_path, files)
    run_index(tmp_path, settings_for(tmp_path), embedding=mock_embedding)
    context = ToolContext(tmp_path, settings_for(tmp_path), embedding=mock_embedding)
    try:
        assert "nothing to search" in multi_query_search(context, "anything")
        assert "nothing to search" in bind(TOOLS["semantic_search"], context)(query="anything")
    finally:
        context.close()


# --- the case multi-query exists for (real MiniLM vectors) ---------------------------------

QUESTION = ("Why does apply_coupon make the order total negative when the voucher is worth "
            "more than the cart?")
TARGET, SEMANTIC, LEXICAL = "shop/discounts.py", "docs/faq.md", "shop/audit.py"
# The target holds the bug. The FAQ says the same as the question in other words (plurals
# and synonyms: no shared keyword but "negative"), so vectors put it first; the audit code
# repeats the question's words (order, total, coupon, cart, apply_coupon), so BM25 puts it
# first. The target is second in both; only the variants' names ("apply_coupon",
# "apply coupon") lift it.
SHOP = {
    TARGET: '"""Discounts at checkout."""\n\n\ndef apply_coupon(order, coupon):\n'
            '    """Subtract a coupon from an order."""\n'
            '    order.total = order.total - coupon.value\n'
            '    order.discounts.append(coupon.code)\n    return order\n',
    LEXICAL: '"""Audit trail: every order total, coupon and cart change is recorded."""\n\n\n'
             'def record_order(order, coupon, cart):\n'
             '    """Write the order total, the coupon code and the cart size after '
             'apply_coupon."""\n'
             '    AUDIT.append({"order": order.id, "total": order.total, "coupon": coupon.code,\n'
             '                  "cart": len(cart.items)})\n',
    SEMANTIC: "# Checkout questions\n\n## Why do totals go negative when vouchers exceed carts?"
              "\n\nVouchers bigger than the basket push what the customer owes below zero.\n"
              "Checkout must clamp it at zero.\n",
    "shop/shipping.py": '"""Shipping costs."""\n\n\ndef shipping_cost(order):\n'
                        '    """Flat rate under 50 euros, free above."""\n'
                        '    return 0 if order.total >= 50 else 4.95\n',
    "shop/tax.py": '"""Value added tax."""\n\n\ndef add_vat(order, rate=0.21):\n'
                   '    """Add VAT to every line of the order."""\n'
                   '    for line in order.lines:\n'
                   '        line.price = round(line.price * (1 + rate), 2)\n',
    "shop/cart.py": '"""The shopping cart."""\n\n\nclass Cart:\n    def __init__(self):\n'
                    '        self.items = []\n\n    def add(self, product, quantity=1):\n'
                    '        self.items.append((product, quantity))\n\n'
                    '    def subtotal(self):\n        return sum(product.price * quantity '
                    'for product, quantity in self.items)\n',
    "shop/users.py": '"""Customer accounts."""\n\n\ndef register(email, password):\n'
                     '    """Create an account and send the welcome mail."""\n'
                     '    user = User(email=email)\n    user.set_password(password)\n'
                     '    send_mail(email, "Welcome")\n    return user\n',
}


@pytest.mark.slow
def test_multi_query_ranks_first_what_each_search_alone_ranks_second(tmp_path, settings_for,
                                                                    minilm):
    write_files(tmp_path, SHOP)
    run_index(tmp_path, settings_for(tmp_path), embedding=minilm)
    context = ToolContext(tmp_path, settings_for(tmp_path), embedding=minilm)
    try:
        index = context.searcher().vector_index
        by_vector = [hit.node.metadata["path"]
                     for hit in index.as_retriever(similarity_top_k=5).retrieve(QUESTION)]
        by_keyword = [hit.node.metadata["path"]
                      for hit in keyword_retriever(data_dir(tmp_path), 5).retrieve(QUESTION)]
        print("vector:", by_vector, "\nbm25:  ", by_keyword)
        assert by_vector[:3] == [SEMANTIC, TARGET, LEXICAL]
        assert by_keyword[:3] == [LEXICAL, TARGET, SEMANTIC]

        def lines(path):
            return (tmp_path / path).read_text().splitlines()

        # Fusing the two rankings of the question alone does not find it either ...
        alone = multi_query(index, data_dir(tmp_path), [QUESTION], 3, lines)
        assert alone.hits[0].node.metadata["path"] != TARGET
        # ... the question asked several ways does.
        output = multi_query_search(context, QUESTION, k=3)
        print(output)
        assert hit_lines(output)[0].startswith(f"{TARGET}:1-")
    finally:
        context.close()


@pytest.mark.slow
def test_a_local_cross_encoder_reranks(ctx):
    from codeagent.index.embedding import BUNDLED_MODEL, resolve_model_dir

    # The only model here is a bi-encoder: loaded as a cross-encoder its scoring head is
    # untrained, so the order means nothing, but loading and reranking run for real.
    ctx.settings.rerank_model = str(resolve_model_dir(BUNDLED_MODEL))
    output = multi_query_search(ctx, "How are redirects followed?", k=3)
    assert "by cross-encoder" in output.splitlines()[0] and "reranking off" not in output
    assert len(hit_lines(output)) == 3


def test_a_record_without_its_metadata_is_skipped_not_a_crash():
    """On a Chroma server another process is writing to, a query can meet a record whose
    vector is stored and whose metadata is not (yet, or any more)."""
    from llama_index.core.retrievers import BaseRetriever

    from codeagent.retrieval.fusion import ChunkRetriever

    whole = {"path": "a.py", "start_line": 1, "end_line": 3, "symbol": "f", "language": "python"}

    class Store(BaseRetriever):
        def _retrieve(self, query_bundle):
            return [NodeWithScore(node=TextNode(id_="half", metadata={}), score=0.9),
                    NodeWithScore(node=TextNode(id_="whole", metadata=whole), score=0.8)]

    hits = ChunkRetriever(Store()).retrieve("anything")
    assert [(hit.node.node_id, hit.node.metadata["path"]) for hit in hits] == [("whole", "a.py")]
