"""Backtest: calibrate on the figures up to a year, project, and score every later figure.

`backtest` fits a spec to the rows dated up to ``until`` (with a scenario's levers in
force), projects the model to the last later row, and compares every later row that maps to
a model variable with the projection. Its band is the spread of the projections over the
bootstrap parameter sets of the fit (each a full refit to resampled data), plus observation
noise at each row's sigma: the 2.5 and 97.5 percentiles. A row in an offset group takes its
group's level from the rows before ``until`` at each parameter set (a group without such a
row cannot be scored and is listed). Nothing here draws or writes
(`sdplanner.calibration.backtest_outputs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdplanner.calibration.diagnostics import fit_statistics
from sdplanner.calibration.fit import CalibrationResult, calibrate
from sdplanner.calibration.objective import make_objective
from sdplanner.calibration.problem import Problem
from sdplanner.calibration.simulate import Simulator
from sdplanner.errors import CalibrationError
from sdplanner.rng import make_generator

__all__ = [
    "MIN_BOOTSTRAP",
    "SCORE_COLUMNS",
    "SUMMARY_COLUMNS",
    "Backtest",
    "backtest",
    "band_width",
    "summarize",
]

#: Fewest bootstrap parameter sets a band is made of.
MIN_BOOTSTRAP = 200
#: Columns of ``scores.csv``.
SCORE_COLUMNS = [
    "series",
    "area",
    "year",
    "observed",
    "projected",
    "error",
    "band_low",
    "band_high",
    "inside_band",
]
#: Columns of ``summary.csv``.
SUMMARY_COLUMNS = [
    "indicator",
    "n",
    "rmse",
    "mape",
    "mean_error",
    "theil_um",
    "theil_us",
    "theil_uc",
    "band_coverage",
]
#: Key of the band's observation-noise stream (`sdplanner.rng`), apart from calibrate's.
_NOISE_STREAM = 2


@dataclass
class Backtest:
    """A backtest's outcome.

    Attributes
    ----------
    calibration : CalibrationResult
        The fit to the rows up to ``until`` (its bootstrap: the band's parameter sets).
    scores : pandas.DataFrame
        `SCORE_COLUMNS` plus ``line``, ``compared_with``, ``sigma``, ``factor`` and
        ``offset`` (the row's level offset at the estimate): one row per scored later
        figure, in data units.
    summary : pandas.DataFrame
        `SUMMARY_COLUMNS`: per indicator.
    unscored : list of str
        Later rows that could not be scored, with the reason.
    until : int
        Last year of the fit window.
    """

    calibration: CalibrationResult
    scores: pd.DataFrame
    summary: pd.DataFrame
    unscored: list[str]
    until: int


def backtest(
    problem: Problem,
    engine,
    *,
    starts: int = 8,
    bootstrap: int = MIN_BOOTSTRAP,
    seed: int = 0,
) -> Backtest:
    """Fit up to ``problem.until``, project, and score the held-out rows.

    Parameters
    ----------
    problem : Problem
        Built with ``until`` (`sdplanner.calibration.build_problem`); its held-out rows are
        scored.
    engine : object
        An engine with ``run_batch`` (the batch engine).
    starts : int
        Latin-hypercube starts of the fit.
    bootstrap : int
        Bootstrap refits, at least `MIN_BOOTSTRAP`: the band's parameter sets.
    seed : int
        Seed of the fit, the bootstrap and the band's noise (independent streams).

    Returns
    -------
    Backtest
        The fit, the scores and their summary.

    Raises
    ------
    CalibrationError
        A problem without held-out rows, fewer than `MIN_BOOTSTRAP` refits, or a
        projection that is not finite.
    """
    if problem.until is None or problem.held_out.empty:
        raise CalibrationError(
            "backtest: the problem has no rows after a fit window (build it with until)"
        )
    if bootstrap < MIN_BOOTSTRAP:
        raise CalibrationError(
            f"--bootstrap {bootstrap}: expected at least {MIN_BOOTSTRAP} parameter sets for"
            " the band"
        )
    result = calibrate(problem, engine, starts=starts, bootstrap=bootstrap, seed=seed)
    held = result.others[result.others.role == "held out"].reset_index(drop=True)
    scorable = held.offset.notna().to_numpy()
    unscored = [
        f"line {r.line}: {r.indicator}, {r.area}, {r.year}: its offset group has no row up to"
        f" {problem.until}, so its level is unknown"
        for r in held[~scorable].itertuples()
    ]
    held = held[scorable].reset_index(drop=True)
    if held.empty:
        raise CalibrationError(
            f"--fit-until {problem.until}: no later row can be scored (every one lacks a level)"
        )
    projections = _projections(problem, engine, result, held)
    if not np.isfinite(projections).all():
        raise CalibrationError("backtest: a projection is not finite; nothing is written")
    rng = make_generator(seed, _NOISE_STREAM)
    noise = rng.standard_normal(projections.shape) * held.sigma.to_numpy(dtype=float)
    low, high = np.quantile(projections + noise, [0.025, 0.975], axis=0)
    projected = (held.simulated + held.offset).to_numpy(dtype=float)
    observed = held.observed.to_numpy(dtype=float)
    scores = pd.DataFrame(
        {
            "series": held.indicator,
            "area": held.area,
            "year": held.year.astype(int),
            "observed": observed,
            "projected": projected,
            "error": projected - observed,
            "band_low": low,
            "band_high": high,
            "inside_band": (low <= observed) & (observed <= high),
            "line": held.line,
            "compared_with": held.compared_with,
            "sigma": held.sigma,
            "factor": held.factor,
            "offset": held.offset,
        }
    )
    return Backtest(result, scores, summarize(scores), unscored, problem.until)


def _projections(
    problem: Problem, engine, result: CalibrationResult, held: pd.DataFrame
) -> np.ndarray:
    """Return ``(B, n_held)``: each bootstrap set's projection of the held-out rows."""
    values = result.bootstrap
    u = np.column_stack(
        [par.to_unit(values[:, j]) for j, par in enumerate(problem.parameters)]
    ).clip(0.0, 1.0)
    fitted = problem.rows
    anchors = problem.anchors
    table = pd.concat([fitted, anchors, held[fitted.columns]], ignore_index=True)
    pred = Simulator(problem, engine, rows=table).predict(u)
    n_fit, n_anchor = len(fitted), len(anchors)
    level = {}
    offsets = make_objective(problem).offsets(pred[:, :n_fit])
    for j, group in enumerate(fitted.offset_group):
        if group:
            level[group] = offsets[:, j]
    for j, group in enumerate(anchors.offset_group):
        level[group] = anchors.observed.iloc[j] - pred[:, n_fit + j]
    out = pred[:, n_fit + n_anchor :].copy()
    for j, group in enumerate(held.offset_group):
        if group:
            out[:, j] += level[group]
    return out


def summarize(scores: pd.DataFrame) -> pd.DataFrame:
    """Summarize scores per indicator.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``series, observed, projected, inside_band`` (data units).

    Returns
    -------
    pandas.DataFrame
        `SUMMARY_COLUMNS`: ``n``, ``rmse`` (data units), ``mape`` (percent), ``mean_error``
        (projected - observed, data units), Theil's ``theil_um`` (bias), ``theil_us``
        (unequal variation), ``theil_uc`` (unequal covariation; the three sum to 1, where
        ``n >= 3``) and ``band_coverage`` (share of rows inside the band).
    """
    frame = scores.rename(columns={"series": "indicator", "projected": "simulated"}).assign(
        area="", area_type="", compared_with=""
    )
    stats = fit_statistics(frame)
    records = []
    for row in stats.itertuples():
        mine = scores[scores.series == row.indicator]
        records.append(
            {
                "indicator": row.indicator,
                "n": row.n,
                "rmse": row.rmse,
                "mape": row.mape,
                "mean_error": float(mine.projected.mean() - mine.observed.mean()),
                "theil_um": row.theil_um,
                "theil_us": row.theil_us,
                "theil_uc": row.theil_uc,
                "band_coverage": float(mine.inside_band.mean()),
            }
        )
    return pd.DataFrame(records, columns=SUMMARY_COLUMNS)


def band_width(scores: pd.DataFrame) -> pd.Series:
    """Return each row's band width in units of its sigma (dimensionless).

    Parameters
    ----------
    scores : pandas.DataFrame
        ``band_low, band_high, sigma``.

    Returns
    -------
    pandas.Series
        ``(band_high - band_low) / sigma``; 3.92 is observation noise alone.
    """
    return (scores.band_high - scores.band_low) / scores.sigma.where(scores.sigma > 0, math.nan)
