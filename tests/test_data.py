"""Observation files and the area mapping: reading, validating, one-line errors."""

from __future__ import annotations

import csv

import pytest

from sdplanner.data import load_area_mapping, read_observations
from sdplanner.errors import DataError
from tests.shipped import AGGREGATE, REGIONS, SPEC

from .conftest import DATA

AREAS = load_area_mapping(None, SPEC.dimension)

SEED = DATA / "seed_figures.csv"


def _write(tmp_path, text, name="obs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_seed_figures_load_as_they_are():
    obs = read_observations(SEED, AREAS)
    with open(SEED, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # every row either has a value (kept) or an empty value (skipped and listed)
    assert len(obs.rows) + len(obs.skipped) == len(rows)
    assert [(s.line, s.area, s.reason) for s in obs.skipped] == [
        (14, "Tibetan areas of Yunnan-Sichuan-Gansu-Qinghai", "empty value")
    ]
    assert obs.extra_columns == ("where_in_seed", "note")
    assert {o.unit for o in obs.rows} >= {"percent", "yuan/person/year"}
    # Tibet is a region and a province: area_type is part of the identity
    tibet = [o for o in obs.rows if o.area.name == "Tibet"]
    assert {(o.area.kind, o.value) for o in tibet} == {("region", 23.79), ("context", 23.8)}


def test_mapping_names_every_area_of_the_seed():
    areas = load_area_mapping(None, SPEC.dimension)
    known = {(a.name, a.area_type) for a in areas.areas}
    with open(SEED, encoding="utf-8", newline="") as fh:
        seed = {(r["area"], r["area_type"]) for r in csv.DictReader(fh)}
    assert seed - known == set()
    regions = [a for a in areas.areas if a.kind == "region"]
    assert sorted(a.name for a in regions) == sorted(REGIONS)
    assert all(a.region == a.name for a in regions)
    for a in areas.areas:
        if a.kind == "sub-area":
            assert a.region in REGIONS, a
        if a.kind == "context":
            # a province may name a region it holds part of: context for it, never modelled
            assert not a.modelled and (a.region is None or a.region in REGIONS)
    agg = [a for a in areas.areas if a.kind == "aggregate"]
    assert {a.name for a in agg} == {"14 regions", "All 14 regions", "14 contiguous poor areas"}
    assert all(a.model_area == AGGREGATE for a in agg)


def test_sub_areas_map_to_their_region():
    areas = load_area_mapping(None, SPEC.dimension)
    assert areas.resolve("Qianxinan", None, "x").region == "Yunnan-Guangxi-Guizhou"
    assert areas.resolve("Enshi", "district (Wulingshan)", "x").region == "Wulingshan"
    # without area_type, a name that is a region and a province means the region
    assert areas.resolve("Tibet", None, "x").kind == "region"
    assert areas.resolve("Tibet", "province", "x").kind == "context"


def test_user_file_without_optional_columns(tmp_path):
    path = _write(
        tmp_path,
        "indicator,area,year,value,sigma,weight,comment\n"
        "rural_income_per_capita,All 14 regions,2013,5200,120,,new survey\n"
        "poverty_incidence,Tibet,2014,30,,2,\n",
    )
    obs = read_observations(path, AREAS)
    first, second = obs.rows
    assert (first.sigma, first.weight, first.area.kind) == (120.0, 1.0, "aggregate")
    assert (second.sigma, second.weight, second.area.kind) == (None, 2.0, "region")
    assert obs.extra_columns == ("comment",)
    frame = obs.to_frame()
    assert list(frame.line) == [2, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "indicator,area,year,value\nrural_income_per_capita,Wulingshna,2012,4000\n",
            "line 2: unknown area 'Wulingshna' (did you mean 'Wulingshan'?)",
        ),
        (
            "indicator,area,year,value\nx,Tibet,2012,1\nx,Tibet,2013,abc\n",
            "line 3: value: expected a number, found 'abc'",
        ),
        (
            "indicator,area,year,value\nx,Tibet,2012,1\nx,Tibet,2012,2\n",
            "line 3: duplicate row: x, Tibet, 2012 repeats line 2",
        ),
        (
            "indicator,area,year,value,sigma\nx,Tibet,2012,1,-0.5\n",
            "line 2: sigma: expected a positive standard error, found -0.5",
        ),
        (
            "indicator,area,year,value,sigma\nx,Tibet,2012,1,0\n",
            "line 2: sigma: expected a positive standard error, found 0",
        ),
        (
            "indicator,area,year,value,weight\nx,Tibet,2012,1,-1\n",
            "line 2: weight: expected a non-negative weight, found -1",
        ),
        (
            "indicator,area,year,value\nx,Tibet,2012.5,1\n",
            "line 2: year: expected a whole year, found '2012.5'",
        ),
        (
            "indicator,area,year,value\nx,Tibet,twenty,1\n",
            "line 2: year: expected a whole year, found 'twenty'",
        ),
        ("indicator,area,value\nx,Tibet,1\n", "missing ['year']"),
        (
            "indicator,area,area_type,year,value\nx,Tibet,county,2012,1\n",
            "area 'Tibet' has no area_type 'county'",
        ),
        ("indicator,area,year,value\n,Tibet,2012,1\n", "line 2: indicator: expected a name"),
        ("indicator,area,year,value\nx,Tibet,2012,nan\n", "value: expected a number"),
    ],
)
def test_bad_rows_are_one_line_errors(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as err:
        read_observations(path, AREAS)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_empty_values_are_skipped_and_listed(tmp_path):
    path = _write(
        tmp_path, "indicator,area,year,value\nx,Tibet,2012,\nx,Tibet,2013,1\n\nx,Tibet,2014,2\n"
    )
    obs = read_observations(path, AREAS)
    assert [o.year for o in obs.rows] == [2013, 2014]
    assert [s.describe() for s in obs.skipped] == ["line 2: x, Tibet, 2012: empty value"]


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_observations(tmp_path / "none.csv", AREAS)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("X,region,region,Atlantis,", "expected one of the 14 regions"),
        ("X,prefecture,province,,", "kind: expected one of"),
        ("X,nation,aggregate,Tibet,,,", "expected an empty cell for a aggregate"),
        ("X,province,context,Atlantis,,,", "expected one of the 14 regions"),
        ("X,province,context,Tibet,,1.5,src", "expected a share in \\[0, 1\\], found 1.5"),
        ("X,province,context,Tibet,,0.5,", "share_source: expected the source"),
        ("X,province,context,,,0.5,src", "expected an empty cell for a context without a region"),
        ("X,prefecture,sub-area,Tibet,,0.5,src", "expected an empty cell for a sub-area"),
    ],
)
def test_bad_mapping_rows(tmp_path, row, message):
    row = row if row.count(",") == 6 else row + ",,"
    header = "area,area_type,kind,region,note,population_share,share_source"
    path = _write(tmp_path, f"{header}\n{row}\n", "map.csv")
    with pytest.raises(DataError, match=message):
        load_area_mapping(path, SPEC.dimension)
