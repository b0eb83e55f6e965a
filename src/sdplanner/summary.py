"""The comparison for people: the printed summary and the per-region table.

`summary_table` and `format_summary` make the summary ``sdplanner compare`` prints (one
region, the baseline's levels and each scenario's change, in display units), `region_table`
the per-region table (``regions.csv``). They read the comparison table of
`sdplanner.comparison` and the model spec's displays; nothing here computes a comparison,
plots or writes files.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import pandas as pd

from sdplanner.display import format_number, money_unit
from sdplanner.spec import ModelSpec

__all__ = [
    "LEVEL_ROW",
    "SUMMARY_WIDTH",
    "format_summary",
    "region_table",
    "scenario_title_of",
    "summary_table",
]


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
        From `sdplanner.comparison.compare_results`.
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
        the level row; only when the spec names a cost stock), then one per indicator (its
        name), in display units (`ModelSpec.display`: levels in ``unit``, changes in
        ``delta_unit``).
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
    if not spec.cumulative_cost:
        table = table.drop(columns=["cost"])  # a model without the levers' cost
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
        From `sdplanner.comparison.compare_results`.
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
        From `sdplanner.comparison.present_values` (for ``region``): adds a block of
        present values of the cost.
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
    cost = (
        f" Cost: cumulative extra public spending on the levers since {start}, undiscounted,"
        f" in billion yuan at {prices}."
        if "cost" in columns
        else ""
    )
    where = f"{region}. First" if region else "First"
    lines = textwrap.wrap(
        f"{where} row of each year: the level in {base_title}; other rows: each"
        f" scenario's change against it.{cost}",
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
