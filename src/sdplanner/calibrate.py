"""Calibration: the spec, the objective, multi-start least squares, intervals, fit statistics.

The flow is

1. `load_spec` reads a calibration spec (YAML, documented in ``docs/calibration.md``;
   the spec's dataclasses and checks live in `sdplanner.calibration_spec`);
2. `build_problem` selects the observation rows the spec uses, maps years and areas, and
   lists the rows it leaves out and why;
3. `fit` minimizes the weighted sum of squared standardized residuals (or a robust loss) with
   `scipy.optimize.least_squares` from a seeded Latin hypercube of starts;
4. `profile_intervals` and `bootstrap_intervals` give 95 % intervals;
5. `fit_statistics` and `identifiability` summarize how well the data pin each parameter down.

`calibrate` does all of it. Nothing here plots or writes files (see `sdplanner.calibration_io`).

Parameters are optimized in unit coordinates ``u`` in [0, 1] between their bounds (linear, or
logarithmic with ``transform: log``). Every model evaluation goes through an engine's
``run_batch``; the sequential solvers of several starts, profile points or bootstrap samples
run in threads whose evaluations are gathered into one batch per step (`_Rendezvous`), so the
number of engine calls is that of the longest solver, not their sum.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.stats import qmc

from sdplanner.calibration_spec import (
    LOSSES,
    CalibrationSpec,
    IndicatorSpec,
    ParameterSpec,
    Prior,
    YearMapping,
    load_spec,
    parse_spec,
)
from sdplanner.data import (
    MIN_RELATIVE_SIGMA,
    AreaMap,
    ObservationSet,
    SkippedRow,
    load_area_mapping,
)
from sdplanner.engine.base import TimeSeries
from sdplanner.errors import CalibrationError, did_you_mean
from sdplanner.memory import calibration_bytes, check_memory
from sdplanner.model import ModelInfo
from sdplanner.resources import data_path
from sdplanner.results import aggregate
from sdplanner.rng import make_generator
from sdplanner.spec import OutputSpec

__all__ = [
    "CHI2_95",
    "FIT_COLUMNS",
    "LOSSES",
    "CalibrationResult",
    "CalibrationSpec",
    "FitResult",
    "Identifiability",
    "IndicatorSpec",
    "Interval",
    "ParameterSpec",
    "Prior",
    "Problem",
    "Simulator",
    "YearMapping",
    "bootstrap_intervals",
    "build_problem",
    "calibrate",
    "fit",
    "fit_statistics",
    "identifiability",
    "load_problem",
    "load_spec",
    "observation_table",
    "parse_spec",
    "profile_intervals",
    "trajectories",
]

#: Likelihood-ratio threshold of a 95 % profile interval: chi-square(1) quantile.
CHI2_95 = float(stats.chi2.ppf(0.95, 1))
_FD_STEP = 1e-6  # forward-difference step in unit coordinates
_PENALTY = 1e3  # standardized residual given to a run that returns NaN or inf


# --------------------------------------------------------------------------------------
# The problem: observation rows against model outputs
# --------------------------------------------------------------------------------------


@cache
def _seed_indicators() -> frozenset[str]:
    path = data_path("seed_figures.csv")
    if not path.is_file():
        return frozenset()
    with open(path, encoding="utf-8", newline="") as fh:
        return frozenset(row["indicator"] for row in csv.DictReader(fh))


@dataclass
class Problem:
    """A spec applied to observations: the rows used and how each is computed.

    Attributes
    ----------
    model : ModelInfo
        The model.
    spec : CalibrationSpec
        The spec.
    rows : pandas.DataFrame
        One row per observation used: ``line, indicator, area, area_type, kind,
        compared_with, year, data_year, observed, sigma, weight`` (data units; ``year`` is
        the model year after any year mapping, ``data_year`` the year in the file).
    skipped : list of SkippedRow
        Rows left out because their value is empty.
    ignored : list of SkippedRow
        Rows the spec does not use (another indicator, a context area ...), with the reason.
    final_time : float
        Last simulated year (year).
    variables : list of str
        Model variables every run must return.
    base_params : dict
        Constant overrides under the estimated parameters (normally empty: the ``.mdl``).
    """

    model: ModelInfo
    spec: CalibrationSpec
    rows: pd.DataFrame
    skipped: list[SkippedRow]
    ignored: list[SkippedRow]
    final_time: float
    variables: list[str]
    base_params: dict = field(default_factory=dict)

    @property
    def n_parameters(self) -> int:
        """Number of estimated values."""
        return len(self.spec.parameters)

    @property
    def parameters(self) -> tuple[ParameterSpec, ...]:
        """The estimated values."""
        return self.spec.parameters

    def batch(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """Turn unit coordinates into the ``batch`` argument of ``run_batch``.

        Parameters
        ----------
        u : numpy.ndarray
            Shape ``(n, p)``.

        Returns
        -------
        dict
            PySD name -> ``(n,)`` for a scalar constant or ``(n, n_regions)`` for a
            subscripted one (other regions keep their ``.mdl`` value).
        """
        u = np.atleast_2d(u)
        n = u.shape[0]
        out: dict[str, np.ndarray] = {}
        for j, p in enumerate(self.parameters):
            value = p.to_value(u[:, j])
            default = self.base_params.get(p.name, self.model.constants[p.name])
            if isinstance(default, np.ndarray):
                arr = out.get(p.name)
                if arr is None:
                    arr = np.tile(np.asarray(default, dtype=float), (n, 1))
                if p.region is None:
                    arr[:, :] = value[:, None]
                else:
                    arr[:, self.model.regions.index(p.region)] = value
                out[p.name] = arr
            else:
                out[p.name] = value
        return out


def build_problem(
    model: ModelInfo,
    spec: CalibrationSpec,
    observations: ObservationSet,
    *,
    base_params: Mapping | None = None,
) -> Problem:
    """Select and check the observation rows a spec uses.

    Parameters
    ----------
    model : ModelInfo
        The model (its horizon and variables).
    spec : CalibrationSpec
        The spec.
    observations : ObservationSet
        The validated file.
    base_params : mapping, optional
        Constant overrides under the estimated parameters; the estimated ones start from
        these values (their ``default``) where the mapping sets them.

    Returns
    -------
    Problem
        The rows used, and those skipped or ignored with their reasons.

    Raises
    ------
    DataError
        An indicator that neither the spec, the model nor the seed's figures know (closest
        name suggested), or a used row dated outside the model's horizon.
    CalibrationError
        A used row without a sigma when the spec has no default, or no row left.
    """
    from sdplanner.errors import DataError

    where = str(observations.path) if observations.path is not None else "data"
    known = set(spec.indicators) | set(model.variables) | _seed_indicators()
    used, ignored = [], []
    seen: dict[tuple, int] = {}
    for obs in observations.rows:
        w = f"{where}: line {obs.line}"
        if obs.indicator not in known:
            raise DataError(
                f"{w}: unknown indicator {obs.indicator!r}{did_you_mean(obs.indicator, known)};"
                " expected one of the spec's indicators or a model variable"
            )
        ind = spec.indicators.get(obs.indicator)
        skip = SkippedRow(obs.line, obs.indicator, obs.area.name, str(obs.year), "")
        if ind is None:
            ignored.append(_reason(skip, "indicator not in the spec"))
            continue
        if not obs.area.modelled:
            ignored.append(_reason(skip, f"context area ({obs.area.area_type}): not modelled"))
            continue
        if obs.area.kind == "sub-area" and ind.aggregate == "sum":
            ignored.append(
                _reason(
                    skip,
                    "a sub-area's total cannot be compared with its region's total"
                    " (the indicator sums over areas)",
                )
            )
            continue
        year = obs.year
        for ym in spec.year_mapping:
            if (
                ym.indicator == obs.indicator
                and ym.source == obs.year
                and (ym.area is None or ym.area == obs.area.name)
            ):
                year = ym.target
                break
        if not model.initial_time <= year <= model.final_time:
            raise DataError(
                f"{w}: year {obs.year} is outside the model's horizon"
                f" {model.initial_time:g}..{model.final_time:g} ({obs.indicator}, "
                f"{obs.area.name}); add a year_mapping to the spec or drop the row"
            )
        key = (obs.indicator, obs.area.name, obs.area.area_type, year)
        if key in seen:
            raise DataError(
                f"{w}: duplicate row after year mapping: {obs.indicator}, {obs.area.name},"
                f" {year} repeats line {seen[key]}"
            )
        seen[key] = obs.line
        sigma = obs.sigma
        if sigma is None:
            sigma = ind.sigma.get(obs.area.kind)
        if sigma is None:
            raise CalibrationError(
                f"{w}: {obs.indicator} for {obs.area.name} has no sigma and the spec gives no"
                f" default sigma for a {obs.area.kind}; add indicators.{obs.indicator}.sigma"
            )
        if sigma < MIN_RELATIVE_SIGMA * abs(obs.value):
            raise CalibrationError(
                f"{w}: the spec's sigma {sigma:g} for a {obs.area.kind} is less than"
                f" {MIN_RELATIVE_SIGMA:g} times the value {obs.value:g}; expected a larger one"
            )
        used.append(
            {
                "line": obs.line,
                "indicator": obs.indicator,
                "area": obs.area.name,
                "area_type": obs.area.area_type,
                "kind": obs.area.kind,
                "compared_with": obs.area.model_area,
                "year": int(year),
                "data_year": int(obs.year),
                "observed": obs.value,
                "sigma": float(sigma),
                "weight": obs.weight,
            }
        )
    if not used or not any(r["weight"] > 0 for r in used):
        raise CalibrationError(
            f"{where}: no data left: none of its {len(observations.rows)} rows with a value"
            f" matches an indicator of the spec ({', '.join(spec.indicators)}) in a modelled"
            " area with a positive weight"
        )
    rows = pd.DataFrame(used)
    final_time = spec.final_time if spec.final_time is not None else float(rows.year.max())
    final_time = max(final_time, float(rows.year.max()), model.initial_time + 1)
    variables: list[str] = []
    for ind in spec.indicators.values():
        for v in (ind.variable, *ind.weight):
            if v not in variables:
                variables.append(v)
    base_params = dict(base_params or {})
    if base_params:
        starts = tuple(_start_from(p, base_params, model) for p in spec.parameters)
        spec = dataclasses.replace(spec, parameters=starts)
    return Problem(
        model=model,
        spec=spec,
        rows=rows,
        skipped=list(observations.skipped),
        ignored=ignored,
        final_time=final_time,
        variables=variables,
        base_params=base_params,
    )


def _start_from(par: ParameterSpec, base: Mapping, model: ModelInfo) -> ParameterSpec:
    """Return a parameter whose starting value is the base layer's (e.g. a --params file)."""
    value = base.get(par.name)
    if value is None or isinstance(value, TimeSeries):
        return par
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        start = float(arr)
    elif par.region is not None:
        start = float(arr[model.regions.index(par.region)])
    else:
        start = float(np.mean(arr))
    return dataclasses.replace(par, default=start)


def _reason(row: SkippedRow, reason: str) -> SkippedRow:
    return SkippedRow(row.line, row.indicator, row.area, row.year, reason)


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


class Simulator:
    """Compute the model's value for every used row, for a batch of parameter vectors.

    Parameters
    ----------
    problem : Problem
        The problem.
    engine : object
        An engine with ``run_batch(params, batch=, final_time=, variables=)`` returning a
        `SimulationOutput` whose arrays have a leading sample axis.
    """

    def __init__(self, problem: Problem, engine) -> None:
        self.problem = problem
        self.engine = engine
        self.n_runs = 0
        self.n_calls = 0
        self.n_nonfinite = 0
        self._lock = threading.Lock()
        rows = problem.rows
        self._groups = []
        for name, ind in problem.spec.indicators.items():
            idx = np.flatnonzero(rows.indicator.to_numpy() == name)
            if idx.size:
                self._groups.append((ind, idx))
        self._years = rows.year.to_numpy(dtype=float)
        regions = problem.model.regions
        cols = [
            regions.index(area) if area in regions else len(regions) for area in rows.compared_with
        ]
        self._cols = np.array(cols, dtype=int)
        self._time_index: np.ndarray | None = None

    def predict(self, u: np.ndarray) -> np.ndarray:
        """Return the simulated value of every used row.

        Parameters
        ----------
        u : numpy.ndarray
            Unit coordinates, shape ``(n, p)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, m)``, in the data units of each row (NaN where a run failed).
        """
        u = np.atleast_2d(np.asarray(u, dtype=float))
        n = u.shape[0]
        out = self.engine.run_batch(
            self.problem.base_params,
            batch=self.problem.batch(u),
            final_time=self.problem.final_time,
            variables=self.problem.variables,
        )
        with self._lock:
            self.n_runs += n
            self.n_calls += 1
        if self._time_index is None:
            times = np.asarray(out.times, dtype=float)
            index = np.searchsorted(times, self._years - 1e-9)
            ok = (index < len(times)) & (
                np.abs(times[np.minimum(index, len(times) - 1)] - self._years) < 1e-6
            )
            if not ok.all():
                bad = self._years[~ok][0]
                raise CalibrationError(f"the engine saved no output at year {bad:g}")
            self._time_index = index
        pred = np.empty((n, len(self._years)))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for ind, idx in self._groups:
                full = _with_aggregate(out.values, ind, len(self.problem.model.regions))
                pred[:, idx] = full[:, self._time_index[idx], self._cols[idx]] * ind.scale
        return pred


def _with_aggregate(
    values: Mapping[str, np.ndarray], ind: IndicatorSpec, n_regions: int
) -> np.ndarray:
    """Return ``(n, n_times, n_regions + 1)``: the regions, then the aggregate."""
    data = np.asarray(values[ind.variable], dtype=float)
    if data.ndim == 2:  # a scalar variable: the same value everywhere
        data = np.repeat(data[:, :, None], n_regions, axis=2)
    rule = OutputSpec(ind.variable, tuple(ind.weight), ind.aggregate)
    agg = aggregate({**values, ind.variable: data}, rule)
    return np.concatenate([data, agg[..., None]], axis=-1)


class _Rendezvous:
    """Run sequential solvers in threads and gather their model evaluations into batches.

    Each task calls `evaluate` with its own ``(k, p)`` points; once every unfinished task
    waits, all pending points are run as one batch (in task order, so the results do not
    depend on thread timing) and handed back.
    """

    def __init__(self, simulate: Callable[[np.ndarray], np.ndarray], n_tasks: int) -> None:
        self._simulate = simulate
        self._cond = threading.Condition()
        self._pending: dict[int, np.ndarray] = {}
        self._results: dict[int, np.ndarray] = {}
        self._active = n_tasks
        self._error: BaseException | None = None

    def evaluate(self, task: int, u: np.ndarray) -> np.ndarray:
        with self._cond:
            if self._error is not None:
                raise self._error
            self._pending[task] = np.atleast_2d(u)
            self._run_if_ready()
            while task not in self._results:
                if self._error is not None:
                    raise self._error
                self._cond.wait()
            return self._results.pop(task)

    def finish(self) -> None:
        with self._cond:
            self._active -= 1
            self._run_if_ready()

    def _run_if_ready(self) -> None:
        if not self._pending or len(self._pending) < self._active:
            return
        ids = sorted(self._pending)
        sizes = [self._pending[i].shape[0] for i in ids]
        u = np.concatenate([self._pending[i] for i in ids])
        self._pending.clear()
        try:
            pred = self._simulate(u)
        except BaseException as exc:  # handed to every waiting task
            self._error = exc
            self._cond.notify_all()
            return
        start = 0
        for i, size in zip(ids, sizes, strict=True):
            self._results[i] = pred[start : start + size]
            start += size
        self._cond.notify_all()


def _run_tasks(simulate, tasks: Sequence[Callable], max_threads: int = 64) -> list:
    """Run ``task(evaluate)`` callables in threads with batched evaluations; return results."""
    results: list = [None] * len(tasks)
    for chunk_start in range(0, len(tasks), max_threads):
        chunk = list(range(chunk_start, min(len(tasks), chunk_start + max_threads)))
        rv = _Rendezvous(simulate, len(chunk))
        errors: list[BaseException] = []

        def work(i: int, rv=rv, errors=errors) -> None:
            try:
                results[i] = tasks[i](lambda u: rv.evaluate(i, u))
            except BaseException as exc:
                errors.append(exc)
            finally:
                rv.finish()

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in chunk]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    return results


@dataclass
class _Objective:
    """Residuals of one task: standardized data residuals then prior residuals."""

    observed: np.ndarray
    sigma: np.ndarray
    weight: np.ndarray
    parameters: tuple[ParameterSpec, ...]
    loss: str
    f_scale: float
    prior_shift: np.ndarray | None = None

    def residuals(self, pred: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``(k, m + n_priors)`` residuals for ``(k, m)`` predictions at ``(k, p)`` points."""
        u = np.atleast_2d(u)
        with np.errstate(invalid="ignore"):
            r = np.sqrt(self.weight) * (pred - self.observed) / self.sigma
        bad = ~np.isfinite(r)
        if bad.any():
            r = np.where(bad, _PENALTY, r)
        priors = [
            p.prior.residual(p.to_value(u[:, j]))
            for j, p in enumerate(self.parameters)
            if p.prior is not None
        ]
        if priors:
            prior_r = np.stack(priors, axis=1)
            if self.prior_shift is not None:
                prior_r = prior_r - self.prior_shift
            r = np.concatenate([r, prior_r], axis=1)
        return r

    def deviance(self, r: np.ndarray) -> float:
        """``2 * cost`` of `scipy.optimize.least_squares` (sum of squares for ``linear``)."""
        z = (np.asarray(r) / self.f_scale) ** 2
        rho = _rho(self.loss, z)
        return float(self.f_scale**2 * rho.sum())


def _rho(loss: str, z: np.ndarray) -> np.ndarray:
    if loss == "linear":
        return z
    if loss == "soft_l1":
        return 2 * (np.sqrt(1 + z) - 1)
    if loss == "huber":
        return np.where(z <= 1, z, 2 * np.sqrt(z) - 1)
    if loss == "cauchy":
        return np.log1p(z)
    return np.arctan(z)


def _local_solve(
    objective: _Objective,
    evaluate: Callable[[np.ndarray], np.ndarray],
    u0: np.ndarray,
    free: np.ndarray,
    max_nfev: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Minimize over the ``free`` coordinates (others held at ``u0``) with least_squares.

    Each residual evaluation also runs the forward-difference points, in the same batch,
    so the Jacobian at an accepted point costs no extra call.

    Returns
    -------
    tuple
        ``(u, residuals, pred, status)``.
    """
    u_full = np.array(u0, dtype=float)
    free = np.asarray(free, dtype=int)
    cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def points(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        base = u_full.copy()
        base[free] = x
        steps = np.where(x + _FD_STEP <= 1.0, _FD_STEP, -_FD_STEP)
        pts = np.repeat(base[None], 1 + free.size, axis=0)
        pts[1 + np.arange(free.size), free] += steps
        return pts, steps

    def compute(x: np.ndarray):
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            pts, steps = points(x)
            pred = evaluate(pts)
            res = objective.residuals(pred, pts)
            jac = (res[1:] - res[0]).T / steps
            cache[key] = (res[0], jac, pred[0])
        return cache[key]

    if free.size == 0:
        pts, _ = points(np.zeros(0))
        pred = evaluate(pts[:1])
        return u_full, objective.residuals(pred, pts[:1])[0], pred[0], 0
    x0 = np.clip(u_full[free], 0.0, 1.0)
    sol = optimize.least_squares(
        lambda x: compute(x)[0],
        x0,
        jac=lambda x: compute(x)[1],
        bounds=(0.0, 1.0),
        method="trf",
        loss=objective.loss,
        f_scale=objective.f_scale,
        xtol=1e-10,
        ftol=1e-10,
        gtol=1e-10,
        max_nfev=max_nfev,
    )
    u_full[free] = sol.x
    res, _, pred = compute(sol.x)
    return u_full, res, pred, int(sol.status)


# --------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------


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
        return [_bound_flag(x) for x in self.u]


def _bound_flag(u: float) -> str:
    if u <= 1e-6:
        return "lower"
    if u >= 1 - 1e-6:
        return "upper"
    return "no"


def _objective(problem: Problem, observed: np.ndarray | None = None) -> _Objective:
    rows = problem.rows
    return _Objective(
        observed=rows.observed.to_numpy(dtype=float) if observed is None else observed,
        sigma=rows.sigma.to_numpy(dtype=float),
        weight=rows.weight.to_numpy(dtype=float),
        parameters=problem.parameters,
        loss=problem.spec.loss,
        f_scale=problem.spec.f_scale,
    )


def _default_u(problem: Problem) -> np.ndarray:
    u = []
    for p in problem.parameters:
        value = p.default
        if not math.isfinite(value) or (p.transform == "log" and value <= 0):
            u.append(0.5)
        else:
            u.append(float(np.clip(p.to_unit(np.clip(value, p.lower, p.upper)), 0.0, 1.0)))
    return np.array(u)


def _jacobian_values(
    simulator: Simulator, objective: _Objective, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return residuals and d residual / d value (central differences in unit space)."""
    p = u.size
    h = 1e-5
    pts = np.repeat(u[None], 1 + 2 * p, axis=0)
    lo = np.maximum(u - h, 0.0)
    hi = np.minimum(u + h, 1.0)
    for j in range(p):
        pts[1 + 2 * j, j] = hi[j]
        pts[2 + 2 * j, j] = lo[j]
    pred = simulator.predict(pts)
    res = objective.residuals(pred, pts)
    jac_u = np.empty((res.shape[1], p))
    dvalue = np.empty(p)
    for j, par in enumerate(objective.parameters):
        jac_u[:, j] = (res[1 + 2 * j] - res[2 + 2 * j]) / (hi[j] - lo[j])
        dvalue[j] = (par.to_value(hi[j]) - par.to_value(lo[j])) / (hi[j] - lo[j])
    return res[0], jac_u / dvalue


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
    objective = _objective(problem)
    free = np.arange(p)

    def task(u0):
        return lambda evaluate: _local_solve(objective, evaluate, u0, free)

    solved = _run_tasks(simulator.predict, [task(u0) for _, u0 in origins])
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
    res, jac = _jacobian_values(simulator, objective, u)
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


# --------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A 95 % interval for one parameter.

    Attributes
    ----------
    parameter : ParameterSpec
        The parameter.
    estimate : float
        Best fit (parameter's units).
    lower, upper : float
        Interval ends (parameter's units).
    method : str
        ``"profile"`` or ``"bootstrap"``.
    lower_open, upper_open : bool
        True when the profile reached the bound on that side without crossing the
        threshold: the data (and prior) do not rule out any value up to the bound.
    note : str
        Plain words on anything unusual (a better fit found along the profile ...).
    """

    parameter: ParameterSpec
    estimate: float
    lower: float
    upper: float
    method: str
    lower_open: bool = False
    upper_open: bool = False
    note: str = ""


def _profile_side(
    objective: _Objective,
    evaluate: Callable[[np.ndarray], np.ndarray],
    u_best: np.ndarray,
    dev_best: float,
    j: int,
    direction: int,
    first_step: float,
    threshold: float,
) -> tuple[float, bool, float]:
    """Walk one side of parameter ``j``'s profile until the deviance rises by ``threshold``.

    Returns
    -------
    tuple
        ``(u_j at the crossing or the bound, reached bound without crossing, lowest
        deviance seen)``.
    """
    p = u_best.size
    free = np.array([k for k in range(p) if k != j], dtype=int)
    current = u_best.copy()
    x_in, d_in = float(u_best[j]), 0.0  # last point inside the interval
    lowest = dev_best
    step = first_step
    bound = 1.0 if direction > 0 else 0.0

    def profile_at(x: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        u0 = start.copy()
        u0[j] = x
        u, res, _, _ = _local_solve(objective, evaluate, u0, free, max_nfev=100)
        return objective.deviance(res) - dev_best, u

    for _ in range(40):
        if x_in == bound:
            return bound, True, lowest
        x = x_in + direction * step
        x = min(x, 1.0) if direction > 0 else max(x, 0.0)
        d, u = profile_at(x, current)
        lowest = min(lowest, dev_best + d)
        if d >= threshold:
            # the crossing lies between x_in (inside) and x (outside): regula falsi
            x_out, d_out = x, d
            for _ in range(30):
                t = (threshold - d_in) / (d_out - d_in) if d_out > d_in else 0.5
                xm = x_in + min(max(t, 0.05), 0.95) * (x_out - x_in)
                dm, um = profile_at(xm, current)
                lowest = min(lowest, dev_best + dm)
                if abs(dm - threshold) < 1e-3 * threshold or abs(x_out - x_in) < 1e-9:
                    return xm, False, lowest
                if dm < threshold:
                    x_in, d_in, current = xm, dm, um
                else:
                    x_out, d_out = xm, dm
            return 0.5 * (x_in + x_out), False, lowest
        moved = abs(x - u_best[j])
        if d > 1e-12:
            want = moved * (math.sqrt(threshold / d) - 1.0) * 1.2
            step = min(max(want, 0.5 * step), 4.0 * step)
        else:
            step *= 4.0
        x_in, d_in, current = x, d, u
    return x_in, False, lowest


def profile_intervals(
    problem: Problem,
    simulator: Simulator,
    best: FitResult,
    *,
    threshold: float = CHI2_95,
) -> list[Interval]:
    """Profile-likelihood 95 % intervals of every parameter.

    For each parameter, its value is moved away from the estimate and the others are
    re-optimized, until the objective (sum of squared standardized residuals, sigmas taken
    as known standard errors) rises by ``threshold`` (3.84, the chi-square(1) 95 % point)
    or the bound is reached. All profiles run at once, their evaluations batched.

    Parameters
    ----------
    problem : Problem
        The problem.
    simulator : Simulator
        Model evaluations.
    best : FitResult
        The estimate.
    threshold : float
        Rise of the objective that ends the interval (dimensionless).

    Returns
    -------
    list of Interval
        One per parameter; each contains its estimate.
    """
    objective = _objective(problem)
    jtj = best.jacobian.T @ best.jacobian
    scale = np.array(
        [
            abs(par.to_value(min(best.u[j] + 1e-6, 1.0)) - par.to_value(max(best.u[j] - 1e-6, 0)))
            / (min(best.u[j] + 1e-6, 1.0) - max(best.u[j] - 1e-6, 0.0))
            for j, par in enumerate(problem.parameters)
        ]
    )
    jtj_u = jtj * np.outer(scale, scale)
    cov_u = np.linalg.pinv(jtj_u, rcond=1e-12)
    tasks, keys = [], []
    for j in range(problem.n_parameters):
        var = cov_u[j, j]
        first = math.sqrt(threshold * var) if var > 0 and math.isfinite(var) else 0.1
        first = min(max(first, 1e-4), 0.5)
        for direction in (-1, 1):
            keys.append((j, direction))
            tasks.append(
                lambda evaluate, j=j, d=direction, f=first: _profile_side(
                    objective, evaluate, best.u, best.deviance, j, d, f, threshold
                )
            )
    sides = dict(zip(keys, _run_tasks(simulator.predict, tasks), strict=True))
    out = []
    for j, par in enumerate(problem.parameters):
        (x_lo, open_lo, low1), (x_hi, open_hi, low2) = sides[(j, -1)], sides[(j, 1)]
        note = ""
        lowest = min(low1, low2)
        if lowest < best.deviance - 1e-6:
            note = (
                f"the profile found a fit better by {best.deviance - lowest:.3g}: the estimate"
                " may not be the global minimum"
            )
        lo = float(min(par.to_value(x_lo), best.estimate[j]))
        hi = float(max(par.to_value(x_hi), best.estimate[j]))
        out.append(
            Interval(par, float(best.estimate[j]), lo, hi, "profile", open_lo, open_hi, note)
        )
    return out


def bootstrap_intervals(
    problem: Problem,
    simulator: Simulator,
    best: FitResult,
    *,
    n: int,
    seed: int | np.random.Generator | None = 0,
) -> tuple[list[Interval], np.ndarray]:
    """Residual-bootstrap 95 % percentile intervals.

    Synthetic data are the fitted values plus standardized residuals of the fit drawn with
    replacement (scaled back by each row's sigma and weight, and inflated by
    ``sqrt(m / (m - p))`` for the degrees of freedom the fit used when ``m > p``); each set
    is refitted from the estimate. Rows no parameter can change (a zero Jacobian row) do not
    enter the residual pool. A prior is a pseudo-observation: its centre is redrawn from the
    prior itself (a standard normal shift of its standardized residual), so a parameter only
    its prior determines keeps the prior's width.

    Parameters
    ----------
    problem : Problem
        The problem.
    simulator : Simulator
        Model evaluations.
    best : FitResult
        The estimate.
    n : int
        Number of bootstrap samples.
    seed : int or numpy.random.Generator, optional
        Seed of the resampling.

    Returns
    -------
    tuple
        ``(intervals, estimates)`` with ``estimates`` of shape ``(n, p)`` (parameter units).
    """
    rng = make_generator(seed)
    objective = _objective(problem)
    m = len(problem.rows)
    weight = objective.weight
    data_jac = best.jacobian[:m]
    informative = (weight > 0) & (np.abs(data_jac).sum(axis=1) > 0)
    pool = best.residuals[:m][informative]
    p = problem.n_parameters
    if pool.size == 0:
        raise CalibrationError("bootstrap: no observation depends on the parameters")
    if pool.size > p:
        pool = pool * math.sqrt(pool.size / (pool.size - p))
    draws = rng.choice(pool, size=(n, m), replace=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        noise = np.where(weight > 0, draws * objective.sigma / np.sqrt(weight), 0.0)
    synthetic = best.predicted[None] + noise
    n_prior = best.residuals.size - m
    shifts = rng.standard_normal((n, n_prior)) if n_prior else None
    free = np.arange(p)

    def task(k):
        obj = _Objective(
            synthetic[k],
            objective.sigma,
            weight,
            objective.parameters,
            objective.loss,
            objective.f_scale,
            None if shifts is None else shifts[k],
        )
        return lambda evaluate: _local_solve(obj, evaluate, best.u, free)[0]

    solved = _run_tasks(simulator.predict, [task(k) for k in range(n)])
    u = np.array(solved)
    values = np.column_stack([par.to_value(u[:, j]) for j, par in enumerate(problem.parameters)])
    out = []
    for j, par in enumerate(problem.parameters):
        lo, hi = np.quantile(values[:, j], [0.025, 0.975])
        out.append(Interval(par, float(best.estimate[j]), float(lo), float(hi), "bootstrap"))
    return out, values


# --------------------------------------------------------------------------------------
# Fit statistics and identifiability
# --------------------------------------------------------------------------------------

#: Columns of ``fit.csv``.
FIT_COLUMNS = [
    "indicator",
    "area",
    "area_type",
    "compared_with",
    "n",
    "rmse",
    "mape",
    "r2",
    "theil_um",
    "theil_us",
    "theil_uc",
]


def fit_statistics(table: pd.DataFrame) -> pd.DataFrame:
    """Fit statistics per indicator and area.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``indicator, area, area_type, compared_with, observed, simulated`` (data
        units), one row per observation.

    Returns
    -------
    pandas.DataFrame
        Columns `FIT_COLUMNS`: ``n``; ``rmse`` (data units); ``mape`` (percent of the
        observed values; NaN when one is 0); ``r2`` = 1 - SSE / SST around the observed mean
        and Theil's decomposition of the mean squared error into bias ``theil_um``,
        unequal variation ``theil_us`` and unequal covariation ``theil_uc`` (fractions that
        sum to 1), the last four only where ``n >= 3`` (NaN otherwise, or when undefined).
    """
    records = []
    for key, g in table.groupby(["indicator", "area", "area_type"], sort=False):
        obs = g.observed.to_numpy(dtype=float)
        sim = g.simulated.to_numpy(dtype=float)
        n = obs.size
        err = sim - obs
        mse = float(np.mean(err**2))
        rec = {
            "indicator": key[0],
            "area": key[1],
            "area_type": key[2],
            "compared_with": g.compared_with.iloc[0],
            "n": n,
            "rmse": math.sqrt(mse),
            "mape": float(np.mean(np.abs(err / obs)) * 100) if np.all(obs != 0) else math.nan,
            "r2": math.nan,
            "theil_um": math.nan,
            "theil_us": math.nan,
            "theil_uc": math.nan,
        }
        if n >= 3:
            sst = float(np.sum((obs - obs.mean()) ** 2))
            if sst > 0:
                rec["r2"] = 1.0 - float(np.sum(err**2)) / sst
            if mse > 0:
                s_s, s_a = float(sim.std()), float(obs.std())
                r = (
                    float(np.mean((sim - sim.mean()) * (obs - obs.mean())) / (s_s * s_a))
                    if s_s > 0 and s_a > 0
                    else 0.0
                )
                rec["theil_um"] = (sim.mean() - obs.mean()) ** 2 / mse
                rec["theil_us"] = (s_s - s_a) ** 2 / mse
                rec["theil_uc"] = 2 * (1 - r) * s_s * s_a / mse
        records.append(rec)
    return pd.DataFrame(records, columns=FIT_COLUMNS)


@dataclass(frozen=True)
class Identifiability:
    """How well the data pin the parameters down.

    Attributes
    ----------
    correlation : numpy.ndarray
        Correlation matrix of the estimates from the Gauss-Newton covariance, ``(p, p)``.
    pairs : list of tuple
        ``(label a, label b, correlation)`` with ``|correlation| > 0.9``.
    at_bound : list of tuple
        ``(label, "lower" | "upper")``.
    undetermined : list of tuple
        ``(label, plain-words reason)``.
    prior_ratio : numpy.ndarray
        For a parameter with a prior, the width of its linearized 95 % interval over the
        prior's own width (1: the data add nothing; near 0: the data dominate); NaN
        without a prior.
    weak_directions : list of str
        Combinations of parameters the data hardly change, in plain words.
    """

    correlation: np.ndarray
    pairs: list[tuple[str, str, float]]
    at_bound: list[tuple[str, str]]
    undetermined: list[tuple[str, str]]
    prior_ratio: np.ndarray
    weak_directions: list[str]


def identifiability(
    problem: Problem, best: FitResult, intervals: Sequence[Interval]
) -> Identifiability:
    """Judge which parameters the data determine.

    Parameters
    ----------
    problem : Problem
        The problem.
    best : FitResult
        The estimate (its Jacobian).
    intervals : sequence of Interval
        Profile intervals, one per parameter in order.

    Returns
    -------
    Identifiability
        Correlations, bounds hit, parameters not determined and weak directions.
    """
    p = problem.n_parameters
    m = len(problem.rows)
    labels = [par.label for par in problem.parameters]
    # Scale columns to relative changes so the matrix is well conditioned.
    scale = np.array([max(abs(v), 1e-12) for v in best.estimate])
    jac = best.jacobian * scale
    info = jac.T @ jac
    cov = np.linalg.pinv(info, rcond=1e-12)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    pairs = [
        (labels[a], labels[b], float(corr[a, b]))
        for a in range(p)
        for b in range(a + 1, p)
        if abs(corr[a, b]) > 0.9
    ]
    data_info = np.sum(jac[:m] ** 2, axis=0)
    prior_ratio = np.full(p, math.nan)
    for j, par in enumerate(problem.parameters):
        if par.prior is not None:
            prior_sd = (
                par.prior.spread
                if par.prior.distribution == "normal"
                else par.prior.spread * abs(best.estimate[j])
            ) / scale[j]
            prior_ratio[j] = min(1.0, sd[j] / prior_sd) if prior_sd > 0 else math.nan
    at_bound = [(labels[j], f) for j, f in enumerate(best.at_bound) if f != "no"]
    undetermined = []
    for j, iv in enumerate(intervals):
        reasons = []
        if data_info[j] == 0:
            reasons.append("no observation used depends on it")
        if iv.lower_open and iv.upper_open:
            reasons.append("its 95 % profile interval runs from bound to bound")
        elif iv.lower_open or iv.upper_open:
            side = "lower" if iv.lower_open else "upper"
            reasons.append(
                f"the data do not bound it from the {side} side (the interval ends at"
                f" the {side} bound)"
            )
        if prior_ratio[j] > 0.7:
            reasons.append(
                f"the data narrow its prior by only {1 - prior_ratio[j]:.0%} (linearized at"
                " the estimate): its uncertainty is mostly the prior's"
            )
        if reasons:
            undetermined.append((labels[j], "; ".join(reasons)))
    weak = []
    if p > 0:
        _, s, vt = np.linalg.svd(jac, full_matrices=False)
        smax = s.max() if s.size else 0.0
        for k in range(s.size):
            if smax > 0 and s[k] < 1e-3 * smax:
                order = np.argsort(-np.abs(vt[k]))
                terms = [f"{vt[k, i]:+.2f} x {labels[i]}" for i in order[:4] if abs(vt[k, i]) > 0.1]
                weak.append(
                    "relative changes " + ", ".join(terms) + f" change the fit {s[k] / smax:.1e}"
                    " times as much as the best-determined direction"
                )
        if p > m:
            weak.append(f"{p} parameters against {m} observations: the fit cannot determine all")
    return Identifiability(corr, pairs, at_bound, undetermined, prior_ratio, weak)


# --------------------------------------------------------------------------------------
# The verb
# --------------------------------------------------------------------------------------


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
        14 regions in model order, then the aggregate), in the indicator's data units.
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
        The columns of `Problem.rows` plus ``simulated`` (data units) and ``residual``
        (``sqrt(weight) * (simulated - observed) / sigma``).
    """
    table = problem.rows.copy()
    table["simulated"] = best.predicted
    table["residual"] = best.residuals[: len(table)]
    return table


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
    )


def trajectories(
    problem: Problem, simulator: Simulator, u: np.ndarray, final_time: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulate every indicator of the spec at one parameter vector.

    Parameters
    ----------
    problem : Problem
        The problem.
    simulator : Simulator
        Model evaluations (its run counter is updated).
    u : numpy.ndarray
        Unit coordinates, shape ``(p,)``.
    final_time : float
        Last simulated year (year).

    Returns
    -------
    tuple
        ``(times, values)``: saved years and indicator -> ``(n_times, n_regions + 1)``
        (regions, then the aggregate) in data units.
    """
    out = simulator.engine.run_batch(
        problem.base_params,
        batch=problem.batch(np.asarray(u)[None]),
        final_time=final_time,
        variables=problem.variables,
    )
    simulator.n_runs += 1
    simulator.n_calls += 1
    values = {}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for name, ind in problem.spec.indicators.items():
            values[name] = (
                _with_aggregate(out.values, ind, len(problem.model.regions))[0] * ind.scale
            )
    return np.asarray(out.times, dtype=float), values


def _dimension(model: ModelInfo):
    dim = model.spec.dimension
    if dim is None:
        raise CalibrationError(
            f"{model.path}: calibration compares regions with data; the model spec names no"
            " region dimension"
        )
    return dim


def load_problem(
    data: str | os.PathLike,
    spec: str | os.PathLike,
    model: ModelInfo,
    *,
    areas: AreaMap | None = None,
    base_params: Mapping | None = None,
) -> Problem:
    """Read the observations and the spec and build the problem.

    Parameters
    ----------
    data : path-like
        Observation CSV.
    spec : path-like
        Calibration spec (YAML).
    model : ModelInfo
        The model.
    areas : AreaMap, optional
        Area mapping; the shipped one when omitted.
    base_params : mapping, optional
        Constants under the estimated ones (e.g. a ``--params`` file); the estimated ones
        start from these values instead of the ``.mdl``'s.

    Returns
    -------
    Problem
        Ready for `calibrate`.
    """
    from sdplanner.data import read_observations

    calibration_spec = load_spec(spec, model)
    if areas is None:
        areas = load_area_mapping(None, _dimension(model))
    observations = read_observations(data, areas)
    return build_problem(model, calibration_spec, observations, base_params=base_params)
