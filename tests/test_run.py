"""`sdplanner run` and `run_scenario`: output shape, manifest, and every bad-input path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main
from sdplanner.commands.run import resolve_engine
from tests.shipped import AGGREGATE, REGIONS

from .conftest import SCENARIOS

REQUIRED = [
    "urbanization_rate",
    "rural_population",
    "urban_population",
    "migrant_workers_outside",
    "infrastructure_capital",
    "industrial_capital",
    "non_farm_output",
    "rural_income_per_capita",
    "poverty_incidence",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["run", str(SCENARIOS / "baseline.yaml"), "--out", str(out)])
    assert code == 0
    return out


def test_results_shape(run_dir):
    df = pd.read_csv(run_dir / "results.csv")
    assert list(df.columns) == ["scenario", "region", "variable", "year", "value", "unit"]
    assert set(df.scenario) == {"baseline"}
    assert set(df.region) == {*REGIONS, AGGREGATE}
    assert set(REQUIRED) <= set(df.variable)
    assert sorted(df.year.unique()) == list(range(2010, 2051))
    # one row per scenario, region, variable and year
    assert not df.duplicated(["scenario", "region", "variable", "year"]).any()
    assert len(df) == 15 * df.variable.nunique() * 41


def test_rates_are_fractions_and_aggregate_is_weighted(run_dir):
    df = pd.read_csv(run_dir / "results.csv")
    for rate in ("urbanization_rate", "poverty_incidence"):
        v = df[df.variable == rate].value
        assert v.between(0, 1).all()
    wide = df[df.year == 2030].pivot_table(index="region", columns="variable", values="value")
    reg = wide.loc[list(REGIONS)]
    agg = wide.loc[AGGREGATE]
    # levels add up over the 14 regions (float rounding only)
    assert agg.rural_population == pytest.approx(reg.rural_population.sum(), rel=1e-12)
    # urbanization of the aggregate = urban / residents of all 14 regions
    expected = reg.urban_population.sum() / (reg.urban_population + reg.rural_population).sum()
    assert agg.urbanization_rate == pytest.approx(expected, rel=1e-12)
    # rural income and poverty are weighted by rural population
    w = reg.rural_population / reg.rural_population.sum()
    assert agg.rural_income_per_capita == pytest.approx((w * reg.rural_income_per_capita).sum())
    assert agg.poverty_incidence == pytest.approx((w * reg.poverty_incidence).sum())


def test_full_precision(run_dir):
    text = (run_dir / "results.csv").read_text().splitlines()[2]
    value = text.split(",")[4]
    # round-trip repr: more than 10 significant digits for a non-round number
    assert len(value.replace(".", "").lstrip("0")) > 10


def test_manifest(run_dir):
    m = json.loads((run_dir / "manifest.json").read_text())
    assert len(m["model"]["sha256"]) == 64
    assert m["inputs"]["scenario"][0]["path"].endswith("baseline.yaml")
    assert {"python", "pysd", "numpy", "pandas"} <= set(m["versions"])
    assert m["engine"] == resolve_engine(None)


def test_run_scenario_api_matches_cli(run_dir):
    import sdplanner

    df = sdplanner.run_scenario(SCENARIOS / "baseline.yaml", engine=resolve_engine(None))
    cli = pd.read_csv(run_dir / "results.csv", float_precision="round_trip")
    np.testing.assert_array_equal(df.value.to_numpy(), cli.value.to_numpy())


def _assert_one_line_error(capsys, code, *fragments):
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_missing_scenario_file(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")])
    _assert_one_line_error(capsys, code, "nope.yaml", "not found")
    assert not (tmp_path / "o").exists()


def test_missing_model_file(tmp_path, capsys):
    code = main(
        [
            "run",
            str(SCENARIOS / "baseline.yaml"),
            "--out",
            str(tmp_path / "o"),
            "--model",
            str(tmp_path / "missing.mdl"),
        ]
    )
    _assert_one_line_error(capsys, code, "missing.mdl", "model file not found")
    assert not (tmp_path / "o").exists()


def test_output_dir_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    code = main(["run", str(SCENARIOS / "baseline.yaml"), "--out", str(target)])
    _assert_one_line_error(capsys, code, "file.txt", "expected an output directory")
    assert target.read_text() == "keep me"


def test_output_dir_under_a_file(tmp_path, capsys):
    # Works as root too: a directory cannot be created below a regular file.
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    code = main(["run", str(SCENARIOS / "baseline.yaml"), "--out", str(blocker / "out")])
    _assert_one_line_error(capsys, code, "blocker", "cannot be written")
    assert blocker.read_text() == "x"


def test_usage_error_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_outputs_have_ordinary_permissions(run_dir):
    # Atomic writes go through mkstemp (0600); the final file gets what open() would give.
    import os

    mask = os.umask(0)
    os.umask(mask)
    for name in ("results.csv", "manifest.json"):
        assert (run_dir / name).stat().st_mode & 0o777 == 0o666 & ~mask


def test_api_default_engine_is_the_batch_engine(monkeypatch):
    import sdplanner
    from sdplanner.engine.pysd_runner import PysdEngine

    def refuse(*args, **kwargs):
        raise AssertionError("the API ran PySD without being asked to")

    monkeypatch.setattr(PysdEngine, "run", refuse)
    df = sdplanner.run_scenario(SCENARIOS / "baseline.yaml")
    assert len(df) > 0 and df["value"].notna().all()


def test_a_params_file_layers_on_the_shipped_calibration(tmp_path):
    import sdplanner

    one = tmp_path / "one.yaml"
    one.write_text("parameters:\n  base_return_rate: 0.055\n", encoding="utf-8")
    layered = sdplanner.prepare_run(SCENARIOS / "baseline.yaml", params=one)
    shipped = sdplanner.prepare_run(SCENARIOS / "baseline.yaml")
    assert layered.params_files == (*shipped.params_files, one)
    assert layered.params["base_return_rate"] == 0.055
    # every other calibrated constant keeps the shipped calibration's value
    for key, value in shipped.params.items():
        if key != "base_return_rate":
            np.testing.assert_array_equal(np.asarray(layered.params[key]), np.asarray(value))
    alone = sdplanner.prepare_run(SCENARIOS / "baseline.yaml", params=[one])
    assert alone.params_files == (one,) and set(alone.params) == {"base_return_rate"}
    assert sdplanner.prepare_run(SCENARIOS / "baseline.yaml", params=False).params == {}
