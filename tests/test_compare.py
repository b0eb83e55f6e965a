"""`sdplanner compare` on the shipped scenarios, and the comparison arithmetic.

One comparison of the seven shipped scenarios (``.mdl`` defaults, so the numbers do not move
when calibrated parameters appear; the default engine) is computed once for the module. The
directions each path must produce are read from the table of ``docs/scenarios.md``, so the
documentation and the tests cannot drift apart.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main
from sdplanner.commands.run import resolve_engine
from sdplanner.compare import (
    COMPARISON_COLUMNS,
    LEVEL_ROW,
    SUMMARY_WIDTH,
    compare_results,
    compare_scenarios,
    format_summary,
    present_values,
    region_table,
    summary_table,
)
from sdplanner.errors import DataError
from sdplanner.resources import default_params_path
from sdplanner.results import RESULT_COLUMNS
from tests.shipped import (
    AGGREGATE,
    COMPARISON_YEARS,
    CORE_INDICATORS,
    INDICATORS,
    REGIONS,
    SPEC,
)

from .conftest import ROOT, SCENARIOS

SHIPPED = [
    "baseline",
    "path-4.1-urban-layout",
    "path-4.2-specialized-industry",
    "path-4.3-infrastructure",
    "path-4.4-resource-integration",
    "path-4.5-regulations-social-security",
    "all-five",
]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Run `sdplanner compare` once on the shipped scenarios; return (dir, stdout, rc)."""
    out = tmp_path_factory.mktemp("compare")
    argv = ["compare", *(str(SCENARIOS / f"{n}.yaml") for n in SHIPPED)]
    argv += ["--out", str(out), "--no-params", "--engine", resolve_engine(None)]
    argv += ["--discount-rate", "0.03"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    return out, buf.getvalue(), rc


@pytest.fixture(scope="module")
def comparison(shipped):
    return pd.read_csv(shipped[0] / "comparison.csv")


def _doc_directions():
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([\w.-]+) \| `(\w+)` \| (rises|falls) \|$", text, flags=re.M)
    return [(scen, ind, +1 if word == "rises" else -1) for scen, ind, word in rows]


DIRECTIONS = _doc_directions()


def test_docs_state_directions_for_every_path():
    assert len(DIRECTIONS) >= 25
    scenarios = {s for s, _, _ in DIRECTIONS}
    assert scenarios == set(SHIPPED[1:])
    for scen, ind, _ in DIRECTIONS:
        assert ind in INDICATORS, (scen, ind)


def test_compare_exits_0_and_writes_every_file(shipped):
    out, _stdout, rc = shipped
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    expected = {"results.csv", "comparison.csv", "regions.csv", "manifest.json", "poverty.png"}
    expected |= {f"trajectory_{ind}.png" for ind in SPEC.view("report")}
    expected |= {f"{CORE_INDICATORS[0]}_by_region.png"}
    expected |= {f"effect_per_cost_{year}.png" for year in SPEC.summary_years}
    assert names == expected
    for name in names:
        data = (out / name).read_bytes()
        assert data
        if name.endswith(".png"):
            assert data.startswith(PNG)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "compare"
    assert manifest["scenarios"] == SHIPPED
    assert manifest["baseline"] == "baseline"
    assert manifest["scenario_titles"]["all-five"] == "All five paths"


def test_results_csv_has_run_columns_and_all_scenarios(shipped):
    results = pd.read_csv(shipped[0] / "results.csv")
    assert list(results.columns) == RESULT_COLUMNS
    assert list(dict.fromkeys(results["scenario"])) == SHIPPED
    assert set(results["region"]) == {*REGIONS, AGGREGATE}


def test_comparison_csv_columns_rows_and_arithmetic(comparison):
    assert list(comparison.columns) == COMPARISON_COLUMNS
    assert list(dict.fromkeys(comparison["scenario"])) == SHIPPED[1:]  # no baseline rows
    assert set(comparison["year"]) == set(COMPARISON_YEARS)
    assert set(comparison["indicator"]) == set(INDICATORS)
    assert set(comparison["region"]) == {*REGIONS, AGGREGATE}
    assert len(comparison) == 6 * 15 * len(INDICATORS) * len(COMPARISON_YEARS)
    np.testing.assert_allclose(
        comparison["delta"], comparison["value"] - comparison["baseline_value"], atol=1e-6
    )
    cost = comparison["cumulative_cost_billion_yuan"]
    ratio = comparison["delta_per_billion_yuan"]
    zero = cost.abs() <= 1e-9
    assert ratio[zero].isna().all()
    np.testing.assert_allclose(ratio[~zero], comparison["delta"][~zero] / cost[~zero], rtol=1e-9)
    # Levers start in 2015: nothing spent yet, nothing changed, no ratio.
    first = comparison[comparison["year"] == 2015]
    assert (first["cumulative_cost_billion_yuan"] == 0).all()
    assert first["delta_per_billion_yuan"].isna().all()
    # Later every path spends, in every region.
    later = comparison[comparison["year"] == 2030]
    assert (later["cumulative_cost_billion_yuan"] > 0).all()


def test_aggregate_cost_is_the_sum_of_the_regions(comparison):
    rows = comparison[(comparison["indicator"] == "urbanization_rate")]
    regions = rows[rows["region"] != AGGREGATE]
    total = regions.groupby(["scenario", "year"])["cumulative_cost_billion_yuan"].sum()
    agg = rows[rows["region"] == AGGREGATE].set_index(["scenario", "year"])
    np.testing.assert_allclose(
        agg["cumulative_cost_billion_yuan"].loc[total.index], total, rtol=1e-9
    )


@pytest.mark.parametrize(
    ("scenario", "indicator", "sign"),
    DIRECTIONS,
    ids=[f"{s}-{i}" for s, i, _ in DIRECTIONS],
)
def test_path_moves_its_targets_as_documented(comparison, scenario, indicator, sign):
    row = comparison[
        (comparison["scenario"] == scenario)
        & (comparison["indicator"] == indicator)
        & (comparison["region"] == AGGREGATE)
        & (comparison["year"] == 2030)
    ]
    assert len(row) == 1
    delta = float(row["delta"].iloc[0])
    base = abs(float(row["baseline_value"].iloc[0]))
    # A direction is a change clearly above round-off: 1e-6 of the baseline level (or of 1e-6
    # for an indicator that is 0 in the baseline, such as hukou conversion).
    assert sign * delta > 1e-6 * max(base, 1.0), (scenario, indicator, delta)


@pytest.mark.skipif(default_params_path() is None, reason="no calibrated parameters shipped")
def test_documented_directions_hold_with_calibrated_parameters():
    """docs/scenarios.md says the directions hold with the shipped calibrated parameters too."""
    res = compare_scenarios(
        [SCENARIOS / f"{n}.yaml" for n in SHIPPED],
        params=None,
        engine=resolve_engine(None),
        indicators=sorted({i for _, i, _ in DIRECTIONS} | {"urbanization_rate"}),
        years=[2030],
    )
    agg = res.comparison[res.comparison["region"] == AGGREGATE]
    delta = agg.set_index(["scenario", "indicator"])["delta"]
    wrong = [(s, i) for s, i, sign in DIRECTIONS if not sign * delta[(s, i)] > 0]
    assert wrong == []
    urb = delta.xs("urbanization_rate", level="indicator")
    assert urb["all-five"] > urb.drop(index="all-five").max()


def test_all_five_raises_urbanization_more_than_any_single_path(comparison):
    rows = comparison[
        (comparison["indicator"] == "urbanization_rate")
        & (comparison["region"] == AGGREGATE)
        & (comparison["year"] == 2030)
    ].set_index("scenario")["delta"]
    singles = rows.drop(index="all-five")
    assert len(singles) == 5
    assert rows["all-five"] > singles.max() > 0


def test_summary_is_printed_for_the_aggregate(shipped):
    stdout = shipped[1]
    assert stdout.startswith(f"{AGGREGATE}. First row of each year: the level in Baseline")
    assert "2010 prices" in stdout and "undiscounted" in stdout and "cumulative" in stdout
    assert "year 2030" in stdout
    assert "year 2050" in stdout
    for title in ("4.1 Urban space layout", "All five paths"):  # titles, not file names
        assert re.search(rf"^{re.escape(title)}\s+\+[\d,]+", stdout, flags=re.M), title
    assert "path-4.1-urban-layout" not in stdout
    assert "(1) urbanization rate (residents): %, change in percentage points" in stdout
    assert "Present value of the cost, discounted to 2010 at 3 % a year" in stdout
    assert "7 scenarios run with the" in stdout


def test_compare_output_fits_100_columns(shipped):
    out, stdout, _rc = shipped
    lines = stdout.splitlines()
    widths = [len(line) for line in lines if str(out) not in line]  # but the folder's path
    assert len(widths) == len(lines) - 1
    assert max(widths) <= SUMMARY_WIDTH == 100


def test_regions_csv_has_every_headline_indicator_per_region(shipped):
    regions = pd.read_csv(shipped[0] / "regions.csv")
    assert set(regions["region"]) == {*REGIONS, AGGREGATE}
    assert list(dict.fromkeys(regions["scenario"])) == SHIPPED[1:]
    assert set(regions["year"]) == set(SPEC.summary_years)
    assert len(regions) == len(SHIPPED[1:]) * len(SPEC.summary_years) * (len(REGIONS) + 1)
    for ind in CORE_INDICATORS:
        disp = SPEC.display(ind)
        assert f"{disp.label} ({disp.unit})" in regions.columns
        assert f"change in {disp.label} ({disp.delta_unit})" in regions.columns
    # the same numbers as comparison.csv, in display units
    comp = pd.read_csv(shipped[0] / "comparison.csv")
    one = comp[
        (comp.scenario == "all-five")
        & (comp.region == "Tibet")
        & (comp.indicator == CORE_INDICATORS[0])
        & (comp.year == 2030)
    ].iloc[0]
    row = regions[(regions.scenario == "all-five") & (regions.region == "Tibet")]
    row = row[row.year == 2030].iloc[0]
    disp = SPEC.display(CORE_INDICATORS[0])
    assert row[f"change in {disp.label} ({disp.delta_unit})"] == pytest.approx(
        one.delta * disp.scale, rel=1e-12
    )
    assert row["title"] == "All five paths"


def test_compare_in_svg(tmp_path, capsys):
    rc = main(
        [
            "compare",
            str(SCENARIOS / "baseline.yaml"),
            str(SCENARIOS / "path-4.3-infrastructure.yaml"),
            "--out",
            str(tmp_path),
            "--no-params",
            "--format",
            "svg",
        ]
    )
    assert rc == 0
    capsys.readouterr()
    svgs = sorted(p.name for p in tmp_path.glob("*.svg"))
    assert len(svgs) == len(SPEC.view("report")) + 2 + len(SPEC.summary_years)
    assert not list(tmp_path.glob("*.png"))
    assert b"<svg" in (tmp_path / f"{CORE_INDICATORS[0]}_by_region.svg").read_bytes()[:1000]


# -- the pure functions, on a table with known numbers --------------------------------------


def _table(rows):
    return pd.DataFrame(rows, columns=["scenario", "region", "variable", "year", "value", "unit"])


def _toy():
    rows = []
    for scen, level, cost in (("base", 0.30, 0.0), ("a", 0.32, 4e9), ("b", 0.29, 0.0)):
        for region in ("R1", AGGREGATE):
            for year in (2015, 2030):
                grow = 1.0 if year == 2030 else 0.0
                rows.append((scen, region, "urbanization_rate", year, level, "Dmnl"))
                rows.append((scen, region, "cumulative_policy_cost", year, cost * grow, "yuan"))
    return _table(rows)


COST = "cumulative_policy_cost"


def test_compare_results_known_numbers():
    out = compare_results(
        _toy(), indicators=["urbanization_rate"], years=[2015, 2030], cost_variable=COST
    )
    assert list(out.columns) == COMPARISON_COLUMNS
    assert list(dict.fromkeys(out["scenario"])) == ["a", "b"]
    a = out[(out["scenario"] == "a") & (out["region"] == "R1")].set_index("year")
    assert a.at[2030, "delta"] == pytest.approx(0.02)
    assert a.at[2030, "cumulative_cost_billion_yuan"] == pytest.approx(4.0)
    assert a.at[2030, "delta_per_billion_yuan"] == pytest.approx(0.005)
    assert math.isnan(a.at[2015, "delta_per_billion_yuan"])  # nothing spent yet
    b = out[(out["scenario"] == "b") & (out["region"] == "R1")].set_index("year")
    assert b.at[2030, "delta"] == pytest.approx(-0.01)
    assert math.isnan(b.at[2030, "delta_per_billion_yuan"])  # no cost: no ratio


def test_compare_results_with_another_baseline_and_negative_cost():
    out = compare_results(
        _toy(), baseline="a", indicators=["urbanization_rate"], years=[2030], cost_variable=COST
    )
    base = out[(out["scenario"] == "base") & (out["region"] == "R1")].iloc[0]
    assert base["cumulative_cost_billion_yuan"] == pytest.approx(-4.0)
    assert base["delta_per_billion_yuan"] == pytest.approx(-0.02 / -4.0)


def test_compare_results_errors():
    with pytest.raises(DataError, match="baseline 'nope'"):
        compare_results(
            _toy(),
            baseline="nope",
            indicators=["urbanization_rate"],
            years=[2030],
            cost_variable=COST,
        )
    with pytest.raises(DataError, match="expected variable 'poverty_incidence'"):
        compare_results(_toy(), indicators=["poverty_incidence"], years=[2030], cost_variable=COST)


def test_summary_table_units_and_levels():
    comp = compare_results(
        _toy(), indicators=["urbanization_rate"], years=[2030], cost_variable=COST
    )
    table = summary_table(comp, SPEC, years=[2030], indicators=["urbanization_rate"])
    assert table.loc[(2030, LEVEL_ROW), "urbanization_rate"] == pytest.approx(30.0)  # in %
    assert table.loc[(2030, "a"), "urbanization_rate"] == pytest.approx(2.0)  # in points
    assert table.loc[(2030, "a"), "cost"] == pytest.approx(4.0)
    text = format_summary(
        table, SPEC, baseline="base", region=AGGREGATE, titles={"a": "Scenario A"}, since=2010
    )
    assert re.search(r"^base\s+n/a\s+30\.0$", text, flags=re.M)
    assert re.search(r"^Scenario A\s+\+4\.00\s+\+2\.00$", text, flags=re.M)
    assert "since 2010, undiscounted" in text
    assert max(len(line) for line in text.splitlines()) <= SUMMARY_WIDTH


def test_summary_of_many_long_titles_still_fits():
    comp = compare_results(
        _toy(), indicators=["urbanization_rate"], years=[2030], cost_variable=COST
    )
    indicators = ["urbanization_rate"] * 1
    table = summary_table(comp, SPEC, years=[2030], indicators=indicators)
    text = format_summary(table, SPEC, region=AGGREGATE, titles={"a": "A" * 60, "b": "B" * 60})
    assert max(len(line) for line in text.splitlines()) <= SUMMARY_WIDTH
    assert "AAA..." in text


def test_present_values_known_numbers():
    """1 billion yuan a year from 2015: the present value at 5 % sums the discounted years."""
    rows = []
    for scen, spend in (("base", 0.0), ("a", 1e9)):
        for year in range(2010, 2031):
            cum = spend * max(0, year - 2015)
            rows.append((scen, AGGREGATE, COST, year, cum, "yuan"))
    pv = present_values(_table(rows), COST, rate=0.05, years=[2020, 2030], base_year=2010)
    got = pv.set_index("year")["present_value_billion_yuan"]
    expect = {y: sum(1.05 ** -(t + 0.5 - 2010) for t in range(2015, y)) for y in (2020, 2030)}
    assert got[2020] == pytest.approx(expect[2020], rel=1e-12)
    assert got[2030] == pytest.approx(expect[2030], rel=1e-12)
    undiscounted = present_values(_table(rows), COST, rate=0.0, years=[2030], base_year=2010)
    assert undiscounted["present_value_billion_yuan"].iloc[0] == pytest.approx(15.0)
    with pytest.raises(DataError, match="--discount-rate"):
        present_values(_table(rows), COST, rate=-0.1, years=[2030], base_year=2010)


def test_region_table_from_known_numbers():
    comp = compare_results(
        _toy(), indicators=["urbanization_rate"], years=[2030], cost_variable=COST
    )
    table = region_table(comp, SPEC, indicators=["urbanization_rate"], years=[2030])
    assert list(table["region"][:2]) == [AGGREGATE, "R1"]  # the aggregate first
    a = table[(table.scenario == "a") & (table.region == "R1")].iloc[0]
    disp = SPEC.display("urbanization_rate")
    assert a[f"{disp.label} ({disp.unit})"] == pytest.approx(32.0)
    assert a[f"change in {disp.label} ({disp.delta_unit})"] == pytest.approx(2.0)
    assert a.iloc[4] == pytest.approx(4.0)  # cumulative extra cost, billion yuan
    assert "2010 prices" in table.columns[4] and "undiscounted" in table.columns[4]
