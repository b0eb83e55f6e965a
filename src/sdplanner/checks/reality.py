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

import os
import time as _time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sdplanner.checks.checks_file import RealityCheck, checks_path_for, load_checks
from sdplanner.checks.rules import RULES, Expectation, ExpectationResult, evaluate
from sdplanner.engine.base import Engine, ParamValue, SimulationOutput, TimeSeries
from sdplanner.errors import SdplannerError

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
