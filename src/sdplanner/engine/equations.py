"""Read a ``.mdl`` through PySD's parser into equation trees the batch engine can compile.

The ``.mdl`` is parsed by PySD's own Vensim parser (``VensimFile.parse`` then
``get_abstract_model``); this module walks PySD's abstract syntax trees into small immutable
expression trees (`ModelIR`). There is no second copy of the equations: every number and
operation comes from the parsed model.

Only the constructs the shipped model uses are supported: INTEG stocks, scalar and per-region
constants, ``+ - * / ^`` and unary minus, comparisons, MIN, MAX, XIDZ, ZIDZ, EXP, LN,
IF THEN ELSE, inline WITH LOOKUP, ``SUM(x[Range!])``, Time and the four control variables,
with one subscript range. Anything else raises `sdplanner.errors.ModelError` naming the
construct and the variable; so do algebraic loops.

Fidelity to PySD 3.14 (the reference engine)
--------------------------------------------
* Expressions are first written as the text PySD's builder writes (same operator grouping
  and parentheses, including its ``-a^b`` = ``-(a^b)`` reading), then read back with Python's
  own expression grammar (``ast.parse`` of that text, never evaluated), so the order of
  floating-point operations is PySD's.
* Array constants and lookup tables are printed and re-read exactly as PySD prints them
  (``numpy.array2string``, 8 decimals), so both engines use the same numbers.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import math
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdplanner.cache import cache_root, entry_for_rebuild, seal, verified
from sdplanner.errors import ModelError

__all__ = [
    "CONTROL_NAMES",
    "SMALL_VENSIM",
    "SUPPORTED",
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
    "is_per_region",
    "needed_stocks",
    "num",
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
    """A call of a supported function (lower-case Vensim name)."""

    fn: str
    args: tuple


@dataclass(frozen=True)
class Lookup:
    """An inline WITH LOOKUP table: linear interpolation, clamped at the ends."""

    arg: object
    xs: tuple
    ys: tuple


@dataclass(frozen=True)
class ToRegion:
    """A scalar expression repeated for every region."""

    arg: object


@dataclass(frozen=True)
class Variable:
    """One variable of the model as the batch engine sees it.

    Attributes
    ----------
    name : str
        Name as written in the ``.mdl``.
    py_name : str
        PySD's Python name.
    kind : str
        ``"stock"``, ``"constant"`` (a literal the user may override), ``"control"``
        (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER) or ``"auxiliary"``.
    region : bool
        True when the variable has the model's subscript range.
    expr : object
        Expression tree: the equation, or the net flow of a stock (units per year).
    init : object or None
        Expression tree of a stock's initial value (units of the stock).
    value : float or numpy.ndarray or None
        Default value of a constant or control variable, shape ``(R,)`` when per region.
    """

    name: str
    py_name: str
    kind: str
    region: bool
    expr: object
    init: object = None
    value: object = None


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
        ``py_name -> Variable`` in ``.mdl`` order.
    """

    path: Path
    range_name: str
    elements: tuple[str, ...]
    variables: Mapping[str, Variable]

    @property
    def n_regions(self) -> int:
        """Number of elements of the subscript range (1 when there is none)."""
        return max(1, len(self.elements))

    @property
    def stocks(self) -> list[str]:
        """Python names of the stocks, in ``.mdl`` order."""
        return [k for k, v in self.variables.items() if v.kind == "stock"]

    @property
    def constants(self) -> list[str]:
        """Python names of the overridable constants, in ``.mdl`` order."""
        return [k for k, v in self.variables.items() if v.kind == "constant"]


# --------------------------------------------------------------------------------------
# Reading the .mdl through PySD's parser
# --------------------------------------------------------------------------------------
_STRUCTURE_NAMES = {
    "DelayStructure": "DELAY1/DELAY3",
    "DelayNStructure": "DELAY N",
    "DelayFixedStructure": "DELAY FIXED",
    "SmoothStructure": "SMOOTH/SMOOTH3",
    "SmoothNStructure": "SMOOTH N",
    "TrendStructure": "TREND",
    "ForecastStructure": "FORECAST",
    "SampleIfTrueStructure": "SAMPLE IF TRUE",
    "InitialStructure": "INITIAL",
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
    "exp": 1,
    "ln": 1,
    "if_then_else": 3,
    "sum": 1,
}
SUPPORTED = (
    "INTEG, constants, + - * / ^, unary minus, comparisons, MIN, MAX, XIDZ, ZIDZ, EXP, LN,"
    " IF THEN ELSE, WITH LOOKUP, SUM(x[Range!]), Time, INITIAL TIME, FINAL TIME, TIME STEP,"
    " SAVEPER"
)

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


class _Translator:
    """Translate the abstract syntax tree of one equation into the IR."""

    def __init__(self, cleanspace, region_of, range_name):
        self.cleanspace = cleanspace
        self.region_of = region_of
        self.range_name = range_name
        self.atoms: list = []

    def expr(self, node):
        text, _ = self._text(node)
        tree = ast.parse(text, mode="eval").body
        return self._from_python(tree)

    def _atom(self, ir) -> tuple[str, int]:
        self.atoms.append(ir)
        return f"_a{len(self.atoms) - 1}", 0

    def _text(self, node) -> tuple[str, int]:
        from pysd.translators.structures import abstract_expressions as ae

        if isinstance(node, bool):
            raise _UnsupportedError("a boolean literal")
        if isinstance(node, (int, float, np.integer, np.floating)):
            value = node.item() if isinstance(node, np.generic) else node
            if isinstance(value, float) and not math.isfinite(value):
                raise _UnsupportedError(f"the number {value!r}")
            if value < 0 or (value == 0 and math.copysign(1.0, value) < 0):
                # PySD writes repr(value), e.g. "-8": a unary minus in Python's grammar
                return "-" + self._atom(num(-value))[0], 0
            return self._atom(num(value))
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
        construct = _STRUCTURE_NAMES.get(name, name)
        order = getattr(node, "order", None)
        if name in ("DelayStructure", "SmoothStructure") and order is not None:
            base = "DELAY" if name == "DelayStructure" else "SMOOTH"
            construct = f"{base}{int(order)}" if base == "DELAY" or order != 1 else "SMOOTH"
        raise _UnsupportedError(construct)

    def _operation(self, node) -> tuple[str, int]:
        operators = list(node.operators)
        for op in operators:
            if op not in _OPERATORS:
                raise _UnsupportedError(f"the logical operator {op}")
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

    def _reference(self, node, allow_all=False):
        name = node.reference
        subs = list(getattr(node.subscripts, "subscripts", None) or [])
        if name == "time":
            if subs:
                raise _UnsupportedError("a subscripted reference to Time")
            return TIME
        if name not in self.cleanspace:
            raise _UnsupportedError(f"a reference to {name!r}, which is not a variable")
        py = self.cleanspace[name]
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
        if fn in self.cleanspace:
            raise _UnsupportedError(f"a call of the lookup {fn!r}")
        if fn not in _CALLS:
            raise _UnsupportedError(f"the function {fn.upper().replace('_', ' ')}")
        if len(node.arguments) != _CALLS[fn]:
            raise _UnsupportedError(
                f"{fn.upper()} with {len(node.arguments)} arguments (expected {_CALLS[fn]})"
            )
        if fn == "sum":
            arg = node.arguments[0]
            bang = self.range_name + "!"
            if not (
                isinstance(arg, ae.ReferenceStructure)
                and list(getattr(arg.subscripts, "subscripts", None) or []) == [bang]
            ):
                raise _UnsupportedError(f"SUM of anything but a reference x[{bang}]")
            return Call("sum", (self._reference(arg, allow_all=True),))
        return Call(fn, tuple(self.expr(a) for a in node.arguments))

    def _lookup(self, node):
        table = node.lookups
        if table.type != "interpolate":
            raise _UnsupportedError(f"a lookup of type {table.type!r}")
        xs = tuple(float(v) for v in _pysd_array_values(np.array(table.x)))
        ys = tuple(float(v) for v in _pysd_array_values(np.array(table.y)))
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

    # First pass: subscripts of every element.
    range_name = ""
    region_of: dict[str, bool] = {}
    for element in section.elements:
        py = namespace.namespace[element.name]

        def refuse(what, element=element):
            raise ModelError(
                f"{path}: variable '{element.name}' uses {what}, which the batch engine"
                f" does not support (supported: {SUPPORTED})"
            )

        if len(element.components) != 1:
            refuse("more than one equation (per-element definitions)")
        component = element.components[0]
        if isinstance(component, am.AbstractLookup):
            refuse("a lookup table definition (use an inline WITH LOOKUP)")
        if isinstance(component, am.AbstractData):
            refuse("a data variable")
        if isinstance(component, am.AbstractUnchangeableConstant):
            refuse("an unchangeable constant (==)")
        subs, excepts = component.subscripts
        if any(excepts):
            refuse("EXCEPT")
        if not subs:
            region_of[py] = False
            continue
        if len(subs) != 1 or subs[0] not in ranges:
            refuse(f"the subscripts [{', '.join(subs)}] (only one whole subscript range)")
        if range_name and subs[0] != range_name:
            refuse(f"a second subscript range {subs[0]!r}")
        rng = ranges[subs[0]]
        if not isinstance(rng.subscripts, list) or rng.mapping:
            refuse(f"the subscript range {subs[0]!r} defined by copy, mapping or GET")
        range_name = subs[0]
        region_of[py] = True
    elements = tuple(ranges[range_name].subscripts) if range_name else ()
    n_regions = max(1, len(elements))

    # Second pass: equations.
    variables: dict[str, Variable] = {}
    for element in section.elements:
        py = namespace.namespace[element.name]
        region = region_of[py]
        node = element.components[0].ast
        translator = _Translator(cleanspace, region_of, range_name)
        try:
            if isinstance(element, am.AbstractControlElement):
                if not isinstance(node, (int, float, np.integer, np.floating)):
                    raise _UnsupportedError("a control variable that is not a number")
                value = node.item() if isinstance(node, np.generic) else node
                variables[py] = Variable(
                    element.name, py, "control", False, num(value), None, value
                )
                continue
            if isinstance(node, ae.IntegStructure):
                if node.non_negative:
                    raise _UnsupportedError("a non-negative INTEG")
                flow = translator.expr(node.flow)
                init = translator.expr(node.initial)
                variables[py] = Variable(element.name, py, "stock", region, flow, init)
                continue
            if isinstance(node, np.ndarray):
                if not region or node.size != n_regions:
                    raise _UnsupportedError(
                        f"an array of {node.size} values (expected {n_regions}, one per element)"
                    )
                values = _pysd_array_values(node.reshape(n_regions))
                variables[py] = Variable(element.name, py, "constant", True, None, None, values)
                continue
            expr = translator.expr(node)
        except _UnsupportedError as exc:
            raise ModelError(
                f"{path}: variable '{element.name}' uses {exc}, which the batch engine does not"
                f" support (supported: {SUPPORTED})"
            ) from None
        if isinstance(expr, Num):
            value = np.full(n_regions, float(expr.value)) if region else expr.value
            variables[py] = Variable(element.name, py, "constant", region, None, None, value)
        else:
            variables[py] = Variable(element.name, py, "auxiliary", region, expr)

    ir = ModelIR(path, range_name, elements, variables)
    for name in CONTROL_NAMES:
        if name not in variables:
            raise ModelError(f"{path}: expected the control variable {name.upper()}, found none")
    _check_shapes(ir)
    _check_loops(ir)
    return ir


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


def references(node) -> set[str]:
    """Return the Python names of the variables an expression refers to.

    Parameters
    ----------
    node : object
        An expression tree (or None).

    Returns
    -------
    set of str
        Python names of the referenced variables.
    """
    out: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Ref):
            out.add(item.name)
        else:
            stack.extend(children(item))
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
        Python names of the stocks the outputs depend on (through equations, flows and
        initial values).
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
            stack.extend(references(var.expr) | references(var.init))
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
    if isinstance(node, Call) and node.fn in ("sum", "_any", "_anysmall", "_is_one"):
        return False
    return any(is_per_region(ir, c) for c in children(node))


def _check_shapes(ir: ModelIR) -> None:
    """Refuse scalar variables with per-region equations; broadcast the converse."""
    variables = dict(ir.variables)
    for py, var in ir.variables.items():
        for label, node in (("equation", var.expr), ("initial value", var.init)):
            if node is None or var.kind in ("constant", "control"):
                continue
            if is_per_region(ir, node) and not var.region:
                raise ModelError(
                    f"{ir.path}: variable '{var.name}' has no subscripts but its {label} is per"
                    f" {ir.range_name}"
                )
        if var.kind == "auxiliary" and var.region and not is_per_region(ir, var.expr):
            variables[py] = Variable(
                var.name, py, var.kind, True, ToRegion(var.expr), var.init, var.value
            )
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
    step = {
        k: references(v.expr) - set(ir.stocks) if v.kind == "auxiliary" else set()
        for k, v in ir.variables.items()
    }
    cycle = _find_cycle(step)
    if cycle:
        names = " -> ".join(ir.variables[c].name for c in cycle)
        raise ModelError(f"{ir.path}: algebraic loop (no stock on it): {names}")
    init = {
        k: references(v.init)
        if v.kind == "stock"
        else references(v.expr)
        if v.kind == "auxiliary"
        else set()
        for k, v in ir.variables.items()
    }
    cycle = _find_cycle(init)
    if cycle:
        names = " -> ".join(ir.variables[c].name for c in cycle)
        raise ModelError(f"{ir.path}: the initial values depend on each other in a loop: {names}")
