"""Lower PySD's abstract syntax trees of a ``.mdl`` into the batch engine's expression trees.

`Translator` walks one equation's PySD tree (operations, references, calls, lookups) into
the trees of `sdplanner.engine.ir`; functions become operations (`lower_call`) and stateful
functions become hidden stocks.

Fidelity to PySD 3.14 (the reference engine)
--------------------------------------------
* Expressions are first written as the text PySD's builder writes (same operator grouping
  and parentheses, including its ``-a^b`` = ``-(a^b)`` reading), then read back with Python's
  own expression grammar (``ast.parse`` of that text, never evaluated), so the order of
  floating-point operations is PySD's. Functions PySD implements in Python (STEP, RAMP,
  PULSE, PULSE TRAIN, MODULO, LOG ...) are written as the operations PySD performs.
* Array constants and lookup tables are printed and re-read exactly as PySD prints them
"""

from __future__ import annotations

import ast
import itertools
import math

import numpy as np

from sdplanner.engine.ir import (
    REDUCTIONS,
    SMALL_VENSIM,
    TIME,
    Bin,
    Call,
    Cmp,
    Lookup,
    Neg,
    Num,
    Ref,
    Variable,
    if_then_else,
    is_zero,
    num,
)
from sdplanner.engine.statefuls import StatefulLowering, UnsupportedError

__all__ = [
    "STRUCTURE_NAMES",
    "Context",
    "Translator",
    "UnsupportedError",
    "lookup_table",
    "pysd_array_values",
]

# --------------------------------------------------------------------------------------
# Reading the .mdl through PySD's parser
# --------------------------------------------------------------------------------------
STRUCTURE_NAMES = {
    "GameStructure": "GAME",
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
    "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
    "DataStructure": "a data variable",
    "GetLookupsStructure": "GET LOOKUPS",
    "GetDataStructure": "GET DATA",
    "GetConstantsStructure": "GET CONSTANTS",
    "LookupsStructure": "a lookup table",
    "IntegStructure": "INTEG inside an expression",
}

# Vensim function (PySD's lower-case name) -> number of arguments.
_CALLS = {
    "min": 2,
    "max": 2,
    "xidz": 3,
    "zidz": 2,
    "if_then_else": 3,
    "sum": 1,
    "vmin": 1,
    "vmax": 1,
    "abs": 1,
    "sin": 1,
    "cos": 1,
    "tan": 1,
    "arcsin": 1,
    "arccos": 1,
    "arctan": 1,
    "sinh": 1,
    "cosh": 1,
    "tanh": 1,
    "sqrt": 1,
    "exp": 1,
    "ln": 1,
    "integer": 1,
    "log": 2,
    "power": 2,
    "modulo": 2,
    "quantum": 2,
    "step": 2,
    "ramp": 3,
    "pulse": 2,
    "pulse_train": 4,
    "active_initial": 2,
    "get_time_value": 3,
}

# PySD's OperationBuilder: operator -> (Python text, order). Order: 0 atom, 1 power,
# 2 product, 3 sum, 4 comparison.
_OPERATORS = {
    "^": ("%(left)s**%(right)s", 1),
    "*": ("%(left)s*%(right)s", 2),
    "/": ("%(left)s/%(right)s", 2),
    "+": ("%(left)s + %(right)s", 3),
    "-": ("%(left)s - %(right)s", 3),
    "=": ("%(left)s == %(right)s", 4),
    "<>": ("%(left)s != %(right)s", 4),
    ">=": ("%(left)s >= %(right)s", 4),
    ">": ("%(left)s > %(right)s", 4),
    "<=": ("%(left)s <= %(right)s", 4),
    "<": ("%(left)s < %(right)s", 4),
    "negative": ("-%s", 3),
}
# PySD writes these as numpy.logical_* calls (order 0: function calls).
_LOGICAL = {":AND:": "and", ":OR:": "or"}
_PY_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_PY_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.GtE: ">=", ast.Gt: ">", ast.LtE: "<=", ast.Lt: "<"}


def _pysd_array_text(values: np.ndarray) -> str:
    """Print an array as PySD's builder prints constants and lookup tables."""
    with np.printoptions(precision=8, floatmode="maxprec", suppress=False, sign="-", legacy=False):
        return np.array2string(values, separator=",", threshold=max(1, values.size))


def pysd_array_values(values) -> np.ndarray:
    """Return the float values PySD's generated code holds for an array literal."""
    arr = np.asarray(values)
    text = _pysd_array_text(arr)
    return np.asarray(ast.literal_eval(text), dtype=float)


def _lower(item: tuple[str, int], new_order: int) -> tuple[str, int]:
    """PySD's ``BuildAST.lower_order``: parenthesize when the order conflicts."""
    text, order = item
    if order >= new_order and order != 0 and new_order != 0:
        return f"({text})", 0
    return text, order


def _quantum(a, b):
    """PySD's ``quantum(a, b)``: ``a`` where ``b < SMALL_VENSIM``, else ``b * integer(a / b)``."""
    return if_then_else(
        Cmp("<", b, num(SMALL_VENSIM)), a, Bin("*", b, Call("integer", (Bin("/", a, b),)))
    )


def _single_pulse(start, width):
    """PySD's ``pulse`` without repetition: 1 while ``start - SMALL <= t < start + width``."""
    inside = Call(
        "and",
        (
            Cmp("<=", Bin("-", start, num(SMALL_VENSIM)), TIME),
            Cmp("<", TIME, Bin("+", start, width)),
        ),
    )
    return if_then_else(inside, num(1), num(0))


def _lower_call(fn: str, args: list):
    """Write a Vensim function as the operations PySD's implementation performs.

    The formulas are those of ``pysd.py_backend.functions`` (3.14), operation for operation,
    so that the order of floating-point operations is PySD's; ``time_step`` is the run's
    TIME STEP, as PySD's ``time.time_step()``.
    """
    if fn == "log":  # (np.log(x)/np.log(base))
        return Bin("/", Call("ln", (args[0],)), Call("ln", (args[1],)))
    if fn == "quantum":
        return _quantum(args[0], args[1])
    if fn == "modulo":  # x - quantum(x, m)
        return Bin("-", args[0], _quantum(args[0], args[1]))
    if fn == "step":  # value * (time() + time.time_step()/2 > tstep)
        half = Bin("/", Ref("time_step"), num(2))
        return Bin("*", args[0], Cmp(">", Bin("+", TIME, half), args[1]))
    if fn == "ramp":  # (t + SMALL_VENSIM > start) * slope * (np.minimum(finish, t) - start)
        slope, start, finish = args
        started = Cmp(">", Bin("+", TIME, num(SMALL_VENSIM)), start)
        return Bin("*", Bin("*", started, slope), Bin("-", Call("min", (finish, TIME)), start))
    if fn == "pulse":  # pulse(time, start, width=width): magnitude 1, no repetition
        return _single_pulse(args[0], args[1])
    if fn == "pulse_train":  # PySD's arguments: start, repeat_time, width, end
        start, repeat, width, end = args
        phase = Call("pymod", (Bin("+", Bin("-", TIME, start), num(SMALL_VENSIM)), repeat))
        running = Call("and", (Cmp("<=", start, TIME), Cmp("<", TIME, end)))
        train = if_then_else(running, if_then_else(Cmp("<", phase, width), num(1), num(0)), num(0))
        return if_then_else(Cmp("==", repeat, num(0)), _single_pulse(start, width), train)
    if fn == "get_time_value":  # relativeto 0 and measure 0: time() + offset
        return Bin("+", TIME, args[1])
    return Call(fn, tuple(args))


class Context:
    """What the translation of every equation of one model shares."""

    def __init__(self, cleanspace, region_of, range_name, lookups):
        self.cleanspace = cleanspace
        self.region_of = region_of
        self.range_name = range_name
        self.lookups = lookups  # py_name -> (xs, ys) of named lookup tables
        self.fixed: dict[str, str] = {}  # py_name -> why it cannot be overridden


class Translator(StatefulLowering):
    """Translate the abstract syntax tree of one equation into the IR.

    Stateful functions found on the way become hidden variables (`hidden`), named after the
    variable ``py`` whose equation uses them.
    """

    def __init__(self, ctx: Context, name: str, py: str, region: bool):
        self.ctx = ctx
        self.name = name
        self.py = py
        self.region = region
        self.atoms: list = []
        self.hidden: list[Variable] = []
        self.deferred: list[tuple] = []  # orders computed once the model is read
        self._memo: dict[int, tuple] = {}  # id(node) -> (node, tree); node kept alive
        self._counts: dict[str, int] = {}

    @property
    def region_of(self):
        """Whether each variable (PySD name) is per element of the subscript range."""
        return self.ctx.region_of

    @property
    def range_name(self):
        """The model's one subscript range ("" for none)."""
        return self.ctx.range_name

    def expr(self, node):
        """Return the tree of a node of PySD's abstract syntax tree."""
        # one tree per node of PySD's: a SMOOTH's input that is also its initial value (or
        # the same node reached twice) makes its stateful functions once
        key = id(node)
        if key not in self._memo:
            text, _ = self._text(node)
            tree = ast.parse(text, mode="eval").body
            self._memo[key] = (node, self._from_python(tree))
        return self._memo[key][1]

    def _atom(self, ir) -> tuple[str, int]:
        self.atoms.append(ir)
        return f"_a{len(self.atoms) - 1}", 0

    def _text(self, node) -> tuple[str, int]:
        from pysd.translators.structures import abstract_expressions as ae

        if isinstance(node, bool):
            raise UnsupportedError("a boolean literal")
        if isinstance(node, (int, float, np.integer, np.floating)):
            value = node.item() if isinstance(node, np.generic) else node
            if value != value:  # Vensim's :NA:, PySD's numpy.nan
                return self._atom(num(value))
            if value < 0 or (value == 0 and math.copysign(1.0, value) < 0):
                # PySD writes repr(value), e.g. "-8": a unary minus in Python's grammar
                return "-" + self._atom(num(-value))[0], 0
            return self._atom(num(value))
        if isinstance(node, ae.LogicStructure) and set(node.operators) - set(_OPERATORS):
            return self._atom(self._logical(node))
        if isinstance(node, (ae.ArithmeticStructure, ae.LogicStructure)):
            return self._operation(node)
        if isinstance(node, ae.ReferenceStructure):
            return self._atom(self._reference(node))
        if isinstance(node, ae.CallStructure):
            return self._atom(self._call(node))
        if isinstance(node, ae.InlineLookupsStructure):
            return self._atom(self._lookup(node))
        if isinstance(node, np.ndarray):
            raise UnsupportedError("an array literal inside an expression")
        name = type(node).__name__
        lowering = getattr(self, "_" + name, None)
        if lowering is not None:
            return self._atom(lowering(node))
        raise UnsupportedError(STRUCTURE_NAMES.get(name, name))

    def _operation(self, node) -> tuple[str, int]:
        operators = list(node.operators)
        for op in operators:
            if op not in _OPERATORS:
                raise UnsupportedError(f"the operator {op} among arithmetic operators")
        arguments = [self._text(a) for a in node.arguments]
        order = _OPERATORS[operators[-1]][1]
        if operators[-1] == "^":
            arguments[-1] = _lower(arguments[-1], 2)
        else:
            arguments[-1] = _lower(arguments[-1], order)
        if len(arguments) == 1:
            if operators[0] != "negative":
                raise UnsupportedError(f"the unary operator {operators[0]}")
            return _OPERATORS["negative"][0] % arguments[0][0], 1
        right = arguments.pop()[0]
        while arguments or operators:
            template = _OPERATORS[operators.pop()][0]
            left = _lower(arguments.pop(), order)[0]
            right = template % {"left": left, "right": right}
        return right, order

    def _logical(self, node):
        """``:NOT:``, ``:AND:``, ``:OR:``: PySD's ``numpy.logical_*`` calls, built right to left."""
        operators = list(node.operators)
        if operators == [":NOT:"] and len(node.arguments) == 1:
            return Call("not", (self.expr(node.arguments[0]),))
        if not operators or any(op not in _LOGICAL for op in operators):
            raise UnsupportedError(f"the logical operators {' '.join(operators)}")
        arguments = [self.expr(a) for a in node.arguments]
        right = arguments.pop()
        while operators:
            right = Call(_LOGICAL[operators.pop()], (arguments.pop(), right))
        return right

    def _reference(self, node, allow_all=False):
        name = node.reference
        subs = list(getattr(node.subscripts, "subscripts", None) or [])
        if name == "time":
            if subs:
                raise UnsupportedError("a subscripted reference to Time")
            return TIME
        if name not in self.ctx.cleanspace:
            raise UnsupportedError(f"a reference to {name!r}, which is not a variable")
        py = self.ctx.cleanspace[name]
        if py in self.ctx.lookups:
            raise UnsupportedError(f"the lookup table {name!r} used as a value")
        if not subs:
            return Ref(py)
        if subs == [self.range_name] and self.range_name:
            if not self.region_of[py]:
                raise UnsupportedError(f"{name}[{subs[0]}] although {name} has no subscripts")
            return Ref(py)
        if allow_all and self.range_name and subs == [self.range_name + "!"]:
            if not self.region_of[py]:
                raise UnsupportedError(f"{name}[{subs[0]}] although {name} has no subscripts")
            return Ref(py)
        raise UnsupportedError(f"the subscripted reference {name}[{', '.join(subs)}]")

    def _call(self, node):
        from pysd.translators.structures import abstract_expressions as ae

        fn = node.function.reference
        if fn in self.ctx.cleanspace:
            py = self.ctx.cleanspace[fn]
            if py not in self.ctx.lookups:
                raise UnsupportedError(f"a call of {fn!r}, which is not a lookup table")
            if len(node.arguments) != 1:
                raise UnsupportedError(
                    f"the lookup {fn!r} called with {len(node.arguments)} values"
                )
            xs, ys = self.ctx.lookups[py]
            return Lookup(self.expr(node.arguments[0]), xs, ys)
        if fn not in _CALLS:
            raise UnsupportedError(f"the function {fn.upper().replace('_', ' ')}")
        if len(node.arguments) != _CALLS[fn]:
            raise UnsupportedError(
                f"{fn.upper().replace('_', ' ')} with {len(node.arguments)} arguments"
                f" (expected {_CALLS[fn]})"
            )
        if fn in REDUCTIONS:
            arg = node.arguments[0]
            bang = self.range_name + "!"
            if not (
                self.range_name
                and isinstance(arg, ae.ReferenceStructure)
                and list(getattr(arg.subscripts, "subscripts", None) or []) == [bang]
            ):
                raise UnsupportedError(f"{fn.upper()} of anything but a reference x[{bang}]")
            return Call(fn, (self._reference(arg, allow_all=True),))
        args = [self.expr(a) for a in node.arguments]
        if fn == "get_time_value" and not (is_zero(args[0]) and is_zero(args[2])):
            raise UnsupportedError(
                "GET TIME VALUE other than GET TIME VALUE(0, offset, 0) (PySD computes only"
                " the model's time plus an offset)"
            )
        return _lower_call(fn, args)

    def _lookup(self, node):
        table = node.lookups
        if table.type != "interpolate":
            raise UnsupportedError(f"a lookup of type {table.type!r}")
        xs = tuple(float(v) for v in pysd_array_values(np.array(table.x)))
        ys = tuple(float(v) for v in pysd_array_values(np.array(table.y)))
        if any(b < a for a, b in itertools.pairwise(xs)):
            raise UnsupportedError("a WITH LOOKUP table whose x values decrease")
        return Lookup(self.expr(node.argument), xs, ys)

    def _from_python(self, tree):
        if isinstance(tree, ast.Name):
            return self.atoms[int(tree.id[2:])]
        if isinstance(tree, ast.BinOp):
            left = self._from_python(tree.left)
            right = self._from_python(tree.right)
            return Bin(_PY_BINOPS[type(tree.op)], left, right)
        if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub):
            arg = self._from_python(tree.operand)
            if isinstance(arg, Num):
                return num(-arg.value)
            return Neg(arg)
        if isinstance(tree, ast.Compare) and len(tree.ops) == 1:
            return Cmp(
                _PY_CMPOPS[type(tree.ops[0])],
                self._from_python(tree.left),
                self._from_python(tree.comparators[0]),
            )
        raise UnsupportedError("a chained comparison")


def lookup_table(table) -> tuple[tuple, tuple]:
    """Return a named lookup table's points as PySD holds them: sorted by x, x unique."""
    if table.type != "interpolate":
        raise UnsupportedError(f"a lookup of type {table.type!r}")
    xs = pysd_array_values(np.array(table.x))
    ys = pysd_array_values(np.array(table.y))
    if xs.shape != ys.shape or xs.ndim != 1 or xs.size == 0:
        raise UnsupportedError("a lookup table whose x and y values differ in number")
    if np.unique(xs).size != xs.size:
        raise UnsupportedError("a lookup table with repeated x values (PySD refuses it too)")
    order = np.argsort(xs, kind="stable")  # HardcodedLookups sorts by x
    return tuple(float(v) for v in xs[order]), tuple(float(v) for v in ys[order])
