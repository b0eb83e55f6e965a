"""Ensembles: sampling, exact sums, exact and streaming percentiles, the CLI, fan charts."""

from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from sdplanner.cli import main
from sdplanner.ensemble_plots import fan_chart, observed_points, sobol_chart
from sdplanner.rng import make_generator
from sdplanner.run import prepare_run
from sdplanner.uncertainty import (
    PERCENTILES,
    ExactPercentiles,
    ExactSum,
    LatinHypercubeSampler,
    StreamingPercentiles,
    parse_uncertainty,
    run_ensemble,
    run_sensitivity,
    sample_blocks,
)
from tests.shipped import SPEC as MODEL_SPEC

from .conftest import ROOT, SCENARIOS

PCT = [f"p{p:02d}" for p in PERCENTILES]
SPEC = {
    "parameters": {
        "urbanization_elasticity_to_jobs": {"distribution": "uniform", "min": 0.2, "max": 0.8},
        "farm_income_share": {"distribution": "triangular", "min": 0.3, "mode": 0.35, "max": 0.45},
        "income_dispersion": {
            "distribution": "normal",
            "mean": 0.7,
            "sd": 0.05,
            "min": 0.5,
            "max": 0.9,
        },
        "initial_migrant_share_of_rural_workforce": {
            "distribution": "uniform",
            "min": 0.8,
            "max": 1.2,
            "relative": True,
            "per_region": True,
        },
        # truncated at the top of the constant's declared range [0,0.15] (an open lognormal
        # is refused); the cut at 0.15 is 4.4 sigmas out, so the draws hardly move
        "outside_wage_growth": {
            "distribution": "lognormal",
            "median": 0.04,
            "sigma": 0.3,
            "max": 0.15,
        },
    },
    "correlations": [{"parameters": ["farm_income_share", "income_dispersion"], "rho": 0.5}],
}


@pytest.fixture(scope="session")
def short_inputs():
    """The baseline with the .mdl's constants, run to 2016 only (fast)."""
    inputs = prepare_run(SCENARIOS / "baseline.yaml", params=False)
    return dataclasses.replace(
        inputs, scenario=dataclasses.replace(inputs.scenario, final_time=2016)
    )


@pytest.fixture(scope="session")
def spec(model):
    return parse_uncertainty(SPEC, model, "test-spec")


@pytest.fixture(scope="session")
def exact_300(short_inputs, spec):
    return run_ensemble(short_inputs, spec, samples=300, seed=11, chunk_size=64)


def test_samples_depend_on_seed_and_n_only(spec):
    s = LatinHypercubeSampler(spec, 500, seed=5)
    whole = s.unit(0, 500)
    pieces = np.concatenate([s.unit(a, min(500, a + 37)) for a in range(0, 500, 37)])
    assert np.array_equal(whole, pieces)
    assert np.array_equal(whole, LatinHypercubeSampler(spec, 500, seed=5).unit(0, 500))
    assert not np.array_equal(whole, LatinHypercubeSampler(spec, 500, seed=6).unit(0, 500))
    # A Latin hypercube: one draw per stratum in every column (outside the correlated pair,
    # which Iman-Conover only re-pairs).
    strata = np.sort(np.floor(whole * 500), axis=0)
    assert np.array_equal(strata, np.broadcast_to(np.arange(500)[:, None], whole.shape))


def test_sample_blocks_beyond_one_block():
    blocks = sample_blocks(250_001)
    assert len(blocks) == 3 and blocks[0][0] == 0 and blocks[-1][1] == 250_001
    assert all(b - a >= 83_000 for a, b in blocks)
    assert sample_blocks(100_000) == [(0, 100_000)]


def _exact_mean(col: np.ndarray) -> float:
    return float(sum((Fraction(float(v)) for v in col), Fraction(0)) / len(col))


def test_exact_sum_is_order_independent_and_correctly_rounded():
    rng = make_generator(2)
    x = np.column_stack(
        [rng.normal(1e8, 3e7, 3001), rng.lognormal(-8, 3, 3001), rng.normal(0, 1, 3001)]
    )
    x[5, 2] = 1e-300
    exp = np.array([math.frexp(np.abs(c).max())[1] + 24 for c in x.T])
    a = ExactSum(exp)
    a.add(x)
    b = ExactSum(exp)
    perm = rng.permutation(len(x))
    for lo in range(0, len(x), 17):
        b.add(x[perm[lo : lo + 17]])
    assert np.array_equal(a.mean(), b.mean())
    assert [float(v) for v in a.mean()] == [_exact_mean(c) for c in x.T]


def test_exact_percentiles_equal_numpy_and_spill_equals_memory():
    rng = make_generator(4)
    data = rng.lognormal(0, 1, (1234, 10))
    slices = [slice(0, 5), slice(5, 10)]
    mem = ExactPercentiles(1234, slices, pilot=100)
    spill = ExactPercentiles(1234, slices, pilot=100, memory_budget=0)
    for lo in range(0, 1234, 100):
        mem.add(data[lo : lo + 100])
        spill.add(data[lo : lo + 100])
    p1, m1, _ = mem.result()
    p2, m2, _ = spill.result()
    assert np.array_equal(p1, np.percentile(data, PERCENTILES, axis=0))
    assert np.array_equal(p1, p2) and np.array_equal(m1, m2)


def test_streaming_percentiles_within_their_bound():
    rng = make_generator(8)
    n = 20_000
    data = np.column_stack([rng.normal(5, 2, n), rng.lognormal(0, 1.5, n), np.full(n, 3.0)])
    slices = [slice(0, 3)]
    stream = StreamingPercentiles(n, slices, pilot=500, bins=256)
    for lo in range(0, n, 999):
        stream.add(data[lo : lo + 999])
    est, mean, bound = stream.result()
    exact = np.percentile(data, PERCENTILES, axis=0)
    assert np.all(np.abs(est - exact) <= bound * (1 + 1e-9))
    assert np.all(bound[:, 2] == 0) and np.all(est[:, 2] == 3.0)
    assert mean[2] == 3.0


def test_ensemble_exact_results_do_not_depend_on_chunk_size(short_inputs, spec, exact_300):
    frame = exact_300.frame
    assert list(frame.columns) == ["scenario", "region", "variable", "year", *PCT, "mean"]
    assert set(frame.region) >= {"All 14 regions", "Tibet"}
    assert sorted(frame.year.unique()) == list(range(2010, 2017))
    again = run_ensemble(short_inputs, spec, samples=300, seed=11, chunk_size=7)
    pd.testing.assert_frame_equal(frame, again.frame, check_exact=True)
    assert np.all(frame.p05 <= frame.p50) and np.all(frame.p50 <= frame.p95)
    urb = frame[(frame.variable == "urbanization_rate") & (frame.year == 2016)]
    assert (urb.p95 > urb.p05).all()


def test_streaming_ensemble_within_bound_of_exact(short_inputs, spec, exact_300):
    stream = run_ensemble(
        short_inputs, spec, samples=300, seed=11, chunk_size=100, method="streaming"
    )
    exact = exact_300.frame
    err = (stream.frame[PCT] - exact[PCT]).abs().to_numpy()
    bound = stream.bounds[PCT].to_numpy()
    assert np.all(err <= bound * (1 + 1e-9) + 1e-300)
    # The pilot and the integer sums are the same in both methods: identical means.
    assert np.array_equal(stream.frame["mean"], exact["mean"])


def _cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ensemble_command_writes_percentiles_fans_and_manifest(tmp_path, capsys):
    unc = tmp_path / "u.yaml"
    import yaml

    unc.write_text(yaml.safe_dump(SPEC))
    scen = tmp_path / "short.yaml"
    scen.write_text("name: short\nextends: %s\nfinal_time: 2013\n" % (SCENARIOS / "baseline.yaml"))
    out = tmp_path / "out"
    code, stdout, err = _cli(
        [
            "ensemble",
            str(scen),
            "--uncertainty",
            str(unc),
            "--samples",
            "40",
            "--seed",
            "9",
            "--out",
            str(out),
            "--outputs",
            "urbanization_rate,poverty_incidence",
            "--quiet",
            "--no-params",
        ],
        capsys,
    )
    assert code == 0, err
    assert err == ""
    frame = pd.read_csv(out / "percentiles.csv")
    assert list(frame.columns) == ["scenario", "region", "variable", "year", *PCT, "mean"]
    assert set(frame.variable) == {"urbanization_rate", "poverty_incidence"}
    assert (out / "fan_urbanization_rate.png").stat().st_size > 1000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 9 and manifest["samples"] == 40
    assert manifest["percentile_method"] == "exact"
    assert "40 samples" in stdout


@pytest.mark.parametrize(
    ("content", "extra", "fragment"),
    [
        (
            "parameters:\n  base_retrun_rate: {distribution: uniform, min: 0.02, max: 0.06}\n",
            [],
            "did you mean 'base_return_rate'",
        ),
        (
            "parameters:\n  base_return_rate: {distribution: gamma, min: 0.02, max: 0.06}\n",
            [],
            "expected one of uniform",
        ),
        (
            "parameters:\n  base_return_rate: {distribution: uniform, min: 0.06, max: 0.02}\n",
            [],
            "expected min < max",
        ),
        (
            "parameters:\n  base_return_rate: {distribution: uniform, min: 0.02, max: 0.06}\n",
            ["--samples", "1"],
            "--samples: expected an integer >= 2, found 1",
        ),
        (
            "parameters:\n  base_return_rate: {distribution: uniform, min: 0.02, max: 0.06}\n",
            ["--outputs", "poverty"],
            "did you mean 'poverty_incidence'",
        ),
    ],
)
@pytest.mark.parametrize("command", ["ensemble", "sensitivity"])
def test_bad_input_is_one_line_exit_2_and_leaves_out_untouched(
    tmp_path, capsys, command, content, extra, fragment
):
    unc = tmp_path / "u.yaml"
    unc.write_text(content)
    out = tmp_path / "out"
    args = [
        command,
        str(SCENARIOS / "baseline.yaml"),
        "--uncertainty",
        str(unc),
        "--samples",
        "8",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]
    code, stdout, err = _cli(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sdplanner: error:")
    assert fragment in err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_fan_chart_and_observed_points(exact_300):
    obs = observed_points("poverty_incidence", MODEL_SPEC.dimension)
    assert len(obs) == 1 and obs.iloc[0].region == "All 14 regions"
    assert obs.iloc[0].value == pytest.approx(0.244)
    _fig, axes = fan_chart(
        exact_300.frame,
        "poverty_incidence",
        MODEL_SPEC,
        observed=obs,
        regions=["All 14 regions", "Tibet"],
    )
    assert axes.size == 2
    labels = [line.get_label() for line in axes.flat[0].lines]
    assert labels[-2].endswith(": median") and labels[-1] == "observed, not used in the fit"
    # Table 1's 13 rates of 2010 are model inputs, reproduced by construction: never drawn
    assert observed_points("urbanization_rate", MODEL_SPEC.dimension).empty


def test_sensitivity_indices(short_inputs, model):
    spec = parse_uncertainty(
        {
            "parameters": {
                "outside_wage_growth": {"distribution": "uniform", "min": 0.02, "max": 0.07},
                "initial_migrant_share_of_rural_workforce": {
                    "distribution": "uniform",
                    "min": 0.8,
                    "max": 1.2,
                    "relative": True,
                    "per_region": True,
                    "regions": ["Tibet", "Dabieshan"],
                },
                "agglomeration_cost_per_urban_resident": {
                    "distribution": "uniform",
                    "min": 400,
                    "max": 600,
                },
            }
        },
        model,
        "s",
    )
    result = run_sensitivity(
        short_inputs,
        spec,
        samples=30,
        seed=4,
        outputs=["rural_income_per_capita"],
        years="2016",
        chunk_size=100,
    )
    frame = result.frame
    assert result.base_samples == 32 and result.runs == 32 * 5
    assert list(frame.parameter) == [
        "outside_wage_growth",
        "initial_migrant_share_of_rural_workforce",
        "agglomeration_cost_per_urban_resident",
    ]
    # A lever cost with no lever active cannot matter: its total index is 0 exactly.
    unused = frame.set_index("parameter").loc["agglomeration_cost_per_urban_resident"]
    assert unused.ST == 0 and unused.S1 == 0
    wage = frame.set_index("parameter").loc["outside_wage_growth"]
    assert wage.ST > 0.5
    _fig, axes = sobol_chart(frame, "rural_income_per_capita", MODEL_SPEC)
    assert axes.size == 1
    assert any("rounded" in n for n in result.notes)


def test_shipped_default_runs(short_inputs, model):
    from sdplanner.uncertainty import load_uncertainty

    spec = load_uncertainty(ROOT / "uncertainty" / "default.yaml", model)
    result = run_ensemble(short_inputs, spec, samples=64, seed=1, outputs="all", chunk_size=64)
    assert result.frame[[*PCT, "mean"]].notna().all().all()


def test_nonfinite_samples_are_dropped_or_an_error():
    rng = make_generator(5)
    data = rng.normal(0, 1, (300, 4))
    data[[3, 150, 299], 1] = np.nan
    data[10, 3] = np.inf
    keep = np.isfinite(data).all(axis=1)
    for cls in (ExactPercentiles, StreamingPercentiles):
        r = cls(300, [slice(0, 2), slice(2, 4)], pilot=50, nonfinite="drop")
        for lo in range(0, 300, 64):
            r.add(data[lo : lo + 64])
        pct, mean, _ = r.result()
        assert r.n_dropped == 4 and r.dropped == [3, 10, 150, 299]
        if cls is ExactPercentiles:
            assert np.array_equal(pct, np.percentile(data[keep], PERCENTILES, axis=0))
        assert [float(v) for v in mean] == [_exact_mean(c) for c in data[keep].T]
    strict = ExactPercentiles(300, [slice(0, 2), slice(2, 4)], names=["a", "b"])
    with pytest.raises(Exception, match="sample 3 gives a non-finite a"):
        strict.add(data[:64])
