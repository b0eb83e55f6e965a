"""Figures of scenario results: trajectories, regional changes, effect per cost, poverty.

Every function takes tidy tables made by the analysis (`sdplanner.results`,
`sdplanner.compare`: levels, changes against the baseline, the comparison) and returns
``(fig, axes)``; the caller saves the figure (`render` gives its bytes). Nothing here
computes a statistic. Figures are built on `matplotlib.figure.Figure` directly (the Agg
canvas, through `sdplanner.style`): no GUI backend, no global figure registry to close.

Values are drawn in display units (the model spec's, `sdplanner.spec.ModelSpec.display`):
fractions in %, people in millions, money in billion yuan at the spec's constant prices; axis
labels carry the unit; tick labels have thousands separators and never an offset. Scenarios
have one colour and one name (their title) in every figure (`sdplanner.style`). The years
before the policy start (the spec's ``years.policy_start``) are shaded. Observed figures come
from `sdplanner.evidence.observed_points` (model units, each with its role relative to the
calibration in use) and are drawn in the same display units as the lines: figures the
calibration was fitted to as filled markers, the others hollow (`sdplanner.style`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sdplanner.display import EFFECT_COST, cost_unit, money_unit
from sdplanner.errors import DataError, did_you_mean
from sdplanner.evidence import observed_points
from sdplanner.spec import ModelSpec
from sdplanner.style import (
    FORMATS,
    PALETTE,
    draw_band,
    draw_observed,
    mark_history,
    new_figure,
    render,
    scenario_colors,
    scenario_title,
    style_axes,
    year_axis,
)

__all__ = [
    "FORMATS",
    "observed_points",
    "plot_effect_per_cost",
    "plot_poverty",
    "plot_projection",
    "plot_regional",
    "render",
]

# -- helpers ---------------------------------------------------------------------------------


def _select(results: pd.DataFrame, variable: str, what: str = "results") -> pd.DataFrame:
    need = ["scenario", "region", "variable", "year", "value"]
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise DataError(f"{what}: expected columns {need}, missing {missing}")
    sub = results[results["variable"] == variable]
    if sub.empty:
        hint = did_you_mean(variable, set(results["variable"]), cutoff=0.6)
        raise DataError(f"{what}: no variable {variable!r}{hint}")
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


def _line(frame: pd.DataFrame, column: str = "value") -> tuple[np.ndarray, np.ndarray]:
    frame = frame.sort_values("year")
    return frame["year"].to_numpy(dtype=float), frame[column].to_numpy(dtype=float)


def _aggregate(spec: ModelSpec) -> str | None:
    return spec.dimension.aggregate if spec.dimension is not None else None


# -- figures ---------------------------------------------------------------------------------


def plot_projection(
    results: pd.DataFrame,
    variable: str,
    spec: ModelSpec,
    *,
    regions: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    changes: pd.DataFrame | None = None,
    bands: pd.DataFrame | None = None,
    observed: pd.DataFrame | None = None,
    titles: Mapping[str, str] | None = None,
    title: str | None = None,
) -> tuple[Figure, np.ndarray]:
    """Plot a variable over time: levels on top, the change against the baseline below.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (``scenario, region, variable, year, value[, unit]``).
    variable : str
        Variable to plot (PySD name), e.g. ``"urbanization_rate"``.
    spec : ModelSpec
        The model's spec (the variable's display, the aggregate's label, the policy start).
    regions : sequence of str, optional
        Regions (display names or the aggregate's label); the aggregate when omitted.
    scenarios : sequence of str, optional
        Scenarios, in legend order; every scenario of the table when omitted.
    changes : pandas.DataFrame, optional
        From `sdplanner.compare.trajectory_changes` (``scenario, region, variable, year,
        delta``): drawn in a second panel, the baseline as the zero line. No second panel
        without it.
    bands : pandas.DataFrame, optional
        Percentiles of an ensemble or a calibration band (``scenario, region, variable,
        year, p05, p25, p75, p95``, model units): drawn as 5-95 % and 25-75 % bands in the
        scenario's colour for the scenarios and the region drawn (one region only).
    observed : pandas.DataFrame, optional
        From `sdplanner.evidence.observed_points` (``indicator, region, year, value[,
        role]``, model units): points of the role ``fitted`` drawn as filled markers
        labelled ``observed, used in the fit``, the others hollow, labelled ``observed, not
        used in the fit`` (`sdplanner.style.draw_observed`).
    titles : mapping, optional
        Scenario name -> title, for the legend.
    title : str, optional
        Figure title; the variable's label and the region by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    axes : numpy.ndarray of matplotlib.axes.Axes
        ``[levels]`` or ``[levels, change]``: x in years, y in the variable's display unit
        and in the unit of its change (see the y labels).

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
        agg = _aggregate(spec)
        regions = [agg] if agg in all_regions else all_regions[:1]
    regions = list(regions)
    _check_names("region", regions, all_regions)
    disp = spec.display(variable, _unit_of(sub))
    by_scenario = len(scenarios) > 1 or len(regions) == 1
    colors = scenario_colors(scenarios)
    region_colors = dict(zip(regions, PALETTE * 2, strict=False))
    styles = ["-", "--", ":", "-."]
    deltas = None
    if changes is not None and not changes.empty:
        deltas = changes[
            (changes["variable"] == variable)
            & changes["scenario"].isin(scenarios)
            & changes["region"].isin(regions)
        ]
        deltas = deltas if len(deltas) else None

    fig = new_figure(10.5, 6.6 if deltas is not None else 4.8)
    if deltas is not None:
        axes = np.array(fig.subplots(2, 1, sharex=True, height_ratios=[3, 2]))
    else:
        axes = np.array([fig.add_subplot()])
    ax = axes[0]
    first_year = float(sub["year"].min())
    for panel in axes:
        mark_history(panel, first_year, spec.policy_start, text=panel is ax)
        style_axes(panel, x=False)
    one_region = len(regions) == 1
    if bands is not None and one_region and len(bands):
        rows = bands[(bands["variable"] == variable) & (bands["region"] == regions[0])]
        for scen in scenarios:
            band = rows[rows["scenario"] == scen].sort_values("year")
            if band.empty:
                continue
            years = band["year"].to_numpy(dtype=float)
            for lo, hi, inner in (("p05", "p95", False), ("p25", "p75", True)):
                draw_band(
                    ax,
                    years,
                    band[lo].to_numpy(dtype=float) * disp.scale,
                    band[hi].to_numpy(dtype=float) * disp.scale,
                    colors[scen],
                    inner=inner,
                    label=(
                        f"{scenario_title(scen, titles)}: {'25-75' if inner else '5-95'} %"
                        " of the ensemble"
                    ),
                )
    for i, region in enumerate(regions):
        for scen in scenarios:
            x, y = _line(sub[(sub["scenario"] == scen) & (sub["region"] == region)])
            name = scenario_title(scen, titles)
            if by_scenario and not one_region:
                label, color, style = f"{name} - {region}", colors[scen], styles[i % 4]
            elif by_scenario:
                label, color, style = name, colors[scen], "-"
            else:
                label, color, style = region, region_colors[region], "-"
            base = scen == scenarios[0] and len(scenarios) > 1
            ax.plot(
                x,
                y * disp.scale,
                linestyle=style,
                color=color,
                lw=2.2 if base else 1.7,
                label=label,
                zorder=3,
            )
            if deltas is not None and not base:
                d = deltas[(deltas["scenario"] == scen) & (deltas["region"] == region)]
                if len(d):
                    dx, dy = _line(d, "delta")
                    axes[1].plot(
                        dx,
                        dy * disp.scale,
                        linestyle=style,
                        color=color,
                        lw=1.7,
                        zorder=3,
                        label=label,
                    )
        draw_observed(
            ax,
            _observed_for(observed, variable, region),
            disp.scale,
            color="black" if by_scenario else region_colors[region],
            suffix="" if one_region else f" - {region}",
        )
    ax.set_ylabel(_wrap(disp.axis_label, 40))
    where = regions[0] if one_region else f"{len(regions)} regions"
    fig.suptitle(title or f"{disp.title}: {where}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if deltas is not None:
        lower = axes[1]
        base_name = scenario_title(scenarios[0], titles)
        lower.axhline(0, color=colors[scenarios[0]], lw=2.2, zorder=2)
        lower.set_ylabel(_wrap(f"change, {disp.delta_unit}", 40))
        lower.set_title(f"Change against {base_name}", fontsize=10)
    year_axis(axes[-1], first_year, float(sub["year"].max()))
    return fig, axes


def plot_regional(
    changes: pd.DataFrame,
    variable: str,
    spec: ModelSpec,
    *,
    scenarios: Sequence[str] | None = None,
    baseline: str = "baseline",
    titles: Mapping[str, str] | None = None,
) -> tuple[Figure, np.ndarray]:
    """Small multiples of the change against the baseline: one panel per region.

    Parameters
    ----------
    changes : pandas.DataFrame
        From `sdplanner.compare.trajectory_changes` (``scenario, region, variable, year,
        delta``), every region.
    variable : str
        Variable to plot (PySD name).
    spec : ModelSpec
        The model's spec (the variable's display, the regions' order, the policy start).
    scenarios : sequence of str, optional
        Scenarios (not the baseline), in legend order; every scenario of the table when
        omitted.
    baseline : str
        Name of the baseline (the zero line).
    titles : mapping, optional
        Scenario name -> title, for the legend.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure (legend below the panels).
    axes : numpy.ndarray of matplotlib.axes.Axes
        Shape ``(rows, 5)``: the aggregate first, then the regions in the spec's order;
        unused cells hidden. Shared axes: x in years, y in the unit of the variable's
        change.
    """
    sub = _select(changes, variable, "changes")
    all_scen = list(dict.fromkeys(sub["scenario"]))
    scenarios = list(scenarios) if scenarios else all_scen
    _check_names("scenario", scenarios, all_scen)
    labels = list(spec.dimension.labels) if spec.dimension is not None else []
    agg = _aggregate(spec)
    present = set(sub["region"])
    regions = [r for r in [agg, *labels] if r in present]
    disp = spec.display(variable, _unit_of(sub))
    colors = scenario_colors([baseline, *scenarios])
    n_cols = 5
    n_rows = math.ceil(len(regions) / n_cols)
    fig = new_figure(16.0, 2.7 * n_rows + 1.4)
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False)
    flat = axes.ravel()
    first_year = float(sub["year"].min())
    for ax, region in zip(flat, regions, strict=False):
        mark_history(ax, first_year, spec.policy_start, text=False)
        ax.axhline(0, color=colors[baseline], lw=1.6, zorder=2)
        for scen in scenarios:
            x, y = _line(sub[(sub["scenario"] == scen) & (sub["region"] == region)], "delta")
            ax.plot(
                x,
                y * disp.scale,
                color=colors[scen],
                lw=1.5,
                zorder=3,
                label=scenario_title(scen, titles),
            )
        ax.set_title(_wrap(region, 34), fontsize=9, fontweight="bold" if region == agg else None)
        style_axes(ax, x=False)
    for ax in flat[len(regions) :]:
        ax.set_axis_off()
    for row in axes:
        row[0].set_ylabel(_wrap(disp.delta_unit, 24), fontsize=9)
    for ax in flat[max(0, len(regions) - n_cols) : len(regions)]:
        year_axis(ax, first_year, float(sub["year"].max()), step=10)
        ax.xaxis.set_tick_params(labelbottom=True)
    base_name = scenario_title(baseline, titles)
    handles = [Line2D([], [], color=colors[baseline], lw=2, label=f"{base_name} (zero line)")]
    handles += [
        Line2D([], [], color=colors[s], lw=2, label=scenario_title(s, titles)) for s in scenarios
    ]
    handles.append(Patch(color="#e9ecef", label=f"before the policy start ({spec.policy_start})"))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=9, frameon=False)
    fig.suptitle(f"Change in {disp.label} against {base_name}, by region ({disp.delta_unit})")
    return fig, axes


def plot_effect_per_cost(
    comparison: pd.DataFrame,
    spec: ModelSpec,
    *,
    year: int,
    indicators: Sequence[str] | None = None,
    region: str | None = None,
    baseline: str = "baseline",
    titles: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    since: int | None = None,
) -> tuple[Figure, np.ndarray]:
    """Bar charts: the cumulative extra cost, then each indicator's change per unit of it.

    Parameters
    ----------
    comparison : pandas.DataFrame
        From `sdplanner.compare.compare_results` (``delta``,
        ``cumulative_cost_billion_yuan``, ``delta_per_billion_yuan``).
    spec : ModelSpec
        The model's spec (displays, the price base; the defaults of ``indicators`` and
        ``region``).
    year : int
        Year of the change and end of the cumulative cost (year).
    indicators : sequence of str, optional
        One panel each; the spec's ``headline`` view by default.
    region : str, optional
        Region; the aggregate by default.
    baseline : str
        Name of the baseline.
    titles : mapping, optional
        Scenario name -> title.
    units : mapping, optional
        Indicator -> model unit, for indicators without a display rule of their own.
    since : int, optional
        The first year of the cumulative cost (the initial time), for the labels.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure.
    axes : numpy.ndarray of matplotlib.axes.Axes
        The first panel: each scenario's cumulative extra public spending up to ``year``
        (billion yuan at the spec's prices, undiscounted); then one per indicator: its change
        against the baseline in ``year`` per `sdplanner.display.EFFECT_COST` of that
        spending (one unit per panel, in its x label). A scenario without extra cost has no
        bar and is marked ``no extra cost``. Unused cells hidden.

    Raises
    ------
    DataError
        When the table has no row for that year and region.
    """
    units = units or {}
    indicators = list(spec.view("headline") if indicators is None else indicators)
    region = _aggregate(spec) or "" if region is None else region
    rows = comparison[(comparison["year"] == year) & (comparison["region"] == region)]
    if rows.empty:
        raise DataError(f"comparison: no rows for {region!r} in {year}")
    scenarios = list(dict.fromkeys(rows["scenario"]))
    colors = scenario_colors(scenarios)
    names = [_wrap(scenario_title(s, titles), 24) for s in scenarios]
    n = len(indicators) + 1
    n_cols = 3
    n_rows = math.ceil(n / n_cols)
    height = max(2.4, 0.42 * len(scenarios) + 1.3)
    fig = new_figure(15.5, height * n_rows + 1.3)
    axes = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False)
    flat = axes.ravel()
    ypos = np.arange(len(scenarios))[::-1]
    start = "the initial time" if since is None else str(since)
    cost = rows.groupby("scenario", sort=False)["cumulative_cost_billion_yuan"].first()
    costs = np.array([float(cost.get(s, math.nan)) for s in scenarios])
    ax = flat[0]
    ax.barh(ypos, np.nan_to_num(costs), color=[colors[s] for s in scenarios], height=0.7)
    for y, v in zip(ypos, costs, strict=True):
        if math.isfinite(v):
            ax.text(v, y, f" {v:,.0f}", va="center", ha="left", fontsize=8)
    ax.set_title(f"Cumulative extra public spending {start}-{year}", fontsize=10)
    ax.set_xlabel(_wrap(f"{money_unit('billion yuan', spec.price_base)}, undiscounted", 48))
    ax.set_xlim(0, max(1.0, float(np.nanmax(np.abs(costs), initial=0.0))) * 1.25)
    style_axes(ax, y=False, grid="x")
    per = EFFECT_COST / 1e9
    for ax, ind in zip(flat[1:], indicators, strict=False):
        disp = spec.display(ind, units.get(ind, ""))
        sub = rows[rows["indicator"] == ind].set_index("scenario")
        values = np.array(
            [
                float(sub.at[s, "delta_per_billion_yuan"]) if s in sub.index else math.nan
                for s in scenarios
            ]
        )
        shown = values * disp.scale * per
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
        ax.set_title(_wrap(disp.title, 44), fontsize=10)
        ax.set_xlabel(_wrap(disp.effect_unit(spec.price_base), 48), fontsize=9)
        style_axes(ax, y=False, grid="x")
    for ax in flat[n:]:
        ax.set_axis_off()
    for row in axes:
        row[0].set_yticks(ypos, names, fontsize=8)
        row[0].yaxis.set_tick_params(labelleft=True)
    for ax in flat[:n]:
        ax.yaxis.set_tick_params(labelleft=True)
        ax.set_yticks(ypos, names, fontsize=8)
    base_name = scenario_title(baseline, titles)
    fig.suptitle(
        f"{region}: change in {year} against {base_name} per"
        f" {cost_unit(EFFECT_COST, spec.price_base)} of cumulative extra public spending"
        f" {start}-{year}"
    )
    return fig, axes


def plot_poverty(
    results: pd.DataFrame,
    spec: ModelSpec,
    *,
    scenarios: Sequence[str] | None = None,
    region: str | None = None,
    titles: Mapping[str, str] | None = None,
) -> tuple[Figure, np.ndarray] | None:
    """Plot the number of poor people and the cost per person lifted out of poverty.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results.
    spec : ModelSpec
        The model's spec: its ``poverty`` view names the two outputs (the number of poor
        people, then the cost per person lifted out of poverty).
    scenarios : sequence of str, optional
        Scenarios, in legend order; every scenario of the table when omitted.
    region : str, optional
        Region; the aggregate by default.
    titles : mapping, optional
        Scenario name -> title.

    Returns
    -------
    (fig, axes) or None
        None when the spec has no ``poverty`` view or the table lacks its outputs. Axes:
        the poor people of every scenario over time; then the cost per person lifted over
        time for the scenarios that lift anyone (a scenario whose cost is 0 throughout has
        no targeted measure and no line: the panel says so).
    """
    view = [v for v in spec.view("poverty") if v in set(results["variable"])]
    if len(view) < 2:
        return None
    poor, cost = view[:2]
    sub = results[results["variable"].isin(view)]
    scenarios = list(scenarios) if scenarios else list(dict.fromkeys(sub["scenario"]))
    region = (_aggregate(spec) or sub["region"].iloc[0]) if region is None else region
    colors = scenario_colors(scenarios)
    fig = new_figure(14.0, 5.2)
    axes = np.array(fig.subplots(1, 2))
    first_year = float(sub["year"].min())
    left_out = []
    for ax, var in zip(axes, (poor, cost), strict=True):
        disp = spec.display(var, _unit_of(sub[sub["variable"] == var]))
        mark_history(ax, first_year, spec.policy_start, text=True)
        for scen in scenarios:
            rows = sub[
                (sub["scenario"] == scen) & (sub["region"] == region) & (sub["variable"] == var)
            ]
            x, y = _line(rows)
            if var == cost and not np.any(np.nan_to_num(y) != 0):
                left_out.append(scenario_title(scen, titles))
                continue
            ax.plot(
                x, y * disp.scale, color=colors[scen], lw=1.8, label=scenario_title(scen, titles)
            )
        ax.set_ylabel(_wrap(disp.axis_label, 44))
        ax.set_title(_wrap(disp.title, 60), fontsize=10)
        style_axes(ax, x=False)
        year_axis(ax, first_year, float(sub["year"].max()))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    if left_out:
        axes[1].text(
            0.98,
            0.5,
            _wrap("No line (no targeted measure): " + ", ".join(left_out), 40),
            transform=axes[1].transAxes,
            ha="right",
            va="center",
            fontsize=8,
            color="#495057",
        )
    fig.suptitle(f"Poverty: {region}")
    return fig, axes
