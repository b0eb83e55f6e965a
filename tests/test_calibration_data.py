"""Prices, units, confidence, offsets and the history pack: how data meet the model."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import yaml

from sdplanner.calibration import load_problem, parse_spec
from sdplanner.calibration.objective import make_objective
from sdplanner.data import load_area_mapping, read_observations
from sdplanner.errors import CalibrationError, DataError
from sdplanner.units import Conversion, Deflator
from tests.shipped import SPEC

from .conftest import DATA, ROOT

SHARED_PACK = ROOT.parent / "shared" / "data" / "history_2010_2015.csv"
PACK = DATA / "history_2010_2015.csv"
AREAS = load_area_mapping(None, SPEC.dimension)
LOW_ROW = "series,area,year,value,unit,source,confidence\nincome,14 regions,2011,3,x,NBS,low\n"
LINE = {2010: 2300, 2011: 2536, 2012: 2625, 2013: 2736, 2014: 2800, 2015: 2855}


def _spec(**indicators):
    return {
        "deflators": {"line": {"source": "NBS poverty line", "values": dict(LINE)}},
        "parameters": {"farm_income_share": {"lower": 0.1, "upper": 0.9}},
        "indicators": indicators
        or {
            "income": {
                "variable": "rural_income_per_capita",
                "prices": "current",
                "deflator": "line",
                "sigma": 100,
            }
        },
    }


def _problem(model, tmp_path, csv_text, spec):
    data = tmp_path / "obs.csv"
    data.write_text(csv_text, encoding="utf-8")
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return load_problem(data, path, model)


# --- units ---------------------------------------------------------------------------


def test_conversion_composes_unit_basis_and_prices():
    deflator = Deflator("line", LINE, 2010, "NBS")
    conv = Conversion(scale=1.0, basis=1.06, deflator=deflator)
    # 2015: 2,855 / 2,300 = 1.2413 current yuan per 2010 yuan, x 1.06 disposable per net
    assert conv.factor(2015) == pytest.approx(1.06 * 2855 / 2300, rel=1e-15)
    assert conv.to_model(7525, 2015) == pytest.approx(7525 / (1.06 * 2855 / 2300))
    assert conv.to_display(7525, 2015) == pytest.approx(conv.to_model(7525, 2015))
    assert Conversion(scale=100.0).to_model(28.72, 2010) == pytest.approx(0.2872)
    assert Conversion(scale=100.0).to_display(28.72, 2010) == 28.72
    with pytest.raises(KeyError):
        conv.factor(2016)  # no figure after 2015 anywhere: the deflator stops there


# --- prices: a nominal series is never compared with a real variable without a deflator --


@pytest.mark.parametrize(
    ("indicator", "message"),
    [
        (
            {"variable": "rural_income_per_capita", "sigma": 1},
            "rural_income_per_capita is in constant 2010 yuan; expected prices: constant",
        ),
        (
            {"variable": "rural_income_per_capita", "prices": "current", "sigma": 1},
            "a series in current prices compared with rural_income_per_capita (constant 2010"
            " yuan) needs a deflator",
        ),
        (
            {"variable": "rural_income_per_capita", "prices": "current", "deflator": "cpi"},
            "deflator: expected a deflator of the spec, found 'cpi'",
        ),
        (
            {"variable": "rural_income_per_capita", "prices": "constant", "deflator": "line"},
            "only a series with prices: current has one",
        ),
        (
            {"variable": "urbanization_rate", "unit": "percent", "prices": "current"},
            "urbanization_rate is not measured in yuan; remove prices",
        ),
        (
            {
                "variable": "rural_income_per_capita",
                "prices": "constant",
                "basis": {"data": "net", "model": "net", "factor": 1.06, "source": "x"},
            },
            "same basis 'net': expected 1, found 1.06",
        ),
        (
            {
                "variable": "rural_income_per_capita",
                "prices": "constant",
                "basis": {"data": "disposable", "model": "net", "factor": 1.06},
            },
            "basis.source: expected a text, found nothing",
        ),
    ],
)
def test_prices_and_basis_are_stated(model, indicator, message):
    with pytest.raises(CalibrationError) as err:
        parse_spec(_spec(x=indicator), model)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("deflators", "message"),
    [
        ({"d": {"source": "s", "values": {2011: 2536}}}, "expected a value for the model's price"),
        ({"d": {"values": {2010: 2300}}}, "source: expected where the values come from"),
        ({"d": {"source": "s", "values": {2010: -1}}}, "expected a positive price level"),
        ({"d": {"source": "s", "values": {2010.5: 1}}}, "expected a whole year"),
    ],
)
def test_bad_deflators(model, deflators, message):
    raw = _spec()
    raw["deflators"] = deflators
    with pytest.raises(CalibrationError, match=None) as err:
        parse_spec(raw, model)
    assert message in str(err.value)


def test_current_yuan_rows_are_deflated_to_the_models_prices(model, tmp_path):
    problem = _problem(
        model,
        tmp_path,
        "indicator,area,year,value\nincome,14 regions,2012,4839\nincome,14 regions,2015,6000\n",
        _spec(),
    )
    # data units per model unit: the poverty line's index of each row's year
    np.testing.assert_allclose(problem.rows.factor, [2625 / 2300, 2855 / 2300], rtol=1e-15)


def test_a_current_price_unit_at_constant_prices_is_refused(model, tmp_path):
    spec = _spec(income={"variable": "rural_income_per_capita", "prices": "constant", "sigma": 1})
    with pytest.raises(CalibrationError) as err:
        _problem(
            model,
            tmp_path,
            "indicator,area,year,value,unit\nincome,14 regions,2014,6724,yuan_per_capita_current\n",
            spec,
        )
    assert "line 2: unit 'yuan_per_capita_current' is current prices" in str(err.value)


def test_a_year_the_deflator_lacks_is_refused(model, tmp_path):
    with pytest.raises(CalibrationError) as err:
        _problem(model, tmp_path, "indicator,area,year,value\nincome,Tibet,2016,1\n", _spec())
    assert "deflator line has no value for 2016 (it has 2010-2015)" in str(err.value)


# --- confidence: a less trusted figure weighs less, never dropped silently --------------


def test_confidence_rule_widens_sigma(model, tmp_path):
    raw = _spec()
    raw["confidence"] = {"sigma_factor": {"high": 1, "medium": 1.5, "low": 3}, "recalled": 2}
    problem = _problem(
        model,
        tmp_path,
        "series,area,year,value,unit,source,confidence\n"
        "income,14 regions,2011,3000,x,NBS,high\n"
        "income,14 regions,2012,3100,x,recalled: none found,medium\n"
        "income,14 regions,2013,3200,x,NBS,low\n",
        raw,
    )
    assert problem.rows.sigma.tolist() == [100.0, 300.0, 300.0]  # 100 x 1, x 1.5 x 2, x 3


def test_labelled_rows_need_a_confidence_rule(model, tmp_path):
    with pytest.raises(CalibrationError) as err:
        _problem(
            model,
            tmp_path,
            LOW_ROW,
            _spec(),
        )
    assert "line 2: the row has confidence 'low' but the spec states no confidence rule" in str(
        err.value
    )
    raw = _spec()
    raw["confidence"] = {"sigma_factor": {"high": 1}}
    with pytest.raises(CalibrationError, match="confidence 'low' is not in the spec's"):
        _problem(
            model,
            tmp_path,
            LOW_ROW,
            raw,
        )
    raw["confidence"] = {"sigma_factor": {"high": 0.5}}
    with pytest.raises(CalibrationError, match="expected a sigma multiplier >= 1"):
        parse_spec(raw, model)


# --- offsets and rows reproduced by construction ----------------------------------------


def test_table1_rates_are_reproduced_by_construction_and_never_evidence(model, tmp_path):
    spec = _spec(urbanization_rate={"variable": "urbanization_rate", "unit": "percent", "sigma": 1})
    problem = _problem(
        model,
        tmp_path,
        "indicator,area,year,value\n"
        "urbanization_rate,Tibet,2010,23.79\n"  # Table 1: the model input itself
        "urbanization_rate,Tibet,2011,24.5\n",
        spec,
    )
    assert problem.rows.line.tolist() == [3]
    (ignored,) = problem.ignored
    assert ignored.line == 2 and "reproduced by construction" in ignored.reason
    assert "urbanization rate 2010" in ignored.reason


def test_offset_groups_leave_only_changes_as_evidence(model, tmp_path):
    spec = _spec(
        u_census={"variable": "urbanization_rate", "unit": "percent", "sigma": 1, "offset": "u"},
        u={"variable": "urbanization_rate", "unit": "percent", "sigma": 1, "offset": "u"},
    )
    problem = _problem(
        model,
        tmp_path,
        "series,area,year,value\n"
        "u_census,Tongren (Guizhou),2010,25.99\n"
        "u,Tongren (Guizhou),2015,35.04\n"
        "u_census,Enshi (Hubei),2010,30.5\n",  # alone in its group: an anchor, no evidence
        spec,
    )
    assert problem.rows.line.tolist() == [2, 3]
    assert problem.anchors.line.tolist() == [4]
    objective = make_objective(problem)
    pred = np.array([[31.88, 38.0]])  # the region's path, whatever its level
    r = objective.residuals(pred, np.full((1, 1), 0.5))[0][:2]
    # one offset for the pair: the residual is the change's miss over sqrt(2) sigma, split
    gain_miss = (38.0 - 31.88) - (35.04 - 25.99)
    assert r[0] == pytest.approx(-gain_miss / 2) and r[1] == pytest.approx(gain_miss / 2)
    assert float(r @ r) == pytest.approx(gain_miss**2 / 2)
    offsets = objective.offsets(pred)[0]
    assert offsets[0] == offsets[1] == pytest.approx(-(31.88 - 25.99 + 38.0 - 35.04) / 2)


# --- the history pack -----------------------------------------------------------------


@pytest.mark.skipif(not SHARED_PACK.is_file(), reason="shared/ not beside the checkout")
def test_history_pack_is_the_shared_file_byte_for_byte():
    assert PACK.read_bytes() == SHARED_PACK.read_bytes()


def test_history_pack_loads_in_its_own_layout():
    obs = read_observations(PACK, AREAS)
    with open(PACK, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(obs.rows) == len(rows) == 109
    assert obs.extra_columns == ()
    kinds = {o.area.name: o.area.kind for o in obs.rows}
    assert kinds["14 contiguous poor areas"] == "aggregate"
    assert kinds["Tongren (Guizhou)"] == "sub-area" and kinds["Tibet"] == "region"
    assert kinds["Guizhou"] == kinds["China"] == kinds["key poverty counties (592)"] == "context"
    recalled = [o for o in obs.rows if o.recalled]
    assert recalled and all(o.source.startswith("recalled") for o in recalled)
    assert {o.confidence for o in obs.rows} == {"high", "medium", "low"}


def test_a_file_with_indicator_and_series_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("indicator,series,area,year,value\na,b,Tibet,2012,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="found both"):
        read_observations(path, AREAS)


def test_provinces_carry_the_share_of_their_regions_population_where_known():
    tibet = AREAS.context_of("Tibet")
    assert [(a.name, a.population_share) for a in tibet] == [("Tibet", 1.0)]
    shares = [a for a in AREAS.areas if a.population_share is not None]
    assert shares and all(a.share_source for a in shares)
    assert all(0 <= a.population_share <= 1 for a in shares)
    # every province of data/regions.csv is context for its regions
    with open(DATA / "regions.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            listed = {a.name for a in AREAS.context_of(row["region"])}
            assert listed == {p.strip() for p in row["provinces"].split(",")}, row["region"]
    assert not math.isnan(sum(a.population_share for a in shares))
