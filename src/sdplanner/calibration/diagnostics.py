"""How well a calibration fits and what its data determine: fit statistics, identifiability."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sdplanner.calibration.fit import FitResult
    from sdplanner.calibration.intervals import Interval
    from sdplanner.calibration.problem import Problem

__all__ = ["FIT_COLUMNS", "Identifiability", "fit_statistics", "identifiability"]

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
    data_information : numpy.ndarray
        Per parameter, the data's information about its relative change (sum of the data
        rows' squared Jacobian, the column scaled by the estimate); compare with a
        log-normal prior's ``1 / sdlog**2``.
    """

    correlation: np.ndarray
    pairs: list[tuple[str, str, float]]
    at_bound: list[tuple[str, str]]
    undetermined: list[tuple[str, str]]
    prior_ratio: np.ndarray
    weak_directions: list[str]
    data_information: np.ndarray = field(default_factory=lambda: np.zeros(0))


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
    return Identifiability(corr, pairs, at_bound, undetermined, prior_ratio, weak, data_info)
