"""Feedback loops from a model's graph: link and loop polarity, shortest independent loops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdplanner.engine.ir import (
    TIME,
    Bin,
    Call,
    Cmp,
    Lookup,
    ModelIR,
    Neg,
    Ref,
    ToRegion,
    Variable,
    num,
)
from sdplanner.errors import ModelError
from sdplanner.loops import (
    ANY,
    NEG,
    NONNEG,
    POS,
    ZERO,
    CausalGraph,
    analyze_loops,
    causal_graph,
    derivative_sign,
    loop_polarity,
    polarity,
    shortest_independent_loops,
)
from sdplanner.resources import default_model_path

from .conftest import load_tool

MODELS = Path(__file__).parent / "models"


def loop_set(analysis) -> set[tuple[tuple[str, ...], str]]:
    return {(loop.variables, loop.polarity) for loop in analysis.loops}


# --------------------------------------------------------------------------------------
# Known answers on small models (tests/models/)
# --------------------------------------------------------------------------------------
def test_teacup_has_one_balancing_loop():
    res = analyze_loops(MODELS / "teacup.mdl")
    assert [(loop.variables, loop.links, loop.polarity) for loop in res.loops] == [
        (("teacup_temperature", "heat_loss_to_room"), ("+", "-"), "B")
    ]
    loop = res.loops[0]
    assert loop.id == "B1" and loop.length == 2
    assert loop.names == ("Teacup Temperature", "Heat Loss to Room")
    assert loop.stocks == ("teacup_temperature",)
    # constants (room temperature, characteristic time) are no nodes
    assert set(res.graph.nodes) == {"teacup_temperature", "heat_loss_to_room"}
    # the heat loss is a difference: its sign is the stated assumption, not a proof
    assert res.graph.assumed_positive == ("heat_loss_to_room",)


def test_population_has_one_reinforcing_and_one_balancing_loop():
    res = analyze_loops(MODELS / "population.mdl")
    assert loop_set(res) == {(("population", "births"), "R"), (("population", "deaths"), "B")}
    assert res.graph.links == {
        ("population", "births"): "+",
        ("births", "population"): "+",
        ("population", "deaths"): "+",
        ("deaths", "population"): "-",
    }
    assert (res.count("R"), res.count("B"), res.count("?")) == (1, 1, 0)


def test_predator_prey_loop_set():
    # Lotka-Volterra: two growth/decay loops per stock and the predation loop through both
    res = analyze_loops(MODELS / "predator_prey.mdl")
    assert loop_set(res) == {
        (("prey", "prey_births"), "R"),
        (("prey", "prey_eaten"), "B"),
        (("predators", "predator_births"), "R"),
        (("predators", "predator_deaths"), "B"),
        (("prey", "predator_births", "predators", "prey_eaten"), "B"),
    }
    coupled = next(loop for loop in res.loops if loop.length == 4)
    assert coupled.links == ("+", "+", "+", "-")
    assert coupled.stocks == ("prey", "predators")
    assert [loop.length for loop in res.loops] == [2, 2, 2, 2, 4]  # shortest first
    # one strongly connected part: 6 variables, 10 links, a complete set of 10 - 6 + 1
    (part,) = res.components
    assert (len(part.variables), part.n_links, part.cycle_rank, part.n_loops) == (6, 10, 5, 5)


def test_a_loop_through_a_non_monotone_lookup_has_unknown_polarity():
    res = analyze_loops(MODELS / "nonmonotone_lookup.mdl")
    (loop,) = res.loops
    assert loop.variables == ("stock", "effect_of_stock", "growth")
    assert loop.links == ("?", "+", "+")
    assert loop.polarity == "?" and loop.id == "U1"
    assert res.count("?") == 1


def test_a_loop_through_a_falling_lookup_is_balancing():
    res = analyze_loops(MODELS / "falling_lookup.mdl")
    (loop,) = res.loops
    assert loop.links == ("-", "+", "+") and loop.polarity == "B"


def test_a_model_that_cannot_be_read_is_refused(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        analyze_loops(tmp_path / "missing.mdl")
    bad = tmp_path / "bad.mdl"
    bad.write_text("this is not a model", encoding="utf-8")
    with pytest.raises(ModelError, match=r"bad\.mdl"):
        analyze_loops(bad)


# --------------------------------------------------------------------------------------
# Sign analysis of expressions
# --------------------------------------------------------------------------------------
def _ir(**equations) -> ModelIR:
    """A model with a stock ``s``, constants ``c = 2``, ``k = -3``, ``off = 0`` and auxiliaries."""
    variables = {
        "s": Variable("S", "s", "stock", False, Ref("a"), num(1)),
        "c": Variable("c", "c", "constant", False, None, None, 2.0),
        "k": Variable("k", "k", "constant", False, None, None, -3.0),
        "off": Variable("off", "off", "constant", False, None, None, 0.0),
        "initial_time": Variable("INITIAL TIME", "initial_time", "control", False, num(0), None, 0),
        "final_time": Variable("FINAL TIME", "final_time", "control", False, num(10), None, 10),
    }
    for name, expr in {"a": Ref("s"), **equations}.items():
        variables[name] = Variable(name, name, "auxiliary", False, expr)
    return ModelIR(Path("test.mdl"), "", (), variables)


S, C, K, OFF = Ref("s"), Ref("c"), Ref("k"), Ref("off")
RISING = Lookup(S, (0.0, 1.0, 2.0), (0.0, 1.0, 3.0))
FALLING = Lookup(S, (0.0, 1.0, 2.0), (3.0, 1.0, 1.0))
PEAKED = Lookup(S, (0.0, 1.0, 2.0), (0.0, 1.0, 0.0))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (Bin("+", S, C), POS),
        (Bin("-", C, S), NEG),
        (Neg(S), NEG),
        (Bin("*", S, C), POS),
        (Bin("*", S, K), NEG),
        (Bin("*", S, OFF), NONNEG),  # a lever switched off: zero or positive
        (Bin("/", C, S), NEG),  # d(c/s)/ds = -c/s^2
        (Bin("/", S, K), NEG),
        # s in numerator and denominator: linear fractions (p s + q)/(r s + t) are solved
        (Bin("/", S, Bin("+", S, C)), POS),  # a share: s/(s+c)
        (Bin("/", Bin("*", C, S), Bin("+", Bin("-", C, num(1)), S)), POS),  # saturation
        (Bin("/", Bin("-", C, S), Bin("+", C, S)), NEG),
        (Bin("/", S, Bin("+", Bin("*", S, S), C)), ANY),  # not linear in s: unknown
        (Bin("**", S, C), POS),
        (Bin("**", S, K), NEG),
        (Bin("**", C, S), POS),  # 2^s: ln 2 > 0
        (Bin("**", num(0.5), S), NEG),  # 0.5^s: ln 0.5 < 0
        (Call("exp", (Neg(S),)), NEG),
        (Call("ln", (S,)), POS),
        (Call("min", (S, C)), NONNEG),  # the branch in force: s, or the constant
        (Call("max", (S, Neg(S))), frozenset({-1, 1})),  # branches disagree
        (Call("xidz", (C, S, C)), frozenset({-1, 0})),
        (Call("zidz", (S, C)), NONNEG),
        (Call("if_then_else", (Cmp(">", TIME, C), S, C)), NONNEG),
        (Call("if_then_else", (Cmp(">", TIME, C), S, Bin("*", S, C))), POS),
        (Call("if_then_else", (Cmp(">", TIME, C), S, Neg(S))), frozenset({-1, 1})),
        (Call("if_then_else", (Cmp(">", S, C), C, K)), ANY),  # a jump where s crosses c
        (Cmp(">", S, C), ANY),
        (RISING, NONNEG),  # flat beyond the table's ends
        (FALLING, frozenset({-1, 0})),
        (PEAKED, ANY),
        (Call("sum", (S,)), POS),
        (ToRegion(Neg(S)), NEG),
        (Call("sqrt", (S,)), POS),
        (Call("abs", (Neg(S),)), NONNEG),  # |-s| = s for s >= 0
        (Call("some_new_function", (S,)), ANY),  # unknown to this module: unknown sign
        (Bin("%", S, C), ANY),
        (Bin("*", C, TIME), ZERO),  # s is not in it
    ],
)
def test_derivative_signs(expr, expected):
    assert derivative_sign(_ir(), expr, "s") == expected


@pytest.mark.parametrize(
    ("signs", "expected"),
    [(POS, "+"), (NONNEG, "+"), (NEG, "-"), (frozenset({-1, 0}), "-"), (ANY, "?"), (ZERO, "?")],
)
def test_polarity_from_signs(signs, expected):
    assert polarity(signs) == expected


@pytest.mark.parametrize(
    ("links", "expected"),
    [(("+", "+"), "R"), (("+", "-"), "B"), (("-", "-"), "R"), (("-",), "B"), (("+", "?"), "?")],
)
def test_loop_polarity(links, expected):
    assert loop_polarity(links) == expected


def test_values_bound_the_signs_of_products():
    # d(a*b)/da has the sign of b: here b = 1 - share with share in [0, 1] by its lookup
    share = Lookup(S, (0.0, 1.0), (0.0, 1.0))
    ir = _ir(share=share, rest=Bin("-", num(1), Ref("share")))
    assert derivative_sign(ir, Bin("*", Ref("a"), Ref("rest")), "a") == NONNEG
    # a difference with no bound is taken as positive (the stated assumption) ...
    ir = _ir(gap=Bin("-", S, C))
    graph = causal_graph(ir)
    assert graph.assumed_positive == ("gap",)
    assert graph.ranges["gap"] == (0.0, float("inf"))
    # ... and a declared range is used before any assumption
    graph = causal_graph(ir, limits={"gap": (0, 5)})
    assert graph.assumed_positive == () and graph.ranges["gap"] == (0.0, 5.0)


def test_unknown_node_types_give_unknown_links_and_no_error():
    @dataclass(frozen=True)
    class Smooth:  # a node type a later parser may add
        arg: object
        time: object

    ir = _ir(y=Smooth(Ref("s"), Ref("c")))
    ir.variables["s"] = Variable("S", "s", "stock", False, Bin("-", Ref("y"), Ref("a")), num(1))
    graph = causal_graph(ir)
    assert graph.links[("s", "y")] == "?"
    assert ("c", "y") not in graph.links  # constants are no nodes
    res = shortest_independent_loops(graph)
    assert {(loop.variables, loop.polarity) for loop in res.loops} == {
        (("s", "a"), "B"),
        (("s", "y"), "?"),
    }


def test_variables_of_stateful_functions_are_folded_into_links():
    # out = SMOOTH(s, 2) as a parser makes it: a hidden stock following s
    # s = INTEG(-out): the loop s -> out -> s is balancing, the stage's own loop is hidden
    stage = Bin("/", Bin("-", Ref("s"), Ref("_stage")), num(2))
    variables = {
        "s": Variable("S", "s", "stock", False, Neg(Ref("out")), num(1)),
        "_stage": Variable(
            "out (SMOOTH stage 1)", "_stage", "stock", False, stage, num(1), hidden=True
        ),
        "out": Variable("out", "out", "auxiliary", False, Ref("_stage")),
    }
    graph = causal_graph(ModelIR(Path("t.mdl"), "", (), variables))
    assert graph.nodes == ("s", "out")
    assert graph.links == {("out", "s"): "-", ("s", "out"): "+"}
    res = shortest_independent_loops(graph)
    assert [(loop.variables, loop.polarity) for loop in res.loops] == [(("s", "out"), "B")]


# --------------------------------------------------------------------------------------
# The loop set on graphs
# --------------------------------------------------------------------------------------
def _graph(edges: list[tuple[str, str]], stocks=()) -> CausalGraph:
    nodes = tuple(dict.fromkeys(n for e in edges for n in e))
    return CausalGraph(nodes, {n: n for n in nodes}, frozenset(stocks), dict.fromkeys(edges, "+"))


def test_a_longer_loop_made_of_shorter_ones_is_left_out():
    # ring a->b->c->d->a with a<->c: four loops, three independent (cycle rank 7 - 4 + 1 = 3)
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "c"), ("c", "a")]
    res = shortest_independent_loops(_graph(edges))
    assert {loop.variables for loop in res.loops} == {("a", "c"), ("a", "b", "c"), ("a", "c", "d")}
    assert len(list(nx.simple_cycles(nx.DiGraph(edges)))) == 4
    (part,) = res.components
    assert (part.cycle_rank, part.n_loops) == (3, 3)


def test_a_dense_part_can_have_fewer_shortest_loops_than_its_cycle_rank():
    # every pair of three variables linked both ways: the three 2-loops cover every link,
    # while the cycle rank is 6 - 3 + 1 = 4 (Oliva 2004's geodetic loops fall short)
    edges = [(a, b) for a in "xyz" for b in "xyz" if a != b]
    res = shortest_independent_loops(_graph(edges))
    assert sorted(loop.length for loop in res.loops) == [2, 2, 2]
    (part,) = res.components
    assert (part.cycle_rank, part.n_loops) == (4, 3)


def test_a_loop_starts_at_its_first_stock():
    res = shortest_independent_loops(_graph([("f", "g"), ("g", "S"), ("S", "f")], stocks={"S"}))
    (loop,) = res.loops
    assert loop.variables == ("S", "f", "g") and loop.stocks == ("S",)


def test_a_graph_without_loops_has_an_empty_loop_set():
    res = shortest_independent_loops(_graph([("a", "b"), ("b", "c"), ("a", "c")]))
    assert res.loops == () and res.components == ()


def check_loop_set(graph: CausalGraph, res) -> None:
    """The invariants of a shortest independent loop set (Oliva 2004)."""
    g = graph.digraph()
    all_cycles = {_canonical(c) for c in nx.simple_cycles(g)}
    covered: set[tuple[str, str]] = set()
    dist = dict(nx.all_pairs_shortest_path_length(g))
    for loop in res.loops:
        edges = loop.edges()
        assert len(set(loop.variables)) == loop.length  # a simple cycle ...
        assert _canonical(list(loop.variables)) in all_cycles  # ... of the graph
        assert loop.links == tuple(graph.links[e] for e in edges)
        new = [e for e in edges if e not in covered]
        assert new, f"{loop.variables} brings no new link"  # independent of the loops before
        # geodetic: no shorter loop passes through the link it brings first
        assert any(loop.length == 1 + dist[v][u] if u != v else loop.length == 1 for u, v in new)
        covered.update(edges)
    part_of = {n: i for i, part in enumerate(res.components) for n in part.variables}
    inner = {(u, v) for u, v in g.edges if part_of.get(u, -1) == part_of.get(v, -2)}
    assert covered == inner  # every link inside a strongly connected part is on a loop
    in_parts = set(part_of)
    looped = {n for c in all_cycles for n in c}
    assert in_parts == looped  # every variable on some loop is on a loop of the set
    for part in res.components:
        assert part.n_loops <= part.cycle_rank


def _canonical(cycle: list[str]) -> tuple[str, ...]:
    k = cycle.index(min(cycle))
    return tuple(cycle[k:] + cycle[:k])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 7), st.sampled_from("+-?")),
        min_size=1,
        max_size=24,
    )
)
def test_loop_set_invariants_on_random_graphs(edges):
    links = {(f"v{u}", f"v{v}"): pol for u, v, pol in edges}
    nodes = tuple(sorted({n for e in links for n in e}))
    graph = CausalGraph(nodes, {n: n for n in nodes}, frozenset(nodes[::3]), links)
    res = shortest_independent_loops(graph)
    check_loop_set(graph, res)
    assert res.loops == shortest_independent_loops(graph).loops  # reproducible
    assert {loop.id for loop in res.loops} == {
        f"{'U' if p == '?' else p}{i}" for p in "RB?" for i in range(1, res.count(p) + 1)
    }


# --------------------------------------------------------------------------------------
# The shipped model and its documentation
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped():
    return analyze_loops(default_model_path())


def test_shipped_model_loop_set(shipped, model):
    assert shipped.loops, "the shipped model has feedback loops"
    check_loop_set(shipped.graph, shipped)
    for loop in shipped.loops:
        assert loop.polarity == loop_polarity(loop.links)
        assert set(loop.stocks) == set(loop.variables) & set(model.stocks)
    # constants and controls are never on a loop
    nodes = set(shipped.graph.nodes)
    assert not nodes & set(model.constants)
    assert not nodes & {"time", "initial_time", "final_time", "time_step", "saveper"}
    assert shipped.count("R") + shipped.count("B") + shipped.count("?") == len(shipped.loops)


def test_every_variable_of_a_loop_reaches_every_other(shipped):
    g = shipped.graph.digraph()
    for loop in shipped.loops:
        first = loop.variables[0]
        reach = nx.descendants(g, first) | {first}
        back = nx.ancestors(g, first) | {first}
        assert set(loop.variables) <= reach & back


def test_model_doc_loop_section_is_current():
    docs_numbers = load_tool("docs_numbers")
    doc = docs_numbers.ROOT / "docs" / "model.md"
    # what `python tools/docs_numbers.py --check` says of docs/model.md
    assert docs_numbers.stale([doc]) == []
    quoted = set(docs_numbers.quoted_names(doc.read_text(encoding="utf-8")))
    produced = {f"loops.{key}" for key in docs_numbers.FAMILIES["loops"]()}
    assert produced <= quoted  # every figure of the family is in the document
