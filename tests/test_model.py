"""The shipped model: starting figures, invariants, time-step convergence, 2010-2012 direction."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from tests.shipped import REGIONS

from .conftest import DATA, ROOT


def _read_csv(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


TABLE1 = {
    r["area"]: float(r["value"]) / 100
    for r in _read_csv(DATA / "seed_figures.csv")
    if r["indicator"] == "urbanization_rate" and r["area_type"] == "region" and r["value"]
}

#: The seven population stocks of Model 2 (three age groups in villages and towns, migrants).
POPULATION_STOCKS = (
    "rural_children",
    "rural_working_age",
    "rural_elderly",
    "urban_children",
    "urban_working_age",
    "urban_elderly",
    "migrant_workers_outside",
)
#: Source labels a constant's comment must carry (issue 14: every behavioural constant sourced
#: or labelled), or a pointer to the data files.
SOURCE_LABELS = ("data", "derived", "literature", "assumption", "calibrated", "Table 1")


def test_table1_has_13_regions_and_model_has_14(model):
    assert len(TABLE1) == 13
    assert model.regions == REGIONS and len(REGIONS) == 14


def test_2010_urbanization_equals_table1(model, pysd_baseline):
    # Table 1 rates are data: 0.01 percentage points = 1e-4 as a fraction.
    rate = pysd_baseline.values["urbanization_rate"][0]
    for region, expected in TABLE1.items():
        got = rate[model.regions.index(region)]
        assert abs(got - expected) <= 1e-4, (region, got, expected)


def test_mdl_constants_agree_with_data_files(model):
    """Every figure of data/model_inputs.csv is the value of the .mdl constant, region by region
    (an empty region: a scalar constant)."""
    text = (ROOT / "models" / "sdplanner.mdl").read_text(encoding="utf-8")
    rows = _read_csv(DATA / "model_inputs.csv")
    regional = {
        "total population 2010",
        "urbanization rate 2010",
        "gdp per capita 2010",
        "primary industry share 2010",
        "initial social security coverage",
    }
    assert regional <= {r["parameter"] for r in rows}
    for row in rows:
        py = model.resolve(row["parameter"])
        assert py is not None, row["parameter"]
        value = model.constants[py]
        if row["region"]:
            value = value[model.regions.index(row["region"])]
        else:
            assert np.ndim(value) == 0, row["parameter"]
        # The .mdl writes the same decimal figure: equal to float precision.
        assert value == pytest.approx(float(row["value"]), rel=1e-12), row
        assert row["status"] in ("data", "derived", "literature", "assumption")
        if row["status"] == "assumption":
            assert row["note"], row
    # every source-bearing row points at a source or states its assumption
    assert all(r["source"] or r["status"] == "assumption" for r in rows)
    # the .mdl comment cites the data file for each regional constant
    for name in regional:
        block = re.search(re.escape(name) + r"\[Region\]=.*?\|", text, re.S).group(0)
        assert "data/regions.csv" in block or "data/model_inputs.csv" in block or "Table 1" in block


def _mdl_blocks():
    text = (ROOT / "models" / "sdplanner.mdl").read_text(encoding="utf-8")
    for block in text.split("|"):
        m = re.match(r"\s*([^=~\n]+?)\s*(\[Region\])?\s*=", block)
        if m and "~" in block:
            parts = block.split("~")
            yield m.group(1).strip(), parts[1].strip(), parts[2].strip()


def test_every_constant_has_a_range_and_a_source_label(model):
    """Vensim ranges after the units, and a source label in the comment (issue 14)."""
    blocks = {name: (units, comment) for name, units, comment in _mdl_blocks()}
    lever_suffixes = (" strength", " start", " ramp years")
    for py in model.constants:
        name = model.variables[py].name
        if py in ("initial_time", "final_time", "time_step", "saveper"):
            continue
        units, comment = blocks[name]
        assert re.search(r"\[[-0-9.?]+,[-0-9.?]+\]$", units), (name, units)
        if name.endswith(lever_suffixes):
            continue  # levers are decisions: their meaning is in the spec and docs
        assert any(label in comment for label in SOURCE_LABELS), (name, comment)


def test_money_is_constant_2010_yuan(model):
    text = (ROOT / "models" / "sdplanner.mdl").read_text(encoding="utf-8")
    assert "Money is constant 2010 yuan throughout" in text
    assert model.spec.price_base == 2010
    # no variable converts to current prices: calibration specs name deflators instead
    assert not [v for v in model.variables if "current_prices" in v or "price_index" in v]


def test_every_variable_has_units_and_comment(model):
    missing = [v.name for v in model.variables.values() if v.py_name != "time" and not v.units]
    assert missing == []
    uncommented = [
        v.name for v in model.variables.values() if v.py_name != "time" and not v.comment
    ]
    assert uncommented == []


def test_stocks_nonnegative_and_rates_in_unit_interval(model, pysd_baseline):
    v = pysd_baseline.values
    for stock in model.stocks:
        assert np.all(v[stock] >= 0), stock
    for rate in (
        "urbanization_rate",
        "poverty_incidence",
        "migrant_share_of_rural_workforce",
        "idle_farmland_share",
        "town_road_concreted_share",
        "primary_industry_share",
        "secondary_industry_share",
        "tertiary_industry_share",
        "social_security_coverage",
        "skilled_share",
        "graduate_retention_share",
        "town_settlement_share_of_returnees",
        "registered_urbanization_rate",
        "rural_working_age_share",
        "uninhabitable_area_share",
        "registered_share_of_urban_residents",
        "village_share_of_migrant_families",
    ):
        assert np.all((v[rate] >= 0) & (v[rate] <= 1)), rate


def test_people_are_conserved(pysd_baseline):
    v = pysd_baseline.values
    people = sum(v[s] for s in POPULATION_STOCKS) - v["cumulative_net_natural_increase"]
    # Every flow between the seven stocks leaves one and enters another, so the sum less
    # the accumulated births minus deaths is constant; 1e-6 relative allows for rounding
    # over 320 Euler steps of sums of ~1e7.
    np.testing.assert_allclose(people, np.broadcast_to(people[0], people.shape), rtol=1e-6)
    np.testing.assert_allclose(
        sum(v[s] for s in POPULATION_STOCKS), v["population_balance"], rtol=1e-6
    )


def test_baseline_urbanization_rises_2010_2012(model, pysd_baseline):
    rate = pysd_baseline.values["urbanization_rate"]
    t = list(pysd_baseline.times)
    assert np.all(rate[t.index(2012.0)] > rate[t.index(2011.0)])
    assert np.all(rate[t.index(2011.0)] > rate[t.index(2010.0)])


def test_wulingshan_2012_near_its_prefectures(model, pysd_baseline):
    # Seed section 3: Enshi 34.5, Huaihua 39, Tongren 35, Qianjiang 42 -> mean 37.625 %.
    mean_prefectures = (0.345 + 0.39 + 0.35 + 0.42) / 4
    rate = pysd_baseline.values["urbanization_rate"]
    got = rate[list(pysd_baseline.times).index(2012.0), model.regions.index("Wulingshan")]
    assert abs(got - mean_prefectures) <= 0.05


def test_halving_time_step_changes_outputs_by_less_than_half_percent(model):
    """Euler with TIME STEP dt against dt/2: every reported output within 0.5 %."""
    from sdplanner.engine import get_engine
    from sdplanner.results import required_variables
    from tests.shipped import OUTPUT_VARIABLES

    names = [
        *required_variables(OUTPUT_VARIABLES),
        "non_farm_labour_supply",
        "registered_population",
    ]
    engine = get_engine("pysd")
    coarse = engine.run({}, variables=names)
    fine = engine.run({}, time_step=model.time_step / 2, variables=names)
    for out in OUTPUT_VARIABLES:
        a, b = coarse.values[out.name], fine.values[out.name]
        if out.name == "job_gap":
            # A difference of two large quantities that crosses zero: compare with the
            # labour supply it is a gap of.
            scale = fine.values["non_farm_labour_supply"]
        elif out.name == "cumulative_net_natural_increase":
            # Births minus deaths crosses zero: compare with the population it changes.
            scale = fine.values["registered_population"]
        else:
            scale = np.abs(b)
        near_zero = scale < 1e-6
        assert np.all(np.abs(a - b)[~near_zero] <= 0.005 * scale[~near_zero]), out.name
        assert np.all(np.abs(a - b)[near_zero] <= 1e-6), out.name


@pytest.mark.parametrize(
    ("ranges", "dimension", "regions"),
    [
        ("", "", ()),
        ("Zone:\n\tnorth, south\n\t~\t\n\t~\t\t|\n\n", "Zone", ("north", "south")),
        # a subrange does not count; two ranges give no region dimension
        (
            "Zone:\n\tnorth, south\n\t~\t\n\t~\t\t|\n\nTop:\n\tnorth\n\t~\t\n\t~\t\t|\n\n",
            "Zone",
            ("north", "south"),
        ),
        ("Zone:\n\tnorth, south\n\t~\t\n\t~\t\t|\n\nKind:\n\ta, b\n\t~\t\n\t~\t\t|\n\n", "", ()),
    ],
)
def test_any_model_is_described(tmp_path, ranges, dimension, regions):
    from sdplanner.model import load_model
    from tests.mdl import minimal_model

    path = tmp_path / "other.mdl"
    path.write_text(minimal_model("output", "input * 2").replace("{UTF-8}\n", "{UTF-8}\n" + ranges))
    info = load_model(path)
    dim = info.spec.dimension
    assert (dim.subscript if dim else "", info.regions, info.elements) == (
        dimension,
        regions,
        regions,
    )
    assert info.constants["input_1"] == 1.0 and info.saveper == 1.0  # PySD renames "input"
