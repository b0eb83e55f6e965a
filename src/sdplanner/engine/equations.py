"""Read a ``.mdl`` through PySD's parser into equation trees the batch engine can compile.

The ``.mdl`` is parsed by PySD's own Vensim parser (``VensimFile.parse`` then
``get_abstract_model``); this module walks PySD's abstract syntax trees into small immutable
expression trees (`ModelIR`). There is no second copy of the equations: every number and
operation comes from the parsed model.

What is supported (``docs/engine.md`` lists it with what is refused): INTEG stocks,
scalar and per-element constants, ``+ - * / ^``, unary minus, comparisons,
``:AND: :OR: :NOT:``, the functions of ``_CALLS``, lookup tables (named and inline WITH
LOOKUP), ``SUM/VMIN/VMAX(x[Range!])``, Time, and control variables that are numbers or
expressions of constants, with at most one subscript range. Anything else raises
`sdplanner.errors.ModelError` naming the construct and the variable; so do algebraic loops.

Stateful functions become state of the generated code
-----------------------------------------------------
Each SMOOTH, DELAY, TREND, FORECAST, INITIAL, SAMPLE IF TRUE and DELAY FIXED is written as
hidden stocks (``Variable.hidden``) with PySD's equations, so both kernels integrate them
as they integrate INTEG stocks: every net flow is evaluated before any state changes.

* SMOOTH, SMOOTH3, SMOOTHI, SMOOTH3I, SMOOTH N (``pysd.py_backend.statefuls.Smooth``):
  ``order`` stocks ``s_i`` started at the initial value, with net flows
  ``((s_{i-1} - s_i) * order) / time`` (``s_{-1}`` the input); the output is the last one.
* DELAY1, DELAY1I, DELAY3, DELAY3I (``Delay``) and DELAY N (``DelayN``): ``order`` stocks
  started at ``initial * delay time``, with net flows ``(in_i - out_i) * order`` where
  ``out_i = d_i / delay time`` and ``in_i = out_{i-1}`` (``in_0`` the input); the output is
  ``d_last / delay time``. As PySD does, the order is lowered at initialization while
  ``order * TIME STEP`` exceeds the smallest delay time (`delay_order`); it is a hidden
  stock held at its initial value. DELAY N also keeps the delay times of its stages from
  one step to the next, as PySD's ``DelayN.times`` does.
* TREND and FORECAST: one stock, PySD's initial values, flows and outputs.
* INITIAL: a stock held at its initial value. ACTIVE INITIAL: its second argument while the
  initial values are computed, its first afterwards.
* SAMPLE IF TRUE: a stock replaced at every step by ``state * 0 + IF THEN ELSE(condition,
  input, state)``; DELAY FIXED: a ring buffer of ``round(max(delay / TIME STEP, 1))``
  values (`fixed_delay_length`), both as PySD updates them.

Fidelity to PySD 3.14 (the reference engine)
--------------------------------------------
* Expressions are first written as the text PySD's builder writes (same operator grouping
  and parentheses, including its ``-a^b`` = ``-(a^b)`` reading), then read back with Python's
  own expression grammar (``ast.parse`` of that text, never evaluated), so the order of
  floating-point operations is PySD's. Functions PySD implements in Python (STEP, RAMP,
  PULSE, PULSE TRAIN, MODULO, LOG ...) are written as the operations PySD performs.
* Array constants and lookup tables are printed and re-read exactly as PySD prints them
  (``numpy.array2string``, 8 decimals), so both engines use the same numbers.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import itertools
import math
import os
import pickle
import sys
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdplanner.cache import cache_root, entry_for_rebuild, seal, verified
from sdplanner.errors import ModelError

__all__ = [
    "CONTROL_NAMES",
    "REDUCTIONS",
    "SMALL_VENSIM",
    "TIME",
    "Bin",
    "Call",
    "Cmp",
    "Lookup",
    "ModelIR",
    "Neg",
    "Num",
    "Ref",
    "TimeRef",
    "ToRegion",
    "Variable",
    "children",
    "delay_order",
    "evaluate_constant",
    "fixed_delay_length",
    "is_per_region",
    "needed_stocks",
    "num",
    "phase_view",
    "read_model",
    "references",
]

#: PySD's zero for XIDZ and ZIDZ (``pysd.py_backend.functions.SMALL_VENSIM``): a
#: denominator with ``abs(b) < 1e-6`` counts as zero.
SMALL_VENSIM = 1e-6

CONTROL_NAMES = ("initial_time", "final_time", "time_step", "saveper")


# --------------------------------------------------------------------------------------
# Intermediate representation: small immutable expression trees (hashable, so equal
# subexpressions are computed once).
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    """A number literal; ``key`` keeps ``0.0`` and ``-0.0`` (and int/float) apart."""

    value: float
    key: str


def num(value) -> Num:
    """Make a number literal from a Python or NumPy number.

    Parameters
    ----------
    value : int or float
        The number, in the units of the expression it appears in.

    Returns
    -------
    Num
        The literal.
    """
    value = value.item() if isinstance(value, np.generic) else value
    return Num(value, f"{type(value).__name__}:{value!r}")


@dataclass(frozen=True)
class Ref:
    """A reference to a model variable by Python name."""

    name: str


@dataclass(frozen=True)
class TimeRef:
    """The simulation time (year)."""


TIME = TimeRef()


@dataclass(frozen=True)
class Neg:
    """Unary minus."""

    arg: object


@dataclass(frozen=True)
class Bin:
    """A binary arithmetic operation: ``+ - * / **``."""

    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Cmp:
    """A comparison: ``== != >= > <= <``."""

    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Call:
    """A call of a function of the trees, by lower-case name.

    One argument: abs, sin, cos, tan, arcsin, arccos, arctan, sinh, cosh, tanh, sqrt, exp,
    ln (natural log), integer (truncation toward zero), not (logical). Two: min, max,
    power (``numpy.power``), zidz, and, or, pymod (Python's ``%``: the sign of the divisor).
    Three: xidz, if_then_else. Reductions over the regions of a reference: sum, vmin, vmax
    (NaN skipped, as xarray does). active_initial(expression, initial value). Computed at
    initialization: delay_order(order, smallest delay time, TIME STEP) and
    fixed_delay_length(delay time, TIME STEP).
    """

    fn: str
    args: tuple


@dataclass(frozen=True)
class Lookup:
    """A lookup table (named or inline): linear interpolation, clamped at the ends."""

    arg: object
    xs: tuple
    ys: tuple


@dataclass(frozen=True)
class ToRegion:
    """A scalar expression repeated for every region."""

    arg: object


#: Reductions over the regions: one value per sample.
REDUCTIONS = ("sum", "vmin", "vmax")


def delay_order(order, smallest, dt):
    """PySD's order of a DELAY after initialization: lowered while ``order * dt > smallest``.

    ``pysd.py_backend.statefuls.Delay.initialize`` lowers the order one by one while
    ``order * TIME STEP`` exceeds the smallest delay time; PySD fails where that reaches
    zero, which is kept at 1 here.

    Parameters
    ----------
    order : int
        The order of the DELAY (1 for DELAY1, 3 for DELAY3, the order of DELAY N).
    smallest : float or numpy.ndarray
        Smallest delay time over the regions (model time units), per sample.
    dt : float
        TIME STEP (model time units).

    Returns
    -------
    float or numpy.ndarray
        The order, a whole number from 1 to ``order``, per sample.
    """
    smallest = np.asarray(smallest, dtype=float)
    out = np.full(smallest.shape, float(order))
    for _ in range(int(order) - 1):
        out = np.where(out * dt > smallest, out - 1.0, out)
    return out if out.ndim else float(out)


def fixed_delay_length(delay, dt):
    """PySD's number of values a DELAY FIXED keeps: ``round(max(delay / dt, 1) + 1e-6)``.

    Parameters
    ----------
    delay : float or numpy.ndarray
        The delay time at initialization (model time units), per sample.
    dt : float
        TIME STEP (model time units).

    Returns
    -------
    float or numpy.ndarray
        The length of the pipeline (time steps), NaN where the delay is not a number.
    """
    ratio = np.asarray(delay, dtype=float) / dt
    out = np.rint(np.where(ratio < 1, 1.0, ratio) + SMALL_VENSIM)
    return out if out.ndim else float(out)


@dataclass(frozen=True)
class Variable:
    """One variable of the model as the batch engine sees it.

    Attributes
    ----------
    name : str
        Name as written in the ``.mdl`` (for a hidden variable: the name of the variable
        it belongs to and what it is, e.g. ``"x (SMOOTH3 stage 2)"``).
    py_name : str
        PySD's Python name (hidden variables: ``_<py_name>__<function><k>_<part>``).
    kind : str
        ``"stock"``, ``"constant"`` (a literal the user may override), ``"control"``
        (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER), ``"auxiliary"`` or ``"lookup"`` (a
        named lookup table, called where it is used; ``value`` is ``(xs, ys)``).
    region : bool
        True when the variable has the model's subscript range.
    expr : object
        Expression tree: the equation, or the net flow of a stock (units per time unit),
        or what a ``"next"`` stock becomes and what a ``"pipe"`` stock takes in.
    init : object or None
        Expression tree of a stock's initial value (units of the stock).
    value : float or numpy.ndarray or None
        Default value of a constant or control variable, shape ``(R,)`` when per region.
    update : str
        How a stock changes at every step: ``"euler"`` (``s + flow * dt``, INTEG),
        ``"hold"`` (kept at its initial value; ``expr`` is None), ``"next"`` (replaced by
        ``expr``) or ``"pipe"`` (DELAY FIXED: ``expr`` enters a ring buffer of ``length``
        values, the stock is the value leaving it).
    length : str or None
        For a ``"pipe"`` stock, the Python name of the held stock with its length (steps).
    hidden : bool
        True for variables made by the engine for a stateful function (not in the
        ``.mdl``, never an output).
    """

    name: str
    py_name: str
    kind: str
    region: bool
    expr: object
    init: object = None
    value: object = None
    update: str = "euler"
    length: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class ModelIR:
    """The parsed model: variables in ``.mdl`` order and the subscript range.

    Attributes
    ----------
    path : pathlib.Path
        The ``.mdl`` file.
    range_name : str
        Name of the subscript range (``"Region"``), or ``""`` when the model has none.
    elements : tuple of str
        Elements of the range in order.
    variables : dict
        ``py_name -> Variable`` in ``.mdl`` order, each stateful function's hidden
        variables right after the variable that uses it.
    fixed : dict
        ``py_name -> reason`` for constants that cannot be overridden (unchangeable
        constants, ``==``).
    timing : frozenset of str
        Constants the control variables and the orders of SMOOTH N and DELAY N are computed
        from: overridden for a whole run only, never per sample.
    orders : tuple
        ``(description, expression, order, truncate)`` of every SMOOTH N or DELAY N whose
        order is an expression: the order it had when the model was read (the generated
        code has one stock per stage); a run checks that its settings give the same.
    """

    path: Path
    range_name: str
    elements: tuple[str, ...]
    variables: Mapping[str, Variable]
    fixed: Mapping[str, str] = field(default_factory=dict)
    timing: frozenset = frozenset()
    orders: tuple = ()

    @property
    def n_regions(self) -> int:
        """Number of elements of the subscript range (1 when there is none)."""
        return max(1, len(self.elements))

    @property
    def stocks(self) -> list[str]:
        """Python names of the stocks (hidden ones included), in ``.mdl`` order."""
        return [k for k, v in self.variables.items() if v.kind == "stock"]

    @property
    def constants(self) -> list[str]:
        """Python names of the overridable constants, in ``.mdl`` order."""
        return [k for k, v in self.variables.items() if v.kind == "constant"]

    @property
    def visible(self) -> list[str]:
        """Python names of the variables of the ``.mdl`` (not hidden), in ``.mdl`` order."""
        return [k for k, v in self.variables.items() if not v.hidden]


# --------------------------------------------------------------------------------------
# Reading the .mdl through PySD's parser
# --------------------------------------------------------------------------------------
_STRUCTURE_NAMES = {
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


def _pysd_array_values(values) -> np.ndarray:
    """Return the float values PySD's generated code holds for an array literal."""
    arr = np.asarray(values)
    text = _pysd_array_text(arr)
    return np.asarray(ast.literal_eval(text), dtype=float)


class _UnsupportedError(Exception):
    """A construct the batch engine does not support (converted to ModelError)."""


def _lower(item: tuple[str, int], new_order: int) -> tuple[str, int]:
    """PySD's ``BuildAST.lower_order``: parenthesize when the order conflicts."""
    text, order = item
    if order >= new_order and order != 0 and new_order != 0:
        return f"({text})", 0
    return text, order


def _ite(condition, if_true, if_false) -> Call:
    return Call("if_then_else", (condition, if_true, if_false))


def _quantum(a, b):
    """PySD's ``quantum(a, b)``: ``a`` where ``b < SMALL_VENSIM``, else ``b * integer(a / b)``."""
    return _ite(Cmp("<", b, num(SMALL_VENSIM)), a, Bin("*", b, Call("integer", (Bin("/", a, b),))))


def _single_pulse(start, width):
    """PySD's ``pulse`` without repetition: 1 while ``start - SMALL <= t < start + width``."""
    inside = Call(
        "and",
        (
            Cmp("<=", Bin("-", start, num(SMALL_VENSIM)), TIME),
            Cmp("<", TIME, Bin("+", start, width)),
        ),
    )
    return _ite(inside, num(1), num(0))


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
        train = _ite(running, _ite(Cmp("<", phase, width), num(1), num(0)), num(0))
        return _ite(Cmp("==", repeat, num(0)), _single_pulse(start, width), train)
    if fn == "get_time_value":  # relativeto 0 and measure 0: time() + offset
        return Bin("+", TIME, args[1])
    return Call(fn, tuple(args))


class _Context:
    """What the translation of every equation of one model shares."""

    def __init__(self, cleanspace, region_of, range_name, lookups):
        self.cleanspace = cleanspace
        self.region_of = region_of
        self.range_name = range_name
        self.lookups = lookups  # py_name -> (xs, ys) of named lookup tables
        self.fixed: dict[str, str] = {}  # py_name -> why it cannot be overridden


class _Translator:
    """Translate the abstract syntax tree of one equation into the IR.

    Stateful functions found on the way become hidden variables (`hidden`), named after the
    variable ``py`` whose equation uses them.
    """

    def __init__(self, ctx: _Context, name: str, py: str, region: bool):
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
        return self.ctx.region_of

    @property
    def range_name(self):
        return self.ctx.range_name

    def expr(self, node):
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
            raise _UnsupportedError("a boolean literal")
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
            raise _UnsupportedError("an array literal inside an expression")
        name = type(node).__name__
        lowering = getattr(self, "_" + name, None)
        if lowering is not None:
            return self._atom(lowering(node))
        raise _UnsupportedError(_STRUCTURE_NAMES.get(name, name))

    def _operation(self, node) -> tuple[str, int]:
        operators = list(node.operators)
        for op in operators:
            if op not in _OPERATORS:
                raise _UnsupportedError(f"the operator {op} among arithmetic operators")
        arguments = [self._text(a) for a in node.arguments]
        order = _OPERATORS[operators[-1]][1]
        if operators[-1] == "^":
            arguments[-1] = _lower(arguments[-1], 2)
        else:
            arguments[-1] = _lower(arguments[-1], order)
        if len(arguments) == 1:
            if operators[0] != "negative":
                raise _UnsupportedError(f"the unary operator {operators[0]}")
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
            raise _UnsupportedError(f"the logical operators {' '.join(operators)}")
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
                raise _UnsupportedError("a subscripted reference to Time")
            return TIME
        if name not in self.ctx.cleanspace:
            raise _UnsupportedError(f"a reference to {name!r}, which is not a variable")
        py = self.ctx.cleanspace[name]
        if py in self.ctx.lookups:
            raise _UnsupportedError(f"the lookup table {name!r} used as a value")
        if not subs:
            return Ref(py)
        if subs == [self.range_name] and self.range_name:
            if not self.region_of[py]:
                raise _UnsupportedError(f"{name}[{subs[0]}] although {name} has no subscripts")
            return Ref(py)
        if allow_all and self.range_name and subs == [self.range_name + "!"]:
            if not self.region_of[py]:
                raise _UnsupportedError(f"{name}[{subs[0]}] although {name} has no subscripts")
            return Ref(py)
        raise _UnsupportedError(f"the subscripted reference {name}[{', '.join(subs)}]")

    def _call(self, node):
        from pysd.translators.structures import abstract_expressions as ae

        fn = node.function.reference
        if fn in self.ctx.cleanspace:
            py = self.ctx.cleanspace[fn]
            if py not in self.ctx.lookups:
                raise _UnsupportedError(f"a call of {fn!r}, which is not a lookup table")
            if len(node.arguments) != 1:
                raise _UnsupportedError(
                    f"the lookup {fn!r} called with {len(node.arguments)} values"
                )
            xs, ys = self.ctx.lookups[py]
            return Lookup(self.expr(node.arguments[0]), xs, ys)
        if fn not in _CALLS:
            raise _UnsupportedError(f"the function {fn.upper().replace('_', ' ')}")
        if len(node.arguments) != _CALLS[fn]:
            raise _UnsupportedError(
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
                raise _UnsupportedError(f"{fn.upper()} of anything but a reference x[{bang}]")
            return Call(fn, (self._reference(arg, allow_all=True),))
        args = [self.expr(a) for a in node.arguments]
        if fn == "get_time_value" and not (_is_zero(args[0]) and _is_zero(args[2])):
            raise _UnsupportedError(
                "GET TIME VALUE other than GET TIME VALUE(0, offset, 0) (PySD computes only"
                " the model's time plus an offset)"
            )
        return _lower_call(fn, args)

    def _lookup(self, node):
        table = node.lookups
        if table.type != "interpolate":
            raise _UnsupportedError(f"a lookup of type {table.type!r}")
        xs = tuple(float(v) for v in _pysd_array_values(np.array(table.x)))
        ys = tuple(float(v) for v in _pysd_array_values(np.array(table.y)))
        if any(b < a for a, b in itertools.pairwise(xs)):
            raise _UnsupportedError("a WITH LOOKUP table whose x values decrease")
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
        raise _UnsupportedError("a chained comparison")

    # ---- stateful functions: hidden variables -----------------------------------------
    def _instance(self, function: str) -> str:
        k = self._counts.get(function, 0)
        self._counts[function] = k + 1
        return f"_{self.py}__{function}{k}"

    def _hide(self, py: str, label: str, kind: str, region: bool, expr, **fields) -> str:
        name = f"{self.name} ({label})"
        self.hidden.append(Variable(name, py, kind, region, expr, hidden=True, **fields))
        return py

    def _staged(self, node, what: str, truncate: bool, build) -> object:
        """Build a SMOOTH or DELAY with one hidden stock per stage of its order.

        ``build(order)`` makes the stages and returns the output. A literal order is used
        at once; any other is computed once the whole model is read, at the initial time
        with the model's constants and TIME STEP (`evaluate_constant`), as PySD computes it
        at initialization, and each run checks that its own settings give the same order
        (`ModelIR.orders`): the generated code has one stock per stage.
        """
        if isinstance(node, (int, float, np.integer, np.floating)) and not isinstance(node, bool):
            return build(_whole_order(float(node), what, truncate))
        out = self._instance("output")
        index = len(self.hidden)
        self._hide(out, f"{what} output", "auxiliary", self.region, None)

        def finish(value: float) -> tuple[int, object]:
            order = _whole_order(value, what, truncate)
            self.hidden[index] = dataclasses.replace(self.hidden[index], expr=build(order))
            return order

        self.deferred.append((what, truncate, self.expr(node), finish))
        return Ref(out)

    def _InitialStructure(self, node):
        base = self._instance("initial")
        init = self.expr(node.initial)
        return Ref(
            self._hide(base, "INITIAL", "stock", self.region, None, init=init, update="hold")
        )

    def _SmoothStructure(self, node):
        what = {1: "SMOOTH", 3: "SMOOTH3"}.get(int(node.order), "SMOOTH N")
        return self._smooth(node, what)

    def _SmoothNStructure(self, node):
        return self._smooth(node, "SMOOTH N")

    def _smooth(self, node, what: str):
        """PySD's Smooth: ``ddt = (targets - state) * order / smooth_time``."""
        base = self._instance("smooth")
        inflow = self.expr(node.input)
        smooth_time = self.expr(node.smooth_time)
        init = self.expr(node.initial)

        def build(order: int):
            target = inflow
            for i in range(order):
                stage = f"{base}_{i}"
                change = Bin("-", target, Ref(stage))
                if order != 1:  # x * 1 is x, to the bit
                    change = Bin("*", change, num(order))
                flow = Bin("/", change, smooth_time)
                self._hide(stage, f"{what} stage {i + 1}", "stock", self.region, flow, init=init)
                target = Ref(stage)
            return target

        return self._staged(node.order, what, False, build)

    def _DelayStructure(self, node):
        return self._delay(node, {1: "DELAY1", 3: "DELAY3"}.get(int(node.order), "DELAY N"))

    def _DelayNStructure(self, node):
        return self._delay(node, "DELAY N", register=True)

    def _delay(self, node, what: str, register: bool = False):
        """PySD's Delay (and DelayN, whose stages keep the delay times they were given)."""
        base = self._instance("delay")
        delay_time = Ref(
            self._hide(
                f"{base}_time",
                f"{what} delay time",
                "auxiliary",
                self.region,
                self.expr(node.delay_time),
            )
        )
        initial = Bin("*", self.expr(node.initial), delay_time)
        first_inflow = self.expr(node.input)
        smallest = Call("vmin", (delay_time,)) if self.region else delay_time

        def build(order: int):
            effective = Ref(
                self._hide(
                    f"{base}_order",
                    f"{what} order",
                    "stock",
                    False,
                    None,
                    init=Call("delay_order", (num(order), smallest, Ref("time_step"))),
                    update="hold",
                )
            )
            stages = [f"{base}_{i}" for i in range(order)]
            times = [delay_time] * order
            last_time = delay_time
            if register:
                # DelayN.ddt: times = roll(times); times[0] = delay_time(); the outflows
                # divide by them, the output by times[0] as the previous step left it
                held = [f"{base}_t{i}" for i in range(order)]
                times = [delay_time] + [Ref(h) for h in held[:-1]]
                for i, h in enumerate(held):
                    label = f"{what} delay time of stage {i + 1}"
                    self._hide(
                        h, label, "stock", self.region, times[i], init=delay_time, update="next"
                    )
                last_time = Ref(held[0])
            inflow = first_inflow
            for i, (stage, time) in enumerate(zip(stages, times, strict=True)):
                outflow = Bin("/", Ref(stage), time)
                flow = Bin("*", Bin("-", inflow, outflow), effective)
                self._hide(stage, f"{what} stage {i + 1}", "stock", self.region, flow, init=initial)
                inflow = outflow
            # the output: the last of the stages the order keeps
            output = Bin("/", Ref(stages[0]), last_time)
            for i in range(1, order):
                output = _ite(
                    Cmp("==", effective, num(i + 1)), Bin("/", Ref(stages[i]), last_time), output
                )
            return output

        return self._staged(node.order, what, True, build)

    def _DelayFixedStructure(self, node):
        base = self._instance("delayfixed")
        length = self._hide(
            f"{base}_length",
            "DELAY FIXED length",
            "stock",
            False,
            None,
            init=Call("fixed_delay_length", (self.expr(node.delay_time), Ref("time_step"))),
            update="hold",
        )
        return Ref(
            self._hide(
                base,
                "DELAY FIXED",
                "stock",
                self.region,
                self.expr(node.input),
                init=self.expr(node.initial),
                update="pipe",
                length=length,
            )
        )

    def _averaged(self, node, what: str, init) -> tuple:
        """Make the state of a TREND or FORECAST: ``ddt = (input - state) / average_time``.

        Returns the state, the input and the average time.
        """
        base = self._instance(what.lower())
        inp, avg = self.expr(node.input), self.expr(node.average_time)
        flow = Bin("/", Bin("-", inp, Ref(base)), avg)
        state = self._hide(base, what, "stock", self.region, flow, init=init(inp, avg))
        return Ref(state), inp, avg

    def _TrendStructure(self, node):
        """PySD's Trend: state = input / (1 + init_trend * average_time) at the start."""
        trend = self.expr(node.initial_trend)
        state, inp, avg = self._averaged(
            node, "TREND", lambda inp, avg: Bin("/", inp, Bin("+", num(1), Bin("*", trend, avg)))
        )
        return Call("zidz", (Bin("-", inp, state), Bin("*", avg, Call("abs", (state,)))))

    def _ForecastStructure(self, node):
        """PySD's Forecast: state = input / (1 + initial_trend) at the start."""
        trend = self.expr(node.initial_trend)
        state, inp, avg = self._averaged(
            node, "FORECAST", lambda inp, avg: Bin("/", inp, Bin("+", num(1), trend))
        )
        change = Call("zidz", (Bin("-", inp, state), Bin("*", avg, state)))
        return Bin("*", inp, Bin("+", num(1), Bin("*", change, self.expr(node.horizon))))

    def _SampleIfTrueStructure(self, node):
        """PySD's SampleIfTrue: state = state * 0 + if_then_else(condition, input, state)."""
        base = self._instance("sampleiftrue")
        sampled = _ite(self.expr(node.condition), self.expr(node.input), Ref(base))
        self._hide(
            base,
            "SAMPLE IF TRUE",
            "stock",
            self.region,
            Bin("+", Bin("*", Ref(base), num(0)), sampled),
            init=self.expr(node.initial),
            update="next",
        )
        return sampled


def _whole_order(value: float, what: str, truncate: bool) -> int:
    """PySD's order of a DELAY (truncated to a whole number) or SMOOTH (a whole number)."""
    if not math.isfinite(value):
        raise _UnsupportedError(f"{what} of order {value!r}")
    order = float(int(value)) if truncate else value
    if order != int(order) or order < 1:
        raise _UnsupportedError(f"{what} of order {value:g} (expected a whole number >= 1)")
    return int(order)


def _is_zero(node) -> bool:
    return isinstance(node, Num) and node.value == 0


def read_model(path: str | os.PathLike) -> ModelIR:
    """Parse a ``.mdl`` with PySD's Vensim parser and check every construct.

    Parsing takes about a second for the shipped model; a model that parsed without error
    is kept in the cache (``$SDPLANNER_CACHE/ir/``, default ``~/.cache/sdplanner/ir/``) as a
    pickle of the result, keyed by the SHA-256 of the file's bytes, of this module's source
    and of PySD's and Python's versions, so any change of either re-parses. The cache holds
    only what this function wrote (the same trust as PySD's translated models next to it),
    sealed with its hash (`sdplanner.cache`): an entry that fails its check is never
    unpickled, and the model is parsed again.

    Parameters
    ----------
    path : path-like
        The Vensim model file.

    Returns
    -------
    ModelIR
        The variables with their expression trees.

    Raises
    ------
    ModelError
        When the file cannot be parsed, or uses a construct the batch engine does not
        support (the message names the construct and the variable), or when the equations
        contain an algebraic loop.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    cache = _ir_cache_file(path)
    cached = _load_cached(cache) if cache is not None and cache.is_file() else None
    if cached is not None:
        return dataclasses.replace(cached, path=path)
    ir = _parse_model(path)
    if cache is not None:
        _store_cached(cache, ir)
    return ir


def _store_cached(cache: Path, ir: ModelIR) -> None:
    """Write a parse to the cache and seal it (a read-only cache only costs the parse)."""
    tmp = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(ir, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
        seal(cache)
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _load_cached(cache: Path) -> ModelIR | None:
    """Read a cached parse that matches its seal; None otherwise (then parsed again)."""
    if not verified(cache):
        return None
    try:
        with open(cache, "rb") as fh:
            ir = pickle.load(fh)  # noqa: S301 - written and sealed by read_model
    except Exception:  # any damage: the caller parses the file again and overwrites it
        return None
    return ir if isinstance(ir, ModelIR) else None


def _ir_cache_file(path: Path) -> Path | None:
    """Where the parsed model of ``path`` is cached (None when the file cannot be read).

    An entry there that fails its check is removed, with one warning line, and the place
    to write the new parse is in this process's fresh cache folder.
    """
    import pysd

    try:
        data = path.read_bytes()
    except OSError:
        return None
    h = hashlib.sha256(data)
    h.update(Path(__file__).read_bytes())
    h.update(f"{pysd.__version__}|{sys.version}".encode())
    cache = cache_root() / "ir" / f"{h.hexdigest()[:32]}.pickle"
    if cache.exists() and not verified(cache):
        return entry_for_rebuild(cache, "parsed model")
    return cache


def _parse_model(path: Path) -> ModelIR:
    """Parse and check a ``.mdl`` (`read_model` without the cache)."""
    from pysd.builders.python.namespace import NamespaceManager
    from pysd.translators.structures import abstract_expressions as ae
    from pysd.translators.structures import abstract_model as am
    from pysd.translators.vensim.vensim_file import VensimFile

    try:
        with warnings.catch_warnings():
            # PySD's parser warns of what it reads without a problem (no encoding line:
            # UTF-8; :CONSTRAINT: reality checks it leaves out); a warnings filter that
            # turns them into errors must not make a model unreadable
            warnings.simplefilter("ignore", UserWarning)
            vensim = VensimFile(path)
            vensim.parse()
            model = vensim.get_abstract_model()
    except Exception as exc:  # the parser raises many types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: PySD cannot parse the model: {first}") from None
    if len(model.sections) != 1:
        names = ", ".join(s.name for s in model.sections[1:])
        raise ModelError(f"{path}: the batch engine does not support macros (found {names})")
    section = model.sections[0]

    namespace = NamespaceManager(section.params)
    for element in section.elements:
        namespace.add_to_namespace(element.name)
    cleanspace = namespace.cleanspace
    ranges = {r.name: r for r in section.subscripts}

    def refuse(element, what):
        raise ModelError(
            f"{path}: variable '{element.name}' uses {what}, which the batch engine does not"
            " support (docs/engine.md lists what it supports)"
        )

    # First pass: subscripts of every element, lookup tables, constants written as numbers.
    range_name = ""
    region_of: dict[str, bool] = {}
    lookups: dict[str, tuple] = {}
    for element in section.elements:
        py = namespace.namespace[element.name]
        if len(element.components) != 1:
            refuse(element, "more than one equation (per-element definitions)")
        component = element.components[0]
        if isinstance(component, am.AbstractData):
            refuse(element, "a data variable")
        subs, excepts = component.subscripts
        if any(excepts):
            refuse(element, "EXCEPT")
        if isinstance(component, am.AbstractLookup):
            if not isinstance(component.ast, ae.LookupsStructure):
                refuse(element, _STRUCTURE_NAMES.get(type(component.ast).__name__, "GET"))
            if subs:
                refuse(element, "a subscripted lookup table")
            try:
                lookups[py] = _lookup_table(component.ast)
            except _UnsupportedError as exc:
                refuse(element, exc)
            region_of[py] = False
            continue
        if not subs:
            region_of[py] = False
            continue
        if len(subs) != 1 or subs[0] not in ranges:
            refuse(element, f"the subscripts [{', '.join(subs)}] (only one whole subscript range)")
        if range_name and subs[0] != range_name:
            refuse(element, f"a second subscript range {subs[0]!r}")
        rng = ranges[subs[0]]
        if not isinstance(rng.subscripts, list) or rng.mapping:
            refuse(element, f"the subscript range {subs[0]!r} defined by copy, mapping or GET")
        range_name = subs[0]
        region_of[py] = True
    elements = tuple(ranges[range_name].subscripts) if range_name else ()
    n_regions = max(1, len(elements))
    ctx = _Context(cleanspace, region_of, range_name, lookups)

    # Second pass: equations.
    groups: list[tuple[Variable, _Translator]] = []
    for element in section.elements:
        py = namespace.namespace[element.name]
        region = region_of[py]
        translator = _Translator(ctx, element.name, py, region)
        component = element.components[0]
        if py in lookups:
            var = Variable(element.name, py, "lookup", False, None, None, lookups[py])
            groups.append((var, translator))
            continue
        node = component.ast
        try:
            if isinstance(component, am.AbstractUnchangeableConstant):
                ctx.fixed[py] = "an unchangeable constant (==)"
            if isinstance(element, am.AbstractControlElement):
                expr = translator.expr(node)
                if translator.hidden:
                    raise _UnsupportedError("a control variable with a stateful function")
                value = expr.value if isinstance(expr, Num) else None
                var = Variable(element.name, py, "control", False, expr, None, value)
            elif isinstance(node, ae.IntegStructure):
                if node.non_negative:
                    raise _UnsupportedError("a non-negative INTEG")
                flow = translator.expr(node.flow)
                init = translator.expr(node.initial)
                var = Variable(element.name, py, "stock", region, flow, init)
            elif isinstance(node, np.ndarray):
                if not region or node.size != n_regions:
                    raise _UnsupportedError(
                        f"an array of {node.size} values (expected {n_regions}, one per element)"
                    )
                values = _pysd_array_values(node.reshape(n_regions))
                var = Variable(element.name, py, "constant", True, None, None, values)
            else:
                expr = translator.expr(node)
                if isinstance(expr, Num):
                    value = np.full(n_regions, float(expr.value)) if region else expr.value
                    var = Variable(element.name, py, "constant", region, None, None, value)
                else:
                    var = Variable(element.name, py, "auxiliary", region, expr)
        except _UnsupportedError as exc:
            refuse(element, exc)
        if var.kind != "constant" and py in ctx.fixed:
            refuse(element, "an unchangeable constant (==) that is not a number")
        groups.append((var, translator))

    def assemble() -> dict[str, Variable]:
        out = {}
        for var, translator in groups:
            out[var.py_name] = var
            out.update((h.py_name, h) for h in translator.hidden)
        return out

    variables = assemble()
    for name in CONTROL_NAMES:
        if name not in variables:
            raise ModelError(f"{path}: expected the control variable {name.upper()}, found none")
    timing = _check_controls(path, variables)
    # orders given by expressions: computed as at initialization, with the defaults
    defaults = {k: v.value for k, v in variables.items() if v.kind in ("constant", "control")}
    orders = []
    for var, translator in groups:
        for what, truncate, expr, finish in translator.deferred:
            where = f"the order of {what} in '{var.name}'"
            try:
                value = evaluate_constant(variables, expr, defaults, time=defaults["initial_time"])
                order = finish(float(value))
            except (ModelError, _UnsupportedError, TypeError, ValueError) as exc:
                raise ModelError(
                    f"{path}: variable '{var.name}' uses {what} with an order the batch engine"
                    f" cannot compute before the run ({exc})"
                ) from None
            timing |= _constant_sources(variables, expr)
            orders.append((where, expr, order, truncate))
    variables = assemble()
    ir = ModelIR(
        path, range_name, elements, variables, dict(ctx.fixed), frozenset(timing), tuple(orders)
    )
    _check_shapes(ir)
    _check_loops(ir)
    return ir


def _constant_sources(variables: Mapping[str, Variable], node) -> set[str]:
    """Return the constants an expression is computed from (through auxiliaries, controls)."""
    out: set[str] = set()
    stack, seen = [node], set()
    while stack:
        item = stack.pop()
        if isinstance(item, Ref) and item.name not in seen:
            seen.add(item.name)
            var = variables[item.name]
            if var.kind == "constant":
                out.add(item.name)
            elif var.kind in ("control", "auxiliary"):
                stack.append(var.expr)
        else:
            stack.extend(children(item))
    return out


def _lookup_table(table) -> tuple[tuple, tuple]:
    """Return a named lookup table's points as PySD holds them: sorted by x, x unique."""
    if table.type != "interpolate":
        raise _UnsupportedError(f"a lookup of type {table.type!r}")
    xs = _pysd_array_values(np.array(table.x))
    ys = _pysd_array_values(np.array(table.y))
    if xs.shape != ys.shape or xs.ndim != 1 or xs.size == 0:
        raise _UnsupportedError("a lookup table whose x and y values differ in number")
    if np.unique(xs).size != xs.size:
        raise _UnsupportedError("a lookup table with repeated x values (PySD refuses it too)")
    order = np.argsort(xs, kind="stable")  # HardcodedLookups sorts by x
    return tuple(float(v) for v in xs[order]), tuple(float(v) for v in ys[order])


def _check_controls(path: Path, variables: dict[str, Variable]) -> set[str]:
    """Check that control variables are numbers or expressions of constants; set defaults.

    Returns the constants they are computed from.
    """
    for name in CONTROL_NAMES:
        var = variables[name]
        stack, seen = [var.expr], set()
        while stack:
            node = stack.pop()
            if isinstance(node, TimeRef):
                raise ModelError(
                    f"{path}: variable '{var.name}' uses a control variable that varies with"
                    " time, which the batch engine does not support"
                )
            if not isinstance(node, Ref):
                stack.extend(children(node))
                continue
            if node.name in seen:
                continue
            seen.add(node.name)
            ref = variables[node.name]
            if ref.kind in ("control", "auxiliary"):
                stack.append(ref.expr)
            elif ref.kind != "constant":
                raise ModelError(
                    f"{path}: variable '{var.name}' uses a control variable computed from the"
                    f" {ref.kind} '{ref.name}', which the batch engine does not support"
                )
    defaults = {k: v.value for k, v in variables.items() if v.kind == "constant"}
    timing: set[str] = set()
    for name in CONTROL_NAMES:
        var = variables[name]
        try:
            value = evaluate_constant(variables, var.expr, defaults)
        except ModelError as exc:
            raise ModelError(f"{path}: variable '{var.name}': {exc}") from None
        variables[name] = dataclasses.replace(var, value=value)
        timing |= _constant_sources(variables, var.expr)
    return timing


_EVALUATE = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


_EVALUATE_CALLS = {
    "min": np.minimum,
    "max": np.maximum,
    "abs": np.abs,
    "exp": np.exp,
    "ln": np.log,
    "sqrt": np.sqrt,
    "integer": np.trunc,
    "and": np.logical_and,
    "or": np.logical_or,
    "not": np.logical_not,
}


def evaluate_constant(
    variables: Mapping[str, Variable],
    node,
    values: Mapping[str, object],
    *,
    time: float | None = None,
):
    """Compute an expression of constants (a control variable, an order) as PySD does.

    Parameters
    ----------
    variables : mapping
        ``py_name -> Variable`` of the model.
    node : object
        The expression tree: numbers, references to constants, control variables and
        auxiliaries computed from them, Time (when ``time`` is given), arithmetic,
        comparisons, logical operators, MIN, MAX, ABS, EXP, LN, SQRT, INTEGER, IF THEN ELSE.
    values : mapping
        ``py_name -> value`` of constants and of control variables already set (model
        units); a control variable or auxiliary not in it is computed from its expression.
    time : float, optional
        The value of Time (model time units); an expression with Time is refused without it.

    Returns
    -------
    float
        The value, computed with Python's arithmetic as PySD's generated functions are.

    Raises
    ------
    ModelError
        For a construct outside that list, a per-element value, a variable computed from
        itself, or a division by zero.
    """
    busy: set[str] = set()

    def ev(n):
        if isinstance(n, Num):
            return n.value
        if isinstance(n, TimeRef):
            if time is None:
                raise ModelError("Time before the run")
            return time
        if isinstance(n, Ref):
            if n.name in values:
                value = values[n.name]
            else:
                var = variables[n.name]
                if var.kind not in ("control", "auxiliary") or var.expr is None:
                    raise ModelError(f"{var.name} is not a constant")
                if n.name in busy:
                    raise ModelError(f"{var.name} is computed from itself")
                busy.add(n.name)
                value = ev(var.expr)
                busy.discard(n.name)
            if np.ndim(value):
                raise ModelError(f"{variables[n.name].name} has one value per element")
            return value.item() if isinstance(value, np.generic) else value
        if isinstance(n, Neg):
            return -ev(n.arg)
        if isinstance(n, (Bin, Cmp)):
            try:
                return _EVALUATE[n.op](ev(n.left), ev(n.right))
            except (ZeroDivisionError, OverflowError) as exc:
                raise ModelError(f"cannot compute {n.op}: {exc}") from None
        if isinstance(n, ToRegion):
            return ev(n.arg)
        if isinstance(n, Call) and n.fn == "if_then_else":
            return ev(n.args[1]) if ev(n.args[0]) else ev(n.args[2])
        if isinstance(n, Call) and n.fn in _EVALUATE_CALLS:
            return _EVALUATE_CALLS[n.fn](*[ev(a) for a in n.args]).item()
        if isinstance(n, Lookup):
            return float(np.interp(ev(n.arg), n.xs, n.ys))
        raise ModelError(f"cannot compute {getattr(n, 'fn', type(n).__name__)} before the run")

    return ev(node)


def phase_view(node, phase: str):
    """Return an expression as it is computed in one phase of a run.

    Parameters
    ----------
    node : object
        An expression tree.
    phase : {"init", "step"}
        ``"init"`` while the initial values are computed, ``"step"`` afterwards: ACTIVE
        INITIAL is its initial value in the first and its expression in the second.

    Returns
    -------
    object
        The tree without ACTIVE INITIAL nodes (the same object when it has none).
    """
    if not _has_active_initial(node):
        return node
    if isinstance(node, Call) and node.fn == "active_initial":
        return phase_view(node.args[1] if phase == "init" else node.args[0], phase)
    return _map_children(node, lambda c: phase_view(c, phase))


def _has_active_initial(node) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Call) and item.fn == "active_initial":
            return True
        stack.extend(children(item))
    return False


def _map_children(node, fn):
    """Rebuild a node with ``fn`` applied to its children."""
    if isinstance(node, (Num, Ref, TimeRef)) or node is None:
        return node
    if isinstance(node, Neg):
        return Neg(fn(node.arg))
    if isinstance(node, ToRegion):
        return ToRegion(fn(node.arg))
    if isinstance(node, Bin):
        return Bin(node.op, fn(node.left), fn(node.right))
    if isinstance(node, Cmp):
        return Cmp(node.op, fn(node.left), fn(node.right))
    if isinstance(node, Call):
        return Call(node.fn, tuple(fn(a) for a in node.args))
    if isinstance(node, Lookup):
        return Lookup(fn(node.arg), node.xs, node.ys)
    raise TypeError(f"unknown node {node!r}")


def children(node) -> tuple:
    """Return the sub-expressions of an expression tree node.

    Parameters
    ----------
    node : object
        A node of `ModelIR` expression trees (or None).

    Returns
    -------
    tuple
        The direct children, in evaluation order.
    """
    if isinstance(node, (Num, Ref, TimeRef)) or node is None:
        return ()
    if isinstance(node, (Neg, ToRegion)):
        return (node.arg,)
    if isinstance(node, (Bin, Cmp)):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Lookup):
        return (node.arg,)
    raise TypeError(f"unknown node {node!r}")


def references(node, phase: str | None = None) -> set[str]:
    """Return the Python names of the variables an expression refers to.

    Parameters
    ----------
    node : object
        An expression tree (or None).
    phase : {"init", "step"}, optional
        Only the references of that phase (`phase_view`); both when omitted.

    Returns
    -------
    set of str
        Python names of the referenced variables.
    """
    if phase is not None:
        node = phase_view(node, phase)
    out: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Ref):
            out.add(item.name)
        else:
            stack.extend(children(item))
    return out


def _stock_references(var: Variable) -> set[str]:
    """Return what a stock depends on: its flow, initial value and pipeline length."""
    out = references(var.expr) | references(var.init)
    if var.length:
        out.add(var.length)
    return out


def needed_stocks(ir: ModelIR, outputs: Iterable[str]) -> list[str]:
    """Return the stocks whose trajectories some outputs need, in ``.mdl`` order.

    Parameters
    ----------
    ir : ModelIR
        The parsed model.
    outputs : iterable of str
        Python names of the variables to compute.

    Returns
    -------
    list of str
        Python names of the stocks the outputs depend on (through equations, flows,
        initial values and DELAY FIXED lengths).
    """
    seen: set[str] = set()
    stack = list(outputs)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        var = ir.variables[name]
        if var.kind == "stock":
            stack.extend(_stock_references(var))
        elif var.kind == "auxiliary":
            stack.extend(references(var.expr))
    return [s for s in ir.stocks if s in seen]


def is_per_region(ir: ModelIR, node) -> bool:
    """Tell whether an expression has one value per region.

    Parameters
    ----------
    ir : ModelIR
        The model the expression belongs to.
    node : object
        The expression tree.

    Returns
    -------
    bool
        True for a per-region expression, False for a scalar one.
    """
    if isinstance(node, Ref):
        return ir.variables[node.name].region
    if isinstance(node, (Num, TimeRef)):
        return False
    if isinstance(node, ToRegion):
        return True
    if isinstance(node, Call) and node.fn in (*REDUCTIONS, "_any", "_anysmall", "_is_one"):
        return False
    return any(is_per_region(ir, c) for c in children(node))


def _check_shapes(ir: ModelIR) -> None:
    """Refuse scalar variables with per-region equations; broadcast the converse."""
    variables = dict(ir.variables)
    for py, var in ir.variables.items():
        for label, node in (("equation", var.expr), ("initial value", var.init)):
            if node is None or var.kind in ("constant", "control", "lookup"):
                continue
            if is_per_region(ir, node) and not var.region:
                raise ModelError(
                    f"{ir.path}: variable '{var.name}' has no subscripts but its {label} is per"
                    f" {ir.range_name}"
                )
        if var.kind == "auxiliary" and var.region and not is_per_region(ir, var.expr):
            variables[py] = dataclasses.replace(var, expr=ToRegion(var.expr))
    object.__setattr__(ir, "variables", variables)


def _find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one cycle of a dependency graph (as a list of names), or None."""
    state: dict[str, int] = {}
    for root in graph:
        if state.get(root):
            continue
        stack = [(root, iter(sorted(graph[root])))]
        path = [root]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
                path.append(nxt)
    return None


def _check_loops(ir: ModelIR) -> None:
    """Refuse algebraic loops (among auxiliaries) and loops among initial values."""
    stocks = set(ir.stocks)
    step = {
        k: references(v.expr, "step") - stocks if v.kind == "auxiliary" else set()
        for k, v in ir.variables.items()
    }
    cycle = _find_cycle(step)
    if cycle:
        names = " -> ".join(ir.variables[c].name for c in cycle)
        raise ModelError(f"{ir.path}: algebraic loop (no stock on it): {names}")
    init = {}
    for k, v in ir.variables.items():
        if v.kind == "stock":
            init[k] = references(v.init, "init") | ({v.length} if v.length else set())
        elif v.kind == "auxiliary":
            init[k] = references(v.expr, "init")
        else:
            init[k] = set()
    cycle = _find_cycle(init)
    if cycle:
        names = " -> ".join(ir.variables[c].name for c in cycle)
        raise ModelError(f"{ir.path}: the initial values depend on each other in a loop: {names}")
