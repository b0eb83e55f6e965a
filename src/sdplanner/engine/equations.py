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

The trees are those of `sdplanner.engine.ir`; `sdplanner.engine.lowering` writes them from
PySD's, functions and stateful functions included. This module reads the file, caches the
result and checks the whole model: control variables, shapes and loops.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import sys
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from sdplanner.cache import cache_root, entry_for_rebuild, seal, verified
from sdplanner.engine.ir import (
    CONTROL_NAMES,
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
    Variable,
    children,
    is_per_region,
    references,
)
from sdplanner.engine.lowering import (
    STRUCTURE_NAMES,
    Context,
    Translator,
    UnsupportedError,
    lookup_table,
    pysd_array_values,
)
from sdplanner.errors import ModelError

__all__ = ["evaluate_constant", "read_model"]

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


#: The modules whose source decides a parse (a change of any of them parses again).
_PARSER_SOURCES = ("equations.py", "ir.py", "lowering.py", "statefuls.py")


def read_model(path: str | os.PathLike) -> ModelIR:
    """Parse a ``.mdl`` with PySD's Vensim parser and check every construct.

    Parsing takes about a second for the shipped model; a model that parsed without error
    is kept in the cache (``$SDPLANNER_CACHE/ir/``, default ``~/.cache/sdplanner/ir/``) as a
    pickle of the result, keyed by the SHA-256 of the file's bytes, of the parser's sources
    (this module, `sdplanner.engine.ir`, `.lowering` and `.statefuls`) and of PySD's and
    Python's versions, so any change of either re-parses. The cache holds
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
    for name in _PARSER_SOURCES:
        h.update((Path(__file__).parent / name).read_bytes())
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
                refuse(element, STRUCTURE_NAMES.get(type(component.ast).__name__, "GET"))
            if subs:
                refuse(element, "a subscripted lookup table")
            try:
                lookups[py] = lookup_table(component.ast)
            except UnsupportedError as exc:
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
    ctx = Context(cleanspace, region_of, range_name, lookups)

    # Second pass: equations.
    groups: list[tuple[Variable, Translator]] = []
    for element in section.elements:
        py = namespace.namespace[element.name]
        region = region_of[py]
        translator = Translator(ctx, element.name, py, region)
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
                    raise UnsupportedError("a control variable with a stateful function")
                value = expr.value if isinstance(expr, Num) else None
                var = Variable(element.name, py, "control", False, expr, None, value)
            elif isinstance(node, ae.IntegStructure):
                if node.non_negative:
                    raise UnsupportedError("a non-negative INTEG")
                flow = translator.expr(node.flow)
                init = translator.expr(node.initial)
                var = Variable(element.name, py, "stock", region, flow, init)
            elif isinstance(node, np.ndarray):
                if not region or node.size != n_regions:
                    raise UnsupportedError(
                        f"an array of {node.size} values (expected {n_regions}, one per element)"
                    )
                values = pysd_array_values(node.reshape(n_regions))
                var = Variable(element.name, py, "constant", True, None, None, values)
            else:
                expr = translator.expr(node)
                if isinstance(expr, Num):
                    value = np.full(n_regions, float(expr.value)) if region else expr.value
                    var = Variable(element.name, py, "constant", region, None, None, value)
                else:
                    var = Variable(element.name, py, "auxiliary", region, expr)
        except UnsupportedError as exc:
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
            except (ModelError, UnsupportedError, TypeError, ValueError) as exc:
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
