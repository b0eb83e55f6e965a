"""Generate, compile and load the batch engine's C kernel from the model's equation trees.

`generate_c_kernel` writes one C function per run signature (which outputs, which constants
vary per sample, which are time series) from the trees of `sdplanner.engine.equations`, the
same trees the NumPy kernel (`sdplanner.engine.codegen`) is generated from: the ``.mdl``
stays the only source of the equations. `sdplanner.engine.toolchain` compiles the source
into a cached shared library, called here through `ctypes`, which releases the GIL. Only
this generated source is compiled, never text from the model file: names become
``v<index>`` identifiers and numbers are printed by Python.

Why C: the NumPy kernel makes about 230 passes over ``(regions, samples)`` arrays per time
step, and at the model's 1/16-year step that per-operation cost caps it near 1,100 runs per
second per core. Here the samples are processed in blocks of `BLOCK` lanes that stay in the
first-level cache for all 640 steps, and every equation of a region is evaluated in one
loop over the lanes, vectorized by the compiler (``#pragma omp simd``), with the C library's
vector ``pow``/``exp``/``log`` (glibc's libmvec) where available.

Fidelity
--------
* The order of floating-point operations is PySD's (the trees keep its grouping), and
  ``-ffp-contract=off`` forbids fused multiply-adds, so ``+ - *`` and ``sqrt`` give the same
  bits as NumPy; SUM adds the regions in NumPy's pairwise order and skips NaN, as
  ``xarray.DataArray.sum`` does. Powers, ``exp`` and ``log`` (glibc's vector math, powers as
  ``exp(y ln x)``) and divisions by values that do not vary per sample (a multiplication by
  the reciprocal) may differ from NumPy's in the last bits. The test suite checks every
  variable against PySD within ``max(1e-9 * |x|, 1e-12)``.
* Every sample goes through the same vector instructions whatever its position in a batch:
  the last block of a batch is padded with copies of its last sample and every loop runs
  over exactly `BLOCK` lanes, so a sample gives the same bits alone or in any batch.
* The instruction set is fixed per machine family, not ``-march=native``: x86-64-v3 (AVX2,
  FMA unused) when the processor has it, else the compiler's default, so every machine of a
  family runs the same code and gives the same bits.

Layout of one time step
-----------------------
Variables are ordered into *levels*: a variable that reads ``SUM(x[Region!])`` comes at
least one level after ``x``. Each level is a scalar section (variables without the region
subscript) then a region section (a loop over the regions). In each section, values that
do not depend on the samples (no stock and no per-sample constant behind them) are computed
once per region outside the lane loop; the others in one ``omp simd`` loop over the lanes.
Values read in another loop, stock flows and recorded outputs are stored in arrays; the
others stay in registers. Steps at saved times use a second copy of the step that also
computes the recorded outputs.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sdplanner.engine.codegen import Kernel, _pairwise_plan
from sdplanner.engine.ir import (
    CONTROL_NAMES,
    REDUCTIONS,
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
    needed_stocks,
    num,
)
from sdplanner.engine.toolchain import SIMD_DECLS, CompilerInfo, build_library, compiler
from sdplanner.errors import EngineError

__all__ = ["BLOCK", "generate_c_kernel", "generate_c_source"]

#: Samples evaluated together in the vector loops (a multiple of every vector width).
BLOCK = 32

_PRELUDE = """\
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
%(simd)s
#define R %(R)d
#define BL %(B)d
#define SMALL %(small)s
#ifndef NAN
#define NAN (0.0 / 0.0)
#endif
/* select by bits: a vector blend whatever the condition (the compiler cannot vectorize a
   ?: whose condition is loop-invariant); both operands are evaluated, as numpy.where does */
static inline double sd_if(int64_t c, double a, double b) {
  uint64_t ua, ub, m = -(uint64_t)(c != 0);
  memcpy(&ua, &a, 8); memcpy(&ub, &b, 8);
  ua = (ua & m) | (ub & ~m);
  memcpy(&a, &ua, 8); return a;
}
/* NumPy's minimum and maximum: NaN if either operand is NaN */
static inline double sd_min(double a, double b) { return sd_if(a < b || a != a, a, b); }
static inline double sd_max(double a, double b) { return sd_if(a > b || a != a, a, b); }
/* PySD's XIDZ and ZIDZ: |b| < SMALL counts as zero */
static inline double sd_xidz(double a, double b, double x) {
  return sd_if(fabs(b) < SMALL, x, a / b);
}
static inline double sd_zidz(double a, double b) { return sd_if(fabs(b) < SMALL, 0.0, a / b); }
/* x ^ y for x > 0 finite and y finite: exp(y * ln x). glibc's vector pow is accurate to
   1 ulp but costs several times its vector exp and log together; the relative error here is
   about (|y ln x| + 8) * 2^-53 (1e-14 for |y ln x| < 100), far inside the 1e-9 the engine
   guarantees. A loop where any lane has another base or exponent runs again with pow. */
static inline double sd_fpow(double x, double y) { return exp(y * log(x)); }
/* xarray's sum skips NaN */
static inline double sd_nz(double a) { return sd_if(a == a, a, 0.0); }
/* xarray's min and max skip NaN (NaN only when every value is) */
static inline double sd_vmin(double a, double b) { return sd_if(b < a || a != a, b, a); }
static inline double sd_vmax(double a, double b) { return sd_if(b > a || a != a, b, a); }
/* Python's and NumPy's a %% b: the sign of b (CPython's float_rem, numpy.remainder) */
static inline double sd_pymod(double a, double b) {
  double m = fmod(a, b);
  if (m != 0.0) { if ((b < 0.0) != (m < 0.0)) m += b; }
  else m = copysign(0.0, b);
  return m;
}
/* PySD's Delay.initialize: the order drops while order * dt > the smallest delay time */
static inline double sd_delay_order(double order, double smallest, double dt) {
  for (double k = order; k > 1.0; k -= 1.0)
    order = sd_if(order * dt > smallest, order - 1.0, order);
  return order;
}
/* PySD's DelayFixed.initialize: round(max(delay / dt, 1) + SMALL_VENSIM), half to even */
static inline double sd_fixed_length(double delay, double dt) {
  double ratio = delay / dt;
  return nearbyint(sd_if(ratio < 1.0, 1.0, ratio) + SMALL);
}
"""


# --------------------------------------------------------------------------------------
# Code generation
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Sum:
    """``SUM``, ``VMIN`` or ``VMAX`` of ``x[Region!]`` as a pseudo-variable of its own."""

    name: str
    fn: str = "sum"


@dataclass
class _Var:
    """A value computed in a phase: an auxiliary, a flow, an initial value or a SUM."""

    name: str
    region: bool
    expr: object
    cname: str
    jdep: bool = False
    level: int = 0
    deps: set = field(default_factory=set)  # names of computed values read elementwise


#: One-argument functions of the equation trees and their C library names.
_C_UNARY = {
    "abs": "fabs",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "sqrt": "sqrt",
    "exp": "exp",
    "ln": "log",
    "integer": "trunc",
}


def _is_condition(node) -> bool:
    """Whether a node is written as a C condition (an int) when a condition is asked for."""
    return isinstance(node, Cmp) or (isinstance(node, Call) and node.fn in ("and", "or", "not"))


#: Exponents NumPy computes without pow (sqrt, square, reciprocal, identity, one).
_SPECIAL = (0.5, 2.0, -1.0, 1.0, 0.0)


def _literal(value) -> str:
    value = float(value)
    if value != value:
        return "NAN"
    if value in (float("inf"), float("-inf")):
        return "INFINITY" if value > 0 else "(-INFINITY)"
    text = repr(value)
    return text if any(c in text for c in ".en") else text + ".0"


class _Phase:
    """The computation of some root values from stocks, constants and time."""

    def __init__(self, gen: _CGen, roots: Sequence[str], init: bool):
        self.gen = gen
        self.init = init
        self.vars: dict[str, _Var] = {}
        self.order: list[str] = []
        for root in roots:
            self._collect(root)
        self.roots = list(roots)
        self._leveling()

    # ---- the values a phase computes ------------------------------------------------
    def _define(self, name: str) -> _Var:
        gen = self.gen
        if name.startswith("__flow:"):
            stock = name.split(":", 1)[1]
            var = gen.ir.variables[stock]
            return _Var(name, var.region, var.expr, f"F{gen.index[stock]}")
        if name.startswith("__init:"):
            stock = name.split(":", 1)[1]
            var = gen.ir.variables[stock]
            return _Var(name, var.region, var.init, f"I{gen.index[stock]}")
        for fn in REDUCTIONS:
            if name.startswith(f"__{fn}:"):
                x = name.split(":", 1)[1]
                cname = gen.sum_names.setdefault(name, f"U{len(gen.sum_names)}")
                return _Var(name, False, _Sum(x, fn), cname)
        var = gen.ir.variables[name]
        return _Var(name, var.region, var.expr, f"v{gen.index[name]}")

    def _collect(self, root: str) -> None:
        # iterative depth-first post-order over computed values
        stack = [(root, False)]
        while stack:
            name, done = stack.pop()
            if name in self.vars and not done:
                continue
            if done:
                if name not in self.order:
                    self.order.append(name)
                continue
            var = self._define(name)
            self.vars[name] = var
            var.expr = self._rewrite(var.expr)
            stack.append((name, True))
            for dep in sorted(self._computed_refs(var.expr)):
                if dep not in self.vars:
                    stack.append((dep, False))
            var.deps = self._computed_refs(var.expr)

    def _rewrite(self, node):
        """Replace SUM calls by pseudo-variables and, at initialization, stocks by inits."""
        if isinstance(node, _Sum):
            return node
        if isinstance(node, Call) and node.fn in REDUCTIONS:
            ref = node.args[0]
            return Ref(f"__{node.fn}:{self._resolve(ref.name)}")
        if isinstance(node, Call) and node.fn == "active_initial":
            return self._rewrite(node.args[1] if self.init else node.args[0])
        if isinstance(node, Ref):
            return Ref(self._resolve(node.name))
        if isinstance(node, (Num, TimeRef)) or node is None:
            return node
        if isinstance(node, Neg):
            return Neg(self._rewrite(node.arg))
        if isinstance(node, ToRegion):
            return ToRegion(self._rewrite(node.arg))
        if isinstance(node, Bin):
            return Bin(node.op, self._rewrite(node.left), self._rewrite(node.right))
        if isinstance(node, Cmp):
            return Cmp(node.op, self._rewrite(node.left), self._rewrite(node.right))
        if isinstance(node, Call):
            return Call(node.fn, tuple(self._rewrite(a) for a in node.args))
        if isinstance(node, Lookup):
            return Lookup(self._rewrite(node.arg), node.xs, node.ys)
        raise TypeError(f"unknown node {node!r}")

    def _resolve(self, name: str) -> str:
        if name.startswith("__"):
            return name
        var = self.gen.ir.variables[name]
        if var.kind == "stock" and self.init:
            return f"__init:{name}"
        return name

    def is_computed(self, name: str) -> bool:
        """Whether a name is a value this phase computes (not a stock, constant or control)."""
        if name.startswith("__"):
            return True
        return self.gen.ir.variables[name].kind == "auxiliary"

    def _computed_refs(self, node) -> set[str]:
        out: set[str] = set()
        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, _Sum):
                target = item.name
                if self.is_computed(target):
                    out.add(target)
            elif isinstance(item, Ref):
                if self.is_computed(item.name):
                    out.add(item.name)
            else:
                stack.extend(children(item))
        return out

    def _leaf_jdep(self, node) -> bool:
        """Whether a leaf (a stock, constant or control reference) varies per sample."""
        var = self.gen.ir.variables[node.name]
        if var.kind == "stock":
            return True
        return var.kind == "constant" and node.name in self.gen.batched

    def _jdep(self, node) -> bool:
        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, _Sum):
                name = item.name
                if self.is_computed(name):
                    if self.vars[name].jdep:
                        return True
                elif self._leaf_jdep(Ref(name)):
                    return True
            elif isinstance(item, Ref):
                if self.is_computed(item.name):
                    if self.vars[item.name].jdep:
                        return True
                elif self._leaf_jdep(item):
                    return True
            else:
                stack.extend(children(item))
        return False

    def _leveling(self) -> None:
        for name in self.order:
            var = self.vars[name]
            var.jdep = self._jdep(var.expr)
            level = 0
            if isinstance(var.expr, _Sum):
                target = var.expr.name
                if self.is_computed(target):
                    level = self.vars[target].level + 1
            else:
                for dep in var.deps:
                    level = max(level, self.vars[dep].level)
            var.level = level

    # ---- where each value lives -------------------------------------------------------
    def sections(self) -> list[tuple[int, bool, list[str]]]:
        """``(level, region, names)`` in execution order."""
        out = []
        top = max((v.level for v in self.vars.values()), default=-1)
        for level in range(top + 1):
            for region in (False, True):
                names = [
                    n
                    for n in self.order
                    if self.vars[n].level == level and self.vars[n].region == region
                ]
                if names:
                    out.append((level, region, names))
        return out

    def stored(self) -> set[str]:
        """Values read outside the loop that computes them (or roots): kept in arrays."""
        home = {}
        for index, (_, _, names) in enumerate(self.sections()):
            for n in names:
                home[n] = index
        out = set(self.roots)
        for name in self.order:
            var = self.vars[name]
            reads = var.deps | ({var.expr.name} if isinstance(var.expr, _Sum) else set())
            for dep in reads:
                if dep not in self.vars:
                    continue
                if isinstance(var.expr, _Sum) or home[dep] != home[name]:
                    out.add(dep)
        return out


class _CGen:
    """Generate the C source of one kernel."""

    def __init__(self, ir: ModelIR, outputs, batched, series, block: int):
        self.ir = ir
        self.R = ir.n_regions
        self.B = block
        self.outputs = tuple(outputs)
        self.batched = frozenset(batched)
        self.series = frozenset(series)
        self.index = {name: i for i, name in enumerate(ir.variables)}
        self.params: list[str] = []  # constants passed in, in pointer order
        self.lookups: dict[tuple, str] = {}
        self.lookup_defs: list[str] = []
        self.sum_names: dict[str, str] = {}
        self.scalars: list[str] = []  # C names of per-step scalars, declared once

    # ---- leaves -----------------------------------------------------------------------
    def const_ref(self, name: str, lane: bool, r: str = "r") -> str:
        var = self.ir.variables[name]
        i = self.index[name]
        if var.kind == "control":
            return f"ctl{CONTROL_NAMES.index(name)}"
        if name not in self.params:
            self.params.append(name)
        if name in self.series:
            return f"P{i}[(size_t)k * R + {r}]" if var.region else f"P{i}[k]"
        if name in self.batched:
            if not lane:
                raise AssertionError(f"per-sample constant {name} outside a lane loop")
            return f"C{i}[{r} * BL + j]" if var.region else f"C{i}[j]"
        return f"P{i}[{r}]" if var.region else f"c{i}"

    def lookup(self, node: Lookup) -> str:
        key = (node.xs, node.ys)
        if key not in self.lookups:
            name = f"sd_lookup{len(self.lookups)}"
            self.lookups[key] = name
            xs, ys = node.xs, node.ys
            lines = [f"static inline double {name}(double x) {{"]
            if len(xs) == 1:
                lines.append(f"  double y = {_literal(ys[0])};")
            else:
                # numpy.interp: slope * (x - xp[j]) + fp[j] on [xp[j], xp[j + 1]); a segment
                # of zero width (a repeated x) is never that interval: it is left out
                segments = [i for i in range(len(xs) - 1) if xs[i + 1] > xs[i]]
                if not segments:
                    lines.append("  double y = 0.0;")
                for n, i in enumerate(segments):
                    slope = _literal((ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]))
                    value = f"{slope} * (x - {_literal(xs[i])}) + {_literal(ys[i])}"
                    if n == 0:
                        lines.append(f"  double y = {value};")
                    else:
                        lines.append(f"  y = sd_if(x >= {_literal(xs[i])}, {value}, y);")
            lines.append(f"  y = sd_if(x >= {_literal(xs[-1])}, {_literal(ys[-1])}, y);")
            lines.append(f"  y = sd_if(x < {_literal(xs[0])}, {_literal(ys[0])}, y);")
            lines.append("  return sd_if(x != x, x, y);")
            lines.append("}")
            self.lookup_defs.append("\n".join(lines))
        return self.lookups[key]


class _Emit:
    """Write the C statements of one phase."""

    def __init__(self, gen: _CGen, phase: _Phase):
        self.gen = gen
        self.phase = phase
        self.stored = phase.stored()
        self.local: set[str] = set()  # values held in C locals of the current loop
        self.pow_mode = "scalar"  # "fast" in a lane loop's first pass, "exact" in its rerun
        self.pow_pre: list[str] = []
        self.pow_checks: list[str] = []
        self.pow_hoisted: list[str] = []
        self.pow_count = 0
        self.hoisted: dict = {}  # (node, as condition) -> C name, in the current section
        self.hoist_lines: list[str] = []

    # where a computed value is read from, outside its own loop
    def storage(self, name: str, lane: bool) -> str:
        var = self.phase.vars[name]
        if name in self.local:
            return var.cname
        if var.jdep:
            if not lane:
                raise AssertionError(f"{name} read outside a lane loop")
            return f"A{var.cname}[r * BL + j]" if var.region else f"A{var.cname}[j]"
        if var.region:
            return f"A{var.cname}[r]"
        return var.cname  # a scalar of the step's scope

    def leaf(self, name: str, lane: bool) -> str:
        if self.phase.is_computed(name):
            return self.storage(name, lane)
        var = self.gen.ir.variables[name]
        if var.kind == "stock":
            i = self.gen.index[name]
            return f"S{i}[r * BL + j]" if var.region else f"S{i}[j]"
        return self.gen.const_ref(name, lane)

    def expr(self, node, lane: bool, cond: bool = False) -> str:
        if lane and not isinstance(node, (Num, Ref, TimeRef)) and not self.phase._jdep(node):
            # the same for every lane: computed once before the lane loop
            key = (node, cond)
            name = self.hoisted.get(key)
            if name is None:
                name = f"h{len(self.hoisted)}"
                text = self.expr(node, False, cond)
                kind = "int64_t" if cond and _is_condition(node) else "double"
                self.hoist_lines.append(f"const {kind} {name} = {text};")
                self.hoisted[key] = name
            return name
        e = lambda n, c=False: self.expr(n, lane, c)  # noqa: E731
        if isinstance(node, Num):
            return _literal(node.value)
        if isinstance(node, TimeRef):
            return "t"
        if isinstance(node, Ref):
            return self.leaf(node.name, lane)
        if isinstance(node, ToRegion):
            return e(node.arg)
        if isinstance(node, Neg):
            return f"(-{e(node.arg)})"
        if isinstance(node, Cmp):
            text = f"({e(node.left)} {node.op} {e(node.right)})"
            return text if cond else f"sd_if({text}, 1.0, 0.0)"
        if isinstance(node, Call) and node.fn in ("and", "or", "not"):
            # numpy.logical_*: a number is true when it is not 0 (NaN is true)
            args = [self.truth(a, e) for a in node.args]
            if node.fn == "not":
                text = f"(!{args[0]})"
            else:
                text = f"({args[0]} {'&' if node.fn == 'and' else '|'} {args[1]})"
            return text if cond else f"sd_if({text}, 1.0, 0.0)"
        if isinstance(node, Bin):
            if node.op == "**":
                return self.power(node, e)
            if node.op == "*" and self.pow_mode != "scalar":
                fused = self.fused_product(node, e)
                if fused is not None:
                    return fused
            if node.op == "/" and lane and not self.phase._jdep(node.right):
                return f"({e(node.left)} * {self.reciprocal(node.right, e)})"
            return f"({e(node.left)} {node.op} {e(node.right)})"
        if isinstance(node, Lookup):
            return f"{self.gen.lookup(node)}({e(node.arg)})"
        if isinstance(node, Call):
            args = [e(a) for a in node.args]
            fn = node.fn
            if fn == "if_then_else":
                return f"sd_if({self.truth(node.args[0], e)}, {args[1]}, {args[2]})"
            if fn == "min":
                return f"sd_min({args[0]}, {args[1]})"
            if fn == "max":
                return f"sd_max({args[0]}, {args[1]})"
            if fn in ("xidz", "zidz") and lane and not self.phase._jdep(node.args[1]):
                fallback = args[2] if fn == "xidz" else "0.0"
                inverse = self.reciprocal(node.args[1], e)
                return f"sd_if(fabs({args[1]}) < SMALL, {fallback}, {args[0]} * {inverse})"
            if fn == "xidz":
                return f"sd_xidz({args[0]}, {args[1]}, {args[2]})"
            if fn == "zidz":
                return f"sd_zidz({args[0]}, {args[1]})"
            if fn in _C_UNARY:
                return f"{_C_UNARY[fn]}({args[0]})"
            if fn == "power":
                return f"pow({args[0]}, {args[1]})"
            if fn == "pymod":
                return f"sd_pymod({args[0]}, {args[1]})"
            if fn == "delay_order":
                return f"sd_delay_order({', '.join(args)})"
            if fn == "fixed_delay_length":
                return f"sd_fixed_length({', '.join(args)})"
        raise AssertionError(f"unexpected node {node!r}")

    def truth(self, node, e) -> str:
        """Write a value as a C condition: comparisons as they are, numbers ``!= 0``."""
        text = e(node, True)
        return text if _is_condition(node) else f"({text} != 0.0)"

    def power(self, node: Bin, e) -> str:
        base = e(node.left)
        if isinstance(node.right, Num):
            x = float(node.right.value)
            # NumPy's fast paths for a scalar exponent (the same bits as its power)
            if x == 0.5:
                return f"sqrt({base})"
            if x == 2.0:
                return f"({base} * {base})"
            if x == -1.0:
                return f"(1.0 / {base})"
            if x == 1.0:
                return base
            if x == 0.0:
                return "1.0"
        exponent = e(node.right)
        if self.pow_mode == "scalar":
            return f"pow({base}, {exponent})"
        k, flag = self.register_pow(base, exponent, node.right)
        fast = f"sd_fpow(pb{k}, pe{k})"
        if self.pow_mode == "fast":
            return fast
        return self.exact_power(k, flag)

    def reciprocal(self, node, e) -> str:
        """Hoist ``1 / node`` (a value that does not vary per lane) out of the lane loop.

        A lane loop divides by it as a multiplication: a vector division costs several
        times a multiplication, and the result is within one rounding of the quotient.
        """
        return e(Bin("/", num(1.0), node))

    @staticmethod
    def exact_power(k: int, flag: str | None) -> str:
        """Write the exact pass's power: the fast one where it applies (same bits), else pow."""
        text = f"sd_if(ok{k}, sd_fpow(pb{k}, pe{k}), pow(pb{k}, pe{k}))"
        if flag:
            text = f"sd_if({flag}, {text}, pow(pb{k}, pe{k}))"
        return text

    def _fusable(self, node) -> bool:
        if isinstance(node, Call) and node.fn == "exp":
            return self.phase._jdep(node)
        if isinstance(node, Bin) and node.op == "**":
            special = isinstance(node.right, Num) and float(node.right.value) in _SPECIAL
            return not special and self.phase._jdep(node)
        return False

    def fused_product(self, node: Bin, e) -> str | None:
        """Write a product of powers and exponentials as one exponential (lane loops only).

        ``x1^y1 * x2^y2 * EXP(z)`` is ``exp(y1 ln x1 + y2 ln x2 + z)``: one vector exp instead
        of three, with the same accuracy as the separate fast powers. In the exact pass, a
        lane where a base or exponent is out of the fast powers' domain multiplies the
        separate exact factors instead; the other lanes keep the fused value's bits.
        """
        factors, stack = [], [node]
        while stack:
            item = stack.pop()
            if isinstance(item, Bin) and item.op == "*":
                stack += [item.right, item.left]
            else:
                factors.append(item)
        if sum(1 for f in factors if self._fusable(f)) < 2:
            return None
        terms, rest, separate, oks, flags = [], [], [], [], []
        for f in factors:
            if not self._fusable(f):
                text = e(f)
                rest.append(text)
                separate.append(text)
            elif isinstance(f, Call):
                arg = e(f.args[0])
                terms.append(arg)
                separate.append(f"exp({arg})")
            else:
                k, flag = self.register_pow(e(f.left), e(f.right), f.right)
                terms.append(f"(pe{k} * log(pb{k}))")
                oks.append(f"ok{k}")
                if flag:
                    flags.append(flag)
                separate.append(self.exact_power(k, flag) if self.pow_mode == "exact" else "")
        fused = f"exp({' + '.join(terms)})"
        for factor in rest:
            fused = f"({fused} * {factor})"
        if self.pow_mode != "exact":
            return fused
        product = separate[0]
        for factor in separate[1:]:
            product = f"({product} * {factor})"
        text = f"sd_if({' && '.join(oks)}, {fused}, {product})"
        for flag in flags:
            text = f"sd_if({flag}, {text}, {product})"
        return text

    def register_pow(self, base: str, exponent: str, exponent_node) -> tuple[int, str | None]:
        """Name the base and exponent of a lane-loop power and check them.

        Returns its number, and the name of the hoisted flag that its loop-invariant
        exponent is finite (None for an exponent that varies per lane).

        The fast pass adds the checks that decide whether the exact pass runs; the exact pass
        defines ``ok<k>``: whether the fast power applies in this lane.
        """
        k = self.pow_count
        self.pow_count += 1
        self.pow_pre += [f"const double pb{k} = {base};", f"const double pe{k} = {exponent};"]
        lane_exponent = self.phase._jdep(exponent_node)
        flag = None
        if not lane_exponent:
            flag = f"hq{len(self.hoist_lines)}"
            self.hoist_lines.append(f"const int64_t {flag} = fabs({exponent}) < INFINITY;")
        if self.pow_mode == "fast":
            self.pow_checks.append(f"bad |= !(pb{k} > 0.0 && pb{k} < INFINITY);")
            if lane_exponent:
                self.pow_checks.append(f"bad |= !(fabs(pe{k}) < INFINITY);")
            else:
                self.pow_hoisted.append(f"bad |= !{flag};")
        else:
            ok = f"pb{k} > 0.0 && pb{k} < INFINITY"
            if lane_exponent:
                ok += f" && fabs(pe{k}) < INFINITY"
            self.pow_pre.append(f"const int64_t ok{k} = {ok};")
        return k, flag

    def sum_text(self, var: _Var, lane: bool) -> str:
        target = var.expr.name
        fn = var.expr.fn
        R = self.gen.R
        if self.phase.is_computed(target):
            tv = self.phase.vars[target]
            if tv.jdep:
                row = lambda r: f"A{tv.cname}[{r} * BL + j]"  # noqa: E731
            else:
                row = lambda r: f"A{tv.cname}[{r}]"  # noqa: E731
        else:
            var0 = self.gen.ir.variables[target]
            i = self.gen.index[target]
            if var0.kind == "stock":
                row = lambda r: f"S{i}[{r} * BL + j]"  # noqa: E731
            else:
                row = lambda r: self.gen.const_ref(target, lane, str(r))  # noqa: E731

        if fn != "sum":  # a minimum or maximum is exact in any order
            out = row(0)
            for r in range(1, R):
                out = f"sd_{fn}({out}, {row(r)})"
            return out

        def total(p) -> str:
            if p[0] == "split":
                return f"({total(p[1])} + {total(p[2])})"
            lo, hi = p[1], p[2]
            if p[0] == "seq":
                out = f"sd_nz({row(lo)})"
                for i in range(lo + 1, hi):
                    out = f"({out} + sd_nz({row(i)}))"
                return out
            n = hi - lo
            acc = [f"sd_nz({row(lo + j)})" for j in range(8)]
            i = 8
            while i < n - n % 8:
                acc = [f"({acc[j]} + sd_nz({row(lo + i + j)}))" for j in range(8)]
                i += 8
            left = f"(({acc[0]} + {acc[1]}) + ({acc[2]} + {acc[3]}))"
            right = f"(({acc[4]} + {acc[5]}) + ({acc[6]} + {acc[7]}))"
            out = f"({left} + {right})"
            for k in range(lo + i, hi):
                out = f"({out} + sd_nz({row(k)}))"
            return out

        return total(_pairwise_plan(0, R))

    def statement(self, name: str, lane: bool) -> list[str]:
        var = self.phase.vars[name]
        self.pow_pre = []
        if isinstance(var.expr, _Sum):
            text = self.sum_text(var, lane)
        else:
            text = self.expr(var.expr, lane)
        lines = list(self.pow_pre)
        step_scalar = not var.jdep and not var.region
        if step_scalar:
            lines.append(f"{var.cname} = {text};")
        else:
            lines.append(f"const double {var.cname} = {text};")
            self.local.add(name)
        if name in self.stored and not step_scalar:
            if var.jdep:
                target = f"A{var.cname}[r * BL + j]" if var.region else f"A{var.cname}[j]"
            else:
                target = f"A{var.cname}[r]"
            lines.append(f"{target} = {var.cname};")
        return lines

    def body(self) -> list[str]:
        """Write the phase's statements (inside the time loop or at initialization)."""
        out: list[str] = []
        for n in self.phase.order:
            var = self.phase.vars[n]
            if not var.jdep and not var.region and var.cname not in self.gen.scalars:
                self.gen.scalars.append(var.cname)
        for level, region, names in self.phase.sections():
            pre = [n for n in names if not self.phase.vars[n].jdep]
            lane = [n for n in names if self.phase.vars[n].jdep]
            out.append(f"/* level {level}, {'per region' if region else 'scalar'} */")
            inner: list[str] = []
            self.local = set()
            for n in pre:
                inner += self.statement(n, False)
            if lane:
                mark = set(self.local)
                self.pow_mode, self.pow_checks, self.pow_hoisted = "fast", [], []
                self.hoisted, self.hoist_lines = {}, []
                fast = []
                for n in lane:
                    fast += ["  " + x for x in self.statement(n, True)]
                if not self.pow_checks:
                    inner += self.hoist_lines
                    inner += ["#pragma omp simd", "for (int j = 0; j < BL; j++) {", *fast, "}"]
                else:
                    self.local = set(mark)
                    self.pow_mode = "exact"
                    exact = []
                    for n in lane:
                        exact += ["    " + x for x in self.statement(n, True)]
                    inner += self.hoist_lines
                    inner += ["int64_t bad = 0;", *self.pow_hoisted]
                    inner += ["#pragma omp simd reduction(|:bad)"]
                    inner += ["for (int j = 0; j < BL; j++) {", *fast]
                    inner += ["  " + x for x in self.pow_checks]
                    inner += ["}"]
                    inner += ["if (bad) { /* a base <= 0 or not finite: C's pow */"]
                    inner += ["  #pragma omp simd", "  for (int j = 0; j < BL; j++) {", *exact]
                    inner += ["  }", "}"]
                self.pow_mode = "scalar"
                self.local = mark
            self.local = set()
            if region:
                out.append("for (int r = 0; r < R; r++) {")
                out += ["  " + x for x in inner]
                out.append("}")
            else:
                # a scalar section has no region index; "r" is not used in it
                out.append("{")
                out += ["  " + x for x in inner]
                out.append("}")
        return out

    def arrays(self) -> list[_Var]:
        """Return the values the phase keeps in work arrays (not per-step scalars)."""
        return [
            self.phase.vars[name]
            for name in self.phase.order
            if name in self.stored and (self.phase.vars[name].jdep or self.phase.vars[name].region)
        ]


def generate_c_source(
    ir: ModelIR,
    outputs: Sequence[str],
    batched: Iterable[str] = (),
    series: Iterable[str] = (),
    *,
    simd_math: bool = True,
    block: int = BLOCK,
) -> tuple[str, list[str]]:
    """Write the C source of the kernel for one run signature.

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
    simd_math : bool, optional
        Declare glibc's vector math functions (libmvec).
    block : int, optional
        Lanes of the vector loops.

    Returns
    -------
    tuple
        The C source, and the Python names of the constants in the order the kernel takes
        their pointers.
    """
    gen = _CGen(ir, outputs, batched, series, block)
    stocks = needed_stocks(ir, gen.outputs)
    R, B = gen.R, gen.B
    init = _Phase(gen, [f"__init:{s}" for s in stocks], init=True)
    flows = [f"__flow:{s}" for s in stocks if ir.variables[s].update != "hold"]
    pipes = [s for s in stocks if ir.variables[s].update == "pipe"]
    out_aux = [o for o in gen.outputs if ir.variables[o].kind == "auxiliary"]
    fast = _Phase(gen, flows, init=False)
    save = _Phase(gen, flows + [o for o in out_aux if o not in flows], init=False)
    e_init, e_fast, e_save = _Emit(gen, init), _Emit(gen, fast), _Emit(gen, save)
    b_init, b_fast, b_save = e_init.body(), e_fast.body(), e_save.body()

    # record the outputs of a saved step: copy the valid lanes out
    record: list[str] = []
    for k, name in enumerate(gen.outputs):
        var = ir.variables[name]
        i = gen.index[name]
        if var.kind == "auxiliary":
            value = e_save.storage(name, True)
        elif var.kind == "stock":
            value = f"S{i}[r * BL + j]" if var.region else f"S{i}[j]"
        else:
            value = gen.const_ref(name, True)
        if var.region:
            record += [
                "for (int r = 0; r < R; r++)",
                "  for (int j = 0; j < m; j++)",
                f"    O[{k}][((size_t)(j0 + j) * ns + js) * R + r] = {value};",
            ]
        else:
            record += [
                "{ const int r = 0; (void)r;",
                "  for (int j = 0; j < m; j++)",
                f"    O[{k}][(size_t)(j0 + j) * ns + js] = {value}; }}",
            ]

    # workspace: stocks, their flows, stored values, per-sample constants
    decls: list[str] = []
    offset = 0

    def alloc(cname: str, region: bool, lanes: bool) -> None:
        nonlocal offset
        size = (R if region else 1) * (B if lanes else 1)
        size = -(-size // 8) * 8  # 64-byte alignment of every array
        decls.append(f"double *restrict {cname} = ws + {offset};")
        offset += size

    for s in stocks:
        alloc(f"S{gen.index[s]}", ir.variables[s].region, True)
    seen_arrays: set[str] = set()
    for emit in (e_init, e_fast, e_save):
        for var in emit.arrays():
            if var.cname in seen_arrays:
                continue
            seen_arrays.add(var.cname)
            alloc(f"A{var.cname}", var.region, var.jdep)
    batched_params = [p for p in gen.params if p in gen.batched]
    for p in batched_params:
        alloc(f"C{gen.index[p]}", ir.variables[p].region, True)

    lines = [
        _PRELUDE
        % {"simd": SIMD_DECLS if simd_math else "", "R": R, "B": B, "small": repr(SMALL_VENSIM)}
    ]
    lines += gen.lookup_defs
    lines.append(
        "int sd_kernel(int nb, int last, int ns, const double *restrict times,"
        " const unsigned char *restrict saves, const double *restrict ctl,"
        " const double *const *P, double *const *O) {"
    )
    lines.append(f"  double *ws = aligned_alloc(64, sizeof(double) * {max(offset, 8)});")
    lines.append("  if (ws == NULL) return -1;")
    lines.append("  int code = 0;")
    for s in pipes:
        lines.append(f"  double *PB{gen.index[s]} = NULL; int64_t PL{gen.index[s]}[BL];")
    lines.append("  const double ctl0 = ctl[0], ctl1 = ctl[1], ctl2 = ctl[2], ctl3 = ctl[3];")
    lines.append("  (void)ctl0; (void)ctl1; (void)ctl2; (void)ctl3;")
    lines.append("  const double dt = ctl2;")
    for slot, p in enumerate(gen.params):
        i = gen.index[p]
        var = ir.variables[p]
        if p in gen.batched or p in gen.series or var.region:
            lines.append(f"  const double *restrict P{i} = P[{slot}];")
        else:
            lines.append(f"  const double c{i} = P[{slot}][0];")
    lines += ["  " + d for d in decls]
    if gen.scalars:
        lines.append(f"  double {' = 0.0, '.join(gen.scalars)} = 0.0;")
    lines.append("  for (int j0 = 0; j0 < nb; j0 += BL) {")
    lines.append("    const int m = nb - j0 < BL ? nb - j0 : BL;")
    for p in batched_params:
        i = gen.index[p]
        if ir.variables[p].region:
            lines += [
                "    for (int r = 0; r < R; r++)",
                "      for (int j = 0; j < BL; j++)",
                f"        C{i}[r * BL + j] = P{i}[(size_t)r * nb + j0 + (j < m ? j : m - 1)];",
            ]
        else:
            lines += [
                "    for (int j = 0; j < BL; j++)",
                f"      C{i}[j] = P{i}[j0 + (j < m ? j : m - 1)];",
            ]
    lines.append("    { /* initial values of the stocks */")
    lines.append("      const int k = 0; const double t = times[0]; (void)k; (void)t;")
    lines += ["      " + x for x in b_init]
    for s in stocks:
        i = gen.index[s]
        var = ir.variables[s]
        value = e_init.storage(f"__init:{s}", True)
        if var.region:
            lines += [
                "      for (int r = 0; r < R; r++)",
                "        for (int j = 0; j < BL; j++)",
                f"          S{i}[r * BL + j] = {value};",
            ]
        else:
            lines += [
                "      { const int r = 0; (void)r;",
                "        for (int j = 0; j < BL; j++)",
                f"          S{i}[j] = {value}; }}",
            ]
    lines.append("    }")
    for s in pipes:  # DELAY FIXED: ring buffers of their length, filled with the state
        i, var = gen.index[s], ir.variables[s]
        size = f"{R if var.region else 1} * BL"
        lines += [
            f"    free(PB{i}); PB{i} = NULL;",
            "    { size_t most = 1;",
            "      for (int j = 0; j < BL; j++) {",
            f"        double n = S{gen.index[var.length]}[j];",
            "        if (!(n >= 1.0 && n < INFINITY)) { code = -2; goto done; }",
            "        if (n > last + 2.0) n = last + 2.0;  /* a longer pipe is never read back */",
            f"        PL{i}[j] = (int64_t)n; if ((size_t)n > most) most = (size_t)n;",
            "      }",
            f"      PB{i} = malloc(sizeof(double) * most * {size});",
            f"      if (PB{i} == NULL) {{ code = -1; goto done; }}",
            "      for (size_t q = 0; q < most; q++)",
            f"        memcpy(PB{i} + q * {size}, S{i}, sizeof(double) * {size});",
            "    }",
        ]
    lines.append("    int js = 0;")
    lines.append("    for (int k = 0; k <= last; k++) {")
    lines.append("      const double t = times[k]; (void)t;")
    lines.append("      if (saves[k]) {")
    lines += ["        " + x for x in b_save]
    lines += ["        " + x for x in record]
    lines.append("        js++;")
    lines.append("      } else {")
    lines += ["        " + x for x in b_fast]
    lines.append("      }")
    lines.append("      if (k == last) break;")
    for s in stocks:
        i = gen.index[s]
        var = ir.variables[s]
        if var.update == "hold":
            continue
        flow = e_save.storage(f"__flow:{s}", True)
        flow_fast = e_fast.storage(f"__flow:{s}", True)
        if flow != flow_fast:
            raise AssertionError("flows stored differently in the two step variants")
        cell = f"S{i}[r * BL + j]" if var.region else f"S{i}[j]"
        if var.update == "euler":
            body = [f"{cell} = {cell} + {flow} * dt;"]
        elif var.update == "next":
            body = [f"{cell} = {flow};"]
        else:  # PySD's DelayFixed.update: pipe[k % n] = input; state = pipe[(k + 1) % n]
            size = f"{R if var.region else 1} * BL"
            body = [
                f"const int64_t w = k % PL{i}[j], q = (k + 1) % PL{i}[j];",
                f"PB{i}[w * {size} + r * BL + j] = {flow};",
                f"{cell} = PB{i}[q * {size} + r * BL + j];",
            ]
        pragma = ["#pragma omp simd"] if var.update != "pipe" else []
        if var.region:
            lines += ["      for (int r = 0; r < R; r++) {", *pragma]
        else:
            lines += ["      { const int r = 0; (void)r;", *pragma]
        lines += ["        for (int j = 0; j < BL; j++) {"]
        lines += ["          " + x for x in body]
        lines += ["        }", "      }"]
    lines.append("    }")
    lines.append("  }")
    lines.append("done:")
    lines += [f"  free(PB{gen.index[s]});" for s in pipes]
    lines.append("  free(ws);")
    lines.append("  return code;")
    lines.append("}")
    return "\n".join(lines) + "\n", list(gen.params)


# --------------------------------------------------------------------------------------
# Loading and calling
# --------------------------------------------------------------------------------------
_ARGTYPES = [
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
]


def generate_c_kernel(
    ir: ModelIR,
    outputs: Sequence[str],
    batched: Iterable[str] = (),
    series: Iterable[str] = (),
    *,
    info: CompilerInfo | None = None,
) -> Kernel:
    """Generate, compile (cached) and load the C kernel for one run signature.

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
    info : CompilerInfo, optional
        The compiler; `compiler()` when omitted.

    Returns
    -------
    Kernel
        A kernel with the NumPy kernel's calling convention
        (``function(P, O, times, saves, save_idx, last, nb)``).

    Raises
    ------
    EngineError
        When no C compiler works here or the source does not compile.
    """
    info = info or compiler()
    if info is None:
        raise EngineError("no working C compiler for the C kernel (set $SDPLANNER_CC or $CC)")
    outputs = tuple(outputs)
    batched = frozenset(batched)
    source, params = generate_c_source(ir, outputs, batched, series, simd_math=info.simd_math)
    library = ctypes.CDLL(str(build_library(source, info)))
    func = library.sd_kernel
    func.argtypes = _ARGTYPES
    func.restype = ctypes.c_int
    R = ir.n_regions
    names = list(outputs)

    def kernel(P, O, times, saves, save_idx, last, nb):  # noqa: E741 - the kernels' names
        keep = []
        pointers = (ctypes.c_void_p * max(1, len(params)))()
        for slot, name in enumerate(params):
            value = P[name]
            arr = np.ascontiguousarray(value, dtype=np.float64)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            if name in batched:
                expected = (R if ir.variables[name].region else 1) * nb
                if arr.size != expected:
                    raise EngineError(f"parameter {name}: {arr.size} values for {nb} samples")
            keep.append(arr)
            pointers[slot] = arr.ctypes.data
        outs = (ctypes.c_void_p * max(1, len(names)))()
        for slot, name in enumerate(names):
            arr = O[name]
            if not arr.flags.c_contiguous or arr.dtype != np.float64:
                raise EngineError(f"output {name}: expected a C-contiguous float64 array")
            outs[slot] = arr.ctypes.data
        t = np.ascontiguousarray(times, dtype=np.float64)
        s = np.ascontiguousarray(saves, dtype=np.uint8)
        ctl = np.array([float(P[c]) for c in CONTROL_NAMES], dtype=np.float64)
        ns = len(save_idx)
        code = func(
            nb,
            last,
            ns,
            t.ctypes.data,
            s.ctypes.data,
            ctl.ctypes.data,
            ctypes.cast(pointers, ctypes.c_void_p),
            ctypes.cast(outs, ctypes.c_void_p),
        )
        if code == -2:
            raise EngineError("DELAY FIXED: the delay time / TIME STEP is not a finite number >= 1")
        if code != 0:
            raise MemoryError("the C kernel could not allocate its work arrays")
        del keep

    return Kernel(source, kernel, outputs, len(source.splitlines()))
