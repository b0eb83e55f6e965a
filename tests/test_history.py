"""The history calibration (seed + history pack to 2015): pooled region factors, the
done-when of issue 16 on the shipped outputs, its regeneration, and its use by default."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from sdplanner.calibration import parse_spec
from sdplanner.cli import main
from sdplanner.errors import CalibrationError
from sdplanner.resources import calibration_name, default_params_path
from tests.shipped import REGIONS

from .conftest import DATA, ROOT, SCENARIOS

CALIBRATION = ROOT / "calibration"
SPEC = CALIBRATION / "history-2010-2015.yaml"
SHIPPED = CALIBRATION / "history-2010-2015"
PARAMS = CALIBRATION / "history-2010-2015.params.yaml"
#: How calibration/README.md regenerates the shipped history calibration.
ARGS = [
    "--data",
    str(DATA / "seed_figures.csv"),
    str(DATA / "history_2010_2015.csv"),
    "--spec",
    str(SPEC),
    "--params",
    str(CALIBRATION / "seed-2010-2012.params.yaml"),
    "--scenario",
    str(SCENARIOS / "as-happened.yaml"),
    "--seed",
    "2015",
    "--starts",
    "8",
    "--bootstrap",
    "200",
]


def _pooled(**change):
    raw = {
        "regions": "all",
        "lower": 0.2,
        "upper": 5,
        "transform": "log",
        "pooling": {"shared": "base_local_urbanization_rate", "tau": 0.4},
    }
    raw.update(change)
    return {
        "parameters": {"urbanization_pace_region_factor": raw},
        "indicators": {"u": {"variable": "urbanization_rate", "unit": "percent", "sigma": 1}},
    }


def test_pooled_factors_get_a_log_normal_prior_around_the_shared_value(model):
    spec = parse_spec(_pooled(), model)
    assert [p.region for p in spec.parameters] == list(REGIONS)
    for par in spec.parameters:
        assert par.pooled_with == "base_local_urbanization_rate" and par.tau == 0.4
        assert (par.prior.distribution, par.prior.center, par.prior.spread) == (
            "lognormal",
            1.0,
            0.4,
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prior": {"distribution": "normal", "mean": 1, "sd": 1}}, "remove prior"),
        ({"regions": None}, "expected regions: all or a list"),
        ({"lower": 1.5}, "bounds must hold 1"),
        ({"pooling": {"shared": "base_local_urbanisation", "tau": 0.4}}, "did you mean"),
        ({"pooling": {"shared": "base_local_urbanization_rate", "tau": 0}}, "positive spread"),
        ({"pooling": {"shared": "base_local_urbanization_rate"}}, "tau: expected a positive"),
    ],
)
def test_bad_pooling(model, change, message):
    raw = _pooled(**change)
    if change.get("regions", 0) is None:
        del raw["parameters"]["urbanization_pace_region_factor"]["regions"]
    with pytest.raises(CalibrationError) as err:
        parse_spec(raw, model)
    assert message in str(err.value)


# --- the shipped history calibration ---------------------------------------------------


def test_tibet_and_wulingshan_gains_lie_within_two_sigma_of_the_data():
    changes = pd.read_csv(SHIPPED / "regional_changes.csv")
    data = changes[changes.source == "data"].set_index("region")
    assert set(data.index) == {"Tibet", "Wulingshan"}
    assert data.loc["Wulingshan", "area"] == "Tongren (Guizhou)"
    for region in ("Tibet", "Wulingshan"):
        row = data.loc[region]
        assert abs(row.model_change - row.data_change) <= 2 * row.sigma, region
        assert (row.from_year, row.to_year) == (2010, 2015)


def test_every_region_is_shown_beside_its_provinces_gains():
    changes = pd.read_csv(SHIPPED / "regional_changes.csv")
    assert set(changes.region) == set(REGIONS)
    with_provinces = set(changes[changes.source == "province"].region)
    # every region but Tibet (its province is the region itself, fitted) has a province
    assert with_provinces == set(REGIONS) - {"Tibet"}
    report = (SHIPPED / "report.txt").read_text(encoding="utf-8")
    assert "Changes 2010-2015 by region" in report
    for region in REGIONS:
        assert f"  - {region}: model " in report


def test_table1_rates_are_never_evidence_and_anchors_are_not_fitted():
    obs = pd.read_csv(SHIPPED / "observations.csv")
    fitted = obs[obs.role == "fitted"]
    table1 = fitted[(fitted.indicator == "urbanization_rate") & (fitted.year == 2010)]
    assert table1.empty
    report = (SHIPPED / "report.txt").read_text(encoding="utf-8")
    assert "Reproduced by construction: 13 rows" in report
    anchors = obs[obs.role == "anchor"]
    np.testing.assert_allclose(anchors.simulated + anchors.offset, anchors.observed)
    assert set(obs.role) == {"fitted", "anchor", "compared"}


def test_regions_without_data_shrink_to_the_shared_pace():
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["parameters"]
    factors = params["urbanization_pace_region_factor"]
    assert factors["Tibet"] < 0.95 and factors["Wulingshan"] > 1.1
    others = [v for k, v in factors.items() if k not in ("Tibet", "Wulingshan")]
    assert max(abs(v - 1) for v in others) < 0.01


def test_history_params_are_a_complete_calibration():
    seed = yaml.safe_load((CALIBRATION / "seed-2010-2012.params.yaml").read_text("utf-8"))
    doc = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    assert set(seed["parameters"]) <= set(doc["parameters"])
    assert doc["source"]["base"] == "seed-2010-2012.params.yaml"
    assert doc["source"]["scenario"] == "as-happened.yaml"


def test_history_calibration_is_regenerated(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["calibrate", *ARGS, "--out", str(out), "--no-plots"]) == 0, capsys.readouterr()
    for name in ("parameters.csv", "fit.csv", "regional_changes.csv"):
        new, old = pd.read_csv(out / name), pd.read_csv(SHIPPED / name)
        assert list(new.columns) == list(old.columns), name
        for col in new.columns:
            if pd.api.types.is_numeric_dtype(old[col]):
                # 1e-6 relative, as for the seed's calibration
                np.testing.assert_allclose(new[col], old[col], rtol=1e-6, atol=1e-9)
            else:
                assert new[col].fillna("").tolist() == old[col].fillna("").tolist(), name
    new = yaml.safe_load((out / "calibrated.params.yaml").read_text(encoding="utf-8"))
    old = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    assert new["parameters"].keys() == old["parameters"].keys()


# --- used by default -------------------------------------------------------------------


def test_run_uses_the_history_calibration_by_default_and_says_so(tmp_path, capsys):
    assert default_params_path().name == "history-2010-2015.params.yaml"
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "baseline.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "calibration: history-2010-2015" in printed
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["calibration"] == "history-2010-2015"
    assert main(["run", str(SCENARIOS / "baseline.yaml"), "--out", str(out), "--no-params"]) == 0
    assert "calibration: none (the .mdl values)" in capsys.readouterr().out
    assert calibration_name([PARAMS, tmp_path / "mine.yaml"]) == "history-2010-2015 + mine"
