"""The figure set of a scenario comparison: the analysis it needs, then the figures.

`comparison_figures` is what ``sdplanner compare`` writes and what ``sdplanner report``
embeds, so both show the same figures with the same labels, units and colours. It asks
`sdplanner.compare` for the changes against the baseline and `sdplanner.plots` for the
figures; it computes nothing itself.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sdplanner.compare import trajectory_changes
from sdplanner.plots import plot_effect_per_cost, plot_poverty, plot_projection, plot_regional
from sdplanner.spec import ModelSpec

__all__ = ["comparison_figures"]


def comparison_figures(
    results: pd.DataFrame,
    comparison: pd.DataFrame | None,
    spec: ModelSpec,
    *,
    baseline: str,
    titles: Mapping[str, str] | None = None,
    observed: pd.DataFrame | None = None,
    since: int | None = None,
    units: Mapping[str, str] | None = None,
    bands: pd.DataFrame | None = None,
) -> dict[str, tuple]:
    """Draw every figure of a comparison.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results of every scenario (`sdplanner.compare.run_comparison`).
    comparison : pandas.DataFrame or None
        From `sdplanner.compare.compare_results` (None: no effect-per-cost figures).
    spec : sdplanner.spec.ModelSpec
        The model's spec (views, displays, years).
    baseline : str
        The baseline's name.
    titles : dict
        Scenario name -> title.
    observed : pandas.DataFrame
        From `sdplanner.plots.observed_points`.
    since : int, optional
        The model's initial year (the start of the cumulative cost).
    units : mapping, optional
        Variable -> model unit (default: the table's ``unit`` column).
    bands : pandas.DataFrame, optional
        Ensemble percentiles (`sdplanner.readers.read_percentiles`) drawn on the
        trajectories.

    Returns
    -------
    dict
        File stem -> ``(fig, axes)``, in the order written.
    """
    if units is None:
        units = dict.fromkeys(results["variable"], "")
        if "unit" in results.columns:
            units.update(zip(results["variable"], results["unit"].astype(str), strict=True))
    figures = {}
    trajectories = [v for v in spec.view("report") if v in units]
    changes = trajectory_changes(results, trajectories, baseline=baseline)
    for ind in trajectories:
        figures[f"trajectory_{ind}"] = plot_projection(
            results, ind, spec, observed=observed, changes=changes, titles=titles, bands=bands
        )
    first = spec.view("headline")[0]
    if spec.dimension is not None and results["scenario"].nunique() > 1:
        regional = trajectory_changes(results, [first], baseline=baseline)
        figures[f"{first}_by_region"] = plot_regional(
            regional, first, spec, baseline=baseline, titles=titles
        )
    years = set(comparison["year"]) if comparison is not None else set()
    if spec.cumulative_cost is not None and comparison is not None:
        for year in [y for y in spec.summary_years if y in years]:
            figures[f"effect_per_cost_{year}"] = plot_effect_per_cost(
                comparison,
                spec,
                year=year,
                baseline=baseline,
                titles=titles,
                units=units,
                since=since,
            )
    poverty = plot_poverty(results, spec, titles=titles)
    if poverty is not None:
        figures["poverty"] = poverty
    return figures
