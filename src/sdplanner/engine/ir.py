"""The batch engine's model: small immutable expression trees and what walks them.

`read_model` (`sdplanner.engine.equations`) turns a ``.mdl`` into a `ModelIR`: its variables
(`Variable`) with expression trees of `Num`, `Ref`, `TIME`, `Neg`, `Bin`, `Cmp`, `Call`,
`Lookup` and `ToRegion` nodes. This module holds those types and the functions every consumer
of the trees shares: `children`, `references`, `phase_view`, `needed_stocks`,
`is_per_region` and `evaluate_constant` (a tree of constants computed as PySD does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
    "fixed_delay_length",
    "if_then_else",
    "is_per_region",
    "is_zero",
    "needed_stocks",
    "num",
    "phase_view",
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


def if_then_else(condition, if_true, if_false) -> Call:
    """Return the tree of ``IF THEN ELSE(condition, if_true, if_false)``."""
    return Call("if_then_else", (condition, if_true, if_false))


def is_zero(node) -> bool:
    """Return True for the number 0."""
    return isinstance(node, Num) and node.value == 0


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
