"""Compare scenarios: changes against a baseline, fiscal costs and effect per billion yuan.

The pure functions here work on the tidy results table of `sdplanner.results` (columns
``scenario, region, variable, year, value, unit``): `compare_results` builds the comparison
table, `summary_table` and `format_summary` the 14-region summary printed by
``sdplanner compare``. `compare_scenarios` is the one-call verb: validate every scenario,
run them all with one engine, compare. Nothing here plots or writes files.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sdplanner.display import Display
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
    "run_comparison",
    "summary_table",
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
        (scenario ``"<baseline> (level)"``), the others the change against it. Columns are
        ``"cost (billion yuan)"`` then one per indicator, named ``"<label> (<unit>)"``, or
        ``"<label> (<unit>; change in <unit of a change>)"`` when they differ (``%`` and
        ``pp`` for fractions); values are scaled to those units.
    """
    units = units or {}
    years = spec.summary_years if years is None else years
    indicators = spec.view("headline") if indicators is None else indicators
    region = _aggregate_label(spec) if region is None else region
    rows = comparison[
        (comparison["region"] == region)
        & comparison["year"].isin(list(years))
        & comparison["indicator"].isin(list(indicators))
    ]
    scenarios = list(dict.fromkeys(rows["scenario"]))
    records = []
    for year in years:
        at = rows[rows["year"] == year]
        if at.empty:
            continue
        base_rec: dict[str, object] = {"year": year, "scenario": "baseline (level)"}
        base_rec["cost (billion yuan)"] = math.nan
        recs = []
        for scen in scenarios:
            sub = at[at["scenario"] == scen].set_index("indicator")
            if sub.empty:
                continue
            rec: dict[str, object] = {"year": year, "scenario": scen}
            rec["cost (billion yuan)"] = float(sub["cumulative_cost_billion_yuan"].iloc[0])
            for ind in indicators:
                disp = spec.display(ind, units.get(ind, ""))
                col = _summary_column(disp)
                if ind in sub.index:
                    rec[col] = float(sub.at[ind, "delta"]) * disp.scale
                    base_rec[col] = float(sub.at[ind, "baseline_value"]) * disp.scale
                else:
                    rec[col] = math.nan
                    base_rec.setdefault(col, math.nan)
            recs.append(rec)
        records.append(base_rec)
        records.extend(recs)
    table = pd.DataFrame.from_records(records)
    if table.empty:
        return table
    return table.set_index(["year", "scenario"])


def _aggregate_label(spec: ModelSpec) -> str:
    return spec.dimension.aggregate if spec.dimension is not None else ""


def _summary_column(disp: Display) -> str:
    if disp.unit == disp.delta_unit:
        return f"{disp.label} ({disp.unit})"
    short = "pp" if disp.delta_unit == "percentage points" else disp.delta_unit
    return f"{disp.label} ({disp.unit}; change in {short})"


def format_summary(table: pd.DataFrame, *, region: str, baseline: str = "baseline") -> str:
    """Format a `summary_table` as fixed-width text for the terminal.

    Parameters
    ----------
    table : pandas.DataFrame
        From `summary_table`.
    baseline : str
        Name of the baseline scenario (shown in the heading and the level rows).
    region : str
        Region the table is for (shown in the heading).

    Returns
    -------
    str
        One block per year: the baseline's levels, then each scenario's change and cost.
    """
    if table.empty:
        return f"{region}: nothing to compare"
    columns = list(table.columns)
    lines = [
        f"{region}: the baseline {quote(baseline)} (level), and each scenario's change against it;"
        " cost = extra public spending on the levers since 2010"
    ]
    names = [s.replace("baseline (level)", f"{baseline} (level)") for _, s in table.index]
    width = max(len("scenario"), *(len(n) for n in names))
    heads = [c.replace(" (", "\n(", 1).split("\n") for c in columns]
    col_w = [max(11, *(len(h) for h in head)) for head in heads]
    for year in dict.fromkeys(y for y, _ in table.index):
        block = table.loc[year]
        lines.append("")
        lines.append(f"year {year}")
        for k in range(2):
            cells = [
                (("scenario" if k == 0 else "") or "").ljust(width),
                *(
                    (head[k] if k < len(head) else "").rjust(w)
                    for head, w in zip(heads, col_w, strict=True)
                ),
            ]
            lines.append("  ".join(cells).rstrip())
        for scen, row in block.iterrows():
            level = scen == "baseline (level)"
            label = f"{baseline} (level)" if level else scen
            cells = [label.ljust(width)]
            for col, w in zip(columns, col_w, strict=True):
                cells.append(_fmt(row[col], signed=not level or col.startswith("cost")).rjust(w))
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _fmt(value: float, *, signed: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    mag = abs(value)
    if mag == 0:
        digits = 0
    elif mag >= 100:
        digits = 0
    elif mag >= 10:
        digits = 1
    elif mag >= 0.1:
        digits = 2
    else:
        digits = 3
    text = f"{value:+,.{digits}f}" if signed and value != 0 else f"{value:,.{digits}f}"
    return text


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
