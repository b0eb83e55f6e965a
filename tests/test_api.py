"""The notebook API: simulate and simulate_many, against the scenario files and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sdplanner
from sdplanner.errors import ScenarioError
from sdplanner.tables import dataset_to_frame, frame_to_dataset
from tests.shipped import AGGREGATE, REGIONS

from .conftest import SCENARIOS


@pytest.fixture(scope="module")
def baseline():
    return sdplanner.simulate("baseline")


def test_shipped_scenarios_by_name_from_another_folder(baseline, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert {"baseline", "all-five"} <= set(sdplanner.shipped_scenarios())
    again = sdplanner.simulate("baseline")
    by_file = sdplanner.run_scenario(SCENARIOS / "baseline.yaml")
    np.testing.assert_array_equal(again.value.to_numpy(), by_file.value.to_numpy())
    np.testing.assert_array_equal(baseline.value.to_numpy(), by_file.value.to_numpy())


def test_levers_in_code_equal_a_scenario_file(tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text(
        f"name: baseline\nextends: {SCENARIOS / 'baseline.yaml'}\n"
        "levers:\n  infrastructure_investment: {strength: 0.05, start: 2016}\n"
        "parameters:\n  base_return_rate: 0.05\n",
        encoding="utf-8",
    )
    file_df = sdplanner.run_scenario(scen)
    code_df = sdplanner.simulate(
        "baseline",
        levers={"infrastructure_investment": {"strength": 0.05, "start": 2016}},
        params={"base_return_rate": 0.05},
    )
    np.testing.assert_array_equal(code_df.value.to_numpy(), file_df.value.to_numpy())
    # a bare number is a strength; start and ramp keep the .mdl's values
    bare = sdplanner.simulate("baseline", levers={"infrastructure_investment": 0.05})
    assert not np.array_equal(bare.value.to_numpy(), code_df.value.to_numpy())


def test_variables_and_xarray(baseline):
    sub = sdplanner.simulate("baseline", variables=["urbanization_rate", "poverty_incidence"])
    assert set(sub.variable) == {"urbanization_rate", "poverty_incidence"}
    ds = sdplanner.simulate("baseline", as_xarray=True)
    assert ds["urbanization_rate"].dims == ("scenario", "region", "year")
    assert list(ds.region.values) == [*REGIONS, AGGREGATE]
    assert ds["urbanization_rate"].attrs["units"] == "Dmnl"
    back = dataset_to_frame(frame_to_dataset(baseline))
    merged = baseline.merge(back, on=["scenario", "region", "variable", "year"])
    assert len(merged) == len(baseline)
    np.testing.assert_array_equal(merged.value_x.to_numpy(), merged.value_y.to_numpy())


def test_simulate_many_grid_equals_single_runs():
    grid = {"infrastructure_investment": [0.0, 0.04], "hukou_reform": [0.0, 0.5, 1.0]}
    many = sdplanner.simulate_many(grid, variables=["urbanization_rate"])
    assert sorted(set(many["sample"])) == list(range(6))
    assert {"infrastructure_investment.strength", "hukou_reform.strength"} <= set(many.columns)
    row = many[many["sample"] == 5]
    assert row["infrastructure_investment.strength"].iloc[0] == 0.04
    assert row["hukou_reform.strength"].iloc[0] == 1.0
    single = sdplanner.simulate(
        "baseline",
        levers={"infrastructure_investment": 0.04, "hukou_reform": 1.0},
        variables=["urbanization_rate"],
    )
    a = row.set_index(["region", "year"])["value"].sort_index()
    b = single.set_index(["region", "year"])["value"].sort_index()
    # The batch engine gives a sample the same bits alone or in a batch.
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_simulate_many_as_xarray_has_a_sample_dimension():
    ds = sdplanner.simulate_many([{"hukou_reform": 0.2}, {"hukou_reform": 0.8}], as_xarray=True)
    assert ds["urbanization_rate"].dims == ("sample", "region", "year")
    assert list(ds["hukou_reform.strength"].values) == [0.2, 0.8]
    agg = ds["urbanization_rate"].sel(region=AGGREGATE, year=2030).values
    assert agg.shape == (2,) and np.all(np.isfinite(agg))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sdplanner.simulate("baselin"), "did you mean 'baseline'"),
        (lambda: sdplanner.simulate(levers={"hukou_reforms": 0.5}), "did you mean 'hukou_reform'"),
        (
            lambda: sdplanner.simulate(levers={"infrastructure_investment": 0.5}),
            r"infrastructure_investment\.strength: expected a strength .* 0\.\.0\.2, found 0\.5",
        ),
        (lambda: sdplanner.simulate(params={"base_retun_rate": 1}), "did you mean"),
        (lambda: sdplanner.simulate(variables=["urbanisation_rate"]), "did you mean"),
        (lambda: sdplanner.simulate_many([]), "at least one lever setting"),
        (
            lambda: sdplanner.simulate_many([{"hukou_reform": 0.5}, {"hukou_reform": 2.0}]),
            r"settings\[1\]\.hukou_reform\.strength",
        ),
    ],
)
def test_bad_arguments_are_one_line_errors(call, message):
    with pytest.raises(ScenarioError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_results_are_plain_data(baseline):
    assert isinstance(baseline, pd.DataFrame)
    assert list(baseline.columns) == ["scenario", "region", "variable", "year", "value", "unit"]
