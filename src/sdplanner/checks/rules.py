"""The rules of reality checks: what an expectation states, and its evaluation on a run.

An `Expectation` applies one of `RULES` to one output variable over some regions and years;
`evaluate` checks it on a run (and the baseline run for the ``*_baseline`` rules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sdplanner.checks.errors import CheckError
from sdplanner.engine.base import SimulationOutput
from sdplanner.schema.checks import RULES

__all__ = [
    "BASELINE_RULES",
    "COMMON_KEYS",
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "RULES",
    "Expectation",
    "ExpectationResult",
    "evaluate",
]

COMMON_KEYS = ("variable", "regions", "years", "rule")
BASELINE_RULES = ("greater_than_baseline", "less_than_baseline", "equals_baseline")
#: Default tolerances of the rules that compare for equality: relative and absolute.
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9


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
    if rule in BASELINE_RULES:
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
