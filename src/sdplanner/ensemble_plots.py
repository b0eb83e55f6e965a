"""Figures of ensembles and sensitivity analyses: fan charts and Sobol bar charts.

Every function takes result tables and returns ``(fig, axes)``; the caller saves or shows
the figure. Figures are drawn through `sdplanner.style` (the Agg canvas, scenario colours and
titles, plain tick labels) in the model spec's display units, like every other figure.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdplanner.evidence import FitRecord
from sdplanner.evidence import observed_points as points
from sdplanner.resources import data_path
from sdplanner.spec import Dimension, ModelSpec
from sdplanner.style import (
    BAND_ALPHA,
    draw_observed,
    mark_history,
    new_figure,
    scenario_colors,
    scenario_title,
    style_axes,
    year_axis,
)

__all__ = ["fan_chart", "observed_points", "sobol_chart"]


@cache
def _observed(path: str, dimension: Dimension, record: FitRecord | None) -> pd.DataFrame:
    from sdplanner.readers import read_observed

    return points(read_observed(path), dimension, record)


def observed_points(
    variable: str,
    dimension: Dimension | None,
    path: str | os.PathLike | None = None,
    record: FitRecord | None = None,
) -> pd.DataFrame:
    """Return the observed figures of a variable for the regions and their aggregate.

    Parameters
    ----------
    variable : str
        Output variable (an ``indicator`` of the observation file).
    dimension : Dimension or None
        The model's region dimension (None: no points).
    path : path-like, optional
        Observation file; ``data/seed_figures.csv`` when omitted. Read by
        `sdplanner.readers.read_observed` and converted by
        `sdplanner.evidence.observed_points` (percent figures become fractions, the model's
        unit for rates; rows reproduced by construction and anchors left out).
    record : FitRecord, optional
        The calibration in use (`sdplanner.evidence.read_fit_record`); None: every point is
        ``not fitted``.

    Returns
    -------
    pandas.DataFrame
        Columns ``region, year, value, role``. Empty when there is none.
    """
    if dimension is None:
        return pd.DataFrame(columns=["region", "year", "value", "role"])
    frame = _observed(str(path or data_path("seed_figures.csv")), dimension, record)
    rows = frame[frame["indicator"] == variable]
    return rows[["region", "year", "value", "role"]].reset_index(drop=True)


def fan_chart(
    frame: pd.DataFrame,
    variable: str,
    spec: ModelSpec,
    *,
    regions: Sequence[str] | None = None,
    observed: pd.DataFrame | None = None,
    titles: Mapping[str, str] | None = None,
) -> tuple[Figure, np.ndarray]:
    """Draw the fan chart of one variable: median, 25-75 % and 5-95 % of the ensemble.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``percentiles.csv`` (columns ``scenario, region, variable, year, p05 ... p95``; model
        units).
    variable : str
        The variable.
    spec : ModelSpec
        The model's spec (display units, the aggregate, the policy start).
    regions : sequence of str, optional
        One panel each; the aggregate alone by default (the regions' fans look alike: draw
        them by naming them).
    observed : pandas.DataFrame, optional
        Points to overlay (columns ``region, year, value[, role]``, model units), e.g.
        `observed_points`: fitted ones filled, the others hollow.
    titles : mapping, optional
        Scenario name -> title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    axes : numpy.ndarray
        The panels (1-D): x in years, y in the variable's display unit. Every scenario of the
        table is drawn in its colour.
    """
    data = frame[frame["variable"] == variable]
    present = list(dict.fromkeys(data["region"]))
    agg = spec.dimension.aggregate if spec.dimension is not None else None
    if regions is None:
        regions = [agg] if agg in present else present[:1]
    regions = list(regions)
    disp = spec.display(variable)
    scenarios = list(dict.fromkeys(data["scenario"])) if "scenario" in data else [""]
    colors = scenario_colors(scenarios)
    ncols = min(3, len(regions))
    nrows = -(-len(regions) // ncols)
    width, height = (8.0, 4.8) if len(regions) == 1 else (4.6 * ncols, 3.2 * nrows + 1.0)
    fig = new_figure(width, height)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel())
    first = float(data["year"].min()) if len(data) else 0.0
    last = float(data["year"].max()) if len(data) else 1.0
    for ax, region in zip(axes, regions, strict=False):
        mark_history(ax, first, spec.policy_start, text=ax is axes[0])
        for scen in scenarios:
            d = data[(data["region"] == region) & (data["scenario"] == scen)].sort_values("year")
            if d.empty:
                continue
            x = d["year"].to_numpy(dtype=float)
            c = colors[scen]
            name = scenario_title(scen, titles)
            ax.fill_between(
                x,
                d["p05"] * disp.scale,
                d["p95"] * disp.scale,
                color=c,
                alpha=BAND_ALPHA[0],
                lw=0,
                label=f"{name}: 5-95 %",
            )
            ax.fill_between(
                x,
                d["p25"] * disp.scale,
                d["p75"] * disp.scale,
                color=c,
                alpha=BAND_ALPHA[1],
                lw=0,
                label=f"{name}: 25-75 %",
            )
            ax.plot(x, d["p50"] * disp.scale, color=c, lw=1.8, label=f"{name}: median")
        if observed is not None and len(observed):
            draw_observed(ax, observed[observed["region"] == region], disp.scale)
        ax.set_title(region if len(regions) > 1 else "", fontsize=9)
        ax.set_ylabel("\n".join(textwrap.wrap(disp.axis_label, 40)), fontsize=9)
        style_axes(ax, x=False)
        year_axis(ax, first, last)
    for ax in axes[len(regions) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, loc="best")
    where = regions[0] if len(regions) == 1 else f"{len(regions)} regions"
    fig.suptitle(f"{disp.title}: {where}, ensemble percentiles")
    return fig, axes


#: Widest bootstrap half-interval of a Sobol index read without a warning.
SOBOL_CONF_LIMIT = 0.1


def sobol_chart(
    frame: pd.DataFrame, variable: str, spec: ModelSpec, *, base_samples: int | None = None
) -> tuple[Figure, np.ndarray]:
    """Draw Sobol first-order and total indices of one variable with their intervals.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``sobol.csv`` (columns ``variable, region, year, parameter, S1, S1_conf, ST,
        ST_conf``; indices are shares of the output's variance, ``*_conf`` the half-widths of
        their 95 % bootstrap intervals).
    variable : str
        The variable.
    spec : ModelSpec
        The model's spec (the variable's label).
    base_samples : int, optional
        N, stated in the title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    axes : numpy.ndarray
        One Axes per year (1-D): bars of S1 and ST with their intervals, x from -0.25 to
        1.25 (shares of variance; values outside 0-1 are sampling noise, and an interval
        that leaves the axis is cut at its edge).
    """
    data = frame[frame["variable"] == variable]
    years = sorted(data["year"].unique())
    params = list(dict.fromkeys(data["parameter"]))
    height = max(3.2, 0.3 * len(params) + 1.6)
    fig = new_figure(4.4 * len(years) + 2.8, height)
    axes = np.atleast_1d(fig.subplots(1, len(years), sharey=True, squeeze=False)[0])
    y = np.arange(len(params))
    for ax, year in zip(axes, years, strict=True):
        d = data[data["year"] == year].set_index("parameter").reindex(params)
        for offset, key, color, label in (
            (-0.2, "S1", "#1f77b4", "first order (S1)"),
            (0.2, "ST", "#ff7f0e", "total (ST)"),
        ):
            ax.barh(
                y + offset,
                d[key].clip(-0.25, 1.25),
                height=0.4,
                xerr=d[f"{key}_conf"],
                color=color,
                label=f"{label}, 95 % interval",
                error_kw={"lw": 1.0, "capsize": 2},
            )
        ax.set_title(f"{year}", fontsize=10)
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_xlim(-0.25, 1.25)
        ax.set_xlabel("share of the output's variance (Sobol index)", fontsize=8)
        style_axes(ax, y=False, grid="x")
    axes[0].set_yticks(y, [p.replace("_", " ") for p in params], fontsize=8)
    axes[0].invert_yaxis()
    axes[-1].legend(fontsize=7, loc="lower right")
    region = data["region"].iloc[0] if len(data) else ""
    worst = float(np.nanmax(data[["S1_conf", "ST_conf"]].to_numpy(), initial=0.0))
    n = f"N = {base_samples:,}; " if base_samples else ""
    note = (
        f" ({n}intervals up to \u00b1{worst:.2f}: too few samples to rank)"
        if worst > SOBOL_CONF_LIMIT
        else f" ({n}95 % bootstrap intervals)"
    )
    fig.suptitle(f"Sobol indices of {spec.display(variable).label}, {region}{note}", fontsize=11)
    return fig, axes
