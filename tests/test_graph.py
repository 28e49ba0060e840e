"""The entity graph: what it links, that an index update keeps it right, and what the
ranking of definitions and find_symbol make of it."""

from __future__ import annotations

from codeagent.index.graph import CONTAINS, IMPORTS, INHERITS, INVOKES, load_graph
from codeagent.index.layout import open_manifest_readonly
from codeagent.index.run import run_index

PACKAGE = {
    "shop/__init__.py": "from .cart import Cart\n",
    "shop/cart.py": '''\
from shop.pricing import total_price
from . import tax


class Basket:
    def items(self):
        return []


class Cart(Basket):
    def checkout(self):
        price = total_price(self.items())
        return tax.apply_tax(price)
''',
    "shop/pricing.py": '''\
def total_price(items):
    return sum(item.price for item in items)


def unused():
    return 0
''',
    "shop/tax.py": '''\
def apply_tax(amount):
    return amount * 1.2
''',
    "tests/test_cart.py": '''\
from shop.cart import Cart


def test_checkout():
    assert Cart().checkout() == 0
''',
}


def build(root, files, settings_for, embedding):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    run_index(root, settings_for(root), embedding=embedding)
    manifest = open_manifest_readonly(root)
    try:
        return load_graph(manifest)
    finally:
        manifest.close()


def edges(graph, kind):
    return {(source, e.target) for source, out in graph.out.items() for e in out
            if e.kind == kind}


def test_graph_links_calls_imports_bases_and_containment(tmp_path, settings_for,
                                                         mock_embedding):
    graph = build(tmp_path, PACKAGE, settings_for, mock_embedding)
    assert {("shop/cart.py:Cart.checkout", "shop/pricing.py:total_price"),
            ("shop/cart.py:Cart.checkout", "shop/tax.py:apply_tax"),
            ("tests/test_cart.py:test_checkout", "shop/cart.py:Cart"),
            ("tests/test_cart.py:test_checkout", "shop/cart.py:Cart.checkout"),
            } <= edges(graph, INVOKES)
    # self.items() is Basket.items, in the same file
    assert ("shop/cart.py:Cart.checkout", "shop/cart.py:Basket.items") in edges(graph, INVOKES)
    assert edges(graph, INHERITS) == {("shop/cart.py:Cart", "shop/cart.py:Basket")}
    imports = edges(graph, IMPORTS)
    assert {("shop/cart.py", "shop/pricing.py"), ("shop/cart.py", "shop/pricing.py:total_price"),
            ("shop/cart.py", "shop/tax.py"),  # a relative `from . import tax`
            ("shop/__init__.py", "shop/cart.py"), ("tests/test_cart.py", "shop/cart.py"),
            } <= imports
    assert {("shop/cart.py", "shop/cart.py:Cart"),
            ("shop/cart.py:Cart", "shop/cart.py:Cart.checkout")} <= edges(graph, CONTAINS)
    assert not graph.callers("shop/pricing.py:unused")
    assert [e.target for e in graph.callers("shop/pricing.py:total_price")] == [
        "shop/cart.py:Cart.checkout"]


def test_an_update_changes_the_graph_as_a_fresh_index_would(tmp_path, settings_for,
                                                            mock_embedding):
    graph = build(tmp_path / "a", PACKAGE, settings_for, mock_embedding)
    assert ("shop/cart.py:Cart.checkout", "shop/tax.py:apply_tax") in edges(graph, INVOKES)
    changed = {"shop/cart.py": PACKAGE["shop/cart.py"].replace(
        "return tax.apply_tax(price)", "return unused() + price").replace(
        "import total_price", "import total_price, unused")}
    updated = build(tmp_path / "a", changed, settings_for, mock_embedding)
    fresh = build(tmp_path / "b", {**PACKAGE, **changed}, settings_for, mock_embedding)
    for kind in (INVOKES, IMPORTS, INHERITS, CONTAINS):
        assert edges(updated, kind) == edges(fresh, kind)
    assert ("shop/cart.py:Cart.checkout", "shop/pricing.py:unused") in edges(updated, INVOKES)
    assert ("shop/cart.py:Cart.checkout", "shop/tax.py:apply_tax") not in edges(updated, INVOKES)


def test_an_ambiguous_name_is_not_guessed(tmp_path, settings_for, mock_embedding):
    files = {f"m{i}.py": "def get():\n    return 1\n" for i in range(5)}
    files["user.py"] = "def use(x):\n    return x.get()\n"
    graph = build(tmp_path, files, settings_for, mock_embedding)
    assert not graph.out.get("user.py:use")  # five `get`s: none is known to be meant


def test_definitions_rank_from_chunks_names_and_the_graph(tmp_path, settings_for,
                                                          mock_embedding):
    from codeagent.index.manifest import Manifest
    from codeagent.retrieval.functions import Levers, rank
    from codeagent.retrieval.mentions import Mentions

    graph = build(tmp_path, PACKAGE, settings_for, mock_embedding)
    mentions = Mentions(Manifest(tmp_path / ".codeagent" / "manifest.sqlite"))
    report = ('Cart.checkout is wrong\n  File "/venv/site-packages/shop/cart.py", line 13, '
              'in checkout\n    return tax.apply_tax(price)')
    # Only the test was retrieved: the report's names and the graph find the code.
    ranked = rank(report, [("tests/test_cart.py", 1, 5)], graph, mentions)
    definitions = [d for d, _ in ranked.definitions]
    assert definitions[0] == "shop/cart.py:Cart.checkout"
    assert ranked.files[0][0] == "shop/cart.py"
    assert definitions.index("shop/tax.py:apply_tax") < definitions.index(
        "tests/test_cart.py:test_checkout")  # the test is found, after the code
    # Without chunks and names nothing is left to rank definitions by.
    assert not rank(report, [], graph, mentions, Levers(names=False)).definitions


def test_a_definitions_own_text_ranks_it_among_the_retrieved_files(tmp_path, settings_for,
                                                                     mock_embedding):
    from codeagent.index.manifest import Manifest
    from codeagent.retrieval.functions import CANDIDATE_CHUNKS, rank, text_definitions
    from codeagent.retrieval.mentions import Mentions

    discount = ("\n\ndef discount(amount, coupon):\n"
                "    # a coupon's percentage off, rounded down to whole cents\n"
                "    return amount - amount * coupon.percent // 100\n")
    files = {**PACKAGE, "shop/pricing.py": PACKAGE["shop/pricing.py"] + discount,
             "shop/extra.py": "def discount_rounding_percent_coupon():\n    return 'cents'\n"}
    graph = build(tmp_path, files, settings_for, mock_embedding)
    mentions = Mentions(Manifest(tmp_path / ".codeagent" / "manifest.sqlite"))
    read = []

    def read_lines(path):
        read.append(path)
        return (tmp_path / path).read_text().split("\n")

    report = "The coupon percentage is rounded wrongly: a few cents are lost."
    # A chunk of the module's first lines was retrieved; the words are in discount's body.
    chunks = [("shop/pricing.py", 1, 2)] + [("shop/tax.py", 1, 2)] * CANDIDATE_CHUNKS + [
        ("shop/extra.py", 1, 2)]
    found = text_definitions(report, chunks, graph, read_lines)
    assert found[0][0] == "shop/pricing.py:discount"
    assert "shop/extra.py" not in read  # only files of the first CANDIDATE_CHUNKS chunks
    assert all(not d.startswith("shop/extra.py") for d, _ in found)
    with_text = [d for d, _ in rank(report, chunks[:1], graph, mentions,
                                    read_lines=read_lines).definitions]
    without = [d for d, _ in rank(report, chunks[:1], graph, mentions).definitions]
    # the chunk's own definition first (it counts 1, the text TEXT_WEIGHT), then discount
    assert with_text[:2] == ["shop/pricing.py:total_price", "shop/pricing.py:discount"]
    assert "shop/pricing.py:discount" not in without
    assert not text_definitions("nothing here matches", chunks, graph, read_lines)
    assert not text_definitions(report, chunks, graph, lambda path: None)  # unreadable


def test_find_symbol_names_callers_callees_and_subclasses(tmp_path, settings_for,
                                                         mock_embedding):
    from codeagent.tools import TOOLS, bind
    from codeagent.tools.context import ToolContext

    build(tmp_path, PACKAGE, settings_for, mock_embedding)
    ctx = ToolContext(tmp_path, settings_for(tmp_path), embedding=mock_embedding)
    try:
        checkout = bind(TOOLS["find_symbol"], ctx)(name="Cart.checkout")
        basket = bind(TOOLS["find_symbol"], ctx)(name="Basket")
        (tmp_path / "shop" / "pricing.py").write_text(
            PACKAGE["shop/pricing.py"] + "\n\ndef again():\n    return total_price([])\n")
        run_index(tmp_path, settings_for(tmp_path), embedding=mock_embedding)
        after = bind(TOOLS["find_symbol"], ctx)(name="total_price")
    finally:
        ctx.close()
    assert "called from: tests/test_cart.py:5 (test_checkout)" in checkout
    assert "calls: Basket.items, total_price, apply_tax" in checkout
    assert "subclassed by: Cart (shop/cart.py)" in basket
    # the same session sees the update: the graph follows the index
    assert "shop/pricing.py:10 (again)" in after


def test_the_graph_spreads_a_named_function_to_its_callers_and_a_test_to_its_code(
        tmp_path, settings_for, mock_embedding):
    from codeagent.retrieval.functions import spread

    graph = build(tmp_path, PACKAGE, settings_for, mock_embedding)
    # a report naming total_price: its caller gets a share; a test seen: what it calls
    linked = dict(spread([("shop/pricing.py:total_price", 1.0)], [], graph))
    assert linked == {"shop/cart.py:Cart.checkout": 0.5}
    linked = dict(spread([], [("tests/test_cart.py:test_checkout", 1.0),
                              ("shop/tax.py:apply_tax", 2.0)], graph))
    assert linked == {"shop/cart.py:Cart": 0.25, "shop/cart.py:Cart.checkout": 0.25}
