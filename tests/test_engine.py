"""Tests of the batch engine: equivalence with PySD, batches, refusals, shapes and errors.

Every test that takes the ``engine`` fixture runs with both kernels the engine generates:
the C kernel (where a C compiler works; under ``CI`` it must) and the NumPy kernel. PySD is
the reference. Its runs are slow (tens of seconds for the full model), so each is
made once per module (module-scoped fixtures) and shortened where the engine's semantics
are still fully exercised: the baseline runs the model's own TIME STEP to 2030, the lever
run the whole horizon with a coarser step.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from sdplanner.engine import toolchain
from sdplanner.engine.base import TimeSeries
from sdplanner.engine.batch import BatchEngine, TimeGrid
from sdplanner.engine.pysd_runner import PysdEngine
from sdplanner.errors import EngineError, ModelError
from tests.mdl import controls, minimal_model, region_block
from tests.shipped import ELEMENTS

N_REGIONS = len(ELEMENTS)

#: The C kernel needs a working C compiler: skipped without one, except in CI (where the
#: skip would hide that the default kernel was never tested).
needs_cc = pytest.mark.skipif(
    toolchain.compiler() is None and not os.environ.get("CI"), reason="no working C compiler"
)
KERNELS = [pytest.param("c", marks=needs_cc), "numpy"]


def lever_params() -> dict:
    """Eleven policy levers, a scalar time series that stops short of both ends of the run
    (held constant beyond them) and a per-region time series that also sets a stock's
    initial value."""
    years = np.array([2010.0, 2025.0, 2050.0])
    coverage = np.linspace(0.10, 0.20, 3 * N_REGIONS).reshape(3, N_REGIONS)
    return {
        "infrastructure_investment_strength": np.full(N_REGIONS, 0.05),
        "hukou_reform_strength": 0.6,
        "social_security_target_strength": 0.9,
        "industry_support_strength": 0.2,
        "returnee_incubators_strength": 0.5,
        "graduate_retention_strength": 0.3,
        "town_agglomeration_target_strength": 0.5,
        "farmland_consolidation_strength": 0.5,
        "town_absorptive_capacity_strength": 0.5,
        "ppp_leverage_strength": 1.0,
        "agro_tourism_productivity_strength": 0.2,
        "outside_wage_growth": TimeSeries(np.array([2015.0, 2040.0]), np.array([0.05, 0.02])),
        "initial_social_security_coverage": TimeSeries(years, coverage),
    }


def assert_matches_pysd(out, ref) -> None:
    """Every variable within max(1e-9 x |PySD value|, 1e-12) of PySD's.

    Tolerance: the NumPy kernel runs PySD's floating-point operations in PySD's order (it
    agrees to the last bit on this machine, observed difference 0); the C kernel differs only
    in its powers, EXP and LN (glibc's vector math, powers as exp(y ln x)): observed at most
    about 1e-14 relative. The tolerance is the project's issue's, and leaves room for another
    CPU, compiler or NumPy build.
    """
    np.testing.assert_array_equal(out.times, ref.times)
    for name, expected in ref.values.items():
        got = out.values[name]
        assert got.shape == expected.shape, name
        tol = np.maximum(1e-9 * np.abs(expected), 1e-12)
        bad = ~((np.abs(got - expected) <= tol) | (np.isnan(got) & np.isnan(expected)))
        largest = np.max(np.abs(got - expected))
        assert not bad.any(), f"{name}: {int(bad.sum())} values differ, largest |diff| {largest}"


@pytest.fixture(scope="module", params=KERNELS)
def engine(request) -> BatchEngine:
    return BatchEngine.from_mdl(kernel=request.param)


@pytest.fixture(scope="module")
def numpy_engine() -> BatchEngine:
    return BatchEngine.from_mdl(kernel="numpy")


@pytest.fixture(scope="module")
def pysd_runs():
    """The PySD reference runs, made once per module (PySD needs tens of seconds each)."""
    pysd = PysdEngine()
    cases = {
        "baseline": ({}, {"final_time": 2030}),
        "levers": (lever_params(), {"time_step": 0.25}),
    }
    return {
        label: (params, kwargs, pysd.run(params, **kwargs))
        for label, (params, kwargs) in cases.items()
    }


@pytest.mark.parametrize("case", ["baseline", "levers"])
def test_every_variable_matches_pysd(engine, pysd_runs, case):
    params, kwargs, ref = pysd_runs[case]
    out = engine.run(params, **kwargs)
    assert set(ref.values) == set(out.values)  # every variable but "time", as PySD's
    assert_matches_pysd(out, ref)


def test_run_batch_equals_single_runs_bit_for_bit(numpy_engine):
    # The NumPy kernel's promise (the C kernel's is in tests/test_ckernel.py). Chunks of 2
    # samples, so the batch of 5 also crosses chunk boundaries. Exponents 0.5, 1, 2 and -1
    # take NumPy's fast paths in a single run: the batch must give the same bits.
    engine = numpy_engine
    small = BatchEngine(engine.ir, engine.info, chunk_size=2, kernel="numpy")
    batch = {
        "capital_elasticity_of_output": np.array([0.5, 0.4, 2.0, 1.0, 0.5]),
        "urbanization_elasticity_to_jobs": np.array([1.0, 0.3, 0.5, 2.0, -1.0]),
        "hukou_reform_strength": np.linspace(0.0, 1.0, 5 * N_REGIONS).reshape(5, N_REGIONS),
        "base_out_migration_rate": np.array([0.05, 0.06, 0.07, 0.08, 0.04]),
        "graduate_retention_start": np.array([2012.0, 2015.0, 2020.0, 2030.0, 2049.0]),
    }
    common = {
        "ppp_leverage_strength": 1.0,
        "outside_wage_growth": TimeSeries(np.array([2015.0, 2040.0]), np.array([0.05, 0.02])),
    }
    out = small.run_batch(common, batch)
    for i in range(5):
        single = engine.run({**common, **{k: v[i] for k, v in batch.items()}})
        for name, values in single.values.items():
            # exact: the same operations on the same numbers, whatever the array layout
            np.testing.assert_array_equal(out.values[name][i], values, err_msg=name)


def test_batch_of_some_levers_equals_single_runs_bit_for_bit(numpy_engine):
    # Only a few constants vary (per sample and region, or per sample): the values that
    # depend on the policy ramps and the samples only are recomputed at the steps where
    # the ramps change and kept in between; the batch must still give a single run's bits.
    engine = numpy_engine
    small = BatchEngine(engine.ir, engine.info, chunk_size=3, kernel="numpy")
    rng = np.random.default_rng(7)
    batch = {
        "town_agglomeration_target_strength": rng.uniform(0.0, 0.5, (4, N_REGIONS)),
        "industry_support_strength": rng.uniform(0.0, 0.5, 4),
        "ppp_leverage_strength": np.array([0.0, -0.0, 1.0, 0.5]),
    }
    common = {"hukou_reform_strength": 0.6, "industry_support_start": 2011.0}
    names = [*engine.info.stocks, "gdp_per_capita", "industry_support_effect"]
    out = small.run_batch(common, batch, variables=names, final_time=2030)
    for i in range(4):
        single = engine.run(
            {**common, **{k: v[i] for k, v in batch.items()}}, variables=names, final_time=2030
        )
        for name, values in single.values.items():
            np.testing.assert_array_equal(out.values[name][i], values, err_msg=name)


def test_refresh_flags_compare_bits():
    from sdplanner.engine.codegen import _changes

    table = np.array([0.0, -0.0, -0.0, np.nan, np.nan, 1.0]).reshape(6, 1, 1)
    assert _changes((table,), 6) == [True, True, False, True, False, True]


def test_shapes(engine):
    stock, scalar = "rural_population", "cumulative_policy_cost_all_regions"
    one = engine.run(variables=[stock, scalar, "time"])
    n_times = one.times.size
    assert one.times[0] == engine.info.initial_time
    assert one.times[-1] == engine.info.final_time
    assert one.values[stock].shape == (n_times, N_REGIONS)
    assert one.values[scalar].shape == (n_times,)
    np.testing.assert_array_equal(one.values["time"], one.times)

    batch = {"hukou_reform_strength": np.linspace(0, 1, 3)}
    many = engine.run_batch(None, batch, variables=[stock, scalar], final_time=2030)
    np.testing.assert_array_equal(many.times, np.arange(2010.0, 2031.0))
    assert many.values[stock].shape == (3, 21, N_REGIONS)
    assert many.values[scalar].shape == (3, 21)
    assert many.engine == "batch" and one.engine == "batch"


def test_runs_leave_no_state_behind(engine):
    # Stocks are updated in place: the defaults and parameters must never be written.
    params = {"initial_social_security_coverage": np.full(N_REGIONS, 0.2)}
    given = params["initial_social_security_coverage"].copy()
    first = engine.run(params, variables=["social_security_coverage", "rural_population"])
    engine.run_batch(None, {"hukou_reform_strength": np.linspace(0, 1, 4)})
    again = engine.run(params, variables=["social_security_coverage", "rural_population"])
    np.testing.assert_array_equal(params["initial_social_security_coverage"], given)
    for name, values in first.values.items():
        np.testing.assert_array_equal(again.values[name], values)  # exact: same computation


def test_batch_without_samples_is_one_run(engine):
    out = engine.run_batch(variables=["gdp"])
    assert out.values["gdp"].shape[0] == 1
    np.testing.assert_array_equal(out.values["gdp"][0], engine.run(variables=["gdp"]).values["gdp"])


@pytest.mark.parametrize(
    ("params", "batch", "message"),
    [
        ({"no_such_constant": 1.0}, None, "parameter no_such_constant: the model has no constant"),
        ({"gdp": 1.0}, None, "parameter gdp: expected a constant, found a auxiliary"),
        ({"time_step": 0.5}, None, "control variable"),
        (
            {"rural_births_per_working_age_resident": np.ones(N_REGIONS)},
            None,
            "expected a float, found shape",
        ),
        (
            {"hukou_reform_strength": np.ones(3)},
            None,
            f"expected a float or {N_REGIONS} regional values",
        ),
        (None, {"no_such_constant": np.ones(3)}, "the model has no constant"),
        (
            None,
            {"rural_births_per_working_age_resident": np.ones((3, N_REGIONS))},
            "expected per-sample values",
        ),
        (
            None,
            {
                "rural_births_per_working_age_resident": np.ones(3),
                "urban_births_per_working_age_resident": np.ones(4),
            },
            "expected 3 samples",
        ),
        (
            {"rural_births_per_working_age_resident": 0.01},
            {"rural_births_per_working_age_resident": np.ones(2)},
            "both as a common",
        ),
        ({"rural_births_per_working_age_resident": "high"}, None, "expected numbers"),
    ],
)
def test_bad_parameters_raise_engine_error(engine, params, batch, message):
    with pytest.raises(EngineError, match=re.escape(message)):
        engine.run_batch(params, batch, variables=["gdp"])


def test_unknown_variable_raises_engine_error(engine):
    with pytest.raises(EngineError, match="variable no_such_variable: the model has no variable"):
        engine.run(variables=["no_such_variable"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_step": 0.0}, "time_step: expected a positive"),
        ({"final_time": 2000}, "final_time: expected a year not before"),
        ({"final_time": float("nan")}, "final_time: expected a finite"),
    ],
)
def test_bad_time_settings_raise_engine_error(engine, kwargs, message):
    with pytest.raises(EngineError, match=message):
        engine.run(variables=["gdp"], **kwargs)


@pytest.mark.parametrize(
    ("equation", "construct"),
    [
        ("GAME(input)", "GAME"),
        ("RANDOM UNIFORM(0, 1, 0)", "the function RANDOM UNIFORM"),
        ("GET TIME VALUE(2, 0, 1)", "GET TIME VALUE other than GET TIME VALUE(0, offset, 0)"),
        ("SMOOTH N(input, 2, 0, 1.5)", "SMOOTH N of order 1.5 (expected a whole number >= 1)"),
        ("DELAY N(input, 2, 0, 1 / (input - 1))", "DELAY N with an order the batch engine"),
        ("INTEG(input, 1) * 2", "INTEG inside an expression"),
    ],
)
def test_unsupported_construct_is_refused(tmp_path, equation, construct):
    path = tmp_path / "unsupported.mdl"
    path.write_text(minimal_model("delayed output", equation), encoding="utf-8")
    with pytest.raises(ModelError) as err:
        BatchEngine.from_mdl(path)
    message = str(err.value)
    assert construct in message
    assert "'delayed output'" in message
    assert str(path) in message


def test_algebraic_loop_is_refused(tmp_path):
    path = tmp_path / "loop.mdl"
    text = minimal_model("looped", "input + other")
    text = text.replace(
        "FINAL TIME", "other=\n\tlooped * 0.5\n\t~\tDmnl\n\t~\t\t|\n\nFINAL TIME", 1
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match="algebraic loop"):
        BatchEngine.from_mdl(path)


# Every supported construct on the edge cases the shipped model never reaches: XIDZ and
# ZIDZ with zero denominators (scalar and per region), a lookup beyond both ends, Vensim's
# "-2 ^ 2" (PySD reads -(2^2)), powers of scalars, comparisons used as numbers, SUM, a
# scalar stock, the control variables in equations.
EDGE_MODEL = """{{UTF-8}}
{region}

a[Region]=
	1, 0, 2, 0, 3, 1e-07, 0.5, 4, -1, 2, 0, 1, 2, 3
	~	Dmnl
	~		|

h=
	0.7
	~	Dmnl
	~		|

k=
	2
	~	Dmnl
	~		|

s[Region]= INTEG (
	f[Region],
		a[Region] + 1.5)
	~	Dmnl
	~		|

f[Region]=
	XIDZ(s[Region], a[Region], 7) * 0.01 + ZIDZ(1, a[Region] - 1) * 0.1 + IF THEN ELSE(Time >= 5, MIN(s[Region], 3), MAX(a[Region], -1)) * 0.001 + LN(s[Region] + 1) * 0.0001 + EXP(-s[Region] / 10) * 0.001 - S2 * 0.0001
	~	Dmnl
	~		|

g[Region]= WITH LOOKUP (
	s[Region] - 2,
		([(0,0)-(10,10)],(0,1),(1,3),(4,2)))
	~	Dmnl
	~		|

p=
	-2 ^ 2 + k ^ 0.5 + k ^ h + Time ^ h
	~	Dmnl
	~		|

q[Region]=
	floor value[Region] ^ h + floor value[Region] ^ 0.5 + floor value[Region] ^ k + 1 / floor value[Region] ^ 1 + floor value[Region] ^ -1 + (-floor value[Region]) ^ 2
	~	Dmnl
	~		|

floor value[Region]=
	MAX(s[Region], 0.1)
	~	Dmnl
	~		|

total=
	SUM(s[Region!])
	~	Dmnl
	~		|

r[Region]=
	ZIDZ(s[Region], total - total) + XIDZ(total, s[Region] - s[Region], -3) + XIDZ(k, k - 2, 5) + ZIDZ(h, 0)
	~	Dmnl
	~		|

w[Region]=
	IF THEN ELSE(a[Region] > 1, 1, 0) + IF THEN ELSE(Time < 3, 2, 0) + (a[Region] = 0) + (a[Region] <> 0) * 2 + (Time <= 2) + (k > h)
	~	Dmnl
	~		|

span=
	FINAL TIME - INITIAL TIME + TIME STEP + SAVEPER
	~	year
	~		|

S2= INTEG (
	total * 0.001 - S2 / 3,
		1)
	~	Dmnl
	~		|

{controls}
"""  # noqa: E501


@pytest.fixture(scope="module")
def edge_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("edge") / "edge.mdl"
    text = EDGE_MODEL.format(region=region_block(), controls=controls(10, 0.25, 0.5))
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("params", "kwargs"),
    [
        ({}, {}),
        (
            {
                "h": TimeSeries(np.array([1.0, 6.0]), np.array([0.3, 0.9])),
                # zero in three regions at all times (the fallback of XIDZ), else 1.5 .. 3
                "a": TimeSeries(
                    np.array([0.0, 10.0]),
                    np.where(
                        np.arange(N_REGIONS) % 5 == 0,
                        0.0,
                        np.linspace(1.5, 3, 2 * N_REGIONS).reshape(2, N_REGIONS),
                    ),
                ),
                "k": 2.5,
            },
            {"time_step": 0.1, "final_time": 7},
        ),
    ],
)
@pytest.mark.parametrize("kernel", KERNELS)
def test_edge_cases_match_pysd(edge_model, params, kwargs, kernel):
    pysd = PysdEngine(edge_model)
    with warnings.catch_warnings():
        # PySD divides by the zero denominators before XIDZ/ZIDZ replace the result.
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = pysd.run(params, **kwargs)
    out = BatchEngine.from_mdl(edge_model, kernel=kernel).run(params, **kwargs)
    assert_matches_pysd(out, ref)


def test_time_grid_accumulates_like_pysd():
    # 0.1 is not a binary fraction: times are accumulated sums, saved points found within
    # 1e-5 steps of a multiple of SAVEPER, and the output index rounded, as PySD does.
    grid = TimeGrid.build(0, 1, 0.1, 0.5)
    assert len(grid.times) == 11
    assert grid.times[3] == 0.1 + 0.1 + 0.1 != 0.3
    np.testing.assert_array_equal(grid.saved_times, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(grid.save_idx, [0, 5, 10])


@pytest.mark.parametrize(
    ("initial_time", "final_time", "time_step", "saveper"),
    [
        (0, 30, 0.125, 0.125),
        (2010, 2050, 0.0625, 1),
        (0, 100, 1 / 3, 1),
        (0.2, 7.3, 0.1, 0.3),
        (1990, 2000, 0.01, 0.07),
        (0, 25, 2, 2),  # whole numbers stay ints, as in PySD
        (-3.7, 41.9, 0.37, 0.74),
        (5, 5, 0.5, 0.5),
    ],
)
def test_time_grid_is_pysd_time(initial_time, final_time, time_step, saveper):
    # The vectorized grid against PySD's own Time object stepped as Model._integrate steps
    # it: the same times (value and type), the same saved points, the same rounded index.
    from pysd.py_backend.components import Time

    clock = Time()
    clock.set_control_vars(
        initial_time=initial_time, final_time=final_time, time_step=time_step, saveper=saveper
    )
    times, saves, saved = [], [], []
    while True:
        times.append(clock())
        saves.append(clock.in_return())
        if saves[-1]:
            saved.append(clock.round())
        if not clock.in_bounds():
            break
        clock.update(clock() + clock.time_step())
    grid = TimeGrid.build(initial_time, final_time, time_step, saveper)
    assert grid.times == times
    assert [type(t) for t in grid.times] == [type(t) for t in times]
    assert grid.saves == saves
    np.testing.assert_array_equal(grid.saved_times, saved)
    np.testing.assert_array_equal(grid.save_idx, np.flatnonzero(saves))


def test_kernel_source_is_generated_code(engine):
    source = engine.kernel_source(variables=["gdp"], batched=["hukou_reform_strength"])
    if engine.kernel == "numpy":
        assert source.startswith("def kernel(")
        assert "for k in range(last + 1):" in source
    else:
        assert "int sd_kernel(" in source
        assert "for (int k = 0; k <= last; k++)" in source
