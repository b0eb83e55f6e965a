"""Figures from results: projections, regional small multiples, effect per billion yuan.

Every function takes tidy tables (`sdplanner.results`, `sdplanner.compare`) and returns
``(fig, axes)``; the caller saves the figure (`render` gives its bytes). Figures are built
with `matplotlib.figure.Figure` directly, not through ``pyplot``: no GUI backend, no global
figure registry to close, the same output on every machine (PNG through Agg).

Values are drawn in display units (the model spec's, `sdplanner.spec.ModelSpec.display`):
fractions in %, people in millions, yuan in billions; axis labels carry the unit. Observed
figures are converted to the model's units by `observed_points` (a figure in percent becomes
a fraction) and then drawn in the same display units as the lines.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sdplanner.errors import DataError, did_you_mean
from sdplanner.spec import Dimension, ModelSpec

__all__ = [
    "FORMATS",
    "observed_points",
    "plot_effect_per_billion",
    "plot_projection",
    "plot_regional",
    "render",
]

#: Figure formats, by file extension.
FORMATS = ("png", "svg", "pdf")
_PERCENT_UNITS = ("%", "percent", "per cent", "percentage")
_MODELLED_AREA_TYPES = ("region", "aggregate")
_BASELINE_COLOR = "#222222"


def render(fig: Figure, fmt: str = "png", *, dpi: int = 150) -> bytes:
    """Return a figure's file content in a format.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    fmt : {"png", "svg", "pdf"}
        File format.
    dpi : int
        Resolution of PNG output (dots per inch).

    Returns
    -------
    bytes
        The file content.
    """
    if fmt not in FORMATS:
        raise DataError(f"format: expected one of {list(FORMATS)}, found {fmt!r}")
    buf = io.BytesIO()
    metadata = {"Creator": "sdplanner"} if fmt in ("svg", "pdf") else None
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
    return buf.getvalue()


# -- observed figures ------------------------------------------------------------------------


def _unit_factor(unit: object) -> float:
    text = str(unit).strip().lower() if isinstance(unit, str) else ""
    return 0.01 if text.startswith(_PERCENT_UNITS) else 1.0


def observed_points(observed: pd.DataFrame, dimension: Dimension | None) -> pd.DataFrame:
    """Turn observed figures into points comparable with model results.

    Parameters
    ----------
    dimension : Dimension or None
        The model's region dimension (its display names and the aggregate's names); None
        keeps no area.
    observed : pandas.DataFrame
        Columns ``indicator, area, year, value`` and optionally ``unit`` and ``area_type``
        (as in ``data/seed_figures.csv``). A figure whose unit starts with ``percent`` (or is
        ``%``) is divided by 100, so 28.72 percent becomes the fraction 0.2872; other units
        are kept. Areas are kept when they are a region of the dimension or the aggregate
        (any of its names, e.g. ``All 14 regions`` or ``14 regions``); with an
        ``area_type`` column only rows of type ``region`` or ``aggregate`` count (``Tibet``
        is also a province). Rows without a value are dropped.

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, region, year, value`` (``region`` is a display name or
        ``All 14 regions``; ``value`` in the model's units).
    """
    cols = ["indicator", "region", "year", "value"]
    if observed is None or observed.empty or dimension is None:
        return pd.DataFrame(columns=cols)
    aliases = list(dimension.aggregate_aliases)
    frame = observed.copy()
    area = frame["area"].astype(str).str.strip()
    keep = area.isin([*dimension.labels, *aliases])
    if "area_type" in frame.columns:
        kind = frame["area_type"].fillna("").astype(str).str.strip().str.lower()
        keep &= kind.isin(_MODELLED_AREA_TYPES)
    value = pd.to_numeric(frame["value"], errors="coerce")
    keep &= value.notna()
    factor = frame["unit"].map(_unit_factor) if "unit" in frame.columns else 1.0
    out = pd.DataFrame(
        {
            "indicator": frame["indicator"].astype(str).str.strip(),
            "region": area.where(~area.isin(aliases), dimension.aggregate),
            "year": pd.to_numeric(frame["year"], errors="coerce"),
            "value": value * factor,
        }
    )[keep]
    return out.reset_index(drop=True)[cols]


# -- helpers ---------------------------------------------------------------------------------


def _colors(names: Sequence[str]) -> dict[str, str]:
    """Baseline (the first name) in near-black, the others from tab10 in order."""
    cmap = colormaps["tab10"]
    out = {}
    for i, name in enumerate(names):
        out[name] = _BASELINE_COLOR if i == 0 else cmap((i - 1) % 10)
    return out


def _select(results: pd.DataFrame, variable: str) -> pd.DataFrame:
    need = ["scenario", "region", "variable", "year", "value"]
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise DataError(f"results: expected columns {need}, missing {missing}")
    sub = results[results["variable"] == variable]
    if sub.empty:
        hint = did_you_mean(variable, set(results["variable"]), cutoff=0.6)
        raise DataError(f"results: no variable {variable!r}{hint}")
    return sub


def _check_names(kind: str, wanted: Sequence[str], available: Sequence[str]) -> None:
    for name in wanted:
        if name not in available:
            hint = did_you_mean(name, available, cutoff=0.6)
            raise DataError(f"results: no {kind} {name!r}{hint}; expected one of {list(available)}")


def _unit_of(sub: pd.DataFrame) -> str:
    if "unit" in sub.columns and len(sub):
        unit = sub["unit"].iloc[0]
        return unit if isinstance(unit, str) else ""
    return ""


def _observed_for(observed: pd.DataFrame | None, variable: str, region: str) -> pd.DataFrame:
    if observed is None or observed.empty:
        return observed_points(pd.DataFrame(), None)
    return observed[(observed["indicator"] == variable) & (observed["region"] == region)]


def _wrap(text: str, width: int = 26) -> str:
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


# -- figures ---------------------------------------------------------------------------------


def plot_projection(
    results: pd.DataFrame,
    variable: str,
    spec: ModelSpec,
    *,
    regions: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    observed: pd.DataFrame | None = None,
    title: str | None = None,
) -> tuple[Figure, object]:
    """Plot a variable over time: one line per scenario (and region), observed points on top.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (``scenario, region, variable, year, value[, unit]``).
    variable : str
        Variable to plot (PySD name), e.g. ``"urbanization_rate"``.
    spec : ModelSpec
        The model's spec (the variable's display, the aggregate's label).
    regions : sequence of str, optional
        Regions (display names or the aggregate's label); the aggregate when omitted.
    scenarios : sequence of str, optional
        Scenarios, in legend order; every scenario of the table when omitted (the first is
        drawn as the baseline, in near-black).
    observed : pandas.DataFrame, optional
        From `observed_points` (model units); points of this variable and these regions are
        drawn as markers labelled ``observed``.
    title : str, optional
        Axes title; the variable's label and the region by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    ax : matplotlib.axes.Axes
        Its axes: x in years, y in the variable's display unit (see the y label).

    Raises
    ------
    DataError
        When the variable, a region or a scenario is not in the table.
    """
    sub = _select(results, variable)
    all_scen = list(dict.fromkeys(sub["scenario"]))
    scenarios = list(scenarios) if scenarios else all_scen
    _check_names("scenario", scenarios, all_scen)
    all_regions = list(dict.fromkeys(sub["region"]))
    if not regions:
        agg = spec.dimension.aggregate if spec.dimension is not None else None
        regions = [agg] if agg in all_regions else all_regions
    regions = list(regions)
    _check_names("region", regions, all_regions)
    disp = spec.display(variable, _unit_of(sub))
    colors = _colors(scenarios) if len(scenarios) > 1 else _colors(["", *regions])
    styles = ["-", "--", ":", "-."]

    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    for i, region in enumerate(regions):
        for scen in scenarios:
            line = sub[(sub["scenario"] == scen) & (sub["region"] == region)].sort_values("year")
            if len(scenarios) > 1 and len(regions) > 1:
                label, color, style = f"{scen} - {region}", colors[scen], styles[i % 4]
            elif len(scenarios) > 1:
                label, color, style = scen, colors[scen], "-"
            else:
                label, color, style = region, colors[region], "-"
            ax.plot(
                line["year"].to_numpy(),
                line["value"].to_numpy(dtype=float) * disp.scale,
                linestyle=style,
                color=color,
                linewidth=2.0 if scen == scenarios[0] else 1.6,
                label=label,
            )
        obs = _observed_for(observed, variable, region)
        if len(obs):
            ax.plot(
                obs["year"].to_numpy(dtype=float),
                obs["value"].to_numpy(dtype=float) * disp.scale,
                linestyle="none",
                marker="o",
                markersize=7,
                markerfacecolor="white",
                markeredgecolor="black" if len(regions) == 1 else colors.get(region, "black"),
                markeredgewidth=1.5,
                label="observed" if len(regions) == 1 else f"observed - {region}",
                zorder=5,
            )
    ax.set_xlabel("year")
    ax.set_ylabel(disp.axis_label)
    where = regions[0] if len(regions) == 1 else f"{len(regions)} regions"
    ax.set_title(title or f"{disp.label[:1].upper()}{disp.label[1:]}: {where}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", frameon=True)
    return fig, ax


def plot_regional(
    results: pd.DataFrame,
    variable: str,
    spec: ModelSpec,
    *,
    scenarios: Sequence[str] | None = None,
    observed: pd.DataFrame | None = None,
) -> tuple[Figure, np.ndarray]:
    """Small multiples: one panel per region (the 14), one line per scenario.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results.
    variable : str
        Variable to plot (PySD name).
    spec : ModelSpec
        The model's spec (the variable's display, the regions' order).
    scenarios : sequence of str, optional
        Scenarios, in legend order; every scenario of the table when omitted.
    observed : pandas.DataFrame, optional
        From `observed_points`; each region's observed figures are drawn in its panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure (legend in the last cell).
    axes : numpy.ndarray of matplotlib.axes.Axes
        Shape ``(3, 5)``; the first 14 in region order, the last holds the legend only.
        Shared axes: x in years, y in the variable's display unit.
    """
    sub = _select(results, variable)
    all_scen = list(dict.fromkeys(sub["scenario"]))
    scenarios = list(scenarios) if scenarios else all_scen
    _check_names("scenario", scenarios, all_scen)
    labels = spec.dimension.labels if spec.dimension is not None else ()
    regions = [r for r in labels if r in set(sub["region"])]
    disp = spec.display(variable, _unit_of(sub))
    colors = _colors(scenarios)
    n_cols = 5
    n_rows = math.ceil((len(regions) + 1) / n_cols)
    fig = Figure(figsize=(16.0, 3.1 * n_rows + 0.8), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False)
    flat = axes.ravel()
    obs_drawn = False
    for ax, region in zip(flat, regions, strict=False):
        for scen in scenarios:
            line = sub[(sub["scenario"] == scen) & (sub["region"] == region)].sort_values("year")
            ax.plot(
                line["year"].to_numpy(),
                line["value"].to_numpy(dtype=float) * disp.scale,
                color=colors[scen],
                linewidth=1.8 if scen == scenarios[0] else 1.3,
                label=scen,
            )
        obs = _observed_for(observed, variable, region)
        if len(obs):
            obs_drawn = True
            ax.plot(
                obs["year"].to_numpy(dtype=float),
                obs["value"].to_numpy(dtype=float) * disp.scale,
                linestyle="none",
                marker="o",
                markersize=5,
                markerfacecolor="white",
                markeredgecolor="black",
                label="observed",
                zorder=5,
            )
        ax.set_title(_wrap(region, 30), fontsize=9)
        ax.grid(alpha=0.3)
    for ax in flat[len(regions) :]:
        ax.set_axis_off()
    for row in axes:
        row[0].set_ylabel(disp.axis_label, fontsize=9)
    for ax in flat[max(0, len(regions) - n_cols) : len(regions)]:
        ax.set_xlabel("year", fontsize=9)
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = [Line2D([], [], color=colors[s], linewidth=2, label=s) for s in scenarios]
    if obs_drawn:
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markerfacecolor="white",
                markeredgecolor="black",
                label="observed",
            )
        )
    legend_ax = flat[-1]
    legend_ax.legend(handles=handles, loc="center", fontsize=8, frameon=False)
    fig.suptitle(f"{disp.label[:1].upper()}{disp.label[1:]} by region ({disp.unit})")
    return fig, axes


def plot_effect_per_billion(
    comparison: pd.DataFrame,
    spec: ModelSpec,
    *,
    year: int = 2030,
    indicators: Sequence[str] | None = None,
    region: str | None = None,
    baseline: str = "baseline",
    units: dict[str, str] | None = None,
) -> tuple[Figure, np.ndarray]:
    """Bar chart: each scenario's change against the baseline per billion yuan, by indicator.

    Parameters
    ----------
    comparison : pandas.DataFrame
        From `sdplanner.compare.compare_results`.
    spec : ModelSpec
        The model's spec (displays; the defaults of ``indicators`` and ``region``).
    year : int
        Year of the change and of the cumulative cost (year).
    indicators : sequence of str, optional
        One panel each; the spec's ``headline`` view by default.
    region : str, optional
        Region; the aggregate by default.
    baseline : str
        Name of the baseline (for the title).
    units : dict, optional
        Indicator -> model unit, for indicators without a display rule of their own.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    axes : numpy.ndarray of matplotlib.axes.Axes
        One per indicator (unused cells hidden): horizontal bars, one per scenario, x in the
        indicator's change per billion yuan of extra public spending (see the x labels). A
        scenario without extra cost has no bar and is marked ``no extra cost`` (one that did
        not simulate that year, ``no result for <year>``).

    Raises
    ------
    DataError
        When the table has no row for that year and region.
    """
    units = units or {}
    indicators = spec.view("headline") if indicators is None else indicators
    if region is None:
        region = spec.dimension.aggregate if spec.dimension is not None else ""
    rows = comparison[(comparison["year"] == year) & (comparison["region"] == region)]
    if rows.empty:
        raise DataError(f"comparison: no rows for {region!r} in {year}")
    scenarios = list(dict.fromkeys(rows["scenario"]))
    colors = _colors([f"{baseline} (baseline)", *scenarios])
    n = len(indicators)
    n_cols = min(n, 3)
    n_rows = math.ceil(n / n_cols)
    height = max(2.6, 0.45 * len(scenarios) + 1.4)
    fig = Figure(figsize=(5.2 * n_cols, height * n_rows + 1.0), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False)
    flat = axes.ravel()
    ypos = np.arange(len(scenarios))[::-1]
    for ax, ind in zip(flat, indicators, strict=False):
        disp = spec.display(ind, units.get(ind, ""))
        sub = rows[rows["indicator"] == ind].set_index("scenario")
        values = np.array(
            [
                float(sub.at[s, "delta_per_billion_yuan"]) if s in sub.index else math.nan
                for s in scenarios
            ]
        )
        shown = values * disp.per_billion_scale
        ax.barh(
            ypos,
            np.nan_to_num(shown, nan=0.0),
            color=[colors[s] for s in scenarios],
            height=0.7,
        )
        for y, v, scen in zip(ypos, shown, scenarios, strict=True):
            if math.isnan(v):
                note = " no extra cost" if scen in sub.index else f" no result for {year}"
                ax.text(0, y, note, va="center", ha="left", fontsize=8)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(disp.label, fontsize=10)
        ax.set_xlabel(f"change per billion yuan\n({disp.per_billion_unit})", fontsize=9)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=True)
        ax.grid(axis="x", alpha=0.3)
    for ax in flat[n:]:
        ax.set_axis_off()
    for row in axes:
        row[0].set_yticks(ypos, scenarios, fontsize=8)
    fig.suptitle(
        f"Change against {baseline!r} in {year} per billion yuan of extra public spending"
        f" since 2010: {region}"
    )
    return fig, axes
