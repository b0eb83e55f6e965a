"""Figures of ensembles and sensitivity analyses: fan charts and Sobol bar charts.

Every function takes result tables and returns ``(fig, axes)``; the caller saves or shows
the figure. Figures are built on `matplotlib.figure.Figure` directly (the Agg canvas), so
nothing here touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdplanner.resources import data_path
from sdplanner.spec import Dimension

__all__ = ["fan_chart", "observed_points", "sobol_chart"]


@cache
def _seed_figures(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


def observed_points(
    variable: str, dimension: Dimension | None, path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Return the observed figures of a variable for the regions and their aggregate.

    Parameters
    ----------
    variable : str
        Output variable (an ``indicator`` of the observation file).
    dimension : Dimension or None
        The model's region dimension (None: no points).
    path : path-like, optional
        Observation file; ``data/seed_figures.csv`` when omitted.

    Returns
    -------
    pandas.DataFrame
        Columns ``region, year, value``; percent figures are converted to fractions (the
        model's unit for rates). Empty when there is none.
    """
    if dimension is None:
        return pd.DataFrame(columns=["region", "year", "value"])
    frame = _seed_figures(str(path or data_path("seed_figures.csv")))
    rows = frame[(frame["indicator"] == variable) & frame["value"].notna()]
    out = []
    for row in rows.itertuples(index=False):
        kind = getattr(row, "area_type", "")
        if kind == "region" and row.area in dimension.labels:
            region = row.area
        elif kind == "aggregate" and row.area in dimension.aggregate_aliases:
            region = dimension.aggregate
        else:
            continue
        value = float(row.value) / 100.0 if row.unit == "percent" else float(row.value)
        out.append({"region": region, "year": int(row.year), "value": value})
    return pd.DataFrame(out, columns=["region", "year", "value"])


def fan_chart(
    frame: pd.DataFrame,
    variable: str,
    *,
    regions: list[str] | None = None,
    observed: pd.DataFrame | None = None,
    unit: str = "",
    aggregate: str = "",
) -> tuple[Figure, np.ndarray]:
    """Draw fan charts of one variable: one panel per region.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``percentiles.csv`` (columns ``region, variable, year, p05 ... p95``).
    variable : str
        The variable.
    regions : list of str, optional
        Panels, in order; every region of the table (aggregate first) when omitted.
    observed : pandas.DataFrame, optional
        Points to overlay (columns ``region, year, value``), e.g. `observed_points`.
    unit : str, optional
        Unit for the y axis label.
    aggregate : str, optional
        Label of the aggregate rows, drawn first.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    axes : numpy.ndarray
        The panels (2-D array of Axes).
    """
    data = frame[frame["variable"] == variable]
    if regions is None:
        present = list(dict.fromkeys(data["region"]))
        regions = [r for r in present if r == aggregate] + [r for r in present if r != aggregate]
    ncols = min(4, len(regions))
    nrows = -(-len(regions) // ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.5 * nrows + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrows, ncols, sharex=True, squeeze=False))
    for ax, region in zip(axes.flat, regions, strict=False):
        d = data[data["region"] == region].sort_values("year")
        x = d["year"].to_numpy()
        ax.fill_between(x, d["p05"], d["p95"], color="tab:blue", alpha=0.2, lw=0, label="90 %")
        ax.fill_between(x, d["p25"], d["p75"], color="tab:blue", alpha=0.4, lw=0, label="50 %")
        ax.plot(x, d["p50"], color="tab:blue", lw=1.5, label="median")
        if observed is not None and len(observed):
            obs = observed[observed["region"] == region]
            if len(obs):
                ax.plot(obs["year"], obs["value"], "o", color="black", ms=4, label="observed")
        ax.set_title(region, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(regions) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{variable}" + (f" ({unit})" if unit else ""), fontsize=11)
    return fig, axes


def sobol_chart(frame: pd.DataFrame, variable: str) -> tuple[Figure, np.ndarray]:
    """Draw Sobol first-order and total indices of one variable: one panel per year.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``sobol.csv`` (columns ``variable, region, year, parameter, S1, S1_conf, ST,
        ST_conf``).
    variable : str
        The variable.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    axes : numpy.ndarray
        One Axes per year (1-D array).
    """
    data = frame[frame["variable"] == variable]
    years = sorted(data["year"].unique())
    params = list(dict.fromkeys(data["parameter"]))
    height = max(3.0, 0.28 * len(params) + 1.2)
    fig = Figure(figsize=(4.2 * len(years) + 2.5, height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(years), sharey=True, squeeze=False)[0])
    y = np.arange(len(params))
    for ax, year in zip(axes, years, strict=True):
        d = data[data["year"] == year].set_index("parameter").reindex(params)
        ax.barh(
            y - 0.2,
            d["S1"],
            height=0.4,
            xerr=d["S1_conf"],
            color="tab:blue",
            label="first order (S1)",
            error_kw={"lw": 0.8},
        )
        ax.barh(
            y + 0.2,
            d["ST"],
            height=0.4,
            xerr=d["ST_conf"],
            color="tab:orange",
            label="total (ST)",
            error_kw={"lw": 0.8},
        )
        ax.set_title(f"{year}", fontsize=10)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("share of variance", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_yticks(y, params)
    axes[0].invert_yaxis()
    axes[-1].legend(fontsize=7, loc="lower right")
    region = data["region"].iloc[0] if len(data) else ""
    fig.suptitle(f"Sobol indices of {variable} ({region})", fontsize=11)
    return fig, axes
