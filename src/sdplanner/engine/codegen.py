"""Generate and compile the batch engine's NumPy code from the model's equation trees.

`generate_kernel` writes one Python function per run signature (which outputs, which
constants vary per sample, which are time series) from the trees of
`sdplanner.engine.equations`, and compiles it with ``compile``/``exec``: only this generated
source is executed, never text from the model file.

Fidelity to PySD 3.14 (the reference engine)
--------------------------------------------
* Euler integration; all net flows are evaluated before any stock changes; outputs are
  recorded before the step at the saved times.
* XIDZ and ZIDZ treat ``|b| < 1e-6`` as zero (PySD's ``SMALL_VENSIM``); IF THEN ELSE is
  ``numpy.where``; SUM adds the regions in NumPy's pairwise order and skips NaN, as
  ``xarray.DataArray.sum`` does; lookups are ``numpy.interp`` (clamped at the ends).
* Powers are taken as PySD takes them, whatever the array layout, so a sample gives the
  same bits alone or in a batch: per-region ``x ^ e`` with NumPy's array power (exponents
  0.5, 2 and -1 give ``sqrt``, ``square`` and ``reciprocal``, NumPy's fast paths for a scalar
  exponent); a power of scalar variables with the C library's ``pow``, one element at a
  time, as Python floats do.

Layout of values in the generated code (``R`` regions, ``n`` samples of a chunk)
--------------------------------------------------------------------------------
scalar, same for all samples: a Python or NumPy float; scalar per sample: ``(1, n)``;
per region: ``(R, 1)``; per region and sample: ``(R, n)``. Quantities that vary with time
only (the policy ramps, exponential growth factors) are evaluated once for all time points
as tables with a leading time axis, and looked up in the loop. Constants and time tables
are computed before the loop, equal subexpressions once, variables no stock needs only at
the saved times; arrays are freed or overwritten in place as soon as they are dead.

Per-step work (all of it exact: the same operations on the same numbers)
------------------------------------------------------------------------
* The kernel is specialized on which constants vary per sample: whatever depends on none
  of them (nor on the stocks) is a constant or a time table, at shape ``(R, 1)`` or scalar.
* Values that vary with time and sample but not with the stocks (the policy levers'
  ``strength * ramp``) are recomputed only at the steps where a time table they read
  changes in its bits, and kept in between.
* Results of the loop go into a dying operand or into work arrays allocated once per
  call (``out=``), so the loop allocates almost nothing.
* Loop-invariant ``(R, 1)`` or ``(1, n)`` operands of ``(R, n)`` operations are copied to
  full ``(R, n)`` arrays once per call (NumPy's loops are about twice as fast without
  broadcasting).
* XIDZ and ZIDZ test for a near-zero denominator with one reduction
  (``numpy.fmin``) and build the mask only when one may be near zero.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sdplanner.engine.ir import (
    SMALL_VENSIM,
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
    children,
    delay_order,
    fixed_delay_length,
    is_per_region,
    needed_stocks,
    num,
)
from sdplanner.errors import EngineError

__all__ = ["Kernel", "generate_kernel"]


# --------------------------------------------------------------------------------------
# Runtime helpers available to the generated code
# --------------------------------------------------------------------------------------
def _pow(a, b):
    """Raise ``a`` to ``b`` with NumPy's array semantics whatever the shapes.

    See the module docstring.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if b.ndim == 0:
        if a.ndim == 0:
            return np.power(a.reshape(1), b)[0]
        return np.power(a, b)
    out = np.power(a, b)
    for special, fast in ((0.5, np.sqrt), (2.0, np.square), (-1.0, np.reciprocal)):
        hit = b == special
        if hit.any():
            out = np.where(hit, fast(a), out)
    return out


def _scalar_pow(x, y):
    """Raise one number to a power with the C library, as Python floats do.

    Gives nan or inf where Python would raise.
    """
    return float(np.float64(x) ** np.float64(y))


_scalar_pow_each = np.frompyfunc(_scalar_pow, 2, 1)


def _spow(a, b):
    """Raise a scalar variable to a power with the C library's ``pow``, element by element.

    PySD holds scalar variables as Python floats, whose power is the C library's; NumPy's
    vectorized power can differ in the last bit, so scalar powers are taken one by one.
    """
    if np.ndim(a) == 0 and np.ndim(b) == 0:
        return _scalar_pow(a, b)
    return _scalar_pow_each(a, b).astype(float)


def _fastpow(x, e, out=None):
    """Raise an array to a scalar power as ``x ** e`` does, faster for NumPy's fast paths.

    For a scalar exponent NumPy's power gives ``sqrt``, ``square`` and ``1 / x`` for 0.5, 2
    and -1; calling those functions directly gives the same bits in half the time. Other
    exponents but 0 and 1 (NumPy's other fast paths) are ``numpy.power``, written into
    ``out`` when it is given (a float array of the result's shape).
    """
    if e == 0.5:
        return np.sqrt(x, out=out)
    if e == 2:
        return np.square(x, out=out)
    if e == -1:
        return np.divide(1.0, x, out=out)
    if out is None or e == 0 or e == 1:
        return x**e
    return np.power(x, e, out=out)


def _anysmall(b):
    """Tell whether any ``|b| < SMALL_VENSIM`` (NaN is not), with one pass when none is.

    ``numpy.fmin`` skips NaN, so a smallest value at least ``SMALL_VENSIM`` proves that no
    element is near zero; otherwise the elements are tested one by one.
    """
    if np.fmin.reduce(b, axis=None) >= SMALL_VENSIM:
        return False
    return bool((np.abs(b) < SMALL_VENSIM).any())


def _sdiv(a, b):
    """Divide two scalars as PySD does (Python's ``/``); by zero as NumPy does (inf, nan).

    Python's division of floats is IEEE's, as ``numpy.divide``'s, at a tenth of the cost
    of a ufunc call on scalars; only a zero divisor raises, and then NumPy divides.
    """
    try:
        return a / b
    except ZeroDivisionError:
        return np.divide(a, b)


def _smin(a, b):
    """PySD's ``float(numpy.minimum(a, b))`` of two scalars, without a ufunc call.

    NumPy's float minimum is ``a if (a < b or a is NaN) else b`` (``b`` of two equal zeros),
    NaN when either is; the C kernel's ``sd_min`` is the same.
    """
    return float(a if (a < b or a != a) else b)


def _smax(a, b):
    """PySD's ``float(numpy.maximum(a, b))`` of two scalars (see `_smin`)."""
    return float(a if (a > b or a != a) else b)


def _xidz_scalar(a, b, x):
    """PySD's XIDZ for a scalar denominator."""
    if abs(b) < SMALL_VENSIM:
        return x
    return np.divide(a, b)


def _zidz_scalar(a, b):
    """PySD's ZIDZ for a scalar denominator."""
    if abs(b) < SMALL_VENSIM:
        return 0
    return np.divide(a, b)


def _pairwise_plan(lo: int, hi: int):
    """NumPy's pairwise summation order for elements ``lo .. hi - 1``."""
    n = hi - lo
    if n < 8:
        return ("seq", lo, hi)
    if n <= 128:
        return ("block", lo, hi)
    half = n // 2
    half -= half % 8
    return ("split", _pairwise_plan(lo, lo + half), _pairwise_plan(lo + half, hi))


def _make_rsum(n_regions: int) -> Callable:
    """Sum over the region axis (-2) in NumPy's pairwise order, skipping NaN like xarray.

    ``xarray.DataArray.sum`` (PySD's SUM) adds the elements of one contiguous array with
    NumPy's pairwise summation (8 partial sums for up to 128 elements) and ignores NaN.
    Adding the region rows in that same order gives the same bits for every sample.
    """
    plan = _pairwise_plan(0, n_regions)

    def row(x, i):
        return x[..., i : i + 1, :]

    def total(x, p):
        if p[0] == "split":
            return total(x, p[1]) + total(x, p[2])
        lo, hi = p[1], p[2]
        if p[0] == "seq":
            out = row(x, lo)
            for i in range(lo + 1, hi):
                out = out + row(x, i)
            return out
        n = hi - lo
        r = [row(x, lo + j) for j in range(8)]
        i = 8
        while i < n - n % 8:
            r = [r[j] + row(x, lo + i + j) for j in range(8)]
            i += 8
        out = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for k in range(lo + i, hi):
            out = out + row(x, k)
        return out

    def rsum(x):
        x = np.asarray(x, dtype=float)
        # numpy.maximum propagates NaN: one pass tells whether there is any
        if np.isnan(np.maximum.reduce(x, axis=None)):
            x = np.where(np.isnan(x), 0.0, x)
        return total(x, plan)

    return rsum


def _make_region(n_regions: int) -> Callable:
    def to_region(x):
        a = np.asarray(x, dtype=float)
        if a.ndim == 0:
            return np.full((n_regions, 1), a)
        return np.broadcast_to(a, (*a.shape[:-2], n_regions, a.shape[-1]))

    return to_region


def _make_reduce(ufunc) -> Callable:
    """Smallest or largest value over the region axis (-2), skipping NaN as xarray does.

    ``numpy.fmin``/``numpy.fmax`` return the other operand where one is NaN (NaN only where
    every region is), and a minimum or maximum is exact whatever the order.
    """

    def reduce(x):
        return ufunc.reduce(np.asarray(x, dtype=float), axis=-2, keepdims=True)

    return reduce


def _pipe_new(length, state, last: int):
    """Create the ring buffer of a DELAY FIXED: ``length`` copies of its initial value.

    A length beyond ``last + 1`` steps is cut to ``last + 2``: no value written in the run
    would be read again either way. Returns the buffer and the length (an int, or an int
    array per sample).
    """
    length = np.asarray(length, dtype=float)
    if not np.all(np.isfinite(length)) or np.any(length < 1):
        raise EngineError("DELAY FIXED: the delay time / TIME STEP is not a finite number >= 1")
    length = np.minimum(length, last + 2).astype(np.int64)
    if length.ndim == 0 or np.all(length == length.flat[0]):
        length = int(length.flat[0])
        size = length
    else:
        size = int(length.max())
    buffer = np.empty((size, *np.shape(state)))
    buffer[...] = state
    return buffer, length


def _pipe_step(buffer, length, k: int, value, state):
    """Run PySD's ``DelayFixed.update`` at step ``k``: ``pipe[k % n] = input``.

    The state becomes ``pipe[(k + 1) % n]``. Returns the new state (``state`` itself for an
    array).
    """
    if isinstance(length, int):
        buffer[k % length] = value
        new = buffer[(k + 1) % length]
    else:
        shape = (1, *buffer.shape[1:])
        write = np.broadcast_to((k % length)[None], shape)
        np.put_along_axis(buffer, write, np.broadcast_to(value, shape), axis=0)
        read = np.broadcast_to(((k + 1) % length)[None], shape)
        new = np.take_along_axis(buffer, read, axis=0)[0]
    if isinstance(state, np.ndarray):
        np.copyto(state, new)
        return state
    return np.float64(new)


#: One-argument functions of the equation trees and the NumPy ufuncs PySD calls for them.
_UNARY = {
    "abs": "np.abs",
    "sin": "np.sin",
    "cos": "np.cos",
    "tan": "np.tan",
    "arcsin": "np.arcsin",
    "arccos": "np.arccos",
    "arctan": "np.arctan",
    "sinh": "np.sinh",
    "cosh": "np.cosh",
    "tanh": "np.tanh",
    "sqrt": "np.sqrt",
    "exp": "np.exp",
    "ln": "np.log",
    "integer": "np.trunc",
}
#: Two-argument functions written as one ufunc call.
_BINARY = {"min": "np.minimum", "max": "np.maximum", "power": "np.power", "pymod": "np.remainder"}
#: Logical functions (boolean results, as PySD's ``numpy.logical_*``).
_LOGICAL = {"and": "np.logical_and", "or": "np.logical_or", "not": "np.logical_not"}


# --------------------------------------------------------------------------------------
# Code generation for one signature (requested outputs, batched and time-series params)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kernel:
    """A compiled simulation kernel for one run signature.

    Attributes
    ----------
    source : str
        The generated Python source (for inspection and debugging).
    function : callable
        ``function(P, O, times, saves, save_idx, last, nb)`` runs one chunk of samples:
        ``P`` maps constant names to prepared values, ``O`` output names to arrays of
        shape ``(nb, n_saves[, R])`` that it fills; ``times`` (list of float, year) and
        ``saves`` (list of bool) describe the time points; ``save_idx`` are the indices of
        the saved points, ``last`` the index of the last saved point (the loop stops there)
        and ``nb`` the number of samples of the chunk.
    outputs : tuple of str
        Python names the kernel records.
    n_statements : int
        Number of statements executed at every time step (a measure of per-step work).
    """

    source: str
    function: Callable
    outputs: tuple[str, ...]
    n_statements: int


@dataclass
class _Stmt:
    """One statement of the loop body, with what the in-place pass needs to know."""

    target: str | None
    text: str
    ufunc: str | None = None  # e.g. "np.multiply" when the text is one ufunc call
    args: tuple = ()
    shape: tuple | None = None  # (per region, per sample) of an array result, else None
    owned: bool = False  # a fresh float array no other name refers to
    scratch: bool = False  # the text writes into the work array _OUT_ (or allocates: None)


_UFUNCS = {"+": "np.add", "-": "np.subtract", "*": "np.multiply", "/": "np.divide"}


class _Emitter:
    def __init__(self, ir: ModelIR, outputs, batched, series):
        self.ir = ir
        self.R = ir.n_regions
        self.batched = frozenset(batched)
        self.series = frozenset(series)
        self.outputs = tuple(outputs)
        self.blocks: dict[str, list[str]] = {
            k: []
            for k in (
                "const",
                "table",
                "init",
                "full",
                "load",
                "refresh",
                "core",
                "save",
                "update",
                "fill",
            )
        }
        self.widened: set[str] = set()
        self.cache: dict = {}
        self.shared: set[str] = set()  # names another name may alias
        self._op: tuple | None = None
        self._scratch = False
        self._floats: dict = {}
        self.namespace_consts: dict[str, object] = {}
        self.counter = 0
        self.step_block = "core"
        self.loads: dict[str, str] = {}
        self.stock_names: dict[str, str] = {}
        self.initialized: set[str] = set()
        self._props: dict = {}
        self._var_props: dict[str, tuple] = {}
        self.stock_bat = {s: False for s in ir.stocks}
        while True:
            self._props.clear()
            self._var_props.clear()
            changed = False
            for s in ir.stocks:
                var = ir.variables[s]
                bat = self.props(var.expr)[2] or self.props(var.init)[2]
                bat = bat or bool(var.length and self.stock_bat[var.length])
                if bat and not self.stock_bat[s]:
                    self.stock_bat[s] = True
                    changed = True
            if not changed:
                break

    # ---- properties: (depends on stocks, varies with time, varies by sample) ----------
    def var_props(self, name: str) -> tuple[bool, bool, bool]:
        if name in self._var_props:
            return self._var_props[name]
        var = self.ir.variables[name]
        if var.kind == "stock":
            out = (True, False, self.stock_bat[name])
        elif var.kind == "control":
            out = (False, False, False)
        elif var.kind == "constant":
            out = (False, name in self.series, name in self.batched)
        else:
            out = self.props(var.expr)
        self._var_props[name] = out
        return out

    def props(self, node) -> tuple[bool, bool, bool]:
        if isinstance(node, Num):
            return (False, False, False)
        if isinstance(node, TimeRef):
            return (False, True, False)
        if isinstance(node, Ref):
            return self.var_props(node.name)
        key = node
        if key in self._props:
            return self._props[key]
        # ACTIVE INITIAL differs between the initial values and the loop: never a constant
        dyn = isinstance(node, Call) and node.fn == "active_initial"
        tv = bat = False
        for child in children(node):
            d, t, b = self.props(child)
            dyn, tv, bat = dyn or d, tv or t, bat or b
        self._props[key] = (dyn, tv, bat)
        return self._props[key]

    def region(self, node) -> bool:
        return is_per_region(self.ir, node)

    def is_float(self, node) -> bool:
        """Tell whether the value is surely of float dtype (False when it may be an integer)."""
        if isinstance(node, Num):
            return isinstance(node.value, float)
        if isinstance(node, TimeRef):
            return False
        if isinstance(node, Ref):
            var = self.ir.variables[node.name]
            if var.kind == "stock":
                return True
            if var.kind == "constant":
                return (
                    var.region
                    or node.name in self.batched
                    or node.name in self.series
                    or isinstance(var.value, float)
                )
            if var.kind == "control":
                return False
            return self.is_float(var.expr)
        if node in self._floats:
            return self._floats[node]
        if isinstance(node, Bin):
            out = node.op == "/" or self.is_float(node.left) or self.is_float(node.right)
        elif isinstance(node, Neg):
            out = self.is_float(node.arg)
        elif isinstance(node, Call):
            if node.fn in ("min", "max"):
                out = self.is_float(node.args[0]) or self.is_float(node.args[1])
            elif node.fn == "if_then_else":
                out = self.is_float(node.args[1]) and self.is_float(node.args[2])
            elif node.fn == "active_initial":
                out = self.is_float(node.args[0]) and self.is_float(node.args[1])
            elif node.fn in ("power", "pymod"):
                out = self.is_float(node.args[0]) or self.is_float(node.args[1])
            else:
                out = node.fn in (*_UNARY, "sum", "vmin", "vmax", "xidz", "zidz")
        else:
            out = isinstance(node, (Lookup, ToRegion))
        self._floats[node] = out
        return out

    def is_array(self, node, stage: str) -> bool:
        """Tell whether the node's value is an ndarray (not a scalar) in this stage."""
        if isinstance(node, Call) and node.fn in ("_any", "_anysmall", "_is_one"):
            return False
        _, tv, bat = self.props(node)
        return self.region(node) or bat or (stage == "table" and tv)

    # ---- emission -------------------------------------------------------------------
    def _new(self, stage: str, base: str | None) -> str:
        prefix = {"const": "c", "table": "tb", "init": "i", "step": "v"}[stage]
        self.counter += 1
        if base:
            return f"{prefix}_{base}"
        return f"_{prefix}{self.counter}"

    def _block(self, stage: str) -> list[str]:
        return self.blocks[self.step_block if stage == "step" else stage]

    def _load(self, table: str, node) -> str:
        if table not in self.loads:
            name = f"L{len(self.loads)}"
            if self.region(node):
                self.blocks["load"].append(f"{name} = {table}[k]")
            else:
                self.blocks["table"].append(f"{table}_s = {table}.reshape(-1)")
                self.blocks["load"].append(f"{name} = {table}_s[k]")
            self.loads[table] = name
        return self.loads[table]

    def _at_start(self, table: str, node) -> str:
        if self.region(node):
            return f"{table}[0]"
        return f"{table}.reshape(-1)[0]"

    def emit(self, node, stage: str, target: str | None = None) -> str:
        if isinstance(node, Call) and node.fn == "active_initial":
            return self.emit(node.args[1] if stage == "init" else node.args[0], stage, target)
        dyn, tv, bat = self.props(node)
        if stage in ("step", "init") and not dyn and not (tv and bat):
            if not tv:
                return self.emit(node, "const", target)
            if isinstance(node, Call) and node.fn in ("_any", "_is_one"):
                return self.emit(node, "table", target)  # one flag for all time points
            table = self.emit(node, "table", target)
            return self._load(table, node) if stage == "step" else self._at_start(table, node)
        if stage == "table" and not tv:
            return self.emit(node, "const", target)
        key = (stage, node)
        if key in self.cache:
            return self.cache[key]
        self._op = None
        self._scratch = False
        text = self._text(node, stage)
        op, self._op = self._op, None
        scratch, self._scratch = self._scratch, False
        if isinstance(node, (Num, Ref, TimeRef)):
            self.cache[key] = text
            return text
        name = self._new(stage, target)
        if stage == "step":
            array = self.is_array(node, stage)
            shape = (self.region(node), self.props(node)[2]) if array else None
            stmt = _Stmt(name, text, shape=shape, scratch=scratch)
            if op is not None and array:
                stmt.ufunc, stmt.args = op
                stmt.owned = self.is_float(node)
            dyn, tv, bat = self.props(node)
            if not dyn and tv and bat:
                # varies with time and sample but not with the stocks: recomputed only at
                # the steps where its time tables change (see `build`)
                self.blocks["refresh"].append(stmt)
            else:
                self._block(stage).append(stmt)
        else:
            self._block(stage).append(f"{name} = {text}")
        self.cache[key] = name
        return name

    def emit_var(self, name: str, stage: str) -> str:
        var = self.ir.variables[name]
        if var.kind == "stock":
            if stage == "init":
                self.init_stock(name)
            return self.stock_names[name]
        key = (stage, "var", name)
        if key in self.cache:
            return self.cache[key]
        if var.kind in ("constant", "control"):
            if name in self.series:
                out = f"tb_{name}"
                if ("table", "var", name) not in self.cache:
                    self.blocks["table"].append(f"{out} = P[{name!r}]")
                    self.cache[("table", "var", name)] = out
            else:
                out = f"c_{name}"
                if ("const", "var", name) not in self.cache:
                    self.blocks["const"].append(f"{out} = P[{name!r}]")
                    self.cache[("const", "var", name)] = out
            self.cache[key] = out
            return out
        out = self.emit(var.expr, stage, target=name)
        self.cache[key] = out
        return out

    def init_stock(self, name: str) -> None:
        if name in self.initialized:
            return
        self.initialized.add(name)
        var = self.ir.variables[name]
        value = self.emit(var.init, "init")
        bat = self.stock_bat[name]
        if var.region:
            shape = "(R, nb)" if bat else "(R, 1)"
        else:
            shape = "(1, nb)" if bat else None
        state = self.stock_names[name]
        if shape is None:  # a Python float: its arithmetic is NumPy's, and faster
            self.blocks["init"].append(f"{state} = float(np.reshape({value}, ()))")
        else:
            self.blocks["init"].append(
                f"{state} = np.array(np.broadcast_to({value}, {shape}), dtype=float)"
            )
        if var.update == "pipe":
            length = self.emit_var(var.length, "init")
            self.blocks["init"].append(
                f"_pb_{state}, _pl_{state} = _pipe_new({length}, {state}, last)"
            )

    def _const_name(self, prefix: str, value) -> str:
        name = f"_{prefix}{len(self.namespace_consts)}"
        self.namespace_consts[name] = value
        return name

    def _widen(self, node, operands, texts, stage: str) -> tuple:
        """Use full ``(R, n)`` copies of loop-invariant operands of ``(R, n)`` operations.

        NumPy's element-wise loops run about twice as fast on two contiguous arrays of the
        same shape as on an ``(R, 1)`` or ``(1, n)`` operand broadcast along one axis; the
        copies are made once per chunk, before the loop. The numbers are the same.
        """
        if stage != "step" or not (self.region(node) and self.props(node)[2]):
            return tuple(texts)
        out = []
        for operand, text in zip(operands, texts, strict=True):
            dyn, tv, bat = self.props(operand)
            if (
                not dyn
                and not tv
                and self.is_array(operand, "const")
                and not (self.region(operand) and bat)
            ):
                full = f"{text}_F"
                if full not in self.widened:
                    self.widened.add(full)
                    self.blocks["full"].append(
                        f"{full} = np.ascontiguousarray(np.broadcast_to({text}, (R, nb)))"
                    )
                text = full
            out.append(text)
        return tuple(out)

    def _text(self, node, stage: str) -> str:
        if isinstance(node, Num):
            if isinstance(node.value, float) and not np.isfinite(node.value):
                return f"np.float64({str(node.value)!r})"
            text = repr(node.value)
            return f"({text})" if text.startswith("-") else text
        if isinstance(node, TimeRef):
            if stage == "const":
                raise AssertionError("time in a constant stage")
            return {"table": "_tt", "init": "_t0", "step": "t"}[stage]
        if isinstance(node, Ref):
            return self.emit_var(node.name, stage)
        if isinstance(node, Neg):
            arg = self.emit(node.arg, stage)
            self._op = ("np.negative", (arg,))
            return f"-{arg}"
        if isinstance(node, ToRegion):
            arg = self.emit(node.arg, stage)
            self.shared.add(arg)  # the result may be a view of it
            return f"_region({arg})"
        if isinstance(node, Cmp):
            return f"{self.emit(node.left, stage)} {node.op} {self.emit(node.right, stage)}"
        if isinstance(node, Bin):
            left = self.emit(node.left, stage)
            right = self.emit(node.right, stage)
            if node.op == "**":
                _, r_tv, r_bat = self.props(node.right)
                plain_exponent = (
                    not self.region(node.right) and not r_bat and not (stage == "table" and r_tv)
                )
                if not self.region(node):
                    return f"_spow({left}, {right})"
                if plain_exponent and self.is_array(node.left, stage):
                    if isinstance(node.right, Num):
                        value = node.right.value
                        fast = {0.5: "np.sqrt(%s)", 2: "np.square(%s)", -1: "np.divide(1.0, %s)"}
                        if value in fast:
                            ufunc = {0.5: "np.sqrt", 2: "np.square", -1: "np.divide"}[value]
                            self._op = (ufunc, ("1.0", left) if value == -1 else (left,))
                            return fast[value] % left
                    if r_tv or isinstance(node.right, Num):
                        self._op = ("np.power", (left, right))
                        return f"{left} ** {right}"
                    # x ** 1 is x (NumPy's fast path copies it): skip the pass
                    one = self.emit(Call("_is_one", (node.right,)), stage)
                    self.shared.add(left)
                    if stage == "step" and self.is_float(node.left):
                        # written into a work array (_OUT_, see _finish_loop) unless it is x
                        self._scratch = True
                        return f"{left} if {one} else _fastpow({left}, {right}, _OUT_)"
                    return f"{left} if {one} else _fastpow({left}, {right})"
                return f"_pow({left}, {right})"
            if node.op == "/" and not (
                self.is_array(node.left, stage) or self.is_array(node.right, stage)
            ):
                return f"_sdiv({left}, {right})"
            left, right = self._widen(node, (node.left, node.right), (left, right), stage)
            self._op = (_UFUNCS[node.op], (left, right))
            return f"{left} {node.op} {right}"
        if isinstance(node, Lookup):
            xs = self._const_name("lx", np.array(node.xs, dtype=float))
            ys = self._const_name("ly", np.array(node.ys, dtype=float))
            return f"np.interp({self.emit(node.arg, stage)}, {xs}, {ys})"
        if isinstance(node, Call):
            args = [self.emit(a, stage) for a in node.args]
            fn = node.fn
            if fn in ("min", "max") and not self.is_array(node, stage):
                return f"_s{fn}({args[0]}, {args[1]})"
            if fn in _UNARY or fn in _BINARY:
                ufunc = _UNARY.get(fn) or _BINARY[fn]
                if fn in _BINARY:
                    args = list(self._widen(node, node.args, args, stage))
                self._op = (ufunc, tuple(args))
                return f"{ufunc}({', '.join(args)})"
            if fn in _LOGICAL:
                return f"{_LOGICAL[fn]}({', '.join(args)})"
            if fn in ("vmin", "vmax"):
                scalar_result = not self.props(node)[2] and stage != "table"
                return f"_r{fn[1:]}({args[0]})" + ("[0, 0]" if scalar_result else "")
            if fn == "delay_order":
                return f"_delay_order({', '.join(args)})"
            if fn == "fixed_delay_length":
                return f"_fixed_delay_length({', '.join(args)})"
            if fn == "if_then_else":
                if not self.is_array(node, stage):  # PySD's if_then_else of scalars
                    return f"({args[1]} if {args[0]} else {args[2]})"
                return f"np.where({args[0]}, {args[1]}, {args[2]})"
            if fn in ("xidz", "zidz"):
                if not self.is_array(node, stage):
                    if fn == "xidz":
                        return f"_xidz_scalar({args[0]}, {args[1]}, {args[2]})"
                    return f"_zidz_scalar({args[0]}, {args[1]})"
                return self._divide_or(node, stage, args)
            if fn == "_small":
                return f"np.abs({args[0]}) < SMALL"
            if fn == "_anysmall":
                return f"_anysmall({args[0]})"
            if fn == "_any":
                return f"bool({args[0]}.any())"
            if fn == "_is_one":
                return f"bool({args[0]} == 1)"
            if fn == "sum":
                scalar_result = not self.props(node)[2] and stage != "table"
                return f"_rsum({args[0]})" + ("[0, 0]" if scalar_result else "")
        raise AssertionError(f"cannot emit {node!r}")

    def _divide_or(self, node, stage: str, args: list[str]) -> str:
        """XIDZ/ZIDZ on arrays: ``a / b`` where ``|b| >= SMALL_VENSIM``, else the fallback.

        The mask and whether it has any true element are separate nodes, so they are
        computed once when the denominator does not change in the loop; when no denominator
        is near zero the quotient is used as it is (the same numbers as ``numpy.where``).
        """
        a, b = node.args[0], node.args[1]
        fallback_node = node.args[2] if node.fn == "xidz" else num(0)
        fallback = args[2] if node.fn == "xidz" else "0"
        quotient_node = Bin("/", a, b)
        quotient = self.emit(quotient_node, stage)
        mask_node = Call("_small", (b,))
        b_dyn, b_tv, b_bat = self.props(b)
        in_loop = stage == "step" and (b_dyn or (b_tv and b_bat))
        if in_loop:
            # In the loop the mask is rarely needed: one reduction tells whether any
            # denominator is near zero, and the mask is only computed then.
            mask = f"np.abs({self.emit(b, stage)}) < SMALL"
        else:
            mask = self.emit(mask_node, stage)
        where = f"np.where({mask}, {fallback}, {quotient})"
        q_props, f_props = self.props(quotient_node), self.props(fallback_node)
        covers = (
            (self.region(quotient_node) or not self.region(fallback_node))
            and (q_props[2] or not f_props[2])
            and (stage != "table" or q_props[1] or not f_props[1])
            and self.is_array(quotient_node, stage)
        )
        if not covers:
            return where
        if in_loop:
            some = self.emit(Call("_anysmall", (b,)), stage)
        else:
            some = self.emit(Call("_any", (mask_node,)), stage)
        self.shared.add(quotient)
        return f"{where} if {some} else {quotient}"

    # ---- whole kernel ---------------------------------------------------------------
    def _refresh(self) -> tuple[list[str], list[str]]:
        """Statements that vary with time and sample only, and when to recompute them.

        Their inputs are loop-invariant values and rows of time tables; at a step where
        every row they read has the same bits as at the step before, the same operations on
        the same numbers would give the same results, so the previous values are kept (the
        policy ramps change during a few years only). Values read by the rest of the loop
        are kept from one step to the next; the others are freed after their last use.

        Returns
        -------
        tuple
            The statements, and the lines before the loop that compute ``_chg``: for every
            time point, whether the statements must run.
        """
        stmts = self.blocks["refresh"]
        if not stmts:
            return [], []
        mine = {stmt.target for stmt in stmts}
        keep: set[str] = set()
        for block in ("core", "save", "update"):
            for stmt in self.blocks[block]:
                keep |= _names(stmt.text) & mine
        for name in self.outputs:  # outputs recorded in the save block
            keep |= {self.cache.get(("step", "var", name))} & mine
        used: set[str] = set()
        for stmt in stmts:
            used |= _names(stmt.text)
        (body, _), _ = _finish_loop([stmts, []], self.shared | keep, keep=keep, pool=False)
        tables = sorted(t for t, name in self.loads.items() if name in used)
        if "t" in used:
            line = "    _chg = [True] * len(times)"
        else:
            line = f"    _chg = _changes(({''.join(f'{t}, ' for t in tables)}), len(times))"
        return body, [
            "    # time points where the time tables read by the refreshed values change",
            line,
        ]

    def build(self) -> str:
        ir = self.ir
        stocks, outputs = needed_stocks(ir, self.outputs), list(self.outputs)
        for i, s in enumerate(stocks):
            self.stock_names[s] = f"s{i}_{s}"
        # initial values
        for s in stocks:
            self.init_stock(s)
        # core: every stock's net flow (or next value, or what enters its pipeline)
        flows = []
        self.step_block = "core"
        for s in stocks:
            var = ir.variables[s]
            flows.append(None if var.update == "hold" else self.emit(var.expr, "step"))
        # save: outputs computed in the loop
        self.step_block = "save"
        records, fills, lists = [], [], []
        for j, name in enumerate(outputs):
            var = ir.variables[name]
            dyn, tv, bat = self.var_props(name)
            if dyn or (tv and bat):
                value = self.emit_var(name, "step")
                if var.region:
                    records.append(_Stmt(None, f"o{j}[:, jsave] = {value}.T"))
                elif bat:
                    records.append(_Stmt(None, f"o{j}[:, jsave] = {value}[0]"))
                else:  # one number per step: kept in a list, written after the loop
                    records.append(_Stmt(None, f"_r{j}.append({value})"))
                    lists.append(j)
            elif tv:
                table = self.emit_var(name, "table")
                if var.region:
                    fills.append(f"o{j}[...] = {table}[save_idx][:, :, 0]")
                else:
                    fills.append(f"o{j}[...] = {table}.reshape(-1)[save_idx]")
            else:
                value = self.emit_var(name, "const")
                if var.region and bat:
                    fills.append(f"o{j}[...] = {value}.T[:, None, :]")
                elif var.region:
                    fills.append(f"o{j}[...] = np.reshape({value}, (1, 1, R))")
                elif bat:
                    fills.append(f"o{j}[...] = {value}.reshape(-1, 1)")
                else:
                    fills.append(f"o{j}[...] = {value}")
        # all increments (and copies of next values) first, then the states (in place: no
        # other name is read after)
        increments, states = [], []
        for i, (s, d) in enumerate(zip(stocks, flows, strict=True)):
            var = ir.variables[s]
            state = self.stock_names[s]
            array = var.region or self.stock_bat[s]
            if var.update == "euler":
                flow = var.expr
                is_arr = self.is_array(flow, "step")
                shape = (self.region(flow), self.props(flow)[2]) if is_arr else None
                increments.append(
                    _Stmt(
                        f"_u{i}",
                        f"{d} * dt",
                        "np.multiply" if is_arr else None,
                        (d, "dt"),
                        shape,
                        is_arr and self.is_float(flow),
                    )
                )
                if array:
                    states.append(_Stmt(None, f"np.add({state}, _u{i}, out={state})"))
                else:
                    states.append(_Stmt(state, f"{state} + _u{i}"))
            elif var.update in ("next", "pipe"):
                # a copy: the value may be another stock's array, updated in place below
                increments.append(_Stmt(f"_n{i}", f"np.array({d}, dtype=float)"))
                if var.update == "pipe":
                    step = f"_pipe_step(_pb_{state}, _pl_{state}, k, _n{i}, {state})"
                    states.append(_Stmt(state, step))
                elif array:
                    states.append(_Stmt(None, f"np.copyto({state}, _n{i})"))
                else:
                    states.append(_Stmt(state, f"float(_n{i})"))
        self.blocks["update"].extend(increments + states)

        lines = [
            "def kernel(P, O, times, saves, save_idx, last, nb):",
            "    R = _R",
            "    dt = P['time_step']",
            "    _t0 = times[0]",
            "    _tt = np.asarray(times, dtype=float).reshape(-1, 1, 1)",
        ]
        lines += [f"    o{j} = O[{name!r}]" for j, name in enumerate(outputs)]
        lines += ["    # constants (per run or per sample)"]
        lines += [f"    {x}" for x in self.blocks["const"]]
        (core, save, update), buffers = _finish_loop(
            [self.blocks["core"], self.blocks["save"] + records, self.blocks["update"]],
            self.shared,
        )
        refresh, changes = self._refresh()
        lines += ["    # time tables (all time points at once)"]
        lines += [f"    {x}" for x in self.blocks["table"]]
        lines += ["    # initial values of the stocks"]
        lines += [f"    {x}" for x in self.blocks["init"]]
        lines += ["    # loop-invariant operands of (R, n) operations, as full (R, n) arrays"]
        lines += [f"    {x}" for x in self.blocks["full"]]
        lines += ["    # work arrays of the loop, reused at every step"]
        lines += [f"    {x}" for x in buffers]
        lines += changes
        lines += [f"    _r{j} = []" for j in lists]
        lines += ["    jsave = 0", "    for k in range(last + 1):", "        t = times[k]"]
        lines += [f"        {x}" for x in self.blocks["load"]]
        if refresh:
            lines += ["        if _chg[k]:"]
            lines += [f"            {x}" for x in refresh]
        lines += [f"        {x}" for x in core]
        lines += ["        if saves[k]:"]
        lines += [f"            {x}" for x in save]
        lines += ["            jsave += 1", "        if k == last:", "            break"]
        lines += [f"        {x}" for x in update]
        lines += [f"    o{j}[...] = _r{j}" for j in lists]
        lines += ["    # outputs that do not change in the loop"]
        lines += [f"    {x}" for x in fills]
        lines += ["    return None", ""]
        self.n_statements = (
            len(self.blocks["load"])
            + len(self.blocks["refresh"])
            + len(self.blocks["core"])
            + len(self.blocks["update"])
        )
        return "\n".join(lines)


_POOLED = {(True, True): "(R, nb)", (False, True): "(1, nb)"}


def _names(text: str) -> set[str]:
    """Names read by a statement."""
    tree = ast.parse(text, mode="exec").body[0]
    value = tree.value if isinstance(tree, ast.Assign) else tree
    return {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}


def _alias_sources(text: str) -> set[str]:
    """Names whose array the value of a statement's text may be (not a fresh array)."""
    tree = ast.parse(text, mode="exec").body[0]
    if not isinstance(tree, ast.Expr):
        return set()
    value, out = [tree.value], set()
    while value:
        node = value.pop()
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.IfExp):
            value += [node.body, node.orelse]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_region":
            value += node.args[:1]  # a broadcast view
    return out


def _changes(tables: tuple, n: int) -> list[bool]:
    """For each of ``n`` time points, whether a row of any table differs (in its bits).

    The first point counts as a change.
    """
    out = np.zeros(n, dtype=bool)
    out[0] = True
    for table in tables:
        a = np.ascontiguousarray(table)
        rows = a.reshape(a.shape[0], -1).view(np.uint8)
        out[1:] |= (rows[1:] != rows[:-1]).any(axis=1)
    return out.tolist()


def _finish_loop(
    blocks: list[list[_Stmt]],
    shared: set[str],
    keep: set[str] = frozenset(),
    pool: bool = True,
) -> tuple[list[list[str]], list[str]]:
    """Write every array result of the loop into a dying operand or a preallocated buffer.

    A ufunc that writes into an operand that dies at that statement (``out=``) allocates
    nothing; other ``(R, n)`` and ``(1, n)`` results are written into work arrays allocated
    once per call and handed from one variable to the next as variables die, so the loop
    allocates (and page-faults) almost nothing. Names that another name may alias
    (``shared``) are never overwritten. Names are deleted right after their last use. The
    arithmetic is unchanged.

    Names in ``keep`` are read later (they are neither deleted nor overwritten); with
    ``pool=False`` no work arrays are used.

    Returns
    -------
    tuple
        The statements of each block, and the lines that allocate the work arrays.
    """
    seq = [(b, stmt) for b, block in enumerate(blocks) for stmt in block]
    info = {stmt.target: stmt for _, stmt in seq if stmt.target is not None}
    defined = {stmt.target for b, stmt in seq if stmt.target and b < len(blocks) - 1}
    defined |= {stmt.target for _, stmt in seq if stmt.target and stmt.target.startswith("_u")}
    uses = []
    for _, stmt in seq:
        tree = ast.parse(stmt.text, mode="exec").body[0]
        value = tree.value if isinstance(tree, ast.Assign) else tree
        uses.append({n.id for n in ast.walk(value) if isinstance(n, ast.Name) and n.id in defined})
    last: dict[str, int] = {}
    for i, used in enumerate(uses):
        for name in used:
            last[name] = i
    # A result that may be another name's array (``a if c else b``, ``_region(x)``) keeps
    # that array in use: a work array is released when the last name that may hold it dies.
    ends = dict(last)
    for i in range(len(seq) - 1, -1, -1):
        stmt = seq[i][1]
        if stmt.target is None:
            continue
        for source in _alias_sources(stmt.text):
            if source in defined:
                ends[source] = max(ends.get(source, i), ends.get(stmt.target, i))
    release: dict[int, list[str]] = {}
    for name, i in ends.items():
        release.setdefault(i, []).append(name)
    out: list[list[str]] = [[] for _ in blocks]
    holder: dict[str, str] = {}  # name -> work array it is stored in
    free: dict[tuple, list[str]] = {shape: [] for shape in _POOLED}
    buffers: list[str] = []

    def take(stmt) -> str | None:
        if not (pool and stmt.shape in _POOLED and stmt.target in last):
            return None
        available = free[stmt.shape]
        if not available:
            name = f"_B{len(buffers)}"
            buffers.append(f"{name} = np.empty({_POOLED[stmt.shape]})")
            available.append(name)
        buffer = available.pop()
        holder[stmt.target] = buffer
        return buffer

    for i, (b, stmt) in enumerate(seq):
        dead = sorted(n for n in uses[i] if last[n] == i and n not in keep)
        text = stmt.text
        if stmt.ufunc and stmt.owned:
            for arg in stmt.args:
                src = info.get(arg)
                if (
                    arg in dead
                    and arg not in shared
                    and src is not None
                    and src.owned
                    and src.shape == stmt.shape
                    and ends.get(arg) == i
                ):
                    text = f"{stmt.ufunc}({', '.join(stmt.args)}, out={arg})"
                    if arg in holder:
                        holder[stmt.target] = holder.pop(arg)
                    break
            else:
                buffer = take(stmt) if stmt.target is not None else None
                if buffer is not None:
                    text = f"{stmt.ufunc}({', '.join(stmt.args)}, out={buffer})"
        if stmt.scratch:
            # the result may be an operand (x ** 1 is x): it gets a work array of its own,
            # freed when it dies, but is never written into by another statement
            text = text.replace("_OUT_", take(stmt) or "None")
        out[b].append(f"{stmt.target} = {text}" if stmt.target else text)
        if dead:
            out[b].append("del " + ", ".join(dead))
        for name in release.get(i, ()):
            if name in holder:
                free[info[name].shape].append(holder.pop(name))
    return out, buffers


def generate_kernel(
    ir: ModelIR,
    outputs: Sequence[str],
    batched: Iterable[str] = (),
    series: Iterable[str] = (),
) -> Kernel:
    """Generate and compile the simulation code for one run signature.

    Parameters
    ----------
    ir : ModelIR
        The parsed model.
    outputs : sequence of str
        Python names of the variables to record (no ``"time"``).
    batched : iterable of str
        Constants that take one value per sample.
    series : iterable of str
        Constants replaced by a time series (a table over the time points).

    Returns
    -------
    Kernel
        The source and the compiled function.
    """
    emitter = _Emitter(ir, outputs, batched, series)
    source = emitter.build()
    namespace = {
        "np": np,
        "_R": ir.n_regions,
        "SMALL": SMALL_VENSIM,
        "_pow": _pow,
        "_spow": _spow,
        "_fastpow": _fastpow,
        "_xidz_scalar": _xidz_scalar,
        "_sdiv": _sdiv,
        "_smin": _smin,
        "_smax": _smax,
        "_anysmall": _anysmall,
        "_changes": _changes,
        "_zidz_scalar": _zidz_scalar,
        "_rsum": _make_rsum(ir.n_regions),
        "_rmin": _make_reduce(np.fmin),
        "_rmax": _make_reduce(np.fmax),
        "_delay_order": delay_order,
        "_fixed_delay_length": fixed_delay_length,
        "_pipe_new": _pipe_new,
        "_pipe_step": _pipe_step,
        "_region": _make_region(ir.n_regions),
        **emitter.namespace_consts,
    }
    code = compile(source, f"<sdplanner batch kernel for {ir.path.name}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own generated source, never user text
    return Kernel(source, namespace["kernel"], tuple(outputs), emitter.n_statements)
