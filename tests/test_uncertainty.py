"""The uncertainty file: distributions, validation, correlations, seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import optimize, stats

from sdplanner.rng import SeedError, make_generator
from sdplanner.uncertainty import (
    Distribution,
    UncertaintyError,
    iman_conover,
    load_uncertainty,
    parse_uncertainty,
)

from .conftest import ROOT

DEFAULT = ROOT / "uncertainty" / "default.yaml"
CALIBRATION_SPEC = ROOT / "calibration" / "seed-2010-2012.yaml"
#: The default calibration (run, compare and ensemble use it) re-estimates some of the seed's
#: constants with the figures to 2015: for those, default.yaml follows its intervals.
HISTORY_SPEC = ROOT / "calibration" / "history-2010-2015.yaml"
HISTORY_INTERVALS = ROOT / "calibration" / "history-2010-2015" / "parameters.csv"
CALIBRATION_INTERVALS = ROOT / "calibration" / "seed-2010-2012" / "parameters.csv"

#: Constants the calibration estimates that default.yaml leaves out on purpose (its header
#: says why: 2010 data, or mappings of the state to indicators that nothing depends on).
NOT_SAMPLED = {
    "initial_infrastructure_per_capita",
    "urbanization_rate_2010",
    "road_infrastructure_scale",
    "telephone_infrastructure_scale",
    "base_tertiary_fraction_of_non_farm_output",
}
#: Calibrated constants whose published interval ends at the calibration's search bound (so
#: it is not a 95 % interval) and which default.yaml gives a literature range instead.
INTERVAL_AT_BOUND: set[str] = set()
#: Allowed gap between default.yaml's 2.5 % / 97.5 % quantiles (and its mode) and the
#: published interval (and estimate), as a fraction of the interval's width. The file rounds
#: min, mode and max to 6 significant digits, which moves the quantiles by less than 1e-5 of
#: the width; parameters.csv is regenerated within 1e-6 relative (tests/test_calibrate.py),
#: less than 1e-5 of the width for these intervals (the value is at most 9 widths). A new
#: calibration that moves an end by more than 0.01 % of its interval fails.
INTERVAL_TOL = 1e-4


def _spec(model, parameters, correlations=None):
    data = {"parameters": parameters}
    if correlations is not None:
        data["correlations"] = correlations
    return parse_uncertainty(data, model, "u.yaml")


def _error(model, parameters, correlations=None) -> str:
    with pytest.raises(UncertaintyError) as info:
        _spec(model, parameters, correlations)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("u.yaml")
    return msg


def test_default_file_loads_and_covers_behavioural_constants(model):
    spec = load_uncertainty(DEFAULT, model)
    names = set(spec.names)
    assert len(names) >= 15
    for expected in (
        "urbanization_elasticity_to_jobs",
        "out_migration_elasticity_to_earnings",
        "capital_elasticity_of_output",
        "income_dispersion",
        "initial_migrant_share_of_rural_workforce",
    ):
        assert expected in names
    assert spec.correlations
    # Every distribution's 0.1 % and 99.9 % quantiles are finite.
    u = np.array([[0.001] * len(spec.columns), [0.999] * len(spec.columns)])
    assert np.all(np.isfinite(spec.transform(u)))


def _triangle_through(mode: float, lower: float, upper: float) -> tuple[float, float]:
    """Min and max of the triangle with this mode whose 2.5 % and 97.5 % quantiles are given."""

    def gaps(x):
        a, b = x
        return [
            (lower - a) ** 2 / ((b - a) * (mode - a)) - 0.025,
            (b - upper) ** 2 / ((b - a) * (b - mode)) - 0.025,
        ]

    guess = [lower - 0.3 * (mode - lower), upper + 0.3 * (upper - mode)]
    a, b = optimize.root(gaps, guess, method="hybr", tol=1e-14).x
    return float(a), float(b)


def test_default_file_follows_the_calibrations_intervals(model):
    """Calibrated constants: the 2.5 % and 97.5 % quantiles are the published 95 % interval."""
    spec = load_uncertainty(DEFAULT, model)
    params = {p.name: p for p in spec.parameters}
    search = yaml.safe_load(CALIBRATION_SPEC.read_text())["parameters"]
    table = pd.read_csv(CALIBRATION_INTERVALS, keep_default_na=False)
    rows = table[table["method"] == "profile"]
    assert len(rows) == len(search)
    checked, at_bound = set(), set()
    history = pd.read_csv(HISTORY_INTERVALS, keep_default_na=False)
    history = history[(history["method"] == "profile") & (history["region"] == "")]
    latest = {r.parameter: r for r in history.itertuples(index=False)}
    search = {**search, **yaml.safe_load(HISTORY_SPEC.read_text())["parameters"]}
    assert latest, "the history calibration re-estimates no scalar constant"
    for row in rows.itertuples(index=False):
        row = latest.get(row.parameter, row)  # the newer interval wins
        name, lower, upper, estimate = row.parameter, row.lower_95, row.upper_95, row.estimate
        if name not in params:
            assert name in NOT_SAMPLED, (
                f"{name} is calibrated but neither in default.yaml nor in NOT_SAMPLED"
            )
            continue
        assert name not in NOT_SAMPLED, f"{name} is in default.yaml and in NOT_SAMPLED"
        bounds = search[name]
        width = upper - lower
        if (
            row.at_bound != "no"
            or lower <= bounds["lower"] * (1 + 1e-12)
            or upper >= bounds["upper"] * (1 - 1e-12)
            or not lower < estimate < upper
        ):
            at_bound.add(name)
            continue
        p = params[name]
        assert not p.relative, f"{name}: a calibrated range is absolute (the interval's units)"
        if row.region:
            assert p.regions is not None and row.region in p.regions
        q = p.distribution.ppf(np.array([0.025, 0.975]))
        centre = {"triangular": "mode", "normal": "mean", "lognormal": "median"}.get(
            p.distribution.kind
        )
        tri_min, tri_max = _triangle_through(estimate, lower, upper)
        hint = (
            f"{name}: published 95 % interval {lower:.6g}..{upper:.6g} around {estimate:.6g},"
            f" default.yaml has {p.distribution.describe()} with 2.5 %/97.5 % quantiles"
            f" {q[0]:.6g}/{q[1]:.6g}; the triangle through the interval is min {tri_min:.6g},"
            f" mode {estimate:.6g}, max {tri_max:.6g}"
        )
        assert abs(q[0] - lower) <= INTERVAL_TOL * width, hint
        assert abs(q[1] - upper) <= INTERVAL_TOL * width, hint
        if centre is not None:
            assert abs(p.distribution.get(centre) - estimate) <= INTERVAL_TOL * width, hint
        checked.add(name)
    assert at_bound == INTERVAL_AT_BOUND, (
        f"intervals at a search bound: {sorted(at_bound)}; default.yaml argues a literature"
        f" range for {sorted(INTERVAL_AT_BOUND)} (update both)"
    )
    assert checked == (set(params) & set(rows["parameter"])) - INTERVAL_AT_BOUND
    assert checked, "no calibrated constant of default.yaml was checked"


def test_triangle_fit_matches_its_quantiles():
    a, b = _triangle_through(0.3, 0.2, 0.5)
    d = Distribution("triangular", (("min", a), ("mode", 0.3), ("max", b)))
    np.testing.assert_allclose(d.ppf(np.array([0.025, 0.975])), [0.2, 0.5], rtol=1e-10)


@pytest.mark.parametrize(
    ("dist", "frozen"),
    [
        (Distribution("uniform", (("min", 0.2), ("max", 0.8))), stats.uniform(0.2, 0.6)),
        (
            Distribution("triangular", (("min", 1.0), ("mode", 1.5), ("max", 3.0))),
            stats.triang(c=0.25, loc=1.0, scale=2.0),
        ),
        (Distribution("normal", (("mean", 0.7), ("sd", 0.1))), stats.norm(0.7, 0.1)),
        (
            Distribution("lognormal", (("median", 2.0), ("sigma", 0.3))),
            stats.lognorm(s=0.3, scale=2.0),
        ),
        (
            Distribution("normal", (("mean", 0.5), ("sd", 0.1), ("min", 0.4), ("max", 0.65))),
            stats.truncnorm(-1.0, 1.5, loc=0.5, scale=0.1),
        ),
    ],
)
def test_inverse_cdfs_match_scipy(dist, frozen):
    u = np.linspace(0.001, 0.999, 101)
    # scipy's own inverse CDFs; 1e-9 relative covers their iterative solvers.
    np.testing.assert_allclose(dist.ppf(u), frozen.ppf(u), rtol=1e-9, atol=1e-12)


def test_truncated_lognormal_stays_in_bounds():
    d = Distribution("lognormal", (("median", 1.0), ("sigma", 1.0), ("min", 0.5), ("max", 1.5)))
    x = d.ppf(np.linspace(0, 1, 1001))
    assert x.min() >= 0.5 and x.max() <= 1.5


def test_names_per_region_subset_relative_and_batch(model):
    spec = _spec(
        model,
        {
            "Urbanization elasticity to jobs": {"distribution": "uniform", "min": 0.2, "max": 0.8},
            "initial_migrant_share_of_rural_workforce": {
                "distribution": "uniform",
                "min": 0.5,
                "max": 1.5,
                "relative": True,
                "per_region": True,
                "regions": ["Tibet", "Wulingshan"],
            },
            "urbanization_rate_2010": {
                "distribution": "uniform",
                "min": 0.2,
                "max": 0.3,
                "regions": ["Tibetan areas of Yunnan-Sichuan-Gansu-Qinghai"],
            },
        },
    )
    labels = [c.label for c in spec.columns]
    assert labels == [
        "urbanization_elasticity_to_jobs",
        "initial_migrant_share_of_rural_workforce[Wulingshan]",
        "initial_migrant_share_of_rural_workforce[Tibet]",
        "urbanization_rate_2010",
    ]
    values = np.array([[0.5, 2.0, 3.0, 0.25], [0.6, 1.0, 1.0, 0.21]])
    base = {"initial_migrant_share_of_rural_workforce": np.full(len(model.regions), 0.3)}
    batch = spec.to_batch(values, base, model)
    assert batch["urbanization_elasticity_to_jobs"].shape == (2,)
    share = batch["initial_migrant_share_of_rural_workforce"]
    assert share.shape == (2, len(model.regions))
    wl, tb = model.regions.index("Wulingshan"), model.regions.index("Tibet")
    assert share[0, wl] == pytest.approx(0.6) and share[0, tb] == pytest.approx(0.9)
    others = [i for i in range(len(model.regions)) if i not in (wl, tb)]
    assert np.all(share[:, others] == 0.3)
    rate = batch["urbanization_rate_2010"]
    default = model.constants["urbanization_rate_2010"]
    tib = model.regions.index("Tibetan areas of Yunnan-Sichuan-Gansu-Qinghai")
    assert rate[0, tib] == 0.25 and rate[1, tib] == 0.21
    assert np.array_equal(rate[:, :tib], np.broadcast_to(default[:tib], (2, tib)))


def test_unknown_parameter_suggests_closest(model):
    msg = _error(
        model, {"urbanisation_elasticity_to_jobs": {"distribution": "uniform", "min": 0, "max": 1}}
    )
    assert "parameters.urbanisation_elasticity_to_jobs" in msg
    assert "did you mean 'urbanization_elasticity_to_jobs'" in msg


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"distribution": "unifrom", "min": 0, "max": 1}, "did you mean 'uniform'"),
        ({"distribution": "beta", "min": 0, "max": 1}, "expected one of uniform"),
        ({"min": 0, "max": 1}, ".distribution: expected one of"),
        ({"distribution": "uniform", "min": 1, "max": 0.5}, "expected min < max"),
        ({"distribution": "uniform", "min": 0}, ".max: expected a number"),
        ({"distribution": "uniform", "min": "a", "max": 1}, ".min: expected a number"),
        ({"distribution": "triangular", "min": 0, "mode": 2, "max": 1}, ".mode: expected a mode"),
        ({"distribution": "normal", "mean": 0.5, "sd": 0}, ".sd: expected a number > 0"),
        ({"distribution": "lognormal", "median": -1, "sigma": 0.2}, ".median: expected"),
        ({"distribution": "normal", "mean": 0.5, "sd": 0.1, "min": 5}, "keep some probability"),
        # found by the fuzz test: a log-normal cut at or below 0 (math domain error before)
        ({"distribution": "lognormal", "median": 0.3, "sigma": 0.2, "max": 0}, ".max: expected a"),
        ({"distribution": "uniform", "min": 0, "max": 1, "sd": 2}, ".sd: unknown key"),
        ({"distribution": "uniform", "min": 0, "max": 1, "per_region": True}, "has no regions"),
        ({"distribution": "uniform", "min": 0, "max": 1, "relative": "yes"}, "true or false"),
        ("uniform", "expected a mapping"),
    ],
)
def test_invalid_distribution_or_bounds(model, raw, fragment):
    msg = _error(model, {"urbanization_elasticity_to_jobs": raw})
    assert "parameters.urbanization_elasticity_to_jobs" in msg
    assert fragment in msg


def test_bad_regions_levers_and_correlations(model):
    share = "initial_migrant_share_of_rural_workforce"
    u = {"distribution": "uniform", "min": 0.2, "max": 0.5}
    assert "did you mean 'Tibet'" in _error(model, {share: {**u, "regions": ["Tibett"]}})
    assert "policy lever" in _error(model, {"hukou_reform_strength": u})
    assert "unknown model constant" in _error(model, {"rural_population": u})
    a, b = "urbanization_elasticity_to_jobs", "base_return_rate"
    v = {"distribution": "uniform", "min": 0.02, "max": 0.05}  # inside base_return_rate's range
    two = {a: u, b: v}
    assert "expected a parameter of this file" in _error(
        model, {a: u}, [{"parameters": [a, b], "rho": 0.3}]
    )
    assert "rank correlation in (-1, 1)" in _error(model, two, [{"parameters": [a, b], "rho": 1}])
    c = "reinvestment_share"
    three = {a: u, b: v, c: u}
    msg = _error(
        model,
        three,
        [
            {"parameters": [a, b], "rho": 0.9},
            {"parameters": [b, c], "rho": 0.9},
            {"parameters": [a, c], "rho": -0.9},
        ],
    )
    assert "positive-definite" in msg


def test_load_errors_name_the_file(tmp_path, model):
    bad = tmp_path / "bad.yaml"
    bad.write_text("parameters: [1, 2\n")
    with pytest.raises(UncertaintyError, match=r"bad.yaml: invalid YAML at line"):
        load_uncertainty(bad, model)
    with pytest.raises(UncertaintyError, match="not found"):
        load_uncertainty(tmp_path / "missing.yaml", model)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"parameter": {}}))
    with pytest.raises(UncertaintyError, match="did you mean 'parameters'"):
        load_uncertainty(other, model)


def test_make_generator_is_the_one_seed_helper():
    a = make_generator(7).random(3)
    assert np.array_equal(a, make_generator(7).random(3))
    assert not np.array_equal(make_generator(7, 1).random(3), make_generator(7, 2).random(3))
    assert np.array_equal(make_generator(7, 1).random(3), make_generator(7, 1).random(3))
    g = np.random.default_rng(1)
    assert make_generator(g) is g
    with pytest.raises(SeedError, match="seed"):
        make_generator(1.5)
    with pytest.raises(SeedError, match="seed"):
        make_generator(-3)


def test_iman_conover_gives_rank_correlation_and_keeps_marginals():
    rng = make_generator(3)
    u = rng.random((2000, 3))
    target = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.0], [-0.3, 0.0, 1.0]])
    out = iman_conover(u, target)
    for j in range(3):
        assert np.array_equal(np.sort(out[:, j]), np.sort(u[:, j]))
    rho = stats.spearmanr(out).statistic
    # Iman-Conover matches van der Waerden score correlations exactly; Spearman's rho of the
    # result differs from them by O(1/sqrt(n)) sampling noise: 0.05 at n = 2000.
    np.testing.assert_allclose(rho, target, atol=0.05)
    with pytest.raises(UncertaintyError, match="at least 5 samples"):
        iman_conover(u[:3], target)
