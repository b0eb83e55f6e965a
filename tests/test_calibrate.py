"""Calibration: spec validation, the statistics on a stand-in model with known answers,
parameter recovery on the real model, the shipped calibration, and bad input at the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sdplanner.calibration import (
    CHI2_95,
    build_problem,
    calibrate,
    fit_statistics,
    load_problem,
    parse_spec,
)
from sdplanner.cli import main
from sdplanner.data import load_area_mapping, read_observations
from sdplanner.engine.base import SimulationOutput
from sdplanner.errors import CalibrationError, DataError
from sdplanner.model import ModelInfo, VariableInfo
from tests.shipped import ELEMENTS, REGIONS, SPEC

from .conftest import DATA, ROOT

AREAS = load_area_mapping(None, SPEC.dimension)

CALIBRATION = ROOT / "calibration"
SEED_SPEC = CALIBRATION / "seed-2010-2012.yaml"
SHIPPED = CALIBRATION / "seed-2010-2012"
#: The options the shipped tables were made with (calibration/README.md).
SHIPPED_ARGS = ["--seed", "2012", "--starts", "8", "--bootstrap", "200"]


# ---------------------------------------------------------------------------------------
# A stand-in simulator: y = a + b * (t - 2010) * c[region], linear in a and b.
# ---------------------------------------------------------------------------------------


def _fake_model() -> ModelInfo:
    def var(name, kind, sub, units="Dmnl"):
        return VariableInfo(name, name, units, "stand-in", kind, sub)

    variables = {
        "level_a": var("level_a", "constant", False),
        "slope_b": var("slope_b", "constant", False, "1/year"),
        "region_c": var("region_c", "constant", True),
        "y": var("y", "auxiliary", True),
        "pop": var("pop", "auxiliary", True, "person"),
    }
    return ModelInfo(
        path=ROOT / "fake.mdl",
        sha256="0" * 64,
        variables=variables,
        constants={"level_a": 1.0, "slope_b": 0.5, "region_c": np.ones(len(REGIONS))},
        initial_time=2010.0,
        final_time=2030.0,
        time_step=1.0,
        saveper=1.0,
        subscripts={"Region": ELEMENTS},
        given_spec=SPEC,
        _by_name={k: k for k in variables},
    )


class FakeEngine:
    """The `run_batch` interface of the batch engine over an analytic model."""

    name = "fake"

    def __init__(self, model: ModelInfo) -> None:
        self.model = model

    def run_batch(self, params=None, batch=None, *, final_time=None, variables=None):
        batch = dict(batch or {})
        n = len(next(iter(batch.values()))) if batch else 1
        a = np.broadcast_to(batch.get("level_a", self.model.constants["level_a"]), (n,))
        b = np.broadcast_to(batch.get("slope_b", self.model.constants["slope_b"]), (n,))
        regions = len(self.model.regions)
        c = np.broadcast_to(batch.get("region_c", self.model.constants["region_c"]), (n, regions))
        t = np.arange(2010.0, float(final_time) + 0.5)
        y = a[:, None, None] + b[:, None, None] * (t - 2010)[None, :, None] * c[:, None, :]
        return SimulationOutput(times=t, values={"y": y, "pop": np.ones_like(y)}, engine="fake")


def _fake_problem(tmp_path, years, values, sigma=0.2, loss="linear", **param_extra):
    model = _fake_model()
    rows = "".join(
        f"y,Liupanshan,{yr},{float(v)!r},{sigma}\n" for yr, v in zip(years, values, strict=True)
    )
    path = tmp_path / "fake.csv"
    path.write_text("indicator,area,year,value,sigma\n" + rows, encoding="utf-8")
    spec = parse_spec(
        {
            "objective": {"loss": loss},
            "parameters": {
                "level_a": {"lower": -10, "upper": 10, **param_extra},
                "slope_b": {"lower": -5, "upper": 5},
            },
            "indicators": {"y": {"variable": "y", "aggregate": "mean", "weight": "pop"}},
        },
        model,
    )
    return build_problem(model, spec, read_observations(path, AREAS)), FakeEngine(model)


def test_profile_intervals_are_exact_for_a_linear_model(tmp_path):
    rng = np.random.default_rng(7)
    years = np.arange(2010, 2020)
    x = years - 2010.0
    sigma = 0.2
    obs = 1.0 + 0.5 * x + rng.normal(0, sigma, x.size)
    problem, engine = _fake_problem(tmp_path, years, obs, sigma)
    result = calibrate(problem, engine, starts=3, seed=1)
    design = np.column_stack([np.ones_like(x), x])
    beta = np.linalg.lstsq(design, obs, rcond=None)[0]
    cov = sigma**2 * np.linalg.inv(design.T @ design)
    # The estimate is the ordinary least-squares solution (solver tolerance 1e-10).
    np.testing.assert_allclose(result.best.estimate, beta, rtol=1e-7, atol=1e-9)
    for j, iv in enumerate(result.intervals):
        half = math.sqrt(CHI2_95 * cov[j, j])
        # For a model linear in its parameters the deviance is exactly quadratic, so the
        # profile interval is estimate +- sqrt(3.84 * var). The crossing is located to 0.1 % of
        # the threshold, i.e. about 0.05 % of the half-width: rtol 1e-3.
        assert iv.lower == pytest.approx(beta[j] - half, rel=1e-3, abs=1e-3 * half)
        assert iv.upper == pytest.approx(beta[j] + half, rel=1e-3, abs=1e-3 * half)
        assert iv.lower <= iv.estimate <= iv.upper
    # every start reaches the same minimum: the problem is convex
    assert np.ptp(result.best.starts.deviance) < 1e-8


def test_bootstrap_is_seeded_and_close_to_the_profile(tmp_path):
    rng = np.random.default_rng(3)
    years = np.arange(2010, 2022)
    obs = 1.0 + 0.5 * (years - 2010.0) + rng.normal(0, 0.2, years.size)
    problem, engine = _fake_problem(tmp_path, years, obs)
    one = calibrate(problem, engine, starts=2, bootstrap=200, seed=11)
    two = calibrate(problem, engine, starts=2, bootstrap=200, seed=11)
    np.testing.assert_array_equal(one.bootstrap, two.bootstrap)  # same seed, same draws
    table = one.parameters_table()
    assert list(table.method) == ["profile", "profile", "bootstrap", "bootstrap"]
    prof, boot = table.iloc[:2], table.iloc[2:]
    width_p = (prof.upper_95 - prof.lower_95).to_numpy()
    width_b = (boot.upper_95 - boot.lower_95).to_numpy()
    # 200 resamples of 12 residuals: percentile interval widths scatter by ~20 %; they must
    # agree with the exact interval within a factor 1.6.
    assert np.all(width_b / width_p > 1 / 1.6) and np.all(width_b / width_p < 1.6)


def test_bootstrap_does_not_depend_on_the_number_of_starts(tmp_path):
    rng = np.random.default_rng(3)
    years = np.arange(2010, 2022)
    obs = 1.0 + 0.5 * (years - 2010.0) + rng.normal(0, 0.2, years.size)
    problem, engine = _fake_problem(tmp_path, years, obs)
    few = calibrate(problem, engine, starts=1, bootstrap=50, seed=11)
    many = calibrate(problem, engine, starts=6, bootstrap=50, seed=11)
    other = calibrate(problem, engine, starts=1, bootstrap=50, seed=12)
    # The problem is convex, so every number of starts finds the same optimum (to the
    # solver's 1e-10); the bootstrap then draws the same resamples from its own stream.
    np.testing.assert_allclose(few.bootstrap, many.bootstrap, rtol=1e-7, atol=1e-9)
    # Another seed draws other resamples: the estimates differ by far more than that.
    assert np.max(np.abs(few.bootstrap - other.bootstrap)) > 1e-3


def test_robust_loss_resists_an_outlier(tmp_path):
    years = np.arange(2010, 2020)
    obs = 1.0 + 0.5 * (years - 2010.0)
    obs[4] += 5.0  # one gross error, 25 sigma
    linear, engine = _fake_problem(tmp_path, years, obs, loss="linear")
    robust, _ = _fake_problem(tmp_path, years, obs, loss="soft_l1")
    est_l = calibrate(linear, engine, starts=1).best.estimate
    est_r = calibrate(robust, engine, starts=1).best.estimate
    # soft_l1 caps an outlier's pull: its intercept error is far below least squares' 0.5.
    assert abs(est_l[0] - 1.0) > 0.3
    assert abs(est_r[0] - 1.0) < 0.1 * abs(est_l[0] - 1.0)


def test_priors_pull_an_unobserved_parameter_to_their_centre(tmp_path):
    years = np.arange(2010, 2014)
    obs = 1.0 + 0.5 * (years - 2010.0)
    model = _fake_model()
    path = tmp_path / "d.csv"
    path.write_text(
        "indicator,area,year,value,sigma\n"
        + "".join(f"y,Tibet,{y},{v},0.1\n" for y, v in zip(years, obs, strict=True)),
        encoding="utf-8",
    )
    spec = parse_spec(
        {
            "parameters": {
                "level_a": {"lower": -10, "upper": 10},
                "slope_b": {"lower": -5, "upper": 5},
                # Liupanshan's c: no row is about Liupanshan, so only the prior speaks
                "region_c": {
                    "regions": ["Liupanshan"],
                    "lower": 0.1,
                    "upper": 10,
                    "transform": "log",
                    "prior": {"distribution": "lognormal", "median": 2.0, "sdlog": 0.3},
                },
            },
            "indicators": {"y": {"variable": "y", "aggregate": "mean", "weight": "pop"}},
        },
        model,
    )
    result = calibrate(
        build_problem(model, spec, read_observations(path, AREAS)),
        FakeEngine(model),
    )
    c = result.intervals[2]
    assert c.estimate == pytest.approx(2.0, rel=1e-6)  # the prior's median
    # the profile interval is the prior's: 2 * exp(+-1.96 * 0.3), to the crossing tolerance
    assert c.lower == pytest.approx(2 * math.exp(-math.sqrt(CHI2_95) * 0.3), rel=2e-3)
    assert c.upper == pytest.approx(2 * math.exp(math.sqrt(CHI2_95) * 0.3), rel=2e-3)
    labels = [label for label, _ in result.identifiability.undetermined]
    assert labels == ["region_c[Liupanshan]"]
    assert result.parameter_values()["region_c"] == {"Liupanshan": pytest.approx(2.0)}


def test_fit_statistics_by_hand():
    obs = np.array([10.0, 12.0, 15.0, 11.0])
    sim = np.array([11.0, 12.5, 13.0, 11.5])
    table = pd.DataFrame(
        {
            "indicator": ["x"] * 4 + ["z"],
            "area": ["A"] * 4 + ["B"],
            "area_type": ["region"] * 5,
            "compared_with": ["A"] * 4 + ["B"],
            "observed": [*obs, 4.0],
            "simulated": [*sim, 5.0],
        }
    )
    stats = fit_statistics(table).set_index("indicator")
    err = sim - obs
    mse = np.mean(err**2)
    r = np.corrcoef(sim, obs)[0, 1]
    x = stats.loc["x"]
    # exact formulas, evaluated independently: float64 agreement to 1e-12
    assert x.n == 4
    assert x.rmse == pytest.approx(math.sqrt(mse), rel=1e-12)
    assert x.mape == pytest.approx(np.mean(np.abs(err) / obs) * 100, rel=1e-12)
    assert x.r2 == pytest.approx(1 - np.sum(err**2) / np.sum((obs - obs.mean()) ** 2), rel=1e-12)
    assert x.theil_um == pytest.approx((sim.mean() - obs.mean()) ** 2 / mse, rel=1e-12)
    assert x.theil_us == pytest.approx((sim.std() - obs.std()) ** 2 / mse, rel=1e-12)
    assert x.theil_uc == pytest.approx(2 * (1 - r) * sim.std() * obs.std() / mse, rel=1e-12)
    assert x.theil_um + x.theil_us + x.theil_uc == pytest.approx(1.0, rel=1e-12)
    z = stats.loc["z"]  # n = 1: R2 and Theil are undefined
    assert (z.n, z.rmse, z.mape) == (1, 1.0, 25.0)
    assert all(math.isnan(z[c]) for c in ("r2", "theil_um", "theil_us", "theil_uc"))


# ---------------------------------------------------------------------------------------
# Specs against the real model
# ---------------------------------------------------------------------------------------


def _spec(**parameters):
    return {
        "parameters": parameters or {"farm_income_share": {"lower": 0.1, "upper": 0.7}},
        "indicators": {
            "rural_income_per_capita": {
                "variable": "rural_income_per_capita",
                "prices": "constant",
                "sigma": {"aggregate": 100, "region": 300, "sub-area": 500},
            },
            "urbanization_rate": {"variable": "urbanization_rate", "unit": "percent", "sigma": 1},
        },
    }


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"farm_incom_share": {"lower": 0.1, "upper": 0.7}},
            "unknown parameter: the model has no constant 'farm_incom_share' (did you mean"
            " 'farm_income_share'?)",
        ),
        (
            {"farm_income_share": {"lower": 0.7, "upper": 0.1}},
            "bounds reversed or empty: expected lower < upper, found lower 0.7 and upper 0.1",
        ),
        (
            {"urbanization_rate_2010": {"regions": ["Wulingshan"], "lower": 0.2, "upper": 0.4}},
            "urbanization_rate_2010 for Wulingshan is data (seed Table 1 31.88), not a"
            " calibration parameter; only Tibetan areas of Yunnan-Sichuan-Gansu-Qinghai may",
        ),
        (
            {"urbanization_rate_2010": {"regions": "all", "lower": 0.2, "upper": 0.4}},
            "for Liupanshan is data",
        ),
        (
            {"urbanization_rate_2010": {"lower": 0.2, "upper": 0.4}},
            "is data for 13 regions",
        ),
        (
            {"farm_income_share": {"lower": 0.1, "upper": 0.7, "regions": ["Tibet"]}},
            "farm_income_share has no regions in the model",
        ),
        (
            {"farm_income_share": {"lower": 0.1, "upper": 0.7, "prior": {"distribution": "t"}}},
            "expected 'normal' or 'lognormal'",
        ),
        ({"farm_income_share": {"lower": 0.1}}, "upper: expected a bound, found none"),
        (
            {"infrastructure_investment_strength": {"lower": 0, "upper": 1}},
            "unknown parameter",
        ),
    ],
)
def test_bad_parameters(model, parameters, message):
    with pytest.raises(CalibrationError) as err:
        parse_spec(_spec(**parameters), model)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_tibetan_areas_urbanization_may_be_estimated(model):
    region = "Tibetan areas of Yunnan-Sichuan-Gansu-Qinghai"
    spec = parse_spec(
        _spec(urbanization_rate_2010={"regions": [region], "lower": 0.1, "upper": 0.4}), model
    )
    (par,) = spec.parameters
    assert (par.name, par.region, par.default) == ("urbanization_rate_2010", region, 0.2379)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"objective": {"loss": "hubber"}}, "(did you mean 'huber'?)"),
        ({"indicators": {"x": {"variable": "rural_incom"}}}, "expected a model variable"),
        ({"indicators": {"x": {"variable": "gdp", "unit": "percentage"}}}, "unit: expected"),
        ({"filter": {"years": [2012]}}, "filter: unknown key"),
        ({"final_time": 2100}, "final_time: expected a year in 2011..2050"),
    ],
)
def test_bad_spec_keys(model, change, message):
    raw = _spec()
    raw.update(change)
    with pytest.raises(CalibrationError, match=None) as err:
        parse_spec(raw, model)
    assert message in str(err.value)


def _problem(model, tmp_path, csv_text, spec=None):
    data = tmp_path / "obs.csv"
    data.write_text(csv_text, encoding="utf-8")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec or _spec(), sort_keys=False), encoding="utf-8")
    return load_problem(data, spec_path, model)


def test_rows_the_spec_does_not_use_are_listed_not_errors(model, tmp_path):
    problem = _problem(
        model,
        tmp_path,
        "indicator,area,year,value\n"
        "rural_income_per_capita,14 regions,2012,4839\n"
        "urbanization_rate,Hubei,2012,53.5\n"  # context area
        "gdp,Qianxinan,1999,46.2\n"  # indicator not in the spec; year outside: ignored
        "rural_income_per_capita,Qianxinan,2012,\n",  # empty value: skipped
    )
    assert len(problem.rows) == 1
    assert [(r.line, r.reason) for r in problem.ignored] == [
        (3, "context area (province): not modelled"),
        (4, "indicator not in the spec"),
    ]
    assert [r.line for r in problem.skipped] == [5]


@pytest.mark.parametrize(
    ("csv_text", "error", "message"),
    [
        (
            "indicator,area,year,value\nrural_incme_per_capita,Tibet,2012,4000\n",
            DataError,
            "line 2: unknown indicator 'rural_incme_per_capita' (did you mean"
            " 'rural_income_per_capita'?)",
        ),
        (
            "indicator,area,year,value\nrural_income_per_capita,Tibet,2060,4000\n",
            DataError,
            "line 2: year 2060 is outside the model's horizon 2010..2050",
        ),
        (
            "indicator,area,year,value\nurbanization_rate,Hubei,2012,53.5\n",
            CalibrationError,
            "no data left",
        ),
        (
            "indicator,area,year,value\ngdp,Tibet,2012,53.5\n",
            CalibrationError,
            "no data left",
        ),
    ],
)
def test_bad_data_for_the_spec(model, tmp_path, csv_text, error, message):
    with pytest.raises(error) as err:
        _problem(model, tmp_path, csv_text)
    assert message in str(err.value)


def test_year_mapping_moves_a_row_into_the_horizon(model, tmp_path):
    spec = _spec()
    spec["indicators"]["migrant_share_of_rural_workforce"] = {
        "variable": "migrant_share_of_rural_workforce",
        "unit": "percent",
        "sigma": 4,
    }
    spec["year_mapping"] = [
        {"indicator": "migrant_share_of_rural_workforce", "area": "Enshi", "from": 2009, "to": 2010}
    ]
    text = "indicator,area,year,value\nmigrant_share_of_rural_workforce,Enshi,2009,38.1\n"
    problem = _problem(model, tmp_path, text, spec)
    row = problem.rows.iloc[0]
    assert (row.data_year, row.year, row.compared_with) == (2009, 2010, "Wulingshan")
    # the same row without the mapping is outside the horizon
    del spec["year_mapping"]
    with pytest.raises(DataError, match="year 2009 is outside"):
        _problem(model, tmp_path, text, spec)


# ---------------------------------------------------------------------------------------
# The command line: bad input is one line, exit 2, nothing written
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("csv_text", "spec_change", "message"),
    [
        ("indicator,area,year,value\nx,Wulingshna,2012,1\n", None, "unknown area 'Wulingshna'"),
        ("indicator,area,year,value\nx,Tibet,2012,n/a\n", None, "line 2: value: expected"),
        ("indicator,area,year,value,sigma\nx,Tibet,2012,1,-2\n", None, "sigma: expected a"),
        ("indicator,area,year,value\nx,Tibet,2012,1\nx,Tibet,2012,2\n", None, "duplicate row"),
        (
            "indicator,area,year,value\nrural_income_per_capita,Tibet,2051,1\n",
            None,
            "outside the model's horizon",
        ),
        ("indicator,area,year,value\nrural_incme,Tibet,2012,1\n", None, "unknown indicator"),
        ("indicator,area,year,value\nrural_income_per_capita,China,2012,1\n", None, "no data left"),
        (
            "indicator,area,year,value\nrural_income_per_capita,Tibet,2012,4000\n",
            {"farm_income_shar": {"lower": 0.1, "upper": 0.7}},
            "unknown parameter",
        ),
        (
            "indicator,area,year,value\nrural_income_per_capita,Tibet,2012,4000\n",
            {"farm_income_share": {"lower": 0.7, "upper": 0.1}},
            "bounds reversed",
        ),
    ],
)
def test_cli_bad_input(tmp_path, capsys, csv_text, spec_change, message):
    data = tmp_path / "obs.csv"
    data.write_text(csv_text, encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec(**(spec_change or {})), sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["calibrate", "--data", str(data), "--spec", str(spec), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()  # validated before anything is written


def test_cli_rejects_negative_starts(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["calibrate", "--data", "a", "--spec", "b", "--out", "c", "--starts", "-1"])
    assert stop.value.code == 2
    assert "expected a whole number >= 0" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# The real model
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine():
    from sdplanner.engine.batch import BatchEngine

    return BatchEngine.from_mdl()


RECOVERY_TRUTH = {
    "farm_income_share": 0.42,
    "income_dispersion": 0.8,
    "initial_migrant_share_of_rural_workforce": 0.3,
    "base_local_urbanization_rate": 0.02,
}
RECOVERY_SERIES = [  # indicator, area, years, sigma (data units)
    ("rural_income_per_capita", "All 14 regions", range(2011, 2015), 60.0),
    ("poverty_incidence", "All 14 regions", range(2011, 2015), 0.8),
    ("migrant_share_of_rural_workforce", "Dabieshan", range(2010, 2015), 1.5),
    ("urbanization_rate", "Liupanshan", range(2011, 2015), 0.4),
    ("urbanization_rate", "Tibet", range(2011, 2015), 0.4),
]


def _recovery_spec():
    bounds = {
        "farm_income_share": {"lower": 0.1, "upper": 0.8},
        "income_dispersion": {"lower": 0.3, "upper": 1.5},
        "initial_migrant_share_of_rural_workforce": {"lower": 0.1, "upper": 0.6},
        "base_local_urbanization_rate": {"lower": 0.002, "upper": 0.08, "transform": "log"},
    }
    indicators = {
        "rural_income_per_capita": {"variable": "rural_income_per_capita", "prices": "constant"},
        "poverty_incidence": {"variable": "poverty_incidence", "unit": "percent"},
        "migrant_share_of_rural_workforce": {
            "variable": "migrant_share_of_rural_workforce",
            "unit": "percent",
        },
        "urbanization_rate": {"variable": "urbanization_rate", "unit": "percent"},
    }
    return {"parameters": bounds, "indicators": indicators}


def test_recovery_of_known_parameters(model, engine, tmp_path):
    """Data made by the model itself plus noise of known sigma are calibrated back.

    4 parameters x 5 noise seeds = 20 intervals of nominal 95 % coverage. If coverage is
    right, the number of misses is Binomial(20, 0.05): P(misses >= 4) = 1.6 %, so at most 3
    misses are allowed (the seeds are fixed, so the test is deterministic; the bound says
    what a correct method may show). Every estimate must also lie within 4 profile
    half-widths of the truth, which a biased fit would break.
    """
    truth_out = engine.run(
        {
            k: (np.full(len(REGIONS), v) if isinstance(model.constants[k], np.ndarray) else v)
            for k, v in RECOVERY_TRUTH.items()
        },
        final_time=2014,
        variables=[
            "rural_income_per_capita",
            "poverty_incidence",
            "migrant_share_of_rural_workforce",
            "urbanization_rate",
            "rural_population",
            "urban_population",
            "migrant_workers_outside",
            "rural_workforce",
        ],
    )
    from sdplanner.results import aggregate
    from tests.shipped import OUTPUT_VARIABLES

    def truth(indicator, area, year):
        t = list(truth_out.times).index(float(year))
        scale = 1.0 if indicator == "rural_income_per_capita" else 100.0
        if area == "All 14 regions":
            out = next(o for o in OUTPUT_VARIABLES if o.name == indicator)
            return float(aggregate(truth_out.values, out)[t]) * scale
        return float(truth_out.values[indicator][t, REGIONS.index(area)]) * scale

    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(_recovery_spec(), sort_keys=False), encoding="utf-8")
    misses, checked = [], 0
    names = list(RECOVERY_TRUTH)
    for noise_seed in range(5):
        rng = np.random.default_rng(1000 + noise_seed)
        lines = ["indicator,area,year,value,sigma"]
        for indicator, area, years, sigma in RECOVERY_SERIES:
            for year in years:
                value = truth(indicator, area, year) + rng.normal(0.0, sigma)
                lines.append(f"{indicator},{area},{year},{float(value)!r},{sigma}")
        data = tmp_path / f"synthetic-{noise_seed}.csv"
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
        problem = load_problem(data, spec_path, model)
        result = calibrate(problem, engine, starts=3, seed=noise_seed)
        for iv in result.intervals:
            true = RECOVERY_TRUTH[iv.parameter.name]
            checked += 1
            if not iv.lower <= true <= iv.upper:
                misses.append((noise_seed, iv.parameter.name, true, iv.lower, iv.upper))
            half = max(iv.upper - iv.estimate, iv.estimate - iv.lower)
            assert abs(iv.estimate - true) < 4 * half, (noise_seed, iv)
        assert [p.name for p in problem.parameters] == names
    assert checked == 20
    assert len(misses) <= 3, misses
    # series with n >= 3 get R2 and Theil's decomposition, which sums to 1
    fit_table = result.fit_table
    full = fit_table[fit_table.n >= 3]
    assert len(full) == len(RECOVERY_SERIES)
    np.testing.assert_allclose(full[["theil_um", "theil_us", "theil_uc"]].sum(axis=1), 1.0)


def _compare_tables(new: pd.DataFrame, old: pd.DataFrame, name: str) -> None:
    assert list(new.columns) == list(old.columns), name
    assert len(new) == len(old), name
    for col in new.columns:
        a, b = new[col], old[col]
        if pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(a):
            # 1e-6 relative, as the issue asks; the absolute 1e-9 floor is for residuals that
            # are zero up to float rounding (the Table 1 rows, ~1e-15).
            np.testing.assert_allclose(
                a.to_numpy(float), b.to_numpy(float), rtol=1e-6, atol=1e-9, err_msg=f"{name}.{col}"
            )
        else:
            assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), col


def test_shipped_calibration_is_regenerated(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "calibrate",
            "--data",
            str(DATA / "seed_figures.csv"),
            "--spec",
            str(SEED_SPEC),
            "--out",
            str(out),
            *SHIPPED_ARGS,
        ]
    )
    assert code == 0, capsys.readouterr().err
    for name in ("parameters.csv", "fit.csv", "observations.csv"):
        _compare_tables(pd.read_csv(out / name), pd.read_csv(SHIPPED / name), name)
    new = yaml.safe_load((out / "calibrated.params.yaml").read_text(encoding="utf-8"))
    old = yaml.safe_load((CALIBRATION / "seed-2010-2012.params.yaml").read_text("utf-8"))
    assert new["parameters"].keys() == old["parameters"].keys()
    for key, value in old["parameters"].items():
        if isinstance(value, dict):
            for region, v in value.items():
                assert new["parameters"][key][region] == pytest.approx(v, rel=1e-6)
        else:
            assert new["parameters"][key] == pytest.approx(value, rel=1e-6)
    params = pd.read_csv(out / "parameters.csv")
    prof = params[params.method == "profile"]
    assert (prof.lower_95 <= prof.estimate).all() and (prof.estimate <= prof.upper_95).all()
    assert set(params.method) == {"profile", "bootstrap"}
    plots = sorted(p.name for p in (out / "plots").iterdir())
    used = pd.read_csv(out / "observations.csv").indicator.unique()
    assert plots == sorted(f"{i}.png" for i in used)
    text = (out / "identifiability.txt").read_text(encoding="utf-8")
    assert "initial_infrastructure_per_capita and road_infrastructure_scale" in text
    report = (out / "report.txt").read_text(encoding="utf-8")
    assert "line 14: urbanization_rate, Tibetan areas" in report
    manifest = yaml.safe_load((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 2012 and manifest["calibration"]["model_runs"] > 0


def test_shipped_parameters_keep_table1_and_hit_2012_targets(model, engine):
    from sdplanner.results import aggregate
    from sdplanner.scenario import load_parameter_file
    from tests.shipped import OUTPUT_VARIABLES

    params = load_parameter_file(CALIBRATION / "seed-2010-2012.params.yaml", model)
    out = engine.run(
        params,
        final_time=2012,
        variables=[
            "urbanization_rate",
            "rural_income_per_capita",
            "poverty_incidence",
            "migrant_share_of_rural_workforce",
            "rural_population",
            "urban_population",
            "migrant_workers_outside",
            "rural_workforce",
        ],
    )
    seed = pd.read_csv(DATA / "seed_figures.csv")
    table1 = seed[(seed.indicator == "urbanization_rate") & (seed.area_type == "region")]
    table1 = table1.dropna(subset=["value"])
    assert len(table1) == 13
    for row in table1.itertuples():
        # Table 1 rates are data: reproduced to float rounding (1e-12 as a fraction)
        got = out.values["urbanization_rate"][0, REGIONS.index(row.area)]
        assert got == pytest.approx(row.value / 100, abs=1e-12), row.area
    rate = np.asarray(params["urbanization_rate_2010"])
    np.testing.assert_array_equal(
        np.delete(rate, REGIONS.index("Tibetan areas of Yunnan-Sichuan-Gansu-Qinghai")),
        np.delete(model.constants["urbanization_rate_2010"], 12),
    )

    def agg(name):
        o = next(v for v in OUTPUT_VARIABLES if v.name == name)
        return float(aggregate(out.values, o)[2])

    # The 2012 figures the spec targets, each within 2 sigma of the spec (sigma is the
    # standard error the spec grants: 100 yuan, 1 point, 500 yuan for a sub-area ...).
    spec = yaml.safe_load(SEED_SPEC.read_text(encoding="utf-8"))["indicators"]
    # the seed's incomes are current yuan: the spec names the deflator (the rural poverty
    # line at current prices, 2,625 in 2012 against 2,300 in 2010) that compares them with
    # the model's constant 2010 yuan
    raw = yaml.safe_load(SEED_SPEC.read_text(encoding="utf-8"))
    assert spec["rural_income_per_capita"]["variable"] == "rural_income_per_capita"
    assert spec["rural_income_per_capita"]["prices"] == "current"
    line = raw["deflators"][spec["rural_income_per_capita"]["deflator"]]["values"]
    index_2012 = line[2012] / line[2010]
    rural = out.values["rural_population"][2]
    current = out.values["rural_income_per_capita"][2] * index_2012
    assert (
        abs(float((current * rural).sum() / rural.sum()) - 4839)
        <= 2 * spec["rural_income_per_capita"]["sigma"]["aggregate"]
    )
    assert (
        abs(agg("poverty_incidence") * 100 - 24.4)
        <= 2 * spec["poverty_incidence"]["sigma"]["aggregate"]
    )
    ygg = REGIONS.index("Yunnan-Guangxi-Guizhou")
    assert abs(out.values["rural_income_per_capita"][2, ygg] * index_2012 - 4625) <= 2 * 500
    wul = REGIONS.index("Wulingshan")
    prefectures = [34.5, 39.0, 35.0, 42.0]  # Enshi, Huaihua, Tongren, Qianjiang (2012)
    sim = out.values["urbanization_rate"][2, wul] * 100
    assert all(abs(sim - p) <= 2 * 4.0 for p in prefectures)
    # moved toward the prefectures' figures from the .mdl's 2012 value (34.0 %)
    assert sim > 34.0
    assert abs(out.values["migrant_share_of_rural_workforce"][0, wul] * 100 - 38.1) <= 2 * 4.0


def test_calibrate_params_file_sets_the_starting_values(tmp_path, model):
    from sdplanner.calibration import load_problem
    from sdplanner.scenario import load_parameter_file

    start = tmp_path / "start.yaml"
    start.write_text("parameters:\n  remittance_share: 0.3\n", encoding="utf-8")
    base = load_parameter_file(start, model)
    plain = load_problem(DATA / "seed_figures.csv", SEED_SPEC, model)
    layered = load_problem(DATA / "seed_figures.csv", SEED_SPEC, model, base_params=base)
    starts = {p.label: p.default for p in layered.parameters}
    assert starts["remittance_share"] == 0.3
    before = {p.label: p.default for p in plain.parameters}
    assert before["remittance_share"] == model.constants["remittance_share"]
    assert {k: v for k, v in starts.items() if k != "remittance_share"} == {
        k: v for k, v in before.items() if k != "remittance_share"
    }


def test_calibration_package_modules_stay_under_600_lines():
    # issue 12: one job a module; none over 600 lines
    import sdplanner.calibration as package

    folder = Path(package.__file__).parent
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert {
        "spec.py",
        "problem.py",
        "fit.py",
        "intervals.py",
        "diagnostics.py",
        "outputs.py",
    } <= set(sizes)
    assert max(sizes.values()) <= 600, sizes
