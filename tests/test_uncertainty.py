"""The uncertainty file: distributions, validation, correlations, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from scipy import stats

from sdplanner.uncertainty import (
    Distribution,
    UncertaintyError,
    iman_conover,
    load_uncertainty,
    make_generator,
    parse_uncertainty,
)

from .conftest import ROOT

DEFAULT = ROOT / "uncertainty" / "default.yaml"


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
    per_region = [p for p in spec.parameters if p.per_region]
    assert per_region and len(per_region[0].regions) == 14
    assert spec.correlations
    # Every distribution's 0.1 % and 99.9 % quantiles are finite.
    u = np.array([[0.001] * len(spec.columns), [0.999] * len(spec.columns)])
    assert np.all(np.isfinite(spec.transform(u)))


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
    base = {"initial_migrant_share_of_rural_workforce": np.full(14, 0.3)}
    batch = spec.to_batch(values, base, model)
    assert batch["urbanization_elasticity_to_jobs"].shape == (2,)
    share = batch["initial_migrant_share_of_rural_workforce"]
    assert share.shape == (2, 14)
    wl, tb = model.regions.index("Wulingshan"), model.regions.index("Tibet")
    assert share[0, wl] == pytest.approx(0.6) and share[0, tb] == pytest.approx(0.9)
    others = [i for i in range(14) if i not in (wl, tb)]
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
    two = {a: u, b: u}
    assert "expected a parameter of this file" in _error(
        model, {a: u}, [{"parameters": [a, b], "rho": 0.3}]
    )
    assert "rank correlation in (-1, 1)" in _error(model, two, [{"parameters": [a, b], "rho": 1}])
    c = "reinvestment_share"
    three = {a: u, b: u, c: u}
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
    with pytest.raises(UncertaintyError, match="seed"):
        make_generator(1.5)
    with pytest.raises(UncertaintyError, match="seed"):
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
