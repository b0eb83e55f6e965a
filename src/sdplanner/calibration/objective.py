"""The calibration objective: standardized residuals, robust losses and one local solve.

Residuals are ``sqrt(weight) * (simulated - observed) / sigma`` for the data rows, then one
residual per prior. `local_solve` minimizes their (robust) sum of squares over some
coordinates with `scipy.optimize.least_squares` in unit coordinates between the bounds;
`jacobian_values` differentiates the residuals with respect to the parameter values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize

from sdplanner.calibration.spec import ParameterSpec

if TYPE_CHECKING:
    from sdplanner.calibration.problem import Problem
    from sdplanner.calibration.simulate import Simulator

__all__ = ["Objective", "group_codes", "jacobian_values", "local_solve", "make_objective"]

_FD_STEP = 1e-6  # forward-difference step in unit coordinates
_PENALTY = 1e3  # standardized residual given to a run that returns NaN or inf


@dataclass
class Objective:
    """Residuals of one task: standardized data residuals then prior residuals.

    Attributes
    ----------
    observed, sigma, weight : numpy.ndarray
        Per used row: the observed value and its standard error (data units) and the
        weight of its squared residual (dimensionless).
    parameters : tuple of ParameterSpec
        The estimated values (their priors add residuals).
    loss, f_scale : str, float
        The loss of `scipy.optimize.least_squares` and its soft threshold.
    prior_shift : numpy.ndarray or None
        Shifts of the prior residuals (a bootstrap redraws the priors' centres).
    groups : numpy.ndarray or None
        Offset group of each row (an integer code, -1 for none): rows of a group share one
        unknown level offset, chosen to minimize their squared residuals (so only their
        changes count).
    """

    observed: np.ndarray
    sigma: np.ndarray
    weight: np.ndarray
    parameters: tuple[ParameterSpec, ...]
    loss: str
    f_scale: float
    prior_shift: np.ndarray | None = None
    groups: np.ndarray | None = None

    def _scaled(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return raw standardized residuals (NaN set to 0), their scale and the NaN mask."""
        a = np.sqrt(self.weight) / self.sigma
        with np.errstate(invalid="ignore"):
            r = np.sqrt(self.weight) * (np.atleast_2d(pred) - self.observed) / self.sigma
        bad = ~np.isfinite(r)
        return np.where(bad, 0.0, r), a, bad

    def offsets(self, pred: np.ndarray) -> np.ndarray:
        """Return each row's fitted level offset (data units; 0 outside offset groups).

        Parameters
        ----------
        pred : numpy.ndarray
            ``(k, m)`` simulated values (data units).

        Returns
        -------
        numpy.ndarray
            ``(k, m)``: the offset added to the simulated value of each row of a group,
            ``-sum(a_i r_i) / sum(a_i^2)`` with ``a_i = sqrt(weight_i) / sigma_i``.
        """
        r, a, _ = self._scaled(pred)
        out = np.zeros_like(r)
        if self.groups is None:
            return out
        for g in np.unique(self.groups[self.groups >= 0]):
            idx = np.flatnonzero(self.groups == g)
            norm = float(a[idx] @ a[idx])
            if norm > 0:
                out[:, idx] = (-(r[:, idx] @ a[idx]) / norm)[:, None]
        return out

    def residuals(self, pred: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Return the standardized residuals, offsets fitted, then the priors' residuals.

        Parameters
        ----------
        pred : numpy.ndarray
            ``(k, m)`` simulated values (data units).
        u : numpy.ndarray
            ``(k, p)`` unit coordinates of the parameters.

        Returns
        -------
        numpy.ndarray
            ``(k, m + n_priors)``; a row whose run failed gets a large residual.
        """
        u = np.atleast_2d(u)
        r, a, bad = self._scaled(pred)
        if self.groups is not None and (self.groups >= 0).any():
            r = r + a * self.offsets(pred)
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


def local_solve(
    objective: Objective,
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


def make_objective(problem: Problem, observed: np.ndarray | None = None) -> Objective:
    """Return the objective of a problem.

    Parameters
    ----------
    problem : Problem
        The problem (its rows' observed values, sigmas and weights, and its loss).
    observed : numpy.ndarray, optional
        Observed values (data units) instead of the problem's, e.g. a bootstrap sample.

    Returns
    -------
    Objective
        Residuals and deviance of the problem.
    """
    rows = problem.rows
    return Objective(
        observed=rows.observed.to_numpy(dtype=float) if observed is None else observed,
        sigma=rows.sigma.to_numpy(dtype=float),
        weight=rows.weight.to_numpy(dtype=float),
        parameters=problem.parameters,
        loss=problem.spec.loss,
        f_scale=problem.spec.f_scale,
        groups=group_codes(rows.offset_group) if "offset_group" in rows else None,
    )


def group_codes(groups) -> np.ndarray | None:
    """Return integer codes of offset groups (-1 for a row in none), or None without any.

    Parameters
    ----------
    groups : sequence of str
        Each row's offset group key ("" for none).

    Returns
    -------
    numpy.ndarray or None
        Codes in order of first appearance.
    """
    keys = [str(g) for g in groups]
    if not any(keys):
        return None
    order = {k: i for i, k in enumerate(dict.fromkeys(k for k in keys if k))}
    return np.array([order.get(k, -1) for k in keys], dtype=int)


def jacobian_values(
    simulator: Simulator, objective: Objective, u: np.ndarray
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
