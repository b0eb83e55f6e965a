"""Figures of a calibration: the model's path beside the figures, by role.

Plot functions return ``(figure, axes)`` built without pyplot (nothing stays registered);
`save_png` writes one atomically. Observations are drawn on the path's scale: the data's unit
at the model's prices and basis, less the row's level offset.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdplanner.calibration.fit import CalibrationResult, all_rows
from sdplanner.units import compared_to_model

__all__ = ["figure_indicators", "plot_indicator", "plotted_with", "save_png"]


def plotted_with(result: CalibrationResult, indicator: str) -> list[str]:
    """Return the indicators drawn in one figure with ``indicator``: its offset group's.

    Parameters
    ----------
    result : CalibrationResult
        The calibration.
    indicator : str
        An indicator of the spec.

    Returns
    -------
    list of str
        ``[indicator]``, or every indicator of its offset group in spec order.
    """
    indicators = result.problem.spec.indicators
    group = indicators[indicator].offset
    if group is None:
        return [indicator]
    return [name for name, ind in indicators.items() if ind.offset == group]


def figure_indicators(rows: pd.DataFrame, result: CalibrationResult) -> list[str]:
    """Return one indicator per figure: the first of each offset group with rows drawn."""
    drawn = rows[rows.role != "anchor"]
    return list(dict.fromkeys(plotted_with(result, name)[0] for name in drawn.indicator))


#: How each role of a row is drawn: marker, filled, label. Fitted rows are evidence;
#: anchors only fix a level; compared rows are shown, not fitted; held-out rows are the
#: test. Rows reproduced by construction are never drawn.
_ROLE_STYLE = {
    "fitted": ("o", True, "fitted"),
    "anchor": ("s", False, "level only (anchor, no evidence)"),
    "compared": ("D", False, "compared, not fitted"),
    "held out": ("^", True, "held out (not fitted)"),
}


def plot_indicator(result: CalibrationResult, indicator: str) -> tuple[Figure, np.ndarray]:
    """Plot one indicator: the simulated path and the observations, one panel per area.

    Each panel is a model area (a region or the aggregate) with the observations compared
    with it (a sub-area's rows appear in its region's panel) on the path's scale (the
    data's unit at the model's prices and basis, less the row's level offset), with 95 %
    error bars (1.96 sigma). Fitted rows are filled circles; held-out rows filled
    triangles, past a line where the fit window ends; rows compared without fitting are
    hollow. Rows of the indicators of its offset group are drawn with it
    (`plotted_with`). Anchors (a level, no evidence: drawn, they would sit on the path) and
    rows reproduced by construction are not drawn.

    Parameters
    ----------
    result : CalibrationResult
        The calibration.
    indicator : str
        An indicator of the spec with rows compared.

    Returns
    -------
    tuple
        ``(figure, axes)``; the caller saves the figure.
    """
    table = all_rows(result)
    family = plotted_with(result, indicator)
    rows = table[table.indicator.isin(family) & (table.role != "anchor")]
    panels = list(dict.fromkeys(rows.compared_with))
    n = len(panels)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.6 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    path = result.trajectories[indicator]
    spec = result.problem.spec.indicators[indicator]
    unit = {"percent": "%", "fraction": "fraction"}.get(spec.unit, "")
    if spec.prices:
        unit = f"constant {result.problem.model.spec.price_base} yuan"
    until = result.problem.until
    regions = result.problem.model.regions
    for ax, area in zip(axes, panels, strict=False):
        col = regions.index(area) if area in regions else len(regions)
        ax.plot(result.times, path[:, col], color="C0", label="model")
        if until is not None:
            ax.axvline(until + 0.5, color="0.5", linestyle=":", linewidth=1, label="fit ends")
        mine = rows[rows.compared_with == area]
        for k, (name, g) in enumerate(mine.groupby("area", sort=False)):
            for role, r in g.groupby("role", sort=False):
                marker, filled, label = _ROLE_STYLE[role]
                # observations on the path's scale: the model's prices and basis
                scale = spec.conversion.scale
                display = scale / r.factor
                color = f"C{k + 1}"
                ax.errorbar(
                    r.year,
                    compared_to_model(r.observed, r.offset, r.factor) * scale,
                    yerr=1.96
                    * r.sigma
                    * display
                    / np.sqrt(np.where(r.weight > 0, r.weight, np.nan)),
                    fmt=marker,
                    color=color,
                    markerfacecolor=color if filled else "white",
                    capsize=3,
                    label=(name if name != area else "data") + f": {label}",
                )
        ax.set_title(area, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=6)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{indicator}" + (f" ({unit})" if unit else ""), fontsize=10)
    return fig, axes


def save_png(fig: Figure, target: Path) -> Path:
    """Save a figure as PNG atomically (a temporary file, then a rename); return the path."""
    tmp = target.with_name(f".{target.name}.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, target)
    return target
