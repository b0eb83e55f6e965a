"""Feedback loops of a model: its causal graph, link and loop polarity, and a loop set.

The analysis reads the model's equations through the batch engine's parser
(`sdplanner.engine.equations.read_model`) and never runs it.

Causal graph
------------
A node is a stock or an auxiliary (any variable with an equation that changes during a
run); constants, the control variables and time are not nodes, so no loop passes through
them. There is a link ``x -> y`` when ``y``'s equation refers to ``x``; for a stock, when
its net flow does (the initial value is not part of a loop). A subscripted variable is one
node for all its regions, since its regions share one equation; ``SUM`` links every region
of its argument to the sum. Variables that the parser makes for a stateful function
(``hidden`` ones, such as the stages of a SMOOTH3) are folded away: a path through them
becomes one link from the variable feeding the function to the variable using it, with the
product of the path's polarities, and their internal loops are dropped, as Vensim's
functions show none.

Link polarity
-------------
The polarity of ``x -> y`` is the sign of the partial derivative of ``y``'s equation with
respect to ``x`` (Richardson 1995, *System Dynamics Review* 11(1): ``+`` when it is never
negative, ``-`` when never positive; for a stock, the derivative of its net flow, so an
inflow is ``+`` and an outflow ``-``), found by sign analysis of the expression tree. The
sign of a product or quotient needs the sign of the other factor, so the analysis also
bounds the range of every value (interval arithmetic): a stock lies from zero up, as
stocks of people, capital and money do, within the range its ``.mdl`` entry declares
(``~ Dmnl [0,1]``); a constant takes its default value(s), widened to its declared range,
and a constant that is zero by default with no declared range (a policy lever switched
off) counts as zero or positive; an auxiliary takes the range of its equation, within its
declared range, and where that range still holds both signs (a difference, a policy ramp)
it is taken as positive, the models' premise that the quantities stocks feed are positive
(`CausalGraph.assumed_positive` lists them); time runs from INITIAL TIME to FINAL TIME.
``MIN``, ``MAX``, ``XIDZ``, ``ZIDZ`` and ``IF THEN ELSE`` take the sign of the branch in
force, so they have one only when every branch agrees; a variable in a comparison or an
``IF THEN ELSE`` condition has a link of unknown polarity (a jump); a lookup is ``+``
where its table never falls, ``-`` where it never rises, unknown otherwise; ``EXP``,
``LN``, ``SQRT`` and ``SUM`` are increasing. Any construct or function this module does not
know gives a link of unknown polarity (``?``), never an error. Each occurrence of ``x``
is treated apart, except in a quotient whose numerator and denominator are both linear
in ``x`` (``x / (x + y)``, ``M x / (M - 1 + x)``), whose derivative's sign is found whole;
other forms with ``x`` in several places can give an unknown link.

Loop polarity and loop set
--------------------------
A loop is reinforcing (``R``) when it has an even number of ``-`` links, balancing (``B``)
when odd, and unknown (``?``) when any link is. The number of loops of a model grows
exponentially with its links, so the loop set reported is the shortest independent loop
set (SILS) of Oliva (2004), "Model structure analysis through graph theory: partition
heuristics and feedback structure decomposition", *System Dynamics Review* 20(4),
313-336: the graph is partitioned into strongly connected components (every loop lies in
one); in each, the geodetic (shortest) loop through every link is considered, shortest
first, and a loop is added when it contains a link no loop before it contains
(Kampmann's independence criterion, Kampmann 2012, *System Dynamics Review* 28(4),
370-395). Among equally short loops through a link, the one bringing the fewest new
links is taken (leaving the others to later loops), ties broken by ``.mdl`` order, so the
set is reproducible. Every link of a component lies on a loop of the set. A complete
independent loop set of a component has ``links - variables + 1`` loops (its cycle
rank); a set of geodetic loops can be smaller in densely connected parts (three
variables linked both ways in pairs: three 2-loops cover every link, the cycle rank is
4; Motamed and Middleton 2024, "A complete shortest independent loop set algorithm for
model structure analysis", complete such sets with second-shortest loops), and
`Component` reports both numbers.

Graph algorithms (strongly connected components, breadth-first distances) come from
networkx.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from sdplanner.engine.equations import read_model
from sdplanner.engine.ir import (
    Bin,
    Call,
    Cmp,
    Lookup,
    ModelIR,
    Neg,
    Num,
    Ref,
    TimeRef,
    ToRegion,
)

__all__ = [
    "ANY",
    "NEG",
    "NONNEG",
    "NONPOS",
    "POS",
    "ZERO",
    "CausalGraph",
    "Component",
    "Loop",
    "LoopAnalysis",
    "analyze_loops",
    "causal_graph",
    "derivative_sign",
    "interval_signs",
    "loop_polarity",
    "polarity",
    "shortest_independent_loops",
]

# --------------------------------------------------------------------------------------
# Sign sets: the signs (-1, 0, +1) a value or a derivative can take somewhere.
# --------------------------------------------------------------------------------------
Signs = frozenset
POS = frozenset({1})
NEG = frozenset({-1})
ZERO = frozenset({0})
NONNEG = frozenset({0, 1})
NONPOS = frozenset({-1, 0})
ANY = frozenset({-1, 0, 1})

#: The control variables bounding time.
CONTROL_TIMES = ("initial_time", "final_time")
#: Kinds of variables that never change during a run: not nodes of the causal graph.
_STATIC_KINDS = frozenset({"constant", "control", "lookup"})


def _sign(value: float) -> int:
    return 1 if value > 0 else -1 if value < 0 else 0


def _add(a: Signs, b: Signs) -> Signs:
    """Signs of ``x + y`` for ``x`` with signs ``a`` and ``y`` with signs ``b``."""
    out = set()
    for x in a:
        for y in b:
            if x == 0 or y == 0 or x == y:
                out.add(x or y)
            else:
                return ANY
    return frozenset(out)


def _mul(a: Signs, b: Signs) -> Signs:
    return frozenset(x * y for x in a for y in b)


def _neg(a: Signs) -> Signs:
    return frozenset(-x for x in a)


def polarity(signs: Signs) -> str:
    """Return the polarity of a link from the signs its derivative can take.

    Parameters
    ----------
    signs : frozenset of int
        Signs (-1, 0, 1) the partial derivative takes somewhere.

    Returns
    -------
    str
        ``"+"`` when the derivative is never negative and somewhere positive, ``"-"``
        when never positive and somewhere negative, ``"?"`` otherwise (unknown, or a link
        the analysis shows to have no effect).
    """
    if 1 in signs and -1 not in signs:
        return "+"
    if -1 in signs and 1 not in signs:
        return "-"
    return "?"


def _references(node) -> set[str]:
    """Names of the variables an expression refers to, for any node type (known or not)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Ref):
            out.add(item.name)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return out


def _table_slope(xs, ys) -> Signs:
    """Signs of the slope of a lookup table (linear interpolation, flat beyond its ends)."""
    try:
        x = np.asarray(xs, dtype=float)
        y = np.asarray(ys, dtype=float)
    except (TypeError, ValueError):
        return ANY
    if x.shape != y.shape or x.ndim != 1 or x.size == 0 or np.any(np.diff(x) < 0):
        return ANY
    steps = frozenset(_sign(d) for d in np.diff(y)) | ZERO
    return ANY if {-1, 1} <= steps else steps


# --------------------------------------------------------------------------------------
# Intervals: the range of values an expression can take, (lo, hi), ends included.
# --------------------------------------------------------------------------------------
Interval = tuple[float, float]
REAL = (-math.inf, math.inf)
NONNEGATIVE = (0.0, math.inf)


def interval_signs(iv: Interval) -> Signs:
    """Return the signs of the values in an interval.

    Parameters
    ----------
    iv : tuple of float
        ``(lo, hi)``, ends included, in any unit; infinite ends allowed.

    Returns
    -------
    frozenset of int
        The signs (-1, 0, 1) of its values; all three for NaN or an empty interval.
    """
    lo, hi = iv
    if not lo <= hi:  # NaN or empty: nothing is known
        return ANY
    out = set()
    if lo < 0:
        out.add(-1)
    if hi > 0:
        out.add(1)
    if lo <= 0 <= hi:
        out.add(0)
    return frozenset(out)


def _iv(lo: float, hi: float) -> Interval:
    return (lo, hi) if lo <= hi else REAL  # NaN from inf - inf: nothing is known


def _iv_hull(*ivs: Interval) -> Interval:
    return (min(iv[0] for iv in ivs), max(iv[1] for iv in ivs))


def _iv_add(a: Interval, b: Interval) -> Interval:
    return _iv(a[0] + b[0], a[1] + b[1])


def _iv_neg(a: Interval) -> Interval:
    return (-a[1], -a[0])


def _iv_mul(a: Interval, b: Interval) -> Interval:
    products = [0.0 if x == 0 or y == 0 else x * y for x in a for y in b]
    return _iv(min(products), max(products))


def _iv_div(a: Interval, b: Interval) -> Interval:
    lo, hi = b
    if lo > 0 or hi < 0:
        recip = (1 / hi, 1 / lo)
    elif lo == 0 and hi > 0:
        recip = (1 / hi, math.inf)
    elif hi == 0 and lo < 0:
        recip = (-math.inf, 1 / lo)
    else:
        return REAL
    return _iv_mul(a, recip)


def _iv_pow(a: Interval, b: Interval) -> Interval:
    """Return the range of ``a ** b`` for a base never negative (a corner's value)."""
    if a[0] < 0:
        return REAL
    with np.errstate(all="ignore"):
        corners = [float(np.power(np.float64(x), np.float64(y))) for x in a for y in b]
    if any(math.isnan(c) for c in corners):
        return NONNEGATIVE
    return (min(corners), max(corners))


def _iv_log(a: Interval) -> Interval:
    with np.errstate(all="ignore"):
        lo = float(np.log(a[0])) if a[0] > 0 else -math.inf
        hi = float(np.log(a[1])) if a[1] > 0 else -math.inf
    return _iv(lo, hi) if a[1] > 0 else REAL


#: Functions increasing in their one argument (``d f(a) = f'(a) da`` with ``f' > 0``),
#: with the interval of their value given the argument's.
_INCREASING = {
    "exp": lambda a, n: (math.exp(min(a[0], 709.0)), math.exp(min(a[1], 709.0))),
    "ln": lambda a, n: _iv_log(a),
    "sqrt": lambda a, n: (math.sqrt(max(a[0], 0.0)), math.sqrt(max(a[1], 0.0))),
    "sum": lambda a, n: _iv_mul(a, (1.0, float(n))) if a[0] >= 0 else _iv_mul(a, (n, n)),
    "vmin": lambda a, n: a,
    "vmax": lambda a, n: a,
}


def _intersect(a: Interval, b: Interval) -> Interval:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else b  # the declared range wins a contradiction


def _declared(limits: Mapping[str, tuple], name: str) -> Interval:
    lo, hi = limits.get(name, (None, None)) or (None, None)
    return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))


class _SignAnalysis:
    """Ranges of values and signs of partial derivatives of a model's expressions."""

    def __init__(self, ir: ModelIR, limits: Mapping[str, tuple] | None = None):
        self.ir = ir
        self.limits = dict(limits or {})
        self._memo: dict[str, Interval] = {}
        self.assumed: list[str] = []  # auxiliaries taken as positive by assumption
        controls = [getattr(ir.variables.get(k), "value", None) for k in CONTROL_TIMES]
        if all(isinstance(v, (int, float)) for v in controls):
            self.time = (float(min(controls)), float(max(controls)))
        else:
            self.time = REAL

    # ---- ranges of values -------------------------------------------------------------
    def variable(self, name: str) -> Interval:
        """Range of a variable: see the module docstring for the assumptions."""
        if name in self._memo:
            return self._memo[name]
        var = self.ir.variables.get(name)
        if var is None:
            return REAL
        declared = _declared(self.limits, name)
        if var.kind in ("constant", "control"):
            value = var.value
            if value is None and isinstance(var.expr, Num):
                value = var.expr.value
            if value is None:
                return declared
            values = np.asarray(value, dtype=float)
            if values.size == 0 or not np.all(np.isfinite(values)):
                return declared
            lo, hi = float(values.min()), float(values.max())
            if lo == hi == 0 and declared == REAL:
                return NONNEGATIVE  # a policy lever switched off: zero or positive
            # a declared range widens the default value: a user may set any value in it
            return (min(lo, declared[0]), max(hi, declared[1])) if declared != REAL else (lo, hi)
        if var.kind == "stock":
            return _intersect(NONNEGATIVE, declared)
        self._memo[name] = NONNEGATIVE  # a cycle (none in a readable model) stops here
        found = self.value(var.expr) if var.expr is not None else REAL
        found = _intersect(found, declared)
        if found[0] < 0 < found[1]:
            found = (0.0, found[1])
            self.assumed.append(name)
        self._memo[name] = found
        return found

    def signs(self, node) -> Signs:
        """Signs the value of an expression can take."""
        return interval_signs(self.value(node))

    def value(self, node) -> Interval:
        """Range of the values an expression can take."""
        if isinstance(node, Num):
            return (float(node.value), float(node.value))
        if isinstance(node, Ref):
            return self.variable(node.name)
        if isinstance(node, TimeRef):
            return self.time
        if isinstance(node, Neg):
            return _iv_neg(self.value(node.arg))
        if isinstance(node, ToRegion):
            return self.value(node.arg)
        if isinstance(node, Cmp):
            return (0.0, 1.0)
        if isinstance(node, Bin):
            return self._bin_value(node.op, node.left, node.right)
        if isinstance(node, Lookup):
            return (float(min(node.ys)), float(max(node.ys))) if len(node.ys) else REAL
        if isinstance(node, Call):
            return self._call_value(node.fn, node.args)
        return REAL

    def _bin_value(self, op: str, left, right) -> Interval:
        a, b = self.value(left), self.value(right)
        if op == "+":
            return _iv_add(a, b)
        if op == "-":
            return _iv_add(a, _iv_neg(b))
        if op == "*":
            return _iv_mul(a, b)
        if op == "/":
            return _iv_div(a, b)
        if op == "**":
            return _iv_pow(a, b)
        return REAL

    def _call_value(self, fn: str, args: tuple) -> Interval:
        values = [self.value(a) for a in args]
        if fn in _INCREASING and len(args) == 1:
            return _INCREASING[fn](values[0], self.ir.n_regions)
        if fn in ("min", "max") and len(args) == 2:
            pick = min if fn == "min" else max
            (a0, a1), (b0, b1) = values
            return (pick(a0, b0), pick(a1, b1))
        if fn == "xidz" and len(args) == 3:
            return _iv_hull(_iv_div(values[0], values[1]), values[2])
        if fn == "zidz" and len(args) == 2:
            return _iv_hull(_iv_div(values[0], values[1]), (0.0, 0.0))
        if fn == "if_then_else" and len(args) == 3:
            return _iv_hull(values[1], values[2])
        if fn == "abs" and len(args) == 1:
            lo, hi = values[0]
            if lo >= 0:
                return (lo, hi)
            return (-hi, -lo) if hi <= 0 else (0.0, max(-lo, hi))
        if fn == "power" and len(args) == 2:
            return _iv_pow(*values)
        return REAL

    # ---- signs of partial derivatives -----------------------------------------------
    def derivative(self, node, x: str) -> Signs:
        """Signs of the partial derivative of an expression with respect to variable ``x``."""
        if isinstance(node, Ref):
            return POS if node.name == x else ZERO
        if node is None or isinstance(node, (Num, TimeRef)):
            return ZERO
        if isinstance(node, Neg):
            return _neg(self.derivative(node.arg, x))
        if isinstance(node, ToRegion):
            return self.derivative(node.arg, x)
        if isinstance(node, Bin):
            return self._bin_derivative(node, x)
        if isinstance(node, Lookup):
            inner = self.derivative(node.arg, x)
            return _mul(_table_slope(node.xs, node.ys), inner)
        if isinstance(node, Call):
            return self._call_derivative(node, x)
        # a comparison (a jump), or a construct this module does not know
        return ANY if x in _references(node) else ZERO

    def _bin_derivative(self, node: Bin, x: str) -> Signs:
        left, right = node.left, node.right
        da, db = self.derivative(left, x), self.derivative(right, x)
        if node.op == "+":
            return _add(da, db)
        if node.op == "-":
            return _add(da, _neg(db))
        if node.op == "*":
            return _add(_mul(da, self.signs(right)), _mul(self.signs(left), db))
        if node.op == "/":
            if da != ZERO and db != ZERO:
                fraction = self._linear_fraction(left, right, x)
                if fraction is not None:
                    return fraction
            # (a/b)' = (a' b - a b') / b^2
            return _add(_mul(da, self.signs(right)), _neg(_mul(self.signs(left), db)))
        if node.op == "**":
            return self._power_derivative(left, right, da, db)
        return ANY if x in _references(node) else ZERO

    def _linear_fraction(self, left, right, x: str) -> Signs | None:
        """Signs of ``d(a/b)/dx`` when ``a = p x + q`` and ``b = r x + s`` (None otherwise).

        ``(p x + q) / (r x + s)`` has the derivative ``(p s - q r) / b^2``, whose sign the
        ranges of ``p, q, r, s`` (free of ``x``) bound: saturating forms such as
        ``M x / (M - 1 + x)`` and shares such as ``x / (x + y)``, where ``x`` appears twice.
        """
        a, b = _affine(left, x), _affine(right, x)
        if a is None or b is None:
            return None
        (p, q), (r, s) = a, b
        return interval_signs(self.value(Bin("-", Bin("*", p, s), Bin("*", q, r))))

    def _power_derivative(self, base, exponent, da: Signs, db: Signs) -> Signs:
        """(a^b)' = b a^(b-1) a' + a^b ln(a) b', for a base that is never negative."""
        if da == ZERO and db == ZERO:
            return ZERO
        va = self.value(base)
        if va[0] < 0:
            return ANY
        through_base = _mul(self.signs(exponent), da)
        if db == ZERO:
            return through_base
        return _add(through_base, _mul(interval_signs(_iv_log(va)), db))

    def _call_derivative(self, node: Call, x: str) -> Signs:
        fn, args = node.fn, node.args
        if fn in _INCREASING and len(args) == 1:
            return self.derivative(args[0], x)
        if fn in ("min", "max") and len(args) == 2:
            # the derivative of the branch in force
            return self.derivative(args[0], x) | self.derivative(args[1], x)
        if fn in ("xidz", "zidz") and len(args) == 3 - (fn == "zidz"):
            ratio = self.derivative(Bin("/", args[0], args[1]), x)
            other = self.derivative(args[2], x) if fn == "xidz" else ZERO
            return ratio | other
        if fn == "if_then_else" and len(args) == 3:
            if x in _references(args[0]):
                return ANY
            return self.derivative(args[1], x) | self.derivative(args[2], x)
        if fn == "abs" and len(args) == 1:
            return _mul(self.signs(args[0]), self.derivative(args[0], x))
        if fn == "power" and len(args) == 2:
            return self._bin_derivative(Bin("**", args[0], args[1]), x)
        return ANY if x in _references(node) else ZERO


_ONE, _NONE = Num(1, "int:1"), Num(0, "int:0")


def _affine(node, x: str) -> tuple | None:
    """Write ``node`` as ``p x + q`` with ``p`` and ``q`` free of ``x`` (trees), or None."""
    if x not in _references(node):
        return (_NONE, node)
    if isinstance(node, Ref):
        return (_ONE, _NONE)
    if isinstance(node, (Neg, ToRegion)):
        inner = _affine(node.arg, x)
        if inner is None or isinstance(node, ToRegion):
            return inner
        return (Neg(inner[0]), Neg(inner[1]))
    if not isinstance(node, Bin) or node.op not in ("+", "-", "*", "/"):
        return None
    if node.op in ("+", "-"):
        a, b = _affine(node.left, x), _affine(node.right, x)
        if a is None or b is None:
            return None
        return (Bin(node.op, a[0], b[0]), Bin(node.op, a[1], b[1]))
    # a product or quotient is affine when x is on one side only (never in a denominator)
    if node.op == "*" and x not in _references(node.left):
        factor, side = node.left, _affine(node.right, x)
    elif x not in _references(node.right):
        factor, side = node.right, _affine(node.left, x)
    else:
        return None
    if side is None:
        return None
    return (Bin(node.op, side[0], factor), Bin(node.op, side[1], factor))


def derivative_sign(
    ir: ModelIR, node, source: str, limits: Mapping[str, tuple] | None = None
) -> frozenset:
    """Return the signs the partial derivative of an expression with respect to a variable takes.

    Parameters
    ----------
    ir : ModelIR
        The model the expression belongs to (for the signs of the variables it uses).
    node : object
        An expression tree of ``ir`` (any node type; an unknown one gives any sign).
    source : str
        Python name of the variable to differentiate by.
    limits : dict, optional
        ``py_name -> (min, max)``: ranges the ``.mdl`` declares (``None`` for an open
        end), in each variable's units.

    Returns
    -------
    frozenset of int
        The signs (-1, 0, 1) the derivative can take, under the assumptions of the module
        docstring; `polarity` turns it into ``"+"``, ``"-"`` or ``"?"``.
    """
    return _SignAnalysis(ir, limits).derivative(node, source)


# --------------------------------------------------------------------------------------
# The causal graph
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CausalGraph:
    """The causal graph of a model: variables that change during a run and their links.

    Attributes
    ----------
    nodes : tuple of str
        Python names of the nodes, in ``.mdl`` order.
    names : dict
        ``py_name -> name`` as written in the ``.mdl``.
    stocks : frozenset of str
        Python names of the nodes that are stocks.
    links : dict
        ``(source, target) -> polarity`` (``"+"``, ``"-"`` or ``"?"``), one entry per
        link, in ``.mdl`` order of the target.
    assumed_positive : tuple of str
        Python names of the auxiliaries whose equations do not settle their sign and that
        the polarity analysis takes as positive.
    ranges : dict
        ``py_name -> (lo, hi)``: the range of values the polarity analysis found for each
        node (stocks from zero up, in their declared range), in the variable's units.
    """

    nodes: tuple[str, ...]
    names: Mapping[str, str]
    stocks: frozenset
    links: Mapping[tuple[str, str], str]
    assumed_positive: tuple[str, ...] = ()
    ranges: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)

    def digraph(self):
        """Return the graph as a networkx graph.

        Returns
        -------
        networkx.DiGraph
            The nodes in ``.mdl`` order and the links, each with its ``polarity``.
        """
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for (u, v), pol in self.links.items():
            g.add_edge(u, v, polarity=pol)
        return g


def causal_graph(ir: ModelIR, limits: Mapping[str, tuple] | None = None) -> CausalGraph:
    """Build the causal graph of a model with the polarity of every link.

    Parameters
    ----------
    ir : ModelIR
        The parsed model (`sdplanner.engine.equations.read_model`).
    limits : dict, optional
        ``py_name -> (min, max)``: ranges the ``.mdl`` declares (``None`` for an open
        end), in each variable's units; none when omitted.

    Returns
    -------
    CausalGraph
        Nodes (stocks and auxiliaries), links ``x -> y`` where ``y``'s equation (a
        stock's net flow) refers to ``x``, each with its polarity; variables made for
        stateful functions folded into links (see the module docstring).
    """
    signs = _SignAnalysis(ir, limits)
    nodes = [
        py
        for py, var in ir.variables.items()
        if var.kind not in _STATIC_KINDS and var.expr is not None
    ]
    node_set = set(nodes)
    for py in nodes:  # the sign of every auxiliary, so the assumptions are all listed
        signs.variable(py)
    edges: dict[tuple[str, str], Signs] = {}
    for target in nodes:
        expr = ir.variables[target].expr
        for source in sorted(_references(expr) & node_set, key=nodes.index):
            edges[(source, target)] = signs.derivative(expr, source)

    hidden = [py for py in nodes if getattr(ir.variables[py], "hidden", False)]
    for h in hidden:
        edges.pop((h, h), None)  # a loop inside a stateful function
        into = [(u, s) for (u, v), s in edges.items() if v == h]
        out = [(v, s) for (u, v), s in edges.items() if u == h]
        for u, _ in into:
            del edges[(u, h)]
        for v, _ in out:
            del edges[(h, v)]
        for u, s_in in into:
            for v, s_out in out:
                through = _mul(s_in, s_out)
                edges[(u, v)] = _add(edges[(u, v)], through) if (u, v) in edges else through
    visible = [py for py in nodes if py not in set(hidden)]
    order = {py: i for i, py in enumerate(visible)}
    links = {e: polarity(edges[e]) for e in sorted(edges, key=lambda e: (order[e[1]], order[e[0]]))}
    return CausalGraph(
        nodes=tuple(visible),
        names={py: ir.variables[py].name for py in visible},
        stocks=frozenset(py for py in visible if ir.variables[py].kind == "stock"),
        links=links,
        assumed_positive=tuple(py for py in visible if py in set(signs.assumed)),
        ranges={py: signs.variable(py) for py in visible},
    )


# --------------------------------------------------------------------------------------
# Loops
# --------------------------------------------------------------------------------------
def loop_polarity(link_polarities: Iterable[str]) -> str:
    """Return the polarity of a loop from the polarities of its links.

    Parameters
    ----------
    link_polarities : iterable of str
        ``"+"``, ``"-"`` or ``"?"`` for each link of the loop.

    Returns
    -------
    str
        ``"R"`` (reinforcing: an even number of ``-`` links), ``"B"`` (balancing: odd) or
        ``"?"`` when any link's polarity is unknown.
    """
    pols = list(link_polarities)
    if any(p not in ("+", "-") for p in pols):
        return "?"
    return "B" if pols.count("-") % 2 else "R"


@dataclass(frozen=True)
class Loop:
    """One feedback loop.

    Attributes
    ----------
    id : str
        ``R1``, ``B1``, ``U1``...: polarity letter (``U`` for unknown) and rank among the
        loops of that polarity, in the order of the loop set.
    variables : tuple of str
        Python names in causal order, starting at the first stock of the loop in ``.mdl``
        order (the first variable when it has none); the last links back to the first.
    names : tuple of str
        The same variables as named in the ``.mdl``.
    links : tuple of str
        Polarity of each link, ``links[i]`` from ``variables[i]`` to the next one.
    polarity : str
        ``"R"``, ``"B"`` or ``"?"`` (`loop_polarity`).
    stocks : tuple of str
        Python names of the stocks on the loop, in loop order.
    """

    id: str
    variables: tuple[str, ...]
    names: tuple[str, ...]
    links: tuple[str, ...]
    polarity: str
    stocks: tuple[str, ...]

    @property
    def length(self) -> int:
        """Number of links (equal to the number of variables)."""
        return len(self.variables)

    def edges(self) -> list[tuple[str, str]]:
        """Return the links of the loop.

        Returns
        -------
        list of tuple
            ``(source, target)`` Python names, in loop order, the last back to the first.
        """
        n = len(self.variables)
        return [(self.variables[i], self.variables[(i + 1) % n]) for i in range(n)]


@dataclass(frozen=True)
class Component:
    """A strongly connected part of the causal graph that holds loops.

    Attributes
    ----------
    variables : tuple of str
        Python names of its variables, in ``.mdl`` order.
    n_links : int
        Links between its variables.
    cycle_rank : int
        ``n_links - len(variables) + 1``: the loops of a complete independent loop set.
    n_loops : int
        Loops of the shortest independent loop set in it (at most ``cycle_rank``).
    """

    variables: tuple[str, ...]
    n_links: int
    cycle_rank: int
    n_loops: int


@dataclass(frozen=True)
class LoopAnalysis:
    """The causal graph of a model, its components and its shortest independent loop set.

    Attributes
    ----------
    graph : CausalGraph
        The causal graph with link polarities.
    loops : tuple of Loop
        The shortest independent loop set, shortest loops first.
    components : tuple of Component
        The strongly connected parts holding the loops, in ``.mdl`` order of their first
        variable.
    """

    graph: CausalGraph
    loops: tuple[Loop, ...]
    components: tuple[Component, ...]

    def count(self, polarity: str) -> int:
        """Return the number of loops of one polarity.

        Parameters
        ----------
        polarity : str
            ``"R"``, ``"B"`` or ``"?"``.

        Returns
        -------
        int
            How many loops of the set have it.
        """
        return sum(loop.polarity == polarity for loop in self.loops)


def _geodesic(sub, dist, start: str, end: str, covered: set, rank: Mapping[str, int]) -> list:
    """Return a shortest path ``start -> end`` using the fewest links not in ``covered``.

    Among the shortest paths (breadth-first distances ``dist``), dynamic programming over
    their layers picks the one with the fewest uncovered links, ties broken by ``rank``.
    """
    total = dist[start][end]
    on_path = {w for w, d in dist[start].items() if end in dist[w] and d + dist[w][end] == total}
    cost = {start: 0}
    came_from: dict[str, str] = {}
    for w in sorted(on_path - {start}, key=lambda w: (dist[start][w], rank[w])):
        layer = dist[start][w] - 1
        steps = {
            a: cost[a] + ((a, w) not in covered)
            for a in sub.predecessors(w)
            if a in cost and dist[start][a] == layer
        }
        came_from[w] = min(steps, key=lambda a: (steps[a], rank[a]))
        cost[w] = steps[came_from[w]]
    path = [end]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return path[::-1]


def shortest_independent_loops(graph: CausalGraph) -> LoopAnalysis:
    """Find the shortest independent loop set of a causal graph (Oliva 2004).

    Parameters
    ----------
    graph : CausalGraph
        The causal graph (`causal_graph`).

    Returns
    -------
    LoopAnalysis
        The loops (shortest first, each with a link no earlier loop has) and the strongly
        connected components holding them; see the module docstring for the algorithm.
    """
    import networkx as nx

    g = graph.digraph()
    rank = {n: i for i, n in enumerate(graph.nodes)}
    parts = [
        sorted(c, key=rank.__getitem__)
        for c in nx.strongly_connected_components(g)
        if len(c) > 1 or g.has_edge(next(iter(c)), next(iter(c)))
    ]
    parts.sort(key=lambda c: rank[c[0]])
    cycles: list[list[str]] = []
    components = []
    for part in parts:
        sub = g.subgraph(part)
        dist = dict(nx.all_pairs_shortest_path_length(sub))

        def length(edge, dist=dist):
            u, v = edge
            return 1 if u == v else 1 + dist[v][u]

        covered: set[tuple[str, str]] = set()
        found = 0
        for u, v in sorted(sub.edges, key=lambda e: (length(e), rank[e[0]], rank[e[1]])):
            if (u, v) in covered:
                continue
            cycle = [u] if u == v else [u, *_geodesic(sub, dist, v, u, covered, rank)[:-1]]
            covered.update(zip(cycle, cycle[1:] + cycle[:1], strict=True))
            cycles.append(cycle)
            found += 1
        n_links = sub.number_of_edges()
        components.append(Component(tuple(part), n_links, n_links - len(part) + 1, found))

    loops = []
    counters = {"R": 0, "B": 0, "?": 0}
    for cycle in cycles:
        stocks = [n for n in cycle if n in graph.stocks]
        first = min(stocks or cycle, key=rank.__getitem__)
        k = cycle.index(first)
        ordered = tuple(cycle[k:] + cycle[:k])
        pols = tuple(
            graph.links[(a, b)] for a, b in zip(ordered, ordered[1:] + ordered[:1], strict=True)
        )
        pol = loop_polarity(pols)
        counters[pol] += 1
        letter = "U" if pol == "?" else pol
        loops.append(
            Loop(
                id=f"{letter}{counters[pol]}",
                variables=ordered,
                names=tuple(graph.names[n] for n in ordered),
                links=pols,
                polarity=pol,
                stocks=tuple(n for n in ordered if n in graph.stocks),
            )
        )
    return LoopAnalysis(graph, tuple(loops), tuple(components))


def analyze_loops(
    model: str | os.PathLike | ModelIR, limits: Mapping[str, tuple] | None = None
) -> LoopAnalysis:
    """Find the feedback loops of a model and their polarity.

    Parameters
    ----------
    model : path-like or ModelIR
        A Vensim ``.mdl`` file (read with `sdplanner.engine.equations.read_model`) or a
        model already read.
    limits : dict, optional
        ``py_name -> (min, max)``: the ranges the ``.mdl`` declares (``~ unit [min,max]``),
        in each variable's units; read from the model file (`sdplanner.model.load_model`)
        when omitted.

    Returns
    -------
    LoopAnalysis
        The causal graph, its shortest independent loop set and the strongly connected
        components holding it.

    Raises
    ------
    sdplanner.errors.ModelError
        When the file cannot be read, parsed or translated.
    """
    ir = model if isinstance(model, ModelIR) else read_model(model)
    if limits is None:
        from sdplanner.model import load_model

        info = load_model(ir.path)
        limits = {py: v.limits for py, v in info.variables.items()}
    return shortest_independent_loops(causal_graph(ir, limits))
