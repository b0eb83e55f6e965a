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
    RULES,
    Expectation,
)
from sdplanner.engine.base import ParamValue, TimeSeries
from sdplanner.errors import did_you_mean, quote, show_path
from sdplanner.safe_yaml import load_yaml
from sdplanner.schema import validate
from sdplanner.schema.checks import ChecksFile

__all__ = ["RealityCheck", "checks_path_for", "load_checks"]

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


_WORDS = {
    "rule": f"one of the {len(RULES)} rules of docs/checks.md",
    "bounds": "[lower, upper] (numbers, or null for an open side)",
    "variable": "a variable of the model",
    "other": "a variable of the model",
    "years": "a year or a list [first, last]",
    "regions": "'all', a region or a list of regions",
    "expect": "a non-empty list of expectations",
    "checks": "a non-empty list of checks",
    "parameters": "a mapping of model constants to values",
}


def _words(path: tuple) -> str | None:
    """Return what a checks file expects at ``path``, in words."""
    if not path:
        return "a mapping with the key 'checks'"
    last = path[-1]
    if isinstance(last, str) and len(path) >= 2 and path[-2] == "parameters":
        return (
            "a number, a mapping region -> number, a mapping year -> number or"
            " {from_year: YEAR, value: VALUE}"
        )
    return _WORDS.get(last) if isinstance(last, str) else None


class _Loader:
    """Resolve a schema-valid checks file against a model."""

    def __init__(self, path: Path, model) -> None:
        self.path = path
        self.shown = show_path(path)
        self.model = model
        self.regions = tuple(model.regions)

    def fail(self, where: str, expected: str, found: object, hint: str = "") -> None:
        raise CheckError(f"{self.shown}: {where}: expected {expected}, found {quote(found)}{hint}")

    def load(self, data: object) -> list[RealityCheck]:
        raw = validate(ChecksFile, data, self.shown, CheckError, _words)
        out: list[RealityCheck] = []
        names: set[str] = set()
        for i, entry in enumerate(raw.checks):
            where = f"checks[{i}]"
            name = entry.name.strip()
            if not name:
                self.fail(f"{where}.name", "a non-empty name", entry.name)
            if name in names:
                self.fail(f"{where}.name", "a name used once", name)
            names.add(name)
            parameters = self.condition(entry.condition, data["checks"][i], f"{where}.condition")
            expectations = tuple(
                self.expectation(e, f"{where}.expect[{j}]") for j, e in enumerate(entry.expect)
            )
            out.append(
                RealityCheck(name, " ".join(entry.description.split()), parameters, expectations)
            )
        return out

    # ------------------------------------------------------------------ conditions
    def condition(self, cond, raw: dict, where: str) -> dict[str, ParamValue]:
        if cond is None:
            return {}
        out: dict[str, ParamValue] = {}
        for name, value in raw["condition"]["parameters"].items():
            py = self.constant(name, f"{where}.parameters")
            out[py] = self.parameter_value(py, value, f"{where}.parameters.{name}")
        return out

    def constant(self, name: str, where: str) -> str:
        py = self.model.resolve(name)
        if py is None or py not in self.model.constants:
            self.fail(
                f"{where}.{quote(name, bare=True)}",
                "a constant of the model",
                name,
                did_you_mean(name, list(self.model.constants)),
            )
        return py

    def parameter_value(self, py: str, value: object, where: str) -> ParamValue:
        if isinstance(value, dict) and ("from_year" in value or "value" in value):
            return self.step(py, value, where)
        if isinstance(value, dict) and all(not isinstance(k, str) for k in value):
            return self.series(py, value, where)
        return self.plain_value(py, value, where)

    def plain_value(self, py: str, value: object, where: str) -> float | np.ndarray:
        if not isinstance(value, dict):
            return float(value)
        default = self.model.constants[py]
        if np.ndim(default) != 1:
            self.fail(where, f"a number ({py} has no Region subscript)", value)
        arr = np.array(default, dtype=float, copy=True)
        for region, v in value.items():
            arr[self.region_index(region, where)] = float(v)
        return arr

    def region_index(self, name: object, where: str) -> int:
        if name not in self.regions:
            self.fail(
                where,
                f"one of the {len(self.regions)} regions of the model",
                name,
                did_you_mean(name, self.regions),
            )
        return self.regions.index(name)

    def series(self, py: str, value: dict, where: str) -> TimeSeries:
        years = sorted(float(k) for k in value)
        if len(set(years)) != len(years):
            self.fail(where, "each year once", sorted(value, key=float))
        values = [float(next(v for k, v in value.items() if float(k) == y)) for y in years]
        arr = np.asarray(values, dtype=float)
        if np.ndim(self.model.constants[py]) == 1:
            arr = np.repeat(arr[:, None], len(self.regions), axis=1)
        return TimeSeries(np.asarray(years, dtype=float), arr)

    def step(self, py: str, value: dict, where: str) -> TimeSeries:
        year = float(value["from_year"])
        t0, t1 = self.model.initial_time, self.model.final_time
        if not t0 < year <= t1:
            self.fail(f"{where}.from_year", f"a year after {t0:g} and not after {t1:g}", year)
        after = self.plain_value(py, value["value"], f"{where}.value")
        years = [t0, year - _STEP_WIDTH, year] + ([t1] if t1 > year else [])
        before = np.asarray(self.model.constants[py], dtype=float)
        after_arr = np.broadcast_to(np.asarray(after, dtype=float), before.shape)
        values = np.stack([before, before] + [after_arr] * (len(years) - 2))
        return TimeSeries(np.asarray(years, dtype=float), values)

    # ------------------------------------------------------------------ expectations
    def expectation(self, entry, where: str) -> Expectation:
        variable = self.variable(entry.variable, f"{where}.variable")
        subscripted = self.model.variables[variable].subscripted
        regions = self.region_list(entry.regions, f"{where}.regions", subscripted, variable)
        years = self.year_range(entry.years, f"{where}.years")
        kwargs: dict[str, object] = {}
        given = entry.model_fields_set
        if entry.rule == "between":
            lo, hi = entry.bounds
            lo, hi = -math.inf if lo is None else lo, math.inf if hi is None else hi
            if lo > hi:
                self.fail(f"{where}.bounds", "lower <= upper", entry.bounds)
            kwargs["bounds"] = (lo, hi)
        if entry.rule == "equals":
            kwargs["value"] = entry.value
        if entry.rule in ("at_most", "at_least"):
            other = self.variable(entry.other, f"{where}.other")
            if self.model.variables[other].subscripted != subscripted:
                self.fail(
                    f"{where}.other", f"a variable with the same subscripts as {variable}", other
                )
            kwargs["other"] = other
        kwargs.update({k: getattr(entry, k) for k in ("rtol", "atol") if k in given})
        return Expectation(
            variable,
            entry.rule,
            regions,
            years,
            where=f"{self.path.name}: {where}",
            region_names=self.regions,
            **kwargs,
        )

    def variable(self, name: str, where: str) -> str:
        py = self.model.resolve(name)
        if py is None:
            self.fail(
                where,
                "a variable of the model",
                name,
                did_you_mean(name, list(self.model.variables)),
            )
        return py

    def region_list(
        self, value: str | list[str], where: str, subscripted: bool, variable: str
    ) -> tuple[int, ...] | None:
        if not subscripted:
            if value != "all":
                self.fail(where, f"'all' or nothing ({variable} has no Region subscript)", value)
            return None
        if value == "all":
            return tuple(range(len(self.regions)))
        names = [value] if isinstance(value, str) else value
        return tuple(self.region_index(name, where) for name in names)

    def year_range(self, value: float | list[float] | None, where: str) -> tuple[float, float]:
        t0, t1 = self.model.initial_time, self.model.final_time
        if value is None:
            return (t0, t1)
        lo, hi = (value, value) if not isinstance(value, list) else value
        if not t0 <= lo <= hi <= t1:
            self.fail(where, f"years with {t0:g} <= first <= last <= {t1:g}", value)
        return (lo, hi)


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
