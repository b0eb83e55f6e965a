"""Reality checks: behaviour a model must show under a test input (``MODEL.checks.yaml``).

Vensim's Reality Check and SDEverywhere's checks state, next to the model, what it must do
under a condition ("with no infrastructure investment from 2015, infrastructure capital
declines every year"). This module reads such statements from a YAML file (format in
``docs/checks.md``), validates them against the model, runs each condition through a
simulation engine and evaluates the expectations on the outputs.

Nothing is evaluated as code: a condition only sets constants, and an expectation is one of
the rules of `RULES` applied to one output variable.
"""

from __future__ import annotations

import math
import os
import time as _time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdplanner.checks.errors import CheckError
from sdplanner.engine.base import Engine, ParamValue, SimulationOutput, TimeSeries
from sdplanner.errors import SdplannerError, did_you_mean, quote, show_path
from sdplanner.safe_yaml import load_yaml

__all__ = [
    "RULES",
    "CheckResult",
    "Expectation",
    "ExpectationResult",
    "RealityCheck",
    "checks_path_for",
    "evaluate",
    "load_checks",
    "run_checks",
    "select_engine",
]

#: Every rule an expectation can state, with the keys it takes besides the common ones.
RULES: dict[str, tuple[str, ...]] = {
    "between": ("bounds",),
    "nonnegative": (),
    "equals": ("value", "rtol", "atol"),
    "constant": ("rtol", "atol"),
    "increasing": (),
    "decreasing": (),
    "nondecreasing": (),
    "nonincreasing": (),
    "at_most": ("other", "rtol", "atol"),
    "at_least": ("other", "rtol", "atol"),
    "greater_than_baseline": (),
    "less_than_baseline": (),
    "equals_baseline": ("rtol", "atol"),
}
_COMMON_KEYS = ("variable", "regions", "years", "rule")
_CHECK_KEYS = ("name", "description", "condition", "expect")
_BASELINE_RULES = ("greater_than_baseline", "less_than_baseline", "equals_baseline")
#: Default tolerances of the rules that compare for equality: relative and absolute.
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
#: Width (year) of the jump of a step condition ``{from_year: Y, value: V}``.
_STEP_WIDTH = 1e-6


@dataclass(frozen=True)
class Expectation:
    """One statement about one output variable.

    Attributes
    ----------
    variable : str
        PySD name of the output variable.
    rule : str
        One of `RULES`.
    regions : tuple of int or None
        Indices (model element order) of the regions checked; None for a variable without
        the ``Region`` subscript.
    years : tuple of float
        First and last year checked (inclusive, year).
    bounds : tuple of float or None
        ``(lower, upper)`` of ``between`` (variable's units; ``-inf``/``inf`` when open).
    value : float or None
        Target of ``equals`` (variable's units).
    other : str or None
        PySD name of the variable ``at_most`` and ``at_least`` compare with (same units).
    rtol, atol : float
        Relative and absolute (variable's units) tolerances of the equality and relational
        rules.
    where : str
        File and key path of the expectation, for messages.
    region_names : tuple of str
        Display names of the regions of the model, in element order, for messages.
    """

    variable: str
    rule: str
    regions: tuple[int, ...] | None
    years: tuple[float, float]
    bounds: tuple[float, float] | None = None
    value: float | None = None
    other: str | None = None
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    where: str = ""
    region_names: tuple[str, ...] = ()


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
        return any(e.rule in _BASELINE_RULES for e in self.expectations)


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation.

    Attributes
    ----------
    expectation : Expectation
        What was checked.
    passed : bool
        True when it holds at every region and year checked.
    message : str
        On failure, one line naming the variable, region and year of the first failure
        (earliest year, then model region order), what was expected and what was found, and
        how many more region-years fail; empty when passed.
    n_failures : int
        Region-years where it fails.
    """

    expectation: Expectation
    passed: bool
    message: str = ""
    n_failures: int = 0


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one reality check.

    Attributes
    ----------
    check : RealityCheck
        The check.
    results : tuple of ExpectationResult
        One per expectation, in file order.
    error : str
        When the simulation itself failed, its one-line error; empty otherwise.
    seconds : float
        Wall time of the check's run (s); 0 when it reused the baseline run.
    """

    check: RealityCheck
    results: tuple[ExpectationResult, ...] = ()
    error: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when the run succeeded and every expectation holds."""
        return not self.error and all(r.passed for r in self.results)

    def lines(self) -> list[str]:
        """Return the report lines: one PASS line, or one FAIL line per failing expectation.

        Returns
        -------
        list of str
            ``"PASS name: description"`` or ``"FAIL name: variable, region, year: ..."``.
        """
        if self.passed:
            return [f"PASS {self.check.name}: {self.check.description}"]
        if self.error:
            return [f"FAIL {self.check.name}: the run failed: {self.error}"]
        return [f"FAIL {self.check.name}: {r.message}" for r in self.results if not r.passed]


# --------------------------------------------------------------------------- loading


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
        allowed = _COMMON_KEYS + RULES[rule]
        for key in item:
            if key not in allowed:
                every = {k for keys in RULES.values() for k in keys} | set(_COMMON_KEYS)
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


# --------------------------------------------------------------------------- engines


def select_engine(name: str | None, model_path: str | os.PathLike) -> tuple[Engine, str]:
    """Return the engine to run the checks with, and a note on the choice.

    Parameters
    ----------
    name : {"auto", "batch", "pysd"} or None
        ``"auto"`` (or None) takes the fast batch engine when it is available for the model
        and PySD otherwise.
    model_path : path-like
        The ``.mdl``.

    Returns
    -------
    engine : Engine
        An engine with ``run(params, variables=...)``.
    note : str
        Why this engine (empty when it was asked for by name).

    Raises
    ------
    EngineError
        When an engine asked for by name is unknown or unavailable.
    """
    from sdplanner.engine import get_engine
    from sdplanner.errors import EngineError

    if name not in (None, "auto"):
        try:
            return get_engine(name, model_path), ""
        except ImportError as exc:
            raise EngineError(f"--engine {name}: the engine is not available ({exc})") from None
    try:
        return get_engine("batch", model_path), ""
    except (ImportError, NotImplementedError, SdplannerError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return get_engine("pysd", model_path), f"batch engine unavailable ({first})"


# --------------------------------------------------------------------------- running


def _run(engine: Engine, params: Mapping[str, ParamValue], variables: list[str]):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # A test input may drive a model to 0/0 or overflow: the NaN or inf is the finding,
        # reported by the rules; the floating-point warnings on the way are not.
        warnings.simplefilter("ignore", RuntimeWarning)
        return engine.run(dict(params), variables=variables)


def run_checks(
    checks: Sequence[RealityCheck],
    engine: Engine,
    progress: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run every check's condition through an engine and evaluate its expectations.

    The baseline (no parameter changed) is run once, when a check has no condition or
    compares with the baseline.

    Parameters
    ----------
    checks : sequence of RealityCheck
        From `load_checks`.
    engine : Engine
        The engine (`select_engine`).
    progress : callable, optional
        Called with each `CheckResult` as soon as it is known (to print as it goes).

    Returns
    -------
    list of CheckResult
        One per check, in order.

    Raises
    ------
    SdplannerError
        When the engine rejects a request (unknown variable or parameter shape).
    """
    variables: list[str] = []
    for check in checks:
        for e in check.expectations:
            for name in (e.variable, e.other):
                if name is not None and name not in variables:
                    variables.append(name)
    baseline: SimulationOutput | None = None
    baseline_error = ""
    if any(c.needs_baseline or not c.parameters for c in checks):
        try:
            baseline = _run(engine, {}, variables)
        except SdplannerError:
            raise
        except Exception as exc:  # a run that crashes is a failed check, not a crash of ours
            baseline_error = f"baseline: {_one_line(exc)}"
    results = []
    runs: dict[tuple, SimulationOutput | str] = {}
    for check in checks:
        start = _time.perf_counter()
        result = _run_one(check, engine, variables, baseline, baseline_error, runs)
        result = CheckResult(
            result.check,
            result.results,
            result.error,
            _time.perf_counter() - start if check.parameters else 0.0,
        )
        if progress is not None:
            progress(result)
        results.append(result)
    return results


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _freeze(params: Mapping[str, ParamValue]) -> tuple:
    items = []
    for name, value in sorted(params.items()):
        if isinstance(value, TimeSeries):
            frozen = ("series", value.years.tobytes(), np.asarray(value.values).tobytes())
        else:
            frozen = ("value", np.asarray(value, dtype=float).tobytes(), np.shape(value))
        items.append((name, frozen))
    return tuple(items)


def _run_one(check, engine, variables, baseline, baseline_error, runs) -> CheckResult:
    if check.needs_baseline or not check.parameters:
        if baseline is None:
            return CheckResult(check, error=baseline_error)
    if check.parameters:
        key = _freeze(check.parameters)
        if key not in runs:  # checks with the same condition share one run
            try:
                runs[key] = _run(engine, check.parameters, variables)
            except SdplannerError:
                raise
            except Exception as exc:  # a run that crashes is a failed check
                runs[key] = _one_line(exc)
        output = runs[key]
        if isinstance(output, str):
            return CheckResult(check, error=output)
    else:
        output = baseline
    results = tuple(evaluate(e, output, baseline) for e in check.expectations)
    return CheckResult(check, results)


# --------------------------------------------------------------------------- rules


@dataclass
class _Frame:
    """Values of one expectation: rows are saved years, columns regions."""

    years: np.ndarray
    values: np.ndarray
    labels: list[str] = field(default_factory=list)


def _select(expectation: Expectation, output: SimulationOutput, name: str) -> _Frame:
    times = np.asarray(output.times, dtype=float)
    lo, hi = expectation.years
    mask = (times >= lo - 1e-9) & (times <= hi + 1e-9)
    values = np.asarray(output.values[name], dtype=float)[mask]
    if expectation.regions is None:
        return _Frame(times[mask], values.reshape(-1, 1), [""])
    cols = list(expectation.regions)
    names = expectation.region_names
    return _Frame(
        times[mask], values[:, cols], [names[c] if c < len(names) else str(c) for c in cols]
    )


def _g(x: float) -> str:
    return f"{x:.6g}"


def evaluate(
    expectation: Expectation,
    output: SimulationOutput,
    baseline: SimulationOutput | None = None,
) -> ExpectationResult:
    """Evaluate one expectation on a run.

    Parameters
    ----------
    expectation : Expectation
        What must hold.
    output : SimulationOutput
        The run under the check's condition (it must hold the variable, and ``other``).
    baseline : SimulationOutput, optional
        The run without the condition; required by the ``*_baseline`` rules.

    Returns
    -------
    ExpectationResult
        Passed, or the first failure (variable, region, year, expected, found) and the number
        of failing region-years. A NaN fails every rule.
    """
    e = expectation
    frame = _select(e, output, e.variable)
    v = frame.values
    if v.shape[0] == 0:
        return ExpectationResult(e, False, f"{e.variable}: no saved year in {e.years}", 1)
    ok, expected = _RULE_FUNCTIONS[_family(e.rule)](e, v, frame, output, baseline)
    ok = np.asarray(ok, dtype=bool) & np.isfinite(v)
    bad = np.argwhere(~ok)
    if bad.size == 0:
        return ExpectationResult(e, True)
    i, j = (int(x) for x in bad[0])
    region = f", {frame.labels[j]}" if frame.labels[j] else ""
    more = f" (and {len(bad) - 1} more region-years)" if len(bad) > 1 else ""
    message = (
        f"{e.variable}{region}, {frame.years[i]:g}: expected {expected(i, j)},"
        f" found {_g(v[i, j])}{more}"
    )
    return ExpectationResult(e, False, message, len(bad))


_Describe = Callable[[int, int], str]
_MONOTONIC = {
    "increasing": (np.greater, "above"),
    "decreasing": (np.less, "below"),
    "nondecreasing": (np.greater_equal, "at least"),
    "nonincreasing": (np.less_equal, "at most"),
}


def _family(rule: str) -> str:
    if rule in _MONOTONIC:
        return "monotonic"
    if rule in ("at_most", "at_least"):
        return "relational"
    if rule in _BASELINE_RULES:
        return "baseline"
    return rule


def _between(e, v, frame, output, baseline) -> tuple[np.ndarray, _Describe]:
    lo, hi = e.bounds

    def describe(i: int, j: int) -> str:
        return f"between {_g(lo)} and {_g(hi)}"

    return (v >= lo) & (v <= hi), describe


def _nonnegative(e, v, frame, output, baseline) -> tuple[np.ndarray, _Describe]:
    def describe(i: int, j: int) -> str:
        return "nonnegative"

    return v >= 0, describe


def _equals(e, v, frame, output, baseline) -> tuple[np.ndarray, _Describe]:
    def describe(i: int, j: int) -> str:
        return f"{_g(e.value)} (rtol {e.rtol:g}, atol {e.atol:g})"

    return np.abs(v - e.value) <= e.atol + e.rtol * abs(e.value), describe


def _constant(e, v, frame, output, baseline) -> tuple[np.ndarray, _Describe]:
    first = v[0:1]

    def describe(i: int, j: int) -> str:
        return f"constant at its {frame.years[0]:g} value {_g(v[0, j])}"

    ok = (np.abs(v - first) <= e.atol + e.rtol * np.abs(first)) & np.isfinite(first)
    return ok, describe


def _monotonic(e, v, frame, output, baseline) -> tuple[np.ndarray, _Describe]:
    compare, word = _MONOTONIC[e.rule]
    prev = np.vstack([np.full((1, v.shape[1]), np.nan), v[:-1]])
    ok = compare(v, prev)
    ok[0] = True  # the first year has nothing before it (a NaN there still fails)

    def describe(i: int, j: int) -> str:
        if i == 0:
            return f"{e.rule} (a finite value)"
        return f"{e.rule} ({word} the {frame.years[i - 1]:g} value {_g(prev[i, j])})"

    return ok, describe


def _relational(e, v, frame, output, baseline) -> tuple[np.ndarray, _Describe]:
    w = _select(e, output, e.other).values
    slack = e.atol + e.rtol * np.abs(w)
    ok = v <= w + slack if e.rule == "at_most" else v >= w - slack
    word = "at most" if e.rule == "at_most" else "at least"

    def describe(i: int, j: int) -> str:
        return f"{word} {e.other} = {_g(w[i, j])}"

    return ok, describe


def _baseline(e, v, frame, output, baseline) -> tuple[np.ndarray, _Describe]:
    if baseline is None:
        raise CheckError(f"{e.where}: rule {e.rule} needs the baseline run")
    b = _select(e, baseline, e.variable).values
    if e.rule == "greater_than_baseline":
        ok, word = v > b, "above"
    elif e.rule == "less_than_baseline":
        ok, word = v < b, "below"
    else:
        ok, word = np.abs(v - b) <= e.atol + e.rtol * np.abs(b), "equal to"

    def describe(i: int, j: int) -> str:
        return f"{word} the baseline {_g(b[i, j])}"

    return ok, describe


_RULE_FUNCTIONS = {
    "between": _between,
    "nonnegative": _nonnegative,
    "equals": _equals,
    "constant": _constant,
    "monotonic": _monotonic,
    "relational": _relational,
    "baseline": _baseline,
}
