"""Backtests: a synthetic model-generated truth, the shipped --fit-until 2012 backtest, and
every bad input at the command line (one line, exit 2, output folder untouched)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sdplanner.calibration import load_problem
from sdplanner.calibration.backtest import backtest, band_width
from sdplanner.cli import main
from sdplanner.data import load_area_mapping
from tests.shipped import REGIONS, SPEC

from .conftest import DATA, ROOT, SCENARIOS

CALIBRATION = ROOT / "calibration"
HISTORY_SPEC = CALIBRATION / "history-2010-2015.yaml"
SHIPPED = CALIBRATION / "backtest-2012"
FIT_UNTIL, LAST = 2030, 2033
SIGMA = 0.5  # points of urbanization
N_SUB = 10  # sub-areas per region: each factor is pinned by many figures


@pytest.fixture(scope="module")
def engine():
    from sdplanner.engine.batch import BatchEngine

    return BatchEngine.from_mdl()


def test_synthetic_truth_is_predicted_within_its_band(tmp_path, model, engine):
    # Data made by the model itself with known per-region urbanization paces (factors drawn
    # once, log-normal with sdlog 0.3), plus noise of known sigma; fitted to 2011-2030,
    # they must predict 2031-2033 with a band that covers about 95 % of the figures and is
    # hardly wider than the noise itself (3.92 sigma), since 200 figures a region pin each
    # factor down.
    truth = np.exp(0.3 * np.random.default_rng(16).standard_normal(len(REGIONS)))
    out = engine.run(
        {"urbanization_pace_region_factor": truth},
        final_time=LAST,
        variables=["urbanization_rate"],
    )
    years = np.asarray(out.times, dtype=float)
    rng = np.random.default_rng(2016)
    lines = ["indicator,area,year,value"]
    areas = ["area,area_type,kind,region,note"]
    for k, region in enumerate(REGIONS):
        for i in range(N_SUB):
            name = f"synthetic {k}-{i}"
            areas.append(f"{name},sub-area,sub-area,{region},synthetic")
            for year in range(2011, LAST + 1):
                value = 100 * out.values["urbanization_rate"][list(years).index(year), k]
                lines.append(f"u,{name},{year},{float(value + rng.normal(0.0, SIGMA))!r}")
    data = tmp_path / "synthetic.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = tmp_path / "areas.csv"
    mapping.write_text("\n".join(areas) + "\n", encoding="utf-8")
    spec = {
        "parameters": {
            "urbanization_pace_region_factor": {
                "regions": "all",
                "lower": 0.2,
                "upper": 5,
                "transform": "log",
                "pooling": {"shared": "base_local_urbanization_rate", "tau": 0.3},
            }
        },
        "indicators": {"u": {"variable": "urbanization_rate", "unit": "percent", "sigma": SIGMA}},
    }
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    problem = load_problem(
        data,
        spec_path,
        model,
        areas=load_area_mapping(mapping, SPEC.dimension),
        until=FIT_UNTIL,
    )
    assert len(problem.held_out) == len(REGIONS) * N_SUB * (LAST - FIT_UNTIL)
    bt = backtest(problem, engine, starts=0, bootstrap=200, seed=7)
    # the fit recovers the known factors (within 3 % here)
    np.testing.assert_allclose(bt.calibration.best.estimate, truth, rtol=0.03)
    coverage = float(bt.scores.inside_band.mean())
    width = float(np.median(band_width(bt.scores)))
    assert 0.90 <= coverage <= 0.99, coverage
    assert 3.92 * 0.9 < width <= 4.0, width
    assert set(bt.scores.year) == {2031, 2032, 2033}
    assert bt.unscored == []


# --- the shipped backtest --------------------------------------------------------------


def _pack_rows_mapping_to_the_model() -> pd.DataFrame:
    """Rows of the history pack after 2012 that the history spec compares with the model."""
    spec = yaml.safe_load(HISTORY_SPEC.read_text(encoding="utf-8"))["indicators"]
    pack = pd.read_csv(DATA / "history_2010_2015.csv")
    areas = load_area_mapping(None, SPEC.dimension)
    modelled = {a.name for a in areas.areas if a.modelled}
    keep = pack.series.isin(spec) & pack.area.isin(modelled) & (pack.year > 2012)
    return pack[keep]


def test_shipped_backtest_scores_every_later_pack_row_and_2015_poverty_is_inside():
    scores = pd.read_csv(SHIPPED / "scores.csv")
    expected = _pack_rows_mapping_to_the_model()
    got = set(zip(scores.series, scores.area, scores.year, strict=True))
    assert set(zip(expected.series, expected.area, expected.year, strict=True)) <= got
    assert len(expected) >= 10
    assert scores.year.min() > 2012
    poverty = scores[
        (scores.series == "contiguous_areas_poverty_incidence") & (scores.year == 2015)
    ].iloc[0]
    assert poverty.band_low <= poverty.observed <= poverty.band_high
    assert bool(poverty.inside_band)
    summary = pd.read_csv(SHIPPED / "summary.csv")
    assert set(summary.indicator) == set(scores.series)
    assert (summary.n == scores.groupby("series").size().reindex(summary.indicator).values).all()


# --- bad input -------------------------------------------------------------------------


def _precious(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious", encoding="utf-8")
    return out


def _argv(out, until="2012", data=None, spec=None, scenario=None):
    return [
        "backtest",
        "--data",
        *(data or [str(DATA / "seed_figures.csv"), str(DATA / "history_2010_2015.csv")]),
        "--spec",
        str(spec or HISTORY_SPEC),
        "--fit-until",
        until,
        "--scenario",
        str(scenario or SCENARIOS / "as-happened.yaml"),
        "--out",
        str(out),
        "--no-plots",
    ]


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("2015", "--fit-until 2015: expected a year in 2009..2014"),
        ("2030", "--fit-until 2030: expected a year in 2009..2014"),
        ("2005", "--fit-until 2005: expected a year in 2009..2014"),
        ("20x", "argument --fit-until: expected a whole year, found '20x'"),
    ],
)
def test_a_window_without_later_figures_or_outside_the_data_is_refused(
    tmp_path, capsys, until, message
):
    out = _precious(tmp_path)
    try:
        code = main(_argv(out, until))
    except SystemExit as exit_:  # argparse refuses a year that is not a number
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_no_observation_after_the_window_is_refused(tmp_path, capsys):
    # later rows exist, but none maps to a model variable (the nation is context)
    data = tmp_path / "early.csv"
    data.write_text(
        "indicator,area,year,value\n"
        "contiguous_areas_poverty_incidence,14 contiguous poor areas,2011,29\n"
        "contiguous_areas_poverty_incidence,14 contiguous poor areas,2012,24.4\n"
        "national_poverty_incidence,China,2014,7.2\n",
        encoding="utf-8",
    )
    out = _precious(tmp_path)
    code = main(_argv(out, "2012", data=[str(data)]))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--fit-until 2012: no observation after 2012 maps to a model variable" in err
    assert err.count("\n") == 1
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("which", "text", "message"),
    [
        ("spec", "parameters: [1\n", "invalid YAML at line 2"),
        (
            "spec",
            "parameters:\n  nothing: {lower: 0, upper: 1}\n"
            "indicators:\n  u: {variable: urbanization_rate, unit: percent}\n",
            "unknown parameter",
        ),
        ("data", "indicator,area,year\nx,Tibet,2012\n", "missing ['value']"),
        ("data", "indicator,area,year,value\nx,Atlantis,2012,1\n", "unknown area 'Atlantis'"),
        ("scenario", "name: x\nlevers:\n  nothing: {strength: 1}\n", "unknown lever"),
    ],
)
def test_bad_files_are_one_line_and_leave_the_folder(tmp_path, capsys, which, text, message):
    path = tmp_path / f"bad.{'csv' if which == 'data' else 'yaml'}"
    path.write_text(text, encoding="utf-8")
    out = _precious(tmp_path)
    kwargs = {which: [str(path)] if which == "data" else path}
    code = main(_argv(out, **kwargs))
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_fewer_than_200_bootstrap_sets_are_refused(tmp_path, capsys):
    out = _precious(tmp_path)
    code = main([*_argv(out), "--bootstrap", "50"])
    err = capsys.readouterr().err
    assert code == 2 and "--bootstrap 50: expected at least 200" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_shipped_backtest_is_regenerated(tmp_path, capsys):
    # as calibration/README.md runs it
    out = tmp_path / "bt"
    argv = _argv(out)
    argv[argv.index("--spec") : argv.index("--spec")] = [
        "--params",
        str(CALIBRATION / "seed-2010-2012.params.yaml"),
    ]
    assert main([*argv, "--seed", "2012"]) == 0, capsys.readouterr().err
    for name in ("scores.csv", "summary.csv"):
        new, old = pd.read_csv(out / name), pd.read_csv(SHIPPED / name)
        assert list(new.columns) == list(old.columns)
        for col in new.columns:
            if pd.api.types.is_numeric_dtype(old[col]) and old[col].dtype != bool:
                np.testing.assert_allclose(new[col], old[col], rtol=1e-6, atol=1e-9)
            else:
                assert new[col].astype(str).tolist() == old[col].astype(str).tolist()
    manifest = yaml.safe_load((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["backtest"]["fit_until"] == 2012
    assert not (out / "plots").exists()  # --no-plots
