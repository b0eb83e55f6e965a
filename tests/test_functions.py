"""Vensim's functions and stateful functions in both kernels of the batch engine, against PySD.

``tests/models/functions.mdl`` uses every function the engine supports on a three-element
range named ``Zone`` (not ``Region``): SMOOTH, DELAY, DELAY N with a changing delay time,
DELAY FIXED, TREND, FORECAST, INITIAL, ACTIVE INITIAL, SAMPLE IF TRUE, the trigonometric and
rounding functions, STEP, RAMP, PULSE, PULSE TRAIN, logical operators, VMIN/VMAX/SUM, a named
lookup and an inline lookup with repeated x values; ``SAVEPER = TIME STEP``. Its DELAY3 has a
delay time shorter than three time steps in one zone, so PySD lowers its order.

Tolerance: every variable at every saved time within ``max(1e-9 * |PySD|, 1e-12)`` of PySD's
(the engine's promise, as in tests/test_engine.py); the NumPy kernel is checked bit for bit
too, because it performs PySD's operations in PySD's order.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from sdplanner.engine import toolchain
from sdplanner.engine.batch import BatchEngine
from sdplanner.errors import EngineError, ModelError
from sdplanner.model import load_model
from tests.mdl import minimal_model
from tests.reference import pysd_reference

MODEL = Path(__file__).parent / "models" / "functions.mdl"
needs_cc = pytest.mark.skipif(
    toolchain.compiler() is None and not os.environ.get("CI"), reason="no working C compiler"
)
KERNELS = [pytest.param("c", marks=needs_cc), "numpy"]

#: Two constants varied per sample: the scale of the delay times (orders 1, 2 and 3 of the
#: DELAY3 at TIME STEP 0.25: PySD lowers the order per run) and the DELAY FIXED time
#: (pipelines of 6, 3 and 12 steps).
BATCH = {"delay_scale": np.array([1.0, 2.0, 3.0]), "fixed_delay": np.array([1.5, 0.7, 3.1])}


def pysd_run(**kwargs):
    names = [k for k, v in load_model(MODEL).variables.items() if v.kind != "lookup"]
    return pysd_reference(MODEL, [n for n in names if n != "time"], **kwargs)


def assert_matches(out, ref, exact: bool) -> None:
    """Every variable within max(1e-9 |PySD|, 1e-12) of PySD's; bit for bit when exact."""
    np.testing.assert_array_equal(out.times, ref.times)
    assert set(out.values) == set(ref.values)
    for name, expected in ref.values.items():
        got = out.values[name]
        assert got.shape == expected.shape, name
        if exact:
            np.testing.assert_array_equal(got, expected, err_msg=name)
            continue
        tol = np.maximum(1e-9 * np.abs(expected), 1e-12)
        bad = ~((np.abs(got - expected) <= tol) | (np.isnan(got) & np.isnan(expected)))
        assert not bad.any(), f"{name}: {int(bad.sum())} values beyond the tolerance"


@pytest.fixture(scope="module")
def references():
    """PySD's runs (about 1.5 s each): the defaults, a halved time step, each batch sample."""
    runs = {"defaults": pysd_run(), "half step": pysd_run(time_step=0.125)}
    for i in range(len(BATCH["delay_scale"])):
        runs[i] = pysd_run(params={k: float(v[i]) for k, v in BATCH.items()})
    return runs


@pytest.fixture(scope="module", params=KERNELS)
def engine(request) -> BatchEngine:
    return BatchEngine.from_mdl(MODEL, kernel=request.param)


def test_the_model_is_described_without_the_region_subscript():
    info = load_model(MODEL)
    assert info.spec.dimension.subscript == "Zone"
    assert info.regions == info.elements == ("north", "centre", "south")
    assert info.saveper == info.time_step == 0.25  # SAVEPER = TIME STEP


@pytest.mark.parametrize("case", ["defaults", "half step"])
def test_every_function_matches_pysd(engine, references, case):
    out = engine.run(time_step=0.125 if case == "half step" else None)
    # SAVEPER = TIME STEP follows the run's time step, as in PySD
    assert out.times.size == (81 if case == "half step" else 41)
    assert_matches(out, references[case], exact=engine.kernel == "numpy")


def test_two_constants_varied_per_sample_match_pysd(engine, references):
    out = engine.run_batch(None, BATCH)
    for i in range(len(BATCH["delay_scale"])):
        one = type(out)(out.times, {k: v[i] for k, v in out.values.items()})
        assert_matches(one, references[i], exact=engine.kernel == "numpy")
    # the per-sample orders differ: the DELAY3 outputs of the three samples differ
    delayed = out.values["delayed_three"]
    assert not np.array_equal(delayed[0], delayed[1])
    assert not np.array_equal(delayed[1], delayed[2])


def test_a_sample_gives_the_same_bits_alone_and_in_a_batch(engine):
    out = engine.run_batch(None, BATCH)
    alone = engine.run_batch(None, {k: v[2:] for k, v in BATCH.items()})
    for name, values in alone.values.items():
        np.testing.assert_array_equal(out.values[name][2], values[0], err_msg=name)


@pytest.mark.parametrize(
    ("params", "batch", "message"),
    [
        # the order of SMOOTH N is fixed when the model is read
        (None, {"smooth_order": np.array([3.0, 4.0])}, "cannot vary per sample"),
        ({"smooth_order": 3.0}, None, "these settings give order 3"),
        ({"fixed_delay": float("nan")}, None, "DELAY FIXED: the delay time / TIME STEP"),
        ({"delay_time": 1.0}, None, "expected a constant, found a auxiliary"),
    ],
)
def test_settings_the_generated_code_cannot_follow_are_refused(engine, params, batch, message):
    with pytest.raises(EngineError, match=re.escape(message)):
        engine.run_batch(params, batch)


def test_lookup_tables_and_hidden_state_are_no_outputs(engine):
    with pytest.raises(EngineError, match="variable table: a lookup table"):
        engine.run(variables=["table"])
    hidden = next(k for k, v in engine.ir.variables.items() if v.hidden)
    with pytest.raises(EngineError, match="the model has no variable of that name"):
        engine.run(variables=[hidden])
    assert "table" not in engine.run().values


def write(tmp_path, equation, final="10", saveper="1", name="output") -> Path:
    path = tmp_path / "model.mdl"
    path.write_text(minimal_model(name, equation, final, saveper), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("final", "saveper", "message"),
    [
        ("IF THEN ELSE(Time < 5, 10, 50)", "1", "'FINAL TIME' uses a control variable that varies"),
        ("10", "output", "'SAVEPER' uses a control variable computed from the stock 'output'"),
    ],
)
def test_control_variables_must_be_constant(tmp_path, final, saveper, message):
    path = write(tmp_path, "INTEG(input, 1)", final=final, saveper=saveper)
    with pytest.raises(ModelError, match=re.escape(message)):
        BatchEngine.from_mdl(path)


@pytest.mark.parametrize("kernel", KERNELS)
def test_control_variables_computed_from_constants(tmp_path, kernel):
    # FINAL TIME and SAVEPER from a constant; overriding it moves both, as in PySD
    text = write(tmp_path, "4", final="output * 2", saveper="TIME STEP * output / 2").read_text()
    path = tmp_path / "controls.mdl"
    path.write_text(text, encoding="utf-8")
    engine = BatchEngine.from_mdl(path, kernel=kernel)
    np.testing.assert_array_equal(engine.run().times, np.arange(0.0, 8.5, 1.0))
    np.testing.assert_array_equal(
        engine.run({"output": 2.0}).times, [0.0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]
    )
    with pytest.raises(EngineError, match="output: the time settings"):
        engine.run_batch(None, {"output": np.array([2.0, 3.0])})


def test_an_unchangeable_constant_cannot_be_overridden(tmp_path):
    path = write(tmp_path, "7", name="fixed value")
    path.write_text(path.read_text().replace("fixed value=", "fixed value=="), encoding="utf-8")
    engine = BatchEngine.from_mdl(path, kernel="numpy")
    assert engine.run(variables=["fixed_value"]).values["fixed_value"][0] == 7
    with pytest.raises(EngineError, match=re.escape("an unchangeable constant (==) cannot")):
        engine.run({"fixed_value": 3.0})


def test_a_named_lookup_with_repeated_x_is_refused_as_pysd_refuses_it(tmp_path):
    path = write(tmp_path, "tab(Time)")
    text = path.read_text().replace(
        "FINAL TIME",
        "tab(\n\t[(0,0)-(2,2)],(0,0),(1,1),(1,2),(2,2))\n\t~\tDmnl\n\t~\t\t|\n\nFINAL TIME",
        1,
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        ModelError, match="variable 'tab' uses a lookup table with repeated x values"
    ):
        BatchEngine.from_mdl(path)


PIPELINE = Path(__file__).parent / "models" / "pipeline.mdl"


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_benchmark_pipeline_model_matches_pysd(kernel):
    # benchmarks/bench_models.py's model with SMOOTH and DELAY3: the defaults, and a batch
    # whose perception and construction times differ per sample
    names = [n for n in load_model(PIPELINE).variables if n != "time"]
    engine = BatchEngine.from_mdl(PIPELINE, kernel=kernel)
    assert_matches(engine.run(), pysd_reference(PIPELINE, names), exact=kernel == "numpy")
    batch = {"perception_time": np.array([1.0, 3.0]), "construction_time": np.array([6.0, 2.5])}
    out = engine.run_batch(None, batch)
    for i in range(2):
        ref = pysd_reference(PIPELINE, names, params={k: float(v[i]) for k, v in batch.items()})
        one = type(out)(out.times, {k: v[i] for k, v in out.values.items()})
        assert_matches(one, ref, exact=kernel == "numpy")
    # a longer construction time delays the capacity: less built by year 10
    year10 = int(np.flatnonzero(out.times == 10)[0])
    assert out.values["capacity"][0, year10] < out.values["capacity"][1, year10]


def test_pysd_engine_takes_per_element_values_of_any_range():
    # PysdEngine names the model's own range (Zone), not Region, for per-element values
    from sdplanner.engine.pysd_runner import PysdEngine

    gain = np.array([1.5, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PySD lowers the DELAY orders
        ref = PysdEngine(MODEL).run({"gain": gain}, variables=["x", "smoothed"])
    out = BatchEngine.from_mdl(MODEL, kernel="numpy").run({"gain": gain})
    for name in ("x", "smoothed"):
        np.testing.assert_array_equal(out.values[name], ref.values[name], err_msg=name)
    # x = input / 10 with input = 10 + Time * gain + 5 SIN(Time), at Time 1 (saved every 0.25)
    np.testing.assert_allclose(ref.values["x"][4], (10 + gain + 5 * np.sin(1.0)) / 10, rtol=1e-15)
