"""Compare scenarios: changes against a baseline, fiscal costs and effect per billion yuan.

The pure functions here work on the tidy results table of `sdplanner.results` (columns
``scenario, region, variable, year, value, unit``): `compare_results` builds the comparison
table, `summary_table` and `format_summary` the 14-region summary printed by
``sdplanner compare``, `region_table` the per-region table (``regions.csv``),
`trajectory_changes` every year's change against the baseline (the figures' change panels)
and `present_values` the discounted cost. `compare_scenarios` is the one-call verb: validate
every scenario, run them all with one engine, compare. Nothing here plots or writes files.

The comparison table (``comparison.csv``) has one row per compared scenario (every scenario
but the baseline), region (the 14 and ``All 14 regions``), indicator and year, with columns:

- ``value``: the indicator in the scenario, in the model's unit (rates are fractions);
- ``baseline_value``: the same in the baseline;
- ``delta``: ``value - baseline_value``;
- ``cumulative_cost_billion_yuan``: the scenario's public spending on the levers from the
  initial time (2010) to that year, minus the baseline's (``cumulative_policy_cost``, billion
  yuan; 0 when the scenario spends what the baseline spends, negative when it spends less);
- ``delta_per_billion_yuan``: ``delta / cumulative_cost_billion_yuan`` (the indicator's unit
  per billion yuan); empty (NaN) when that cost is 0, e.g. before the levers start.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sdplanner.display import format_number, money_unit
from sdplanner.errors import DataError, ScenarioError, quote
from sdplanner.model import ModelInfo, load_model
from sdplanner.results import required_variables, to_frame
from sdplanner.run import RunInputs, prepare_run
from sdplanner.scenario import Scenario, load_scenario
from sdplanner.spec import ModelSpec

__all__ = [
    "COMPARISON_COLUMNS",
    "ComparisonResult",
    "compare_results",
    "compare_scenarios",
    "format_summary",
    "prepare_comparison",
    "present_values",
    "region_table",
    "run_comparison",
    "summary_table",
    "trajectory_changes",
]

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


# -- pure functions on tables ---------------------------------------------------------------


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


def summary_table(
    comparison: pd.DataFrame,
    spec: ModelSpec,
    *,
    years: Sequence[int] | None = None,
    indicators: Sequence[str] | None = None,
    region: str | None = None,
    units: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Summarize a comparison for one region in display units.

    Parameters
    ----------
    comparison : pandas.DataFrame
        From `compare_results`.
    spec : ModelSpec
        The model's spec: displays, and the defaults of the other arguments.
    years : sequence of int, optional
        Years shown (each becomes a block of rows); the spec's summary years by default.
    indicators : sequence of str, optional
        Indicators shown (columns); the spec's ``headline`` view by default.
    region : str, optional
        Region shown; the aggregate by default.
    units : dict, optional
        Indicator -> model unit, for indicators the spec does not describe.

    Returns
    -------
    pandas.DataFrame
        Index ``(year, scenario)``; the first row of each year is the baseline's level
        (scenario `LEVEL_ROW`), the others each scenario's change against it. Columns:
        ``cost`` (cumulative extra spending since the initial time, billion yuan; NaN on
        the level row), then one per indicator (its name), in display units
        (`ModelSpec.display`: levels in ``unit``, changes in ``delta_unit``).
    """
    units = units or {}
    years = spec.summary_years if years is None else years
    indicators = list(spec.view("headline") if indicators is None else indicators)
    region = _aggregate_label(spec) if region is None else region
    rows = comparison[
        (comparison["region"] == region)
        & comparison["year"].isin(list(years))
        & comparison["indicator"].isin(indicators)
    ]
    scenarios = list(dict.fromkeys(rows["scenario"]))
    records = []
    for year in years:
        at = rows[rows["year"] == year]
        if at.empty:
            continue
        base_rec: dict[str, object] = {"year": year, "scenario": LEVEL_ROW, "cost": math.nan}
        recs = []
        for scen in scenarios:
            sub = at[at["scenario"] == scen].set_index("indicator")
            if sub.empty:
                continue
            rec: dict[str, object] = {"year": year, "scenario": scen}
            rec["cost"] = float(sub["cumulative_cost_billion_yuan"].iloc[0])
            for ind in indicators:
                disp = spec.display(ind, units.get(ind, ""))
                if ind in sub.index:
                    rec[ind] = float(sub.at[ind, "delta"]) * disp.scale
                    base_rec[ind] = float(sub.at[ind, "baseline_value"]) * disp.scale
                else:
                    rec[ind] = math.nan
                    base_rec.setdefault(ind, math.nan)
            recs.append(rec)
        records.append(base_rec)
        records.extend(recs)
    table = pd.DataFrame.from_records(records)
    if table.empty:
        return table
    return table.set_index(["year", "scenario"])


#: The ``scenario`` of a summary table's level rows.
LEVEL_ROW = "(level)"


def _aggregate_label(spec: ModelSpec) -> str:
    return spec.dimension.aggregate if spec.dimension is not None else ""


def region_table(
    comparison: pd.DataFrame,
    spec: ModelSpec,
    *,
    indicators: Sequence[str] | None = None,
    years: Sequence[int] | None = None,
    units: dict[str, str] | None = None,
    titles: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Return every headline indicator per scenario and region (``regions.csv``).

    Parameters
    ----------
    comparison : pandas.DataFrame
        From `compare_results`.
    spec : ModelSpec
        The model's spec (displays, the headline view, the summary years).
    indicators : sequence of str, optional
        Indicators; the spec's ``headline`` view by default.
    years : sequence of int, optional
        Years; the spec's summary years by default.
    units : dict, optional
        Indicator -> model unit, for indicators the spec does not describe.
    titles : dict, optional
        Scenario name -> title (a ``title`` column).

    Returns
    -------
    pandas.DataFrame
        One row per scenario (not the baseline), year and region (the aggregate first):
        ``scenario, title, year, region``, the cumulative extra cost (billion yuan), then per
        indicator its level and its change against the baseline, in display units; column
        names carry the units.
    """
    units = units or {}
    titles = titles or {}
    indicators = list(spec.view("headline") if indicators is None else indicators)
    years = list(spec.summary_years if years is None else years)
    rows = comparison[comparison["year"].isin(years) & comparison["indicator"].isin(indicators)]
    if rows.empty:
        return pd.DataFrame()
    index = ["scenario", "year", "region"]
    wide = rows.pivot_table(index=index, columns="indicator", values=["value", "delta"], sort=False)
    cost = rows.groupby(index, sort=False)["cumulative_cost_billion_yuan"].first()
    unit = spec.price_base
    out = pd.DataFrame(index=wide.index)
    out[f"cumulative extra cost ({money_unit('billion yuan', unit)}, undiscounted)"] = cost
    for ind in indicators:
        if ("value", ind) not in wide.columns:
            continue
        disp = spec.display(ind, units.get(ind, ""))
        out[f"{disp.label} ({disp.unit})"] = wide[("value", ind)] * disp.scale
        out[f"change in {disp.label} ({disp.delta_unit})"] = wide[("delta", ind)] * disp.scale
    out = out.reset_index()
    agg = _aggregate_label(spec)
    order = {r: i for i, r in enumerate(dict.fromkeys([agg, *comparison["region"]]))}
    scen = {s: i for i, s in enumerate(dict.fromkeys(comparison["scenario"]))}
    out = out.sort_values(
        ["scenario", "year", "region"],
        key=lambda c: (
            c.map(scen) if c.name == "scenario" else c.map(order) if c.name == "region" else c
        ),
        kind="stable",
    )
    out.insert(1, "title", out["scenario"].map(lambda s: titles.get(s) or s))
    return out.reset_index(drop=True)


#: Width the printed summary keeps within (characters).
SUMMARY_WIDTH = 100


def format_summary(
    table: pd.DataFrame,
    spec: ModelSpec,
    *,
    region: str,
    baseline: str = "baseline",
    titles: dict[str, str] | None = None,
    present_values: pd.DataFrame | None = None,
    discount_rate: float | None = None,
    since: int | None = None,
    width: int = SUMMARY_WIDTH,
) -> str:
    """Format a `summary_table` as text for the terminal, no line wider than ``width``.

    Parameters
    ----------
    table : pandas.DataFrame
        From `summary_table`.
    spec : ModelSpec
        The model's spec (labels, units, the price base, the initial year of costs).
    region : str
        Region the table is for (shown in the heading).
    baseline : str
        Name of the baseline scenario.
    titles : dict, optional
        Scenario name -> title, shown instead of the name.
    present_values : pandas.DataFrame, optional
        From `present_values` (for ``region``): adds a block of present values of the cost.
    discount_rate : float, optional
        The rate of ``present_values`` (for its heading).
    since : int, optional
        The year costs are summed (and discounted) from: the model's initial time.
    width : int
        Widest line (characters).

    Returns
    -------
    str
        A heading that states the price base and that cost is cumulative and undiscounted;
        one block per year (the baseline's levels, then each scenario's change and cost); a
        key of the units; the present values when given.
    """
    if table.empty:
        return f"{region}: nothing to compare"
    titles = titles or {}
    columns = list(table.columns)
    indicators = [c for c in columns if c != "cost"]
    prices = f"{spec.price_base} prices" if spec.price_base is not None else "the model's prices"
    start = "the initial time" if since is None else str(since)
    base_title = scenario_title_of(baseline, titles)
    lines = textwrap.wrap(
        f"{region}. First row of each year: the level in {base_title}; other rows: each"
        f" scenario's change against it. Cost: cumulative extra public spending on the levers"
        f" since {start}, undiscounted, in billion yuan at {prices}.",
        width,
    )
    col_w = 9
    heads = {
        c: ("cost", "bn yuan") if c == "cost" else (f"({i})", "")
        for i, c in enumerate(indicators, start=1)
    }
    heads["cost"] = ("cost", "bn yuan")
    name_w = max(12, min(width - (col_w + 2) * len(columns), 36))
    for year in dict.fromkeys(y for y, _ in table.index):
        block = table.loc[year]
        lines.append("")
        for k, first in enumerate(("", f"year {year}")):
            cells = [first.ljust(name_w), *(heads[c][k].rjust(col_w) for c in columns)]
            lines.append("  ".join(cells).rstrip())
        for scen, row in block.iterrows():
            level = scen == LEVEL_ROW
            label = base_title if level else scenario_title_of(scen, titles)
            cells = [_cut(label, name_w).ljust(name_w)]
            for col in columns:
                signed = not level or col == "cost"
                cells.append(format_number(row[col], signed=signed).rjust(col_w))
            lines.append("  ".join(cells).rstrip())
    lines.append("")
    for i, col in enumerate(indicators, start=1):
        disp = spec.display(col)
        change = f", change in {disp.delta_unit}" if disp.delta_unit != disp.unit else ""
        lines.extend(
            textwrap.wrap(
                f"({i}) {disp.label}: {disp.unit}{change}", width, subsequent_indent="    "
            )
        )
    if present_values is not None and not present_values.empty:
        lines.append("")
        lines.extend(
            textwrap.wrap(
                f"Present value of the cost, discounted to {start} at"
                f" {100 * (discount_rate or 0):g} % a year (billion yuan at {prices}):",
                width,
            )
        )
        pv = present_values.pivot_table(
            index="scenario", columns="year", values="present_value_billion_yuan", sort=False
        )
        pv_years = list(pv.columns)
        lines.append("  ".join(["".ljust(name_w), *(f"{y}".rjust(col_w) for y in pv_years)]))
        for scen, row in pv.iterrows():
            cells = [_cut(scenario_title_of(scen, titles), name_w).ljust(name_w)]
            cells += [format_number(row[y]).rjust(col_w) for y in pv_years]
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def scenario_title_of(name: str, titles: dict[str, str] | None) -> str:
    """Return a scenario's title, or its name when it has none."""
    return (titles or {}).get(name) or name


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


# -- running a comparison -------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonResult:
    """The outcome of `compare_scenarios`.

    Attributes
    ----------
    results : pandas.DataFrame
        Tidy results of every scenario (columns of `sdplanner.results.RESULT_COLUMNS`).
    comparison : pandas.DataFrame
        From `compare_results` (columns `COMPARISON_COLUMNS`).
    baseline : str
        Name of the baseline (the first scenario).
    inputs : tuple of RunInputs
        The validated runs, in the order given.
    engine : str
        Engine used (``"batch"`` or ``"pysd"``).
    """

    results: pd.DataFrame
    comparison: pd.DataFrame
    baseline: str
    inputs: tuple[RunInputs, ...]
    engine: str

    @property
    def scenarios(self) -> list[str]:
        """Scenario names, baseline first."""
        return [i.scenario.name for i in self.inputs]

    @property
    def titles(self) -> dict[str, str]:
        """Scenario name -> title (the name when the file has no ``title``)."""
        return {i.scenario.name: i.scenario.display_title for i in self.inputs}

    def summary(self, **kwargs) -> pd.DataFrame:
        """Return the aggregate's `summary_table` (keyword arguments passed on)."""
        units = dict(zip(self.results["variable"], self.results.get("unit", ""), strict=False))
        spec = self.inputs[0].model.spec
        return summary_table(self.comparison, spec, units=units, **kwargs)


def prepare_comparison(
    scenarios: Sequence[str | os.PathLike | Scenario],
    *,
    model: str | os.PathLike | ModelInfo | None = None,
    params: str | os.PathLike | bool | None = None,
) -> tuple[RunInputs, ...]:
    """Validate every scenario of a comparison without simulating.

    Parameters
    ----------
    scenarios : sequence of path-like or Scenario
        Two or more scenarios; the first is the baseline.
    model : path-like or ModelInfo, optional
        The ``.mdl``; the shipped model when omitted.
    params : path-like, False or None
        Parameter file under every scenario; None uses the shipped calibrated parameters when
        present, False the ``.mdl`` defaults.

    Returns
    -------
    tuple of RunInputs
        One per scenario, in order.

    Raises
    ------
    ScenarioError
        When fewer than two scenarios are given, a scenario is invalid, or two scenarios have
        the same name (names are the ``scenario`` column and must be unique).
    """
    scenarios = list(scenarios)
    if len(scenarios) < 2:
        raise ScenarioError(
            "compare: expected at least two scenarios (the baseline first, then those to"
            f" compare with it), found {len(scenarios)}"
        )
    info = model if isinstance(model, ModelInfo) else load_model(model)
    loaded = [s if isinstance(s, Scenario) else load_scenario(s, info) for s in scenarios]
    seen: dict[str, Scenario] = {}
    for scen in loaded:
        if scen.name in seen:
            first = seen[scen.name]
            where = str(scen.path) if scen.path is not None else "scenario"
            other = str(first.path) if first.path is not None else "another scenario"
            same = (
                scen.path is not None
                and first.path is not None
                and Path(scen.path).resolve() == Path(first.path).resolve()
            )
            what = "is given twice" if same else f"is also the name of {other}"
            raise ScenarioError(
                f"{where}: name: {quote(scen.name)} {what}; scenario names must be unique in one"
                " comparison"
            )
        seen[scen.name] = scen
    return tuple(prepare_run(s, model=info, params=params) for s in loaded)


def _default_engine() -> str:
    try:
        import sdplanner.engine.batch  # noqa: F401
    except ImportError:
        return "pysd"
    return "batch"


def run_comparison(inputs: Sequence[RunInputs], *, engine: str | None = None) -> pd.DataFrame:
    """Simulate validated scenarios with one engine and stack their results.

    Parameters
    ----------
    inputs : sequence of RunInputs
        From `prepare_comparison` (all for the same model).
    engine : {"batch", "pysd"}, optional
        Simulation engine; the batch engine when available, else PySD.

    Returns
    -------
    pandas.DataFrame
        Tidy results of every scenario, in order (see `sdplanner.results`).
    """
    from sdplanner.engine import get_engine

    if not inputs:
        return pd.DataFrame()
    engine = engine or _default_engine()
    model = inputs[0].model
    eng = get_engine(engine, model.path)
    variables = required_variables(model.spec.outputs)
    frames = []
    for item in inputs:
        output = eng.run(item.params, final_time=item.scenario.final_time, variables=variables)
        frames.append(to_frame(output, item.model, item.scenario.name))
    return pd.concat(frames, ignore_index=True)


def compare_scenarios(
    scenarios: Sequence[str | os.PathLike | Scenario],
    *,
    model: str | os.PathLike | ModelInfo | None = None,
    params: str | os.PathLike | bool | None = None,
    engine: str | None = None,
    indicators: Sequence[str] | None = None,
    years: Sequence[int] | None = None,
) -> ComparisonResult:
    """Run scenarios and compare each with the first (the baseline).

    Parameters
    ----------
    scenarios : sequence of path-like or Scenario
        Two or more scenario files (or loaded scenarios); the first is the baseline.
    model : path-like or ModelInfo, optional
        The ``.mdl``; the shipped model when omitted.
    params : path-like, False or None
        Parameter file under every scenario; None uses the shipped calibrated parameters
        when present, False the ``.mdl`` defaults.
    engine : {"batch", "pysd"}, optional
        Simulation engine; the batch engine when available, else PySD.
    indicators : sequence of str, optional
        Variables compared; the model spec's ``comparison`` view by default.
    years : sequence of int, optional
        Years compared; the model spec's comparison years by default.

    Returns
    -------
    ComparisonResult
        Results of every scenario, the comparison table and the validated inputs.

    Raises
    ------
    ScenarioError
        When a scenario is invalid or two share a name (checked before anything runs).

    Examples
    --------
    >>> from sdplanner import compare_scenarios
    >>> res = compare_scenarios(["scenarios/baseline.yaml", "scenarios/all-five.yaml"])
    >>> res.summary()  # doctest: +SKIP
    """
    inputs = prepare_comparison(scenarios, model=model, params=params)
    engine = engine or _default_engine()
    results = run_comparison(inputs, engine=engine)
    baseline = inputs[0].scenario.name
    spec = inputs[0].model.spec
    comparison = compare_results(
        results,
        baseline=baseline,
        indicators=spec.view("comparison") if indicators is None else indicators,
        years=spec.comparison_years if years is None else years,
        cost_variable=spec.cumulative_cost,
    )
    return ComparisonResult(results, comparison, baseline, inputs, engine)
