"""The report's own figures: a calibration's fit and its parameter intervals.

Drawn from the tables of ``sdplanner calibrate`` (``observations.csv``, ``parameters.csv``)
through `sdplanner.style` (the Agg canvas, plain tick labels); the projections of the report
are those of ``sdplanner compare`` (`sdplanner.figures`). Nothing here computes a statistic
beyond the ratio each figure shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sdplanner.style import new_figure, style_axes

__all__ = ["fit_figure", "intervals_figure"]


def fit_figure(observations: pd.DataFrame):
    """Plot simulated against observed values of a calibration, as a ratio.

    Parameters
    ----------
    observations : pandas.DataFrame
        ``observations.csv`` of ``sdplanner calibrate`` (``indicator, area, year, observed,
        simulated`` and optionally ``sigma``).

    Returns
    -------
    matplotlib.figure.Figure or None
        Each row's simulated value divided by the observed one (dimensionless; 1 is a
        perfect fit) with the observation's ±1 sigma band; None when the columns are missing.
    """
    need = ("indicator", "observed", "simulated")
    if any(c not in observations.columns for c in need):
        return None
    rows = observations[pd.to_numeric(observations.observed, errors="coerce").fillna(0) != 0]
    rows = rows.head(60)
    if rows.empty:
        return None
    obs = pd.to_numeric(rows.observed, errors="coerce").to_numpy(dtype=float)
    sim = pd.to_numeric(rows.simulated, errors="coerce").to_numpy(dtype=float)
    labels = [
        " · ".join(str(r[c]) for c in ("indicator", "area", "year") if c in rows.columns)
        for _, r in rows.iterrows()
    ]
    fig = new_figure(7.5, max(2.4, 1.0 + 0.22 * len(rows)))
    ax = fig.add_subplot()
    ypos = np.arange(len(rows))[::-1]
    if "sigma" in rows.columns:
        sig = np.abs(pd.to_numeric(rows.sigma, errors="coerce").to_numpy(dtype=float) / obs)
        ax.errorbar(np.ones(len(rows)), ypos, xerr=sig, fmt="none", ecolor="0.6", lw=3, alpha=0.6)
    ax.axvline(1.0, color="0.3", lw=1)
    ax.scatter(sim / obs, ypos, color="#c2410c", zorder=3, s=18, label="simulated ÷ observed")
    ax.set_yticks(ypos, labels, fontsize=7)
    ax.set_xlabel("simulated ÷ observed (grey: observed ± 1 sigma)")
    ax.set_title("Calibration fit")
    style_axes(ax, y=False, grid="x")
    return fig


def intervals_figure(parameters: pd.DataFrame):
    """Plot each parameter's 95 % interval relative to its estimate.

    Parameters
    ----------
    parameters : pandas.DataFrame
        ``parameters.csv`` (``parameter, region, estimate, lower_95, upper_95, method``).

    Returns
    -------
    matplotlib.figure.Figure or None
        Intervals divided by the estimate (dimensionless; the estimate is 1); None when the
        columns are missing or no estimate is non-zero.
    """
    need = ("parameter", "estimate", "lower_95", "upper_95")
    if any(c not in parameters.columns for c in need):
        return None
    frame = parameters.copy()
    for col in need[1:]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame = frame[(frame.estimate != 0) & frame.estimate.notna()].head(60)
    if frame.empty:
        return None
    labels = []
    for _, r in frame.iterrows():
        label = str(r.parameter)
        if "region" in frame.columns and isinstance(r.region, str) and r.region:
            label += f" [{r.region}]"
        if "method" in frame.columns and isinstance(r.method, str):
            label += f" ({r.method})"
        labels.append(label)
    fig = new_figure(7.5, max(2.4, 1.0 + 0.25 * len(frame)))
    ax = fig.add_subplot()
    ypos = np.arange(len(frame))[::-1]
    est = frame.estimate.to_numpy(dtype=float)
    lo = frame.lower_95.to_numpy(dtype=float) / est
    hi = frame.upper_95.to_numpy(dtype=float) / est
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    ax.hlines(ypos, lo, hi, color="#0f766e", lw=3)
    ax.scatter(np.ones(len(frame)), ypos, color="black", zorder=3, s=14)
    ax.axvline(1.0, color="0.6", lw=1, ls="--")
    ax.set_yticks(ypos, labels, fontsize=7)
    ax.set_xlabel("95 % interval ÷ estimate")
    ax.set_title("Parameter intervals")
    style_axes(ax, y=False, grid="x")
    return fig
