"""The comparison of scenarios: changes against a baseline, fiscal costs, effect per yuan.

Pure functions on the tidy results table of `sdplanner.results` (columns ``scenario, region,
variable, year, value, unit``): `compare_results` builds the comparison table,
`trajectory_changes` every year's change against the baseline (the figures' change panels)
and `present_values` the discounted cost. `sdplanner.summary` formats them for people;
`sdplanner.compare` runs the scenarios. Nothing here plots or writes files.

The comparison table (``comparison.csv``) has one row per compared scenario (every scenario
but the baseline), region (each region of the model's dimension and its aggregate),
indicator and year, with columns:

- ``value``: the indicator in the scenario, in the model's unit (rates are fractions);
- ``baseline_value``: the same in the baseline;
- ``delta``: ``value - baseline_value``;
- ``cumulative_cost_billion_yuan``: the scenario's public spending on the levers from the
  initial time to that year, minus the baseline's (the model spec's cumulative cost stock,
  billion yuan; 0 when the scenario spends what the baseline spends, negative when it
  spends less);
- ``delta_per_billion_yuan``: ``delta / cumulative_cost_billion_yuan`` (the indicator's unit
  per billion yuan); empty (NaN) when that cost is 0, e.g. before the levers start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sdplanner.errors import DataError, quote

__all__ = ["COMPARISON_COLUMNS", "compare_results", "present_values", "trajectory_changes"]

#: Columns of the comparison table, in order.
COMPARISON_COLUMNS = [
    "scenario",
    "region",
    "indicator",
    "year",
    "value",
    "baseline_value",
    "delta",
    "cumulative_cost_billion_yuan",
    "delta_per_billion_yuan",
]
_BILLION = 1e9
#: Costs smaller than this (billion yuan, i.e. 1 yuan) count as no cost.
_ZERO_COST = 1e-9


def _scenario_order(results: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(results["scenario"]))


def _check_results(results: pd.DataFrame, where: str) -> None:
    need = ["scenario", "region", "variable", "year", "value"]
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise DataError(f"{where}: expected columns {need}, missing {missing}")


def compare_results(
    results: pd.DataFrame,
    *,
    indicators: Sequence[str],
    years: Sequence[int],
    cost_variable: str | None,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Compare every scenario of a results table with the baseline.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (``scenario, region, variable, year, value[, unit]``) of two or more
        scenarios, including the cost variable.
    indicators : sequence of str
        Variables to compare (each must be in the table), e.g. the model spec's
        ``comparison`` view.
    years : sequence of int
        Years to report (years a scenario did not simulate are left out).
    cost_variable : str or None
        The variable holding the levers' spending since the initial time (yuan), e.g.
        ``cumulative_policy_cost``; None for a model without one (the cost columns are then
        empty).
    baseline : str, optional
        The scenario compared against; the first scenario of the table when omitted.

    Returns
    -------
    pandas.DataFrame
        Columns `COMPARISON_COLUMNS`: one row per compared scenario (not the baseline),
        region, indicator and year, in scenario order (see the module docstring for units).

    Raises
    ------
    DataError
        When the baseline, an indicator or the cost variable is missing from the table.
    """
    _check_results(results, "results")
    order = _scenario_order(results)
    if not order:
        raise DataError("results: expected at least one scenario, found an empty table")
    baseline = order[0] if baseline is None else baseline
    if baseline not in order:
        raise DataError(f"results: baseline {quote(baseline)} is not a scenario of the table")
    present = set(results["variable"])
    costs = [cost_variable] if cost_variable is not None else []
    for name in (*indicators, *costs):
        if name not in present:
            raise DataError(f"results: expected variable {quote(name)}, found none")
    years = [int(y) for y in years]
    keep = results["year"].isin(years) & results["variable"].isin([*indicators, *costs])
    table = results.loc[keep, ["scenario", "region", "variable", "year", "value"]]
    base = table[table["scenario"] == baseline].drop(columns="scenario")
    others = table[table["scenario"] != baseline]
    merged = others.merge(
        base, on=["region", "variable", "year"], suffixes=("", "_base"), how="inner"
    )
    cost = merged[merged["variable"].isin(costs)].copy()
    cost["cumulative_cost_billion_yuan"] = (cost["value"] - cost["value_base"]) / _BILLION
    cost = cost[["scenario", "region", "year", "cumulative_cost_billion_yuan"]]
    ind = merged[merged["variable"].isin(indicators)].rename(
        columns={"variable": "indicator", "value_base": "baseline_value"}
    )
    out = ind.merge(cost, on=["scenario", "region", "year"], how="left")
    out["delta"] = out["value"] - out["baseline_value"]
    spent = out["cumulative_cost_billion_yuan"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["delta"] / spent
    out["delta_per_billion_yuan"] = ratio.where(spent.abs() > _ZERO_COST)
    # Stable order: scenarios as given, regions as in the results, indicators as asked.
    region_order = {r: i for i, r in enumerate(dict.fromkeys(results["region"]))}
    out = out.assign(
        _s=out["scenario"].map({s: i for i, s in enumerate(order)}),
        _r=out["region"].map(region_order),
        _i=out["indicator"].map({v: i for i, v in enumerate(indicators)}),
    ).sort_values(["_s", "_r", "_i", "year"], kind="stable")
    return out[COMPARISON_COLUMNS].reset_index(drop=True)


def trajectory_changes(
    results: pd.DataFrame,
    variables: Sequence[str],
    *,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Return every year's change of each scenario against the baseline.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (``scenario, region, variable, year, value``).
    variables : sequence of str
        Variables wanted (those missing from the table are left out).
    baseline : str, optional
        The scenario compared against; the first of the table when omitted.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario, region, variable, year, value, baseline_value, delta`` (model
        units) for every scenario but the baseline, in the table's order.

    Raises
    ------
    DataError
        When the baseline is not a scenario of the table.
    """
    _check_results(results, "results")
    order = _scenario_order(results)
    baseline = order[0] if baseline is None and order else baseline
    if baseline not in order:
        raise DataError(f"results: baseline {quote(baseline)} is not a scenario of the table")
    keep = results[results["variable"].isin(list(variables))]
    cols = ["scenario", "region", "variable", "year", "value"]
    base = keep.loc[keep["scenario"] == baseline, cols].drop(columns="scenario")
    others = keep.loc[keep["scenario"] != baseline, cols]
    out = others.merge(
        base.rename(columns={"value": "baseline_value"}),
        on=["region", "variable", "year"],
        how="inner",
    )
    out["delta"] = out["value"] - out["baseline_value"]
    return out.reset_index(drop=True)


def present_values(
    results: pd.DataFrame,
    cost_variable: str,
    *,
    rate: float,
    years: Sequence[int],
    base_year: int,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Return the present value of each scenario's extra spending up to each year.

    The spending of the year from ``t`` to ``t + 1`` is the rise of the cumulative cost stock
    over that year (minus the baseline's); it is discounted to ``base_year`` at ``rate`` from
    the middle of the year: ``spending / (1 + rate) ** (t + 0.5 - base_year)``.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results with the cumulative cost variable in every year.
    cost_variable : str
        The cumulative cost stock (yuan), e.g. ``cumulative_policy_cost``.
    rate : float
        Discount rate per year (a fraction, e.g. 0.03), at least 0.
    years : sequence of int
        The years up to which spending is summed.
    base_year : int
        The year values are discounted to (year).
    baseline : str, optional
        The scenario compared against; the first of the table when omitted.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario, region, year, present_value_billion_yuan`` (billion yuan at the
        model's prices, discounted to ``base_year``) for every scenario but the baseline.

    Raises
    ------
    DataError
        For a negative or non-finite rate, or a table without the cost variable.
    """
    if not (math.isfinite(rate) and rate >= 0):
        raise DataError(f"--discount-rate: expected a rate of 0 or more, found {rate!r}")
    changes = trajectory_changes(results, [cost_variable], baseline=baseline)
    if changes.empty:
        raise DataError(f"results: expected variable {quote(cost_variable)}, found none")
    changes = changes.sort_values("year", kind="stable")
    group = changes.groupby(["scenario", "region"], sort=False)["delta"]
    spent = (group.shift(-1) - changes["delta"]).fillna(0.0)
    factor = (1.0 + rate) ** -(changes["year"] + 0.5 - base_year)
    changes = changes.assign(pv=spent * factor)
    rows = []
    for year in years:
        upto = changes[changes["year"] < year]
        total = upto.groupby(["scenario", "region"], sort=False)["pv"].sum() / _BILLION
        frame = total.rename("present_value_billion_yuan").reset_index()
        rows.append(frame.assign(year=int(year)))
    out = pd.concat(rows, ignore_index=True)
    return out[["scenario", "region", "year", "present_value_billion_yuan"]]
