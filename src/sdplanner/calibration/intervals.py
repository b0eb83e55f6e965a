"""95 % intervals of the estimated parameters: profile likelihood and residual bootstrap."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from sdplanner.calibration.batching import run_tasks
from sdplanner.calibration.objective import Objective, local_solve, make_objective
from sdplanner.calibration.spec import ParameterSpec
from sdplanner.errors import CalibrationError
from sdplanner.rng import make_generator

if TYPE_CHECKING:
    from sdplanner.calibration.fit import FitResult
    from sdplanner.calibration.problem import Problem
    from sdplanner.calibration.simulate import Simulator

__all__ = [
    "CHI2_95",
    "Interval",
    "bootstrap_intervals",
    "effective_parameters",
    "profile_intervals",
]

#: Likelihood-ratio threshold of a 95 % profile interval: chi-square(1) quantile.
CHI2_95 = float(stats.chi2.ppf(0.95, 1))


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
    objective: Objective,
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
        u, res, _, _ = local_solve(objective, evaluate, u0, free, max_nfev=100)
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
    objective = make_objective(problem)
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
    sides = dict(zip(keys, run_tasks(simulator.predict, tasks), strict=True))
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


def effective_parameters(jacobian: np.ndarray, m: int, groups: np.ndarray | None = None) -> float:
    """Return the degrees of freedom a fit uses: the trace of its hat matrix, plus offsets.

    With priors (pseudo-observations below the ``m`` data rows of the Jacobian), a
    parameter the data hardly move uses less than one degree of freedom:
    ``trace(J_d (J' J)^+ J_d')`` with ``J_d`` the data rows. Each offset group uses one more.

    Parameters
    ----------
    jacobian : numpy.ndarray
        d residual / d value at the fit, data rows then prior rows, ``(m + n_priors, p)``.
    m : int
        Number of data rows.
    groups : numpy.ndarray, optional
        Offset group codes of the data rows (-1 for none).

    Returns
    -------
    float
        Effective number of parameters (dimensionless).
    """
    scale = np.sqrt(np.sum(jacobian**2, axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    jac = jacobian / scale
    info = jac.T @ jac
    hat = jac[:m] @ np.linalg.pinv(info, rcond=1e-12) @ jac[:m].T
    n_groups = 0 if groups is None else len(set(groups[groups >= 0].tolist()))
    return float(np.trace(hat)) + n_groups


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
    ``sqrt(m / (m - p_eff))`` for the degrees of freedom the fit used, `effective_parameters`:
    a parameter its prior holds uses less than one); each set
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
    objective = make_objective(problem)
    m = len(problem.rows)
    weight = objective.weight
    data_jac = best.jacobian[:m]
    informative = (weight > 0) & (np.abs(data_jac).sum(axis=1) > 0)
    pool = best.residuals[:m][informative]
    p = problem.n_parameters
    if pool.size == 0:
        raise CalibrationError("bootstrap: no observation depends on the parameters")
    used = effective_parameters(best.jacobian, m, objective.groups)
    if pool.size > used:
        pool = pool * math.sqrt(pool.size / (pool.size - used))
    draws = rng.choice(pool, size=(n, m), replace=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        noise = np.where(weight > 0, draws * objective.sigma / np.sqrt(weight), 0.0)
    fitted = best.predicted + objective.offsets(best.predicted[None])[0]
    synthetic = fitted[None] + noise
    n_prior = best.residuals.size - m
    shifts = rng.standard_normal((n, n_prior)) if n_prior else None
    free = np.arange(p)

    def task(k):
        obj = dataclasses.replace(
            objective,
            observed=synthetic[k],
            prior_shift=None if shifts is None else shifts[k],
        )
        return lambda evaluate: local_solve(obj, evaluate, best.u, free)[0]

    solved = run_tasks(simulator.predict, [task(k) for k in range(n)])
    u = np.array(solved)
    values = np.column_stack([par.to_value(u[:, j]) for j, par in enumerate(problem.parameters)])
    out = []
    for j, par in enumerate(problem.parameters):
        lo, hi = np.quantile(values[:, j], [0.025, 0.975])
        out.append(Interval(par, float(best.estimate[j]), float(lo), float(hi), "bootstrap"))
    return out, values
