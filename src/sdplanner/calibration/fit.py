"""Fitting: multi-start least squares, and `calibrate`, which does a whole calibration.

`fit` minimizes the objective (`sdplanner.calibration.objective`) from the ``.mdl`` values
and a seeded Latin hypercube of starts, their solvers batched together
(`sdplanner.calibration.batching`). `calibrate` fits, computes profile (and optionally
bootstrap) intervals, fit statistics and identifiability, and returns a `CalibrationResult`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from sdplanner.calibration.batching import run_tasks
from sdplanner.calibration.diagnostics import Identifiability, fit_statistics, identifiability
from sdplanner.calibration.intervals import Interval, bootstrap_intervals, profile_intervals
from sdplanner.calibration.objective import jacobian_values, local_solve, make_objective
from sdplanner.calibration.problem import Problem
from sdplanner.calibration.simulate import Simulator, trajectories
from sdplanner.calibration.spec import ParameterSpec
from sdplanner.errors import CalibrationError
from sdplanner.memory import calibration_bytes, check_memory
from sdplanner.rng import make_generator

__all__ = [
    "ROLES",
    "CalibrationResult",
    "FitResult",
    "all_rows",
    "bound_flag",
    "calibrate",
    "fit",
    "observation_table",
    "other_rows_table",
]


@dataclass
class FitResult:
    """The best fit of a multi-start calibration.

    Attributes
    ----------
    parameters : tuple of ParameterSpec
        What was estimated.
    u : numpy.ndarray
        Best unit coordinates, shape ``(p,)``.
    estimate : numpy.ndarray
        Best values (each parameter's units), shape ``(p,)``.
    deviance : float
        Objective at the best fit: sum of squared standardized residuals (with a robust
        loss, ``2 * cost`` of least_squares) including prior terms (dimensionless).
    residuals : numpy.ndarray
        Standardized residuals of the data rows, then prior residuals.
    predicted : numpy.ndarray
        Simulated value of every used row (data units).
    jacobian : numpy.ndarray
        d residual / d value at the best fit, shape ``(m + n_priors, p)``.
    starts : pandas.DataFrame
        One row per start: ``start, origin, deviance, status`` and the start and end values.
    """

    parameters: tuple[ParameterSpec, ...]
    u: np.ndarray
    estimate: np.ndarray
    deviance: float
    residuals: np.ndarray
    predicted: np.ndarray
    jacobian: np.ndarray
    starts: pd.DataFrame

    @property
    def at_bound(self) -> list[str]:
        """``"lower"``, ``"upper"`` or ``"no"`` for each parameter."""
        return [bound_flag(x) for x in self.u]


def bound_flag(u: float) -> str:
    """Return ``"lower"``, ``"upper"`` or ``"no"``: where a unit coordinate sits.

    Parameters
    ----------
    u : float
        Unit coordinate (0 = lower bound, 1 = upper bound).

    Returns
    -------
    str
        ``"lower"`` or ``"upper"`` within 1e-6 of a bound, else ``"no"``.
    """
    if u <= 1e-6:
        return "lower"
    if u >= 1 - 1e-6:
        return "upper"
    return "no"


def _default_u(problem: Problem) -> np.ndarray:
    u = []
    for p in problem.parameters:
        value = p.default
        if not math.isfinite(value) or (p.transform == "log" and value <= 0):
            u.append(0.5)
        else:
            u.append(float(np.clip(p.to_unit(np.clip(value, p.lower, p.upper)), 0.0, 1.0)))
    return np.array(u)


def fit(
    problem: Problem,
    simulator: Simulator,
    *,
    starts: int = 20,
    seed: int | np.random.Generator | None = 0,
) -> FitResult:
    """Minimize the objective from the ``.mdl`` values and a Latin hypercube of starts.

    Parameters
    ----------
    problem : Problem
        The problem.
    simulator : Simulator
        Model evaluations.
    starts : int
        Number of Latin-hypercube starts (the ``.mdl`` values are one more start).
    seed : int or numpy.random.Generator, optional
        Seed of the Latin hypercube.

    Returns
    -------
    FitResult
        The best of all starts (ties broken by start order).
    """
    rng = make_generator(seed)
    p = problem.n_parameters
    origins = [("mdl", _default_u(problem))]
    if starts > 0:
        lhs = qmc.LatinHypercube(d=p, rng=rng).random(starts)
        origins += [(f"lhs {i + 1}", row) for i, row in enumerate(lhs)]
    objective = make_objective(problem)
    free = np.arange(p)

    def task(u0):
        return lambda evaluate: local_solve(objective, evaluate, u0, free)

    solved = run_tasks(simulator.predict, [task(u0) for _, u0 in origins])
    records = []
    best = None
    for i, ((origin, u0), (u, res, _pred, status)) in enumerate(zip(origins, solved, strict=True)):
        dev = objective.deviance(res)
        rec = {"start": i, "origin": origin, "deviance": dev, "status": status}
        for j, par in enumerate(problem.parameters):
            rec[f"start:{par.label}"] = float(par.to_value(u0[j]))
            rec[f"end:{par.label}"] = float(par.to_value(u[j]))
        records.append(rec)
        if best is None or dev < best[0] - 1e-12:
            best = (dev, i, u)
    u = best[2]
    res, jac = jacobian_values(simulator, objective, u)
    pred = simulator.predict(u[None])[0]
    return FitResult(
        parameters=problem.parameters,
        u=u,
        estimate=np.array([par.to_value(u[j]) for j, par in enumerate(problem.parameters)]),
        deviance=objective.deviance(res),
        residuals=res,
        predicted=pred,
        jacobian=jac,
        starts=pd.DataFrame(records),
    )


@dataclass
class CalibrationResult:
    """Everything a calibration produced.

    Attributes
    ----------
    problem : Problem
        The spec applied to the data (rows used, skipped, ignored).
    best : FitResult
        The estimate.
    intervals : list of Interval
        Profile intervals, then bootstrap intervals when asked for.
    bootstrap : numpy.ndarray or None
        Bootstrap estimates, ``(n, p)`` (parameter units).
    fit_table : pandas.DataFrame
        `fit_statistics` of the estimate.
    observations : pandas.DataFrame
        The used rows with ``simulated`` and ``residual`` (standardized) columns.
    identifiability : Identifiability
        Correlations, bounds hit, parameters not determined.
    seed : int or None
        The seed.
    n_runs : int
        Model runs used (the trajectories' run included).
    n_calls : int
        Engine calls (batches) used.
    wall_time : float
        Seconds.
    times : numpy.ndarray
        Saved years of `trajectories` (year).
    trajectories : dict
        Indicator -> simulated values at the estimate, ``(n_times, n_regions + 1)`` (the
        14 regions in model order, then the aggregate), in the indicator's display units.
    others : pandas.DataFrame
        Rows compared at the estimate but not fitted (`other_rows_table`): anchors, rows of
        indicators compared only, and rows held out after the fit window.
    """

    problem: Problem
    best: FitResult
    intervals: list[Interval]
    bootstrap: np.ndarray | None
    fit_table: pd.DataFrame
    observations: pd.DataFrame
    identifiability: Identifiability
    seed: int | None
    n_runs: int
    n_calls: int
    wall_time: float
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    trajectories: dict[str, np.ndarray] = field(default_factory=dict)
    others: pd.DataFrame = field(default_factory=pd.DataFrame)

    def parameter_values(self) -> dict[str, float | dict[str, float]]:
        """Return the estimate as a ``parameters`` mapping of a parameter file.

        Returns
        -------
        dict
            PySD name -> value, or -> ``{region display name: value}`` for per-region
            estimates.
        """
        out: dict[str, Any] = {}
        for par, value in zip(self.problem.parameters, self.best.estimate, strict=True):
            if par.region is None:
                out[par.name] = float(value)
            else:
                out.setdefault(par.name, {})[par.region] = float(value)
        return out

    def parameters_table(self) -> pd.DataFrame:
        """Return ``parameters.csv``: one row per parameter and interval method.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter, region, estimate, lower_95, upper_95, method, at_bound``;
            values in each parameter's units; ``at_bound`` is ``no``, ``lower`` or
            ``upper`` (the estimate's position).
        """
        flags = dict(
            zip([p.label for p in self.problem.parameters], self.best.at_bound, strict=True)
        )
        return pd.DataFrame(
            [
                {
                    "parameter": iv.parameter.name,
                    "region": iv.parameter.region or "",
                    "estimate": iv.estimate,
                    "lower_95": iv.lower,
                    "upper_95": iv.upper,
                    "method": iv.method,
                    "at_bound": flags[iv.parameter.label],
                }
                for iv in self.intervals
            ],
            columns=[
                "parameter",
                "region",
                "estimate",
                "lower_95",
                "upper_95",
                "method",
                "at_bound",
            ],
        )


def observation_table(problem: Problem, best: FitResult) -> pd.DataFrame:
    """Return the used rows with their simulated values and standardized residuals.

    Parameters
    ----------
    problem : Problem
        The problem.
    best : FitResult
        The estimate.

    Returns
    -------
    pandas.DataFrame
        The columns of `Problem.rows` plus ``simulated`` (data units), ``offset`` (the
        fitted level offset of the row's offset group, data units; 0 outside groups) and
        ``residual`` (``sqrt(weight) * (simulated + offset - observed) / sigma``).
    """
    table = problem.rows.copy()
    table["simulated"] = best.predicted
    table["offset"] = make_objective(problem).offsets(best.predicted[None])[0]
    table["residual"] = best.residuals[: len(table)]
    return table


#: Role of each row of ``observations.csv``.
ROLES = ("fitted", "anchor", "compared", "held out")


def other_rows_table(
    problem: Problem, engine, best: FitResult, fitted: pd.DataFrame
) -> pd.DataFrame:
    """Compare the rows that were not fitted with the model at the estimate.

    Parameters
    ----------
    problem : Problem
        The problem (its anchors, compared-only and held-out rows).
    engine : object
        The engine (``run_batch``).
    best : FitResult
        The estimate.
    fitted : pandas.DataFrame
        `observation_table` of the fitted rows (their groups' offsets).

    Returns
    -------
    pandas.DataFrame
        The rows with ``role`` (``anchor``, ``compared`` or ``held out``), ``simulated``
        (data units), ``offset`` (their offset group's level: fitted from the group's fitted
        rows, else the anchor's own miss; 0 outside groups; NaN for a group without a row in
        the fit window) and ``residual``.
    """
    parts = [
        frame.assign(role=role)
        for frame, role in (
            (problem.anchors, "anchor"),
            (problem.compared, "compared"),
            (problem.held_out, "held out"),
        )
        if len(frame)
    ]
    if not parts:
        return pd.DataFrame(columns=[*fitted.columns, "role"])
    table = pd.concat(parts, ignore_index=True)
    table["simulated"] = Simulator(problem, engine, rows=table).predict(best.u[None])[0]
    levels = dict(zip(fitted.offset_group, fitted.offset, strict=True))
    anchors = table[table.role == "anchor"]
    levels.update(zip(anchors.offset_group, anchors.observed - anchors.simulated, strict=True))
    levels[""] = 0.0
    # a group with no row in the fit window has no level: its rows cannot be compared (NaN)
    table["offset"] = [levels.get(g, math.nan) for g in table.offset_group]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["residual"] = (
            np.sqrt(table.weight) * (table.simulated + table.offset - table.observed) / table.sigma
        )
    return table


def all_rows(result: CalibrationResult) -> pd.DataFrame:
    """Return every compared row with its role: fitted rows, then the others.

    Parameters
    ----------
    result : CalibrationResult
        The calibration.

    Returns
    -------
    pandas.DataFrame
        ``observations.csv``: the rows' columns, ``simulated``, ``offset``, ``residual``
        and ``role`` (`sdplanner.calibration.fit.ROLES`).
    """
    fitted = result.observations.assign(role="fitted")
    if result.others is None or result.others.empty:
        return fitted
    return pd.concat([fitted, result.others[fitted.columns]], ignore_index=True)


#: Keys of the independent random streams of a calibration (`sdplanner.rng`).
_STARTS_STREAM = 0
_BOOTSTRAP_STREAM = 1


def calibrate(
    problem: Problem,
    engine,
    *,
    starts: int = 20,
    bootstrap: int = 0,
    seed: int | None = 0,
) -> CalibrationResult:
    """Calibrate: multi-start fit, profile intervals, optional bootstrap, statistics.

    Parameters
    ----------
    problem : Problem
        From `build_problem`.
    engine : object
        An engine with ``run_batch`` (e.g. ``sdplanner.engine.batch.BatchEngine``).
    starts : int
        Latin-hypercube starts (plus the ``.mdl`` values).
    bootstrap : int
        Residual-bootstrap samples; 0 for none.
    seed : int, optional
        Seed of the starts and of the bootstrap, drawn from two independent streams of
        `sdplanner.rng.make_generator` (so the bootstrap does not depend on ``starts``).

    Returns
    -------
    CalibrationResult
        Estimates, intervals, fit statistics and identifiability.
    """
    if starts < 0 or bootstrap < 0:
        raise CalibrationError("--starts and --bootstrap: expected numbers >= 0")
    times = (problem.final_time - problem.model.initial_time) / problem.model.saveper + 1
    estimate = calibration_bytes(
        starts,
        bootstrap,
        problem.n_parameters,
        len(problem.rows),
        int(times) * (len(problem.model.regions) + 1) * len(problem.variables),
    )
    check_memory(
        estimate, f"--starts {starts} --bootstrap {bootstrap}: the calibration", CalibrationError
    )
    t0 = time.perf_counter()
    simulator = Simulator(problem, engine)
    best = fit(problem, simulator, starts=starts, seed=make_generator(seed, _STARTS_STREAM))
    intervals = profile_intervals(problem, simulator, best)
    boot = None
    if bootstrap > 0:
        boot_rng = make_generator(seed, _BOOTSTRAP_STREAM)
        more, boot = bootstrap_intervals(problem, simulator, best, n=bootstrap, seed=boot_rng)
        intervals = intervals + more
    table = observation_table(problem, best)
    others = other_rows_table(problem, engine, best, table)
    plot_end = min(
        problem.model.final_time, max(problem.final_time, problem.model.initial_time + 5)
    )
    times, paths = trajectories(problem, simulator, best.u, plot_end)
    return CalibrationResult(
        problem=problem,
        best=best,
        intervals=intervals,
        bootstrap=boot,
        fit_table=fit_statistics(table),
        observations=table,
        identifiability=identifiability(problem, best, intervals[: problem.n_parameters]),
        seed=seed,
        n_runs=simulator.n_runs,
        n_calls=simulator.n_calls,
        wall_time=time.perf_counter() - t0,
        times=times,
        trajectories=paths,
        others=others,
    )
