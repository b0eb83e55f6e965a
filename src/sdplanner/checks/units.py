"""Dimensional consistency of a Vensim model, as Vensim's Units Check does it.

PySD reads a variable's units as plain text and never compares them. This module parses every
equation with PySD's own parser (``VensimFile(path).parse()`` then ``get_abstract_model()``),
walks the abstract syntax tree bottom-up and infers the units of every sub-expression with
`pint`, starting from the units each variable declares in the ``.mdl``.

The model's unit names are declared in one place, the ``units`` list of the model spec beside
the ``.mdl`` (`sdplanner.spec`, pint's definition syntax). A model without a spec, or whose spec
declares none, gets Vensim's rule: every unit name it uses is a base unit of its own (``Dmnl``
is dimensionless), so its equations are checked for consistency but not for misspellings.

Rules
-----
* Both sides of an equation agree: the units inferred from the right side equal the declared
  units of the variable (same dimension and same scale: ``percent`` is not ``Dmnl``).
* A stock's ``INTEG(flow, initial)``: ``flow`` has the stock's units per time unit and
  ``initial`` has the stock's units. The time unit is the one ``TIME STEP`` declares (``year``).
* Additions, subtractions, comparisons, ``MIN``/``MAX``, ``MODULO``, the two branches of
  ``IF THEN ELSE``, ``XIDZ``'s fallback (units of ``a/b``) and the initial values of
  ``ACTIVE INITIAL``, ``SAMPLE IF TRUE``, delays and smooths agree with their partner.
* A number written in an equation takes whatever units its partner has in an addition,
  comparison or ``MIN``/``MAX`` (as in Vensim) and is dimensionless in a product or quotient;
  an equation that is only numbers (a constant) takes the declared units.
* ``Time``, ``INITIAL TIME`` and the other control variables are in the time unit; delay,
  smooth and averaging times, and the times of ``STEP``, ``PULSE`` and ``RAMP``, must be too.
* ``x ^ y`` and ``POWER(x, y)``: ``y`` is dimensionless; when ``y`` is not a number, ``x`` must
  be dimensionless (the units of ``x ^ 0.5`` are ``sqrt(units of x)``, those of ``x ^ y`` are
  unknown otherwise).
* ``EXP``, ``LN``, ``LOG`` and the trigonometric functions take dimensionless arguments and
  return dimensionless values; ``SQRT`` halves the exponents; ``ZIDZ(a, b)`` is ``a/b``;
  ``SUM``, ``VMIN``, ``VMAX``, ``ABS`` and ``INTEGER`` keep the units of their argument.
* Lookups (``WITH LOOKUP`` and named lookups): the variable's (or lookup's) declared units are
  the units of the lookup's output; its input (x axis) is dimensionless unless the variable's
  comment states otherwise with a tag ``[x units: UNITS]`` (for example ``[x units: year]``
  for a lookup of time). The input expression must have the x units.

A sub-expression whose units cannot be known (an undeclared unit, an unsupported function,
external data) is skipped rather than reported twice: the undeclared or unknown unit is
reported once, on the variable that declares it.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from sdplanner.checks.errors import CheckError
from sdplanner.errors import ModelError

__all__ = [
    "UnitFinding",
    "UnitReport",
    "base_unit_definitions",
    "check_units",
    "format_units",
    "parse_units",
    "unit_registry",
]

#: Always defined: Vensim's dimensionless unit.
_DMNL = "Dmnl = 1 = dmnl = dimensionless_unit"
_UNIT_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")

_CONTROL = ("initial_time", "final_time", "time_step", "saveper")
_XUNITS_TAG = re.compile(r"\[\s*x\s+units\s*:\s*([^\]]+)\]", re.IGNORECASE)


@cache
def unit_registry(definitions: tuple[str, ...] = ()):
    """Return a pint registry holding ``Dmnl`` and the given definitions (and no other unit).

    Parameters
    ----------
    definitions : tuple of str, optional
        Unit definitions in pint's syntax: the model spec's ``units``, or
        `base_unit_definitions` of a model's unit names.

    Returns
    -------
    pint.UnitRegistry
        A registry with no default units, so a misspelt unit is never silently accepted.

    Raises
    ------
    CheckError
        When pint is not installed (a dependency of sdplanner: reinstall it).
    """
    try:
        import pint
    except ImportError:  # pragma: no cover - pint is in the 'check' extra
        raise CheckError(
            "unit checks need pint: reinstall sdplanner (pip install sdplanner)"
        ) from None
    registry = pint.UnitRegistry(None, autoconvert_offset_to_baseunit=False)
    registry.define(_DMNL)
    for definition in definitions:
        if definition.split("=")[0].strip().lower() != "dmnl":
            registry.define(definition)
    return registry


def base_unit_definitions(unit_texts: Iterable[str]) -> tuple[str, ...]:
    """Return Vensim's rule for undeclared units: each unit name used is a base unit.

    Parameters
    ----------
    unit_texts : iterable of str
        The units strings of a model's variables (``"person/year"``, ``"Dmnl"`` ...).

    Returns
    -------
    tuple of str
        ``"<name> = [<name>]"`` for every name but ``Dmnl``, in first-use order.
    """
    names: dict[str, None] = {}
    for text in unit_texts:
        for word in _UNIT_WORD.findall(text or ""):
            if word.lower() not in ("dmnl", "dimensionless_unit"):
                names.setdefault(word, None)
    return tuple(f"{name} = [{name}]" for name in names)


def parse_units(text: str, definitions: tuple[str, ...] = ()):
    """Parse a Vensim units string (``"yuan/(person*year)"``, ``"1/year"``, ``"Dmnl"``).

    Parameters
    ----------
    text : str
        Units as written after the first ``~`` of an equation (range already removed).
    definitions : tuple of str, optional
        The unit definitions in force (see `unit_registry`).

    Returns
    -------
    pint.Quantity
        A quantity of magnitude 1 in those units.

    Raises
    ------
    ValueError
        When the string uses a unit name that is not declared, or is not a units expression.
    """
    registry = unit_registry(tuple(definitions))
    try:
        value = registry.parse_expression(text.strip())
    except Exception as exc:  # pint raises several types for unparsable text
        raise ValueError(str(exc)) from None
    if not hasattr(value, "units"):
        value = registry.Quantity(float(value), "Dmnl")
    return value


def format_units(q) -> str:
    """Write a pint quantity's units the Vensim way, in base units.

    Parameters
    ----------
    q : pint.Quantity
        Units to write.

    Returns
    -------
    str
        For example ``"yuan/(person*year)"``, ``"1/year"``, ``"Dmnl"``; a scale factor other
        than 1 is written first (``"0.01 Dmnl"`` for percent).
    """
    base = q.to_base_units()
    num, den = [], []
    for name, power in sorted(base.unit_items()):
        term = name if abs(abs(power) - 1) < 1e-12 else f"{name}^{_num(abs(power))}"
        (num if power > 0 else den).append(term)
    text = "*".join(num) if num else ("1" if den else "Dmnl")
    if den:
        text += "/" + (den[0] if len(den) == 1 else "(" + "*".join(den) + ")")
    mag = float(base.magnitude)
    if not math.isclose(mag, 1.0, rel_tol=1e-9):
        text = f"{mag:g} {text}"
    return text


def _num(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class UnitFinding:
    """One unit inconsistency.

    Attributes
    ----------
    variable : str
        The variable (its ``.mdl`` name) whose equation holds the inconsistency.
    equation : str
        The right side of that equation, whitespace collapsed.
    context : str
        Where in the equation: ``"equation sides"``, ``"stock flow"``, ``"addition"``,
        ``"MIN arguments"``, ``"EXP argument"``, ``"lookup input"``, ``"units"`` ...
    first, second : str
        What was compared (an expression or ``"declared"``, ``"expected"``).
    first_units, second_units : str
        The two units found (Vensim notation, base units).
    """

    variable: str
    equation: str
    context: str
    first: str
    first_units: str
    second: str
    second_units: str

    def line(self) -> str:
        """Return the finding as one line: variable, where, the two units, the equation.

        Returns
        -------
        str
            For example ``mixed: addition: "a" [person] vs "b" [yuan]; equation: a + b``.
        """
        return (
            f"{self.variable}: {self.context}: {self.first} [{self.first_units}]"
            f" vs {self.second} [{self.second_units}]; equation: {self.equation}"
        )


@dataclass(frozen=True)
class UnitReport:
    """The result of a unit check.

    Attributes
    ----------
    path : pathlib.Path
        The ``.mdl`` checked.
    n_equations : int
        Equations (components) checked.
    findings : tuple of UnitFinding
        Every inconsistency, in model order; empty when the model is consistent.
    unsupported : tuple of str
        Functions whose units the checker does not know (their results were not checked).
    """

    path: Path
    n_equations: int
    findings: tuple[UnitFinding, ...]
    unsupported: tuple[str, ...] = ()


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return self.name


#: A number written in an equation: takes the units of its partner.
ANY = _Sentinel("ANY")
#: Units that cannot be known (reported elsewhere or unsupported): never compared.
UNKNOWN = _Sentinel("UNKNOWN")


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "_", name.strip().strip('"').lower())


def _is_number(node) -> bool:
    return isinstance(node, (int, float, np.integer, np.floating, np.ndarray)) and not isinstance(
        node, bool
    )


@dataclass
class _Element:
    name: str
    units: object  # pint.Quantity, UNKNOWN (unparsable or missing)
    x_units: object  # pint.Quantity or UNKNOWN: for lookups
    is_lookup: bool


class _Checker:
    """Infer units bottom-up over one model's abstract syntax; collect findings."""

    def __init__(self, elements, texts, definitions: tuple[str, ...]) -> None:
        from pysd.translators.structures import abstract_expressions as ae

        self.ae = ae
        self.extra = tuple(definitions)
        self.reg = unit_registry(self.extra)
        self.dmnl = self.reg.Quantity(1.0, "Dmnl")
        self.findings: list[UnitFinding] = []
        self.unsupported: set[str] = set()
        self.texts = texts
        self.elements: dict[str, _Element] = {}
        self.names: dict[str, str] = {}
        self._raw = elements
        for el in elements:
            self.names[_key(el.name)] = el.name
        # current element while walking
        self.variable = ""
        self.equation = ""
        self.declared = UNKNOWN
        self.time = UNKNOWN

    # ----------------------------------------------------------------- declarations
    def declare(self) -> None:
        lookup_types = (self.ae.LookupsStructure, self.ae.GetLookupsStructure)
        for el in self._raw:
            key = _key(el.name)
            units = self._declared_units(el)
            x_units = self.dmnl
            match = _XUNITS_TAG.search(el.documentation or "")
            if match:
                try:
                    x_units = parse_units(match.group(1), self.extra)
                except ValueError:
                    self._report(
                        el.name,
                        self._equation(el.name, 0),
                        "unknown unit in the x units tag",
                        "tag",
                        match.group(1).strip(),
                        "known units",
                        ", ".join(self._declared_names()),
                    )
                    x_units = UNKNOWN
            is_lookup = any(isinstance(c.ast, lookup_types) for c in el.components)
            self.elements[key] = _Element(el.name, units, x_units, is_lookup)
        step = self.elements.get("time_step") or self.elements.get("initial_time")
        self.time = step.units if step is not None else self.reg.Quantity(1.0, "year")

    def _declared_units(self, el):
        text = (el.units or "").strip()
        equation = self._equation(el.name, 0)
        if not text:
            self._report(el.name, equation, "units missing", "declared", "", "expected", "units")
            return UNKNOWN
        try:
            return parse_units(text, self.extra)
        except ValueError:
            self._report(
                el.name,
                equation,
                "unknown unit",
                "declared",
                text,
                "known units",
                ", ".join(self._declared_names()),
            )
            return UNKNOWN

    def _declared_names(self) -> list[str]:
        return ["Dmnl", *(d.split("=")[0].strip() for d in self.extra)]

    def _equation(self, name: str, index: int) -> str:
        texts = self.texts.get(_key(name), [])
        return texts[index] if index < len(texts) else ""

    # ----------------------------------------------------------------- reporting
    def _report(self, variable, equation, context, first, first_units, second, second_units):
        finding = UnitFinding(variable, equation, context, first, first_units, second, second_units)
        if finding not in self.findings:
            self.findings.append(finding)

    def _mismatch(self, context, a_text, a, b_text, b) -> None:
        self._report(
            self.variable, self.equation, context, a_text, format_units(a), b_text, format_units(b)
        )

    def _same(self, a, b) -> bool:
        ratio = (a / b).to_base_units()
        return bool(ratio.dimensionless) and math.isclose(float(ratio.magnitude), 1.0, rel_tol=1e-9)

    def _agree(self, context, a_text, a, b_text, b):
        """Return the common units of two operands, reporting a mismatch."""
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        if a is ANY:
            return b
        if b is ANY:
            return a
        if not self._same(a, b):
            self._mismatch(context, a_text, a, b_text, b)
        return a

    def _expect(self, context, text, found, expected, expected_text="expected"):
        """Report when ``found`` (concrete) differs from ``expected``."""
        if found is UNKNOWN or found is ANY or expected is UNKNOWN:
            return
        if not self._same(found, expected):
            self._mismatch(context, f'"{text}"', found, expected_text, expected)

    def _dimensionless(self, context, node) -> None:
        self._expect(context, self.text(node), self.infer(node), self.dmnl)

    # ----------------------------------------------------------------- elements
    def check(self) -> int:
        ae = self.ae
        n = 0
        for el in self._raw:
            info = self.elements[_key(el.name)]
            self.variable = el.name
            self.declared = info.units
            for index, comp in enumerate(el.components):
                n += 1
                self.equation = self._equation(el.name, index)
                ast = comp.ast
                if isinstance(ast, (ae.LookupsStructure, ae.GetLookupsStructure)):
                    continue
                if isinstance(
                    ast, (ae.DataStructure, ae.GetDataStructure, ae.GetConstantsStructure)
                ):
                    continue
                if isinstance(ast, ae.IntegStructure):
                    self._check_stock(ast)
                    continue
                found = self.infer(ast)
                self._expect_sides(found)
        return n

    def _expect_sides(self, found) -> None:
        if found is UNKNOWN or found is ANY or self.declared is UNKNOWN:
            return
        if not self._same(found, self.declared):
            self._mismatch("equation sides", "declared", self.declared, "right side", found)

    def _check_stock(self, ast) -> None:
        flow = self.infer(ast.flow)
        init = self.infer(ast.initial)
        if self.declared is UNKNOWN or self.time is UNKNOWN:
            return
        per_time = self.declared / self.time
        if flow is not UNKNOWN and flow is not ANY and not self._same(flow, per_time):
            self._mismatch(
                "stock flow",
                f'flow "{self.text(ast.flow)}"',
                flow,
                "stock units per time",
                per_time,
            )
        if init is not UNKNOWN and init is not ANY and not self._same(init, self.declared):
            self._mismatch(
                "stock initial value",
                f'initial value "{self.text(ast.initial)}"',
                init,
                "stock",
                self.declared,
            )

    # ----------------------------------------------------------------- inference
    def infer(self, node):
        ae = self.ae
        if _is_number(node):
            return ANY
        if isinstance(node, str) or node is None:
            return UNKNOWN
        if isinstance(node, ae.ReferenceStructure):
            return self._reference(node)
        if isinstance(node, ae.ArithmeticStructure):
            return self._arithmetic(node)
        if isinstance(node, ae.LogicStructure):
            return self._logic(node)
        if isinstance(node, ae.CallStructure):
            return self._call(node)
        if isinstance(node, ae.InlineLookupsStructure):
            info = self.elements.get(_key(self.variable))
            x_units = info.x_units if info is not None else self.dmnl
            self._expect(
                "lookup input",
                self.text(node.argument),
                self.infer(node.argument),
                x_units,
                "lookup x axis",
            )
            return self.declared
        if isinstance(node, ae.IntegStructure):  # INTEG inside an expression: not Vensim
            return UNKNOWN
        if isinstance(node, ae.InitialStructure):
            return self.infer(node.initial)
        if isinstance(node, (ae.DelayStructure, ae.DelayNStructure, ae.DelayFixedStructure)):
            return self._delay(node, node.delay_time, "delay time")
        if isinstance(node, (ae.SmoothStructure, ae.SmoothNStructure)):
            return self._delay(node, node.smooth_time, "smooth time")
        if isinstance(node, ae.TrendStructure):
            self.infer(node.input)
            self._expect(
                "average time",
                self.text(node.average_time),
                self.infer(node.average_time),
                self.time,
            )
            self.infer(node.initial_trend)
            return self.dmnl / self.time if self.time is not UNKNOWN else UNKNOWN
        if isinstance(node, ae.ForecastStructure):
            result = self.infer(node.input)
            self._expect(
                "average time",
                self.text(node.average_time),
                self.infer(node.average_time),
                self.time,
            )
            self._expect("horizon", self.text(node.horizon), self.infer(node.horizon), self.time)
            return result
        if isinstance(node, ae.SampleIfTrueStructure):
            self.infer(node.condition)
            result = self.infer(node.input)
            return self._agree(
                "SAMPLE IF TRUE input and initial value",
                f'"{self.text(node.input)}"',
                result,
                f'"{self.text(node.initial)}"',
                self.infer(node.initial),
            )
        if isinstance(node, ae.GameStructure):
            return self.infer(node.expression)
        if isinstance(
            node,
            (
                ae.DataStructure,
                ae.GetDataStructure,
                ae.GetConstantsStructure,
                ae.GetLookupsStructure,
            ),
        ):
            return self.declared
        self.unsupported.add(type(node).__name__)
        return UNKNOWN

    def _delay(self, node, time_node, what: str):
        result = self.infer(node.input)
        self._expect(what, self.text(time_node), self.infer(time_node), self.time)
        if hasattr(node, "order") and not _is_number(node.order):
            self._dimensionless("delay order", node.order)
        if node.initial is not node.input:
            result = self._agree(
                "input and initial value",
                f'"{self.text(node.input)}"',
                result,
                f'"{self.text(node.initial)}"',
                self.infer(node.initial),
            )
        return result

    def _reference(self, node):
        key = _key(node.reference)
        if key == "time":
            return self.time
        info = self.elements.get(key)
        if info is None:  # a subscript range used as a value, or an unknown name
            return UNKNOWN
        return info.units

    def _arithmetic(self, node):
        ops, args = list(node.operators), list(node.arguments)
        if ops == ["negative"]:
            return self.infer(args[0])
        if ops and ops[0] == "^":
            return self._power_chain(args)
        result = self.infer(args[0])
        left_text = self.text(args[0])
        for op, arg in zip(ops, args[1:], strict=False):
            value = self.infer(arg)
            if op in ("+", "-"):
                context = "addition" if op == "+" else "subtraction"
                result = self._agree(
                    context, f'"{left_text}"', result, f'"{self.text(arg)}"', value
                )
            elif op in ("*", "/"):
                result = self._product(result, value, op)
            left_text = f"{left_text} {op} {self.text(arg)}"
        return result

    def _product(self, a, b, op):
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        if a is ANY and b is ANY:
            return ANY
        a = self.dmnl if a is ANY else a
        b = self.dmnl if b is ANY else b
        return a * b if op == "*" else a / b

    def _power_chain(self, args):
        result = self.infer(args[0])
        base_text = self.text(args[0])
        for exponent in args[1:]:
            result = self._power(result, base_text, exponent)
            base_text = f"{base_text} ^ {self.text(exponent)}"
        return result

    def _power(self, base, base_text, exponent_node):
        self._dimensionless("exponent", exponent_node)
        if base is UNKNOWN:
            return UNKNOWN
        if base is ANY:
            return ANY
        if self._same(base, self.dmnl) or bool(base.to_base_units().dimensionless):
            return base
        value = self._literal(exponent_node)
        if value is None:
            self._mismatch(
                "power base (the exponent is not a number)",
                f'"{base_text}"',
                base,
                "expected",
                self.dmnl,
            )
            return UNKNOWN
        return base**value

    def _literal(self, node) -> float | None:
        if _is_number(node) and np.ndim(node) == 0:
            return float(node)
        ae = self.ae
        if isinstance(node, ae.ArithmeticStructure):
            values = [self._literal(a) for a in node.arguments]
            if any(v is None for v in values):
                return None
            if list(node.operators) == ["negative"]:
                return -values[0]
            total = values[0]
            for op, v in zip(node.operators, values[1:], strict=False):
                if op == "+":
                    total += v
                elif op == "-":
                    total -= v
                elif op == "*":
                    total *= v
                elif op == "/" and v != 0:
                    total /= v
                elif op == "^":
                    total **= v
                else:
                    return None
            return total
        return None

    def _logic(self, node):
        ops, args = list(node.operators), list(node.arguments)
        if ops == [":NOT:"] or any(op.upper() in (":AND:", ":OR:") for op in ops):
            for arg in args:
                self.infer(arg)
            return ANY
        result = self.infer(args[0])
        left_text = self.text(args[0])
        for op, arg in zip(ops, args[1:], strict=False):
            result = self._agree(
                f"comparison {op}", f'"{left_text}"', result, f'"{self.text(arg)}"', self.infer(arg)
            )
            left_text = self.text(arg)
        return ANY

    def _call(self, node):
        name = _key(node.function.reference)
        args = list(node.arguments)
        upper = name.upper().replace("_", " ")
        info = self.elements.get(name)
        if info is not None and info.is_lookup:
            if args:
                self._expect(
                    "lookup input",
                    self.text(args[0]),
                    self.infer(args[0]),
                    info.x_units,
                    f"x axis of {info.name}",
                )
            return info.units
        if name in ("min", "max", "modulo", "quantum", "vmin_xmile", "vmax_xmile"):
            return self._agree_all(f"{upper} arguments", args)
        if name in ("abs", "integer", "sum", "vmin", "vmax"):
            return self.infer(args[0]) if args else UNKNOWN
        if name in (
            "exp",
            "ln",
            "sin",
            "cos",
            "tan",
            "arcsin",
            "arccos",
            "arctan",
            "sinh",
            "cosh",
            "tanh",
        ):
            for arg in args:
                self._dimensionless(f"{upper} argument", arg)
            return self.dmnl
        if name == "log":
            for arg in args:
                self._dimensionless("LOG argument", arg)
            return self.dmnl
        if name == "sqrt":
            value = self.infer(args[0])
            return value if value is ANY or value is UNKNOWN else value**0.5
        if name == "power":
            return self._power(self.infer(args[0]), self.text(args[0]), args[1])
        if name == "prod":
            value = self.infer(args[0])
            if value is ANY or value is UNKNOWN or self._same(value, self.dmnl):
                return value
            return UNKNOWN
        if name in ("zidz", "xidz"):
            quotient = self._product(self.infer(args[0]), self.infer(args[1]), "/")
            if name == "xidz" and len(args) > 2:
                quotient = self._agree(
                    "XIDZ a/b and fallback",
                    f'"{self.text(args[0])} / {self.text(args[1])}"',
                    quotient,
                    f'"{self.text(args[2])}"',
                    self.infer(args[2]),
                )
            return quotient
        if name == "if_then_else":
            self.infer(args[0])
            return self._agree(
                "IF THEN ELSE branches",
                f'"{self.text(args[1])}"',
                self.infer(args[1]),
                f'"{self.text(args[2])}"',
                self.infer(args[2]),
            )
        if name == "active_initial":
            return self._agree_all("ACTIVE INITIAL arguments", args)
        if name == "step":
            self._expect("STEP time", self.text(args[1]), self.infer(args[1]), self.time)
            return self.infer(args[0])
        if name in ("pulse", "pulse_train"):
            for arg in args:
                self._expect(f"{upper} time", self.text(arg), self.infer(arg), self.time)
            return self.dmnl
        if name == "ramp":
            for arg in args[1:]:
                self._expect("RAMP time", self.text(arg), self.infer(arg), self.time)
            slope = self.infer(args[0])
            if slope is ANY or slope is UNKNOWN or self.time is UNKNOWN:
                return slope
            return slope * self.time
        if name in ("elmcount", "pi"):
            return ANY
        for arg in args:
            self.infer(arg)
        self.unsupported.add(upper)
        return UNKNOWN

    def _agree_all(self, context, args):
        if not args:
            return UNKNOWN
        result = self.infer(args[0])
        first = f'"{self.text(args[0])}"'
        for arg in args[1:]:
            value = self.infer(arg)
            if result is ANY and value is not ANY:
                first = f'"{self.text(arg)}"'
            result = self._agree(context, first, result, f'"{self.text(arg)}"', value)
        return result

    # ----------------------------------------------------------------- text
    def text(self, node) -> str:
        """Write a sub-expression back in Vensim notation (for messages)."""
        ae = self.ae
        if isinstance(node, np.ndarray):
            return "[" + ", ".join(f"{v:g}" for v in node.ravel()[:4]) + ", ...]"
        if _is_number(node):
            return f"{float(node):g}"
        if isinstance(node, ae.ReferenceStructure):
            key = _key(node.reference)
            name = "Time" if key == "time" else self.names.get(key, node.reference)
            if node.subscripts is not None:
                name += "[" + ",".join(node.subscripts.subscripts) + "]"
            return name
        if isinstance(node, (ae.ArithmeticStructure, ae.LogicStructure)):
            ops, args = list(node.operators), list(node.arguments)
            if ops in (["negative"], [":NOT:"]):
                prefix = "-" if ops == ["negative"] else ":NOT: "
                return prefix + self._wrapped(args[0], 4)
            level = _PRECEDENCE.get(ops[0], 0)
            parts = [self._wrapped(args[0], level)]
            for op, arg in zip(ops, args[1:], strict=False):
                parts.append(f"{op} {self._wrapped(arg, level + 0.5)}")
            return " ".join(parts)
        if isinstance(node, ae.CallStructure):
            key = _key(node.function.reference)
            fname = self.names.get(key, key.upper().replace("_", " "))
            return f"{fname}(" + ", ".join(self.text(a) for a in node.arguments) + ")"
        if isinstance(node, ae.InlineLookupsStructure):
            return f"WITH LOOKUP({self.text(node.argument)}, ...)"
        if isinstance(node, ae.IntegStructure):
            return f"INTEG({self.text(node.flow)}, {self.text(node.initial)})"
        if isinstance(node, ae.InitialStructure):
            return f"INITIAL({self.text(node.initial)})"
        return type(node).__name__.replace("Structure", "").upper()

    def _wrapped(self, node, level: float) -> str:
        ae = self.ae
        text = self.text(node)
        if isinstance(node, (ae.ArithmeticStructure, ae.LogicStructure)):
            ops = list(node.operators)
            inner = 4 if ops in (["negative"], [":NOT:"]) else _PRECEDENCE.get(ops[0], 0)
            if inner < level:
                return f"({text})"
        return text


_PRECEDENCE = {
    ":OR:": -2,
    ":AND:": -1,
    "=": 0,
    "<>": 0,
    "<": 0,
    "<=": 0,
    ">": 0,
    ">=": 0,
    "+": 1,
    "-": 1,
    "*": 2,
    "/": 2,
    "^": 3,
}


def _parse_model(path: Path):
    """Return (abstract elements of the main section, equation texts by key)."""
    from pysd.translators.vensim.vensim_file import VensimFile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vensim = VensimFile(path)
            vensim.parse()
            abstract = vensim.get_abstract_model()
    except Exception as exc:  # parsimonious and PySD raise many types for bad input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: PySD cannot parse the model: {first}") from None
    texts: dict[str, list[str]] = {}
    for component in vensim.sections[0].components:
        equation = " ".join(str(component.expression).split())
        texts.setdefault(_key(component.name), []).append(equation)
    return abstract.sections[0].elements, texts


def check_units(path: str | os.PathLike, definitions: Iterable[str] | None = None) -> UnitReport:
    """Check the dimensional consistency of every equation of a Vensim model.

    Parameters
    ----------
    path : path-like
        The ``.mdl`` file.
    definitions : iterable of str, optional
        The model's unit definitions (pint syntax; its spec's ``units``). None or empty:
        every unit name the model uses is a base unit of its own (Vensim's rule).

    Returns
    -------
    UnitReport
        The number of equations checked and every inconsistency found (each with the variable,
        its equation and the two units found).

    Raises
    ------
    ModelError
        When the file is missing, not a ``.mdl`` or not parsable by PySD.
    CheckError
        When pint is not installed.
    """
    src = Path(path)
    if not src.is_file():
        raise ModelError(f"{src}: model file not found")
    if src.suffix.lower() != ".mdl":
        raise ModelError(f"{src}: expected a Vensim .mdl file, found suffix {src.suffix!r}")
    from sdplanner.model import file_sha256

    report = _check_units_cached(src.resolve(), file_sha256(src), tuple(definitions or ()))
    return UnitReport(src, report.n_equations, report.findings, report.unsupported)


@cache
def _check_units_cached(path: Path, digest: str, extra: tuple[str, ...]) -> UnitReport:
    """Check one version of a file (keyed by its SHA-256), once per process."""
    del digest  # part of the cache key only
    elements, texts = _parse_model(path)
    if not extra:
        extra = base_unit_definitions(_XUNITS_TAG.sub("", el.units or "") for el in elements)
    checker = _Checker(elements, texts, extra)
    checker.declare()
    n = checker.check()
    return UnitReport(
        path=path,
        n_equations=n,
        findings=tuple(checker.findings),
        unsupported=tuple(sorted(checker.unsupported)),
    )
