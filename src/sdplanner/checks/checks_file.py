"""The reality-check file ``MODEL.checks.yaml``: reading and validating it against a model.

Format in ``docs/checks.md``. Nothing is evaluated as code: a condition only sets constants,
and an expectation is one of the rules of `sdplanner.checks.rules.RULES` applied to one
output variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdplanner.checks.errors import CheckError
from sdplanner.checks.rules import (
    BASELINE_RULES,
    COMMON_KEYS,
    RULES,
    Expectation,
)
from sdplanner.engine.base import ParamValue, TimeSeries
from sdplanner.errors import did_you_mean, quote, show_path
from sdplanner.safe_yaml import load_yaml

__all__ = ["RealityCheck", "checks_path_for", "load_checks"]

_CHECK_KEYS = ("name", "description", "condition", "expect")
#: Width (year) of the jump of a step condition ``{from_year: Y, value: V}``.
_STEP_WIDTH = 1e-6


@dataclass(frozen=True)
class RealityCheck:
    """A named condition and the expectations the model must meet under it.

    Attributes
    ----------
    name : str
        Unique name of the check.
    description : str
        What the check states, in words.
    parameters : dict
        ``py_name -> value`` overrides of model constants (the condition); empty for a check
        of the baseline. Values are floats, ``(n_regions,)`` arrays or `TimeSeries`, in the
        constants' units.
    expectations : tuple of Expectation
        What must hold under the condition.
    """

    name: str
    description: str
    parameters: Mapping[str, ParamValue]
    expectations: tuple[Expectation, ...]

    @property
    def needs_baseline(self) -> bool:
        """True when an expectation compares with the baseline run."""
        return any(e.rule in BASELINE_RULES for e in self.expectations)


def checks_path_for(model_path: str | os.PathLike) -> Path:
    """Return the reality-check file that belongs to a model: ``MODEL.checks.yaml`` beside it.

    Parameters
    ----------
    model_path : path-like
        The ``.mdl`` file.

    Returns
    -------
    pathlib.Path
        ``models/sdplanner.checks.yaml`` for ``models/sdplanner.mdl`` (it may not exist).
    """
    path = Path(model_path)
    return path.with_name(path.stem + ".checks.yaml")


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(float(x))


class _Loader:
    """Validate a parsed checks file against a model."""

    def __init__(self, path: Path, model) -> None:
        self.path = path
        self.shown = show_path(path)
        self.model = model
        self.regions = tuple(model.regions)

    def fail(self, where: str, expected: str, found: object, hint: str = "") -> None:
        shown = found if isinstance(found, str) and found.startswith("<") else quote(found)
        raise CheckError(f"{self.shown}: {where}: expected {expected}, found {shown}{hint}")

    # ------------------------------------------------------------------ structure
    def load(self, data: object) -> list[RealityCheck]:
        if not isinstance(data, dict):
            self.fail("top level", "a mapping with the key 'checks'", _kind(data))
        unknown = [k for k in data if k != "checks"]
        if unknown:
            self.fail(
                f"key {quote(unknown[0])}",
                "only the key 'checks' at the top level",
                unknown[0],
                did_you_mean(unknown[0], ["checks"]),
            )
        checks = data.get("checks")
        if not isinstance(checks, list) or not checks:
            self.fail("checks", "a non-empty list of checks", _kind(checks))
        out: list[RealityCheck] = []
        names: set[str] = set()
        for i, item in enumerate(checks):
            check = self.check(item, f"checks[{i}]")
            if check.name in names:
                self.fail(f"checks[{i}].name", "a name used once", check.name)
            names.add(check.name)
            out.append(check)
        return out

    def check(self, item: object, where: str) -> RealityCheck:
        if not isinstance(item, dict):
            self.fail(where, "a mapping with name, description, condition, expect", _kind(item))
        for key in item:
            if key not in _CHECK_KEYS:
                self.fail(
                    f"{where}.{quote(key, bare=True)}",
                    f"one of the keys {list(_CHECK_KEYS)}",
                    key,
                    did_you_mean(key, _CHECK_KEYS),
                )
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            self.fail(f"{where}.name", "a non-empty string", _kind(name))
        description = item.get("description", "")
        if not isinstance(description, str):
            self.fail(f"{where}.description", "a string", _kind(description))
        parameters = self.condition(item.get("condition"), f"{where}.condition")
        expect = item.get("expect")
        if not isinstance(expect, list) or not expect:
            self.fail(f"{where}.expect", "a non-empty list of expectations", _kind(expect))
        expectations = tuple(
            self.expectation(e, f"{where}.expect[{j}]") for j, e in enumerate(expect)
        )
        return RealityCheck(name.strip(), " ".join(description.split()), parameters, expectations)

    # ------------------------------------------------------------------ conditions
    def condition(self, cond: object, where: str) -> dict[str, ParamValue]:
        if cond is None:
            return {}
        if not isinstance(cond, dict):
            self.fail(where, "a mapping with the key 'parameters'", _kind(cond))
        for key in cond:
            if key != "parameters":
                self.fail(
                    f"{where}.{quote(key, bare=True)}",
                    "only the key 'parameters'",
                    key,
                    did_you_mean(key, ["parameters"]),
                )
        params = cond.get("parameters")
        if not isinstance(params, dict) or not params:
            self.fail(
                f"{where}.parameters", "a mapping of model constants to values", _kind(params)
            )
        out: dict[str, ParamValue] = {}
        for name, value in params.items():
            py = self.constant(name, f"{where}.parameters")
            out[py] = self.parameter_value(py, value, f"{where}.parameters.{name}")
        return out

    def constant(self, name: object, where: str) -> str:
        constants = list(self.model.constants)
        py = self.model.resolve(name) if isinstance(name, str) else None
        if py is None or py not in self.model.constants:
            self.fail(
                f"{where}.{quote(name, bare=True)}",
                "a constant of the model",
                name,
                did_you_mean(name, constants),
            )
        return py

    def parameter_value(self, py: str, value: object, where: str) -> ParamValue:
        default = self.model.constants[py]
        regional = np.ndim(default) == 1
        if isinstance(value, dict) and set(value) <= {"from_year", "value"} and value:
            return self.step(py, value, where)
        if isinstance(value, dict) and value and all(_is_number(k) for k in value):
            return self.series(py, value, where)
        return self.plain_value(py, value, where, regional, default)

    def plain_value(self, py, value, where, regional, default) -> float | np.ndarray:
        if _is_number(value):
            return float(value)
        if isinstance(value, dict) and value:
            if not regional:
                self.fail(where, f"a number ({py} has no Region subscript)", _kind(value))
            arr = np.array(default, dtype=float, copy=True)
            for region, v in value.items():
                if region not in self.regions:
                    self.fail(
                        f"{where}",
                        f"one of the {len(self.regions)} regions of the model",
                        region,
                        did_you_mean(region, self.regions),
                    )
                if not _is_number(v):
                    self.fail(f"{where}.{quote(region, bare=True)}", "a number", _kind(v))
                arr[self.regions.index(region)] = float(v)
            return arr
        self.fail(
            where,
            "a number, a mapping region -> number, a mapping year -> number or"
            " {from_year: YEAR, value: VALUE}",
            _kind(value),
        )
        raise AssertionError  # pragma: no cover - fail() raises

    def series(self, py: str, value: dict, where: str) -> TimeSeries:
        years = sorted(float(k) for k in value)
        if len(set(years)) != len(years):
            self.fail(where, "each year once", sorted(value, key=float))
        values = []
        for year in years:
            key = next(k for k in value if float(k) == year)
            v = value[key]
            if not _is_number(v):
                self.fail(f"{where}.{quote(key, bare=True)}", "a number", _kind(v))
            values.append(float(v))
        arr = np.asarray(values, dtype=float)
        if np.ndim(self.model.constants[py]) == 1:
            arr = np.repeat(arr[:, None], len(self.regions), axis=1)
        return TimeSeries(np.asarray(years, dtype=float), arr)

    def step(self, py: str, value: dict, where: str) -> TimeSeries:
        for key in ("from_year", "value"):
            if key not in value:
                self.fail(
                    where,
                    f"the key {quote(key)} in a step {{from_year: YEAR, value: VALUE}}",
                    "<missing>",
                )
        year = value["from_year"]
        t0, t1 = self.model.initial_time, self.model.final_time
        if not _is_number(year) or not t0 < float(year) <= t1:
            self.fail(f"{where}.from_year", f"a year after {t0:g} and not after {t1:g}", year)
        default = self.model.constants[py]
        regional = np.ndim(default) == 1
        after = self.plain_value(py, value["value"], f"{where}.value", regional, default)
        y = float(year)
        years = [t0, y - _STEP_WIDTH, y] + ([t1] if t1 > y else [])
        before = np.asarray(default, dtype=float)
        after_arr = np.broadcast_to(np.asarray(after, dtype=float), before.shape)
        values = np.stack([before, before] + [after_arr] * (len(years) - 2))
        return TimeSeries(np.asarray(years, dtype=float), values)

    # ------------------------------------------------------------------ expectations
    def expectation(self, item: object, where: str) -> Expectation:
        if not isinstance(item, dict):
            self.fail(where, "a mapping with variable and rule", _kind(item))
        rule = item.get("rule")
        if not isinstance(rule, str) or rule not in RULES:
            self.fail(
                f"{where}.rule",
                f"one of the {len(RULES)} rules of docs/checks.md",
                rule if rule is not None else "<missing>",
                did_you_mean(rule, list(RULES)),
            )
        allowed = COMMON_KEYS + RULES[rule]
        for key in item:
            if key not in allowed:
                every = {k for keys in RULES.values() for k in keys} | set(COMMON_KEYS)
                if key in every:
                    self.fail(
                        f"{where}.{quote(key, bare=True)}",
                        f"only the keys {list(allowed)} for rule {quote(rule)}",
                        key,
                    )
                self.fail(
                    f"{where}.{quote(key, bare=True)}",
                    f"one of the keys {list(allowed)}",
                    key,
                    did_you_mean(key, list(allowed)),
                )
        variable = self.variable(item.get("variable"), f"{where}.variable")
        subscripted = self.model.variables[variable].subscripted
        regions = self.region_list(
            item.get("regions", "all"), f"{where}.regions", subscripted, variable
        )
        years = self.year_range(item.get("years"), f"{where}.years")
        kwargs: dict[str, object] = {}
        if rule == "between":
            kwargs["bounds"] = self.bounds(item.get("bounds"), f"{where}.bounds")
        if rule == "equals":
            v = item.get("value")
            if not _is_number(v):
                self.fail(f"{where}.value", "a number", v if v is not None else "<missing>")
            kwargs["value"] = float(v)
        if rule in ("at_most", "at_least"):
            other = self.variable(item.get("other"), f"{where}.other")
            if self.model.variables[other].subscripted != subscripted:
                self.fail(
                    f"{where}.other", f"a variable with the same subscripts as {variable}", other
                )
            kwargs["other"] = other
        for key in ("rtol", "atol"):
            if key in item:
                tol = item[key]
                if not _is_number(tol) or float(tol) < 0:
                    self.fail(f"{where}.{quote(key, bare=True)}", "a non-negative number", tol)
                kwargs[key] = float(tol)
        return Expectation(
            variable,
            rule,
            regions,
            years,
            where=f"{self.path.name}: {where}",
            region_names=self.regions,
            **kwargs,
        )

    def variable(self, name: object, where: str) -> str:
        if name is None:
            self.fail(where, "a variable of the model", "<missing>")
        py = self.model.resolve(name) if isinstance(name, str) else None
        if py is None:
            self.fail(
                where,
                "a variable of the model",
                name,
                did_you_mean(name, list(self.model.variables)),
            )
        return py

    def region_list(
        self, value: object, where: str, subscripted: bool, variable: str
    ) -> tuple[int, ...] | None:
        if not subscripted:
            if value != "all":
                self.fail(where, f"'all' or nothing ({variable} has no Region subscript)", value)
            return None
        if value == "all":
            return tuple(range(len(self.regions)))
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            self.fail(where, "'all', a region or a list of regions", _kind(value))
        out = []
        for name in names:
            if name not in self.regions:
                self.fail(
                    where,
                    f"one of the {len(self.regions)} regions of the model",
                    name,
                    did_you_mean(name, self.regions),
                )
            out.append(self.regions.index(name))
        return tuple(out)

    def year_range(self, value: object, where: str) -> tuple[float, float]:
        t0, t1 = self.model.initial_time, self.model.final_time
        if value is None:
            return (t0, t1)
        if _is_number(value):
            lo = hi = float(value)
        elif isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value):
            lo, hi = float(value[0]), float(value[1])
        else:
            self.fail(where, "a year or a list [first, last]", value)
        if not t0 <= lo <= hi <= t1:
            self.fail(where, f"years with {t0:g} <= first <= last <= {t1:g}", value)
        return (lo, hi)

    def bounds(self, value: object, where: str) -> tuple[float, float]:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(v is None or _is_number(v) for v in value)
        ):
            self.fail(
                where,
                "[lower, upper] (numbers, or null for an open side)",
                value if value is not None else "<missing>",
            )
        lo = -math.inf if value[0] is None else float(value[0])
        hi = math.inf if value[1] is None else float(value[1])
        if lo > hi:
            self.fail(where, "lower <= upper", value)
        return (lo, hi)


def _kind(value: object) -> object:
    """Return a value for an error message: itself, or a marker for a missing or long one."""
    if value is None:
        return "<missing>"
    if isinstance(value, dict):
        return "<a mapping>"
    if isinstance(value, list):
        return "<a list>"
    return value


def load_checks(path: str | os.PathLike, model) -> list[RealityCheck]:
    """Read and validate a reality-check file against a model.

    Parameters
    ----------
    path : path-like
        The YAML file (format in ``docs/checks.md``).
    model : sdplanner.model.ModelInfo
        The model (`sdplanner.model.load_model`): variables, constants and regions.

    Returns
    -------
    list of RealityCheck
        The checks in file order, with parameter values in the engines' form.

    Raises
    ------
    CheckError
        When the file cannot be read, is not valid YAML (with line and column) or does not
        follow the format; the one-line message names the file, the key path (for example
        ``checks[2].expect[0].rule``), what was expected and what was found.
    """
    src = Path(path)
    data = load_yaml(src, kind="reality-check", error=CheckError)
    return _Loader(src, model).load(data)
