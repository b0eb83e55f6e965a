"""The batch engine's C kernel: same bits whatever the batch, exact powers where the fast
ones do not apply, the compiled-library cache, and every error path.

Its agreement with PySD on the shipped model and on the edge-case model is tested with the
NumPy kernel's in tests/test_engine.py (both kernels run every test there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sdplanner.engine import ckernel, toolchain
from sdplanner.engine.batch import BatchEngine, kernel_label, resolve_kernel
from sdplanner.errors import EngineError
from tests.mdl import controls, region_block
from tests.shipped import ELEMENTS

N_REGIONS = len(ELEMENTS)
pytestmark = pytest.mark.skipif(
    toolchain.compiler() is None and not os.environ.get("CI"), reason="no working C compiler"
)


def assert_close(got, expected, name):
    """Within max(1e-9 |x|, 1e-12), NaN and inf where the reference has them (the engine's
    promise)."""
    tol = np.maximum(1e-9 * np.abs(expected), 1e-12)
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg=f"{name}: NaN pattern")
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf
        bad = ~((got == expected) | (np.abs(got - expected) <= tol)) & ~nan
    assert not bad.any(), f"{name}: {int(bad.sum())} values beyond the tolerance"


@pytest.fixture(scope="module")
def c_engine() -> BatchEngine:
    return BatchEngine.from_mdl(kernel="c")


@pytest.fixture(scope="module")
def numpy_engine(c_engine) -> BatchEngine:
    return BatchEngine(c_engine.ir, c_engine.info, kernel="numpy")


def _samples(n: int) -> dict:
    rng = np.random.default_rng(11)
    return {
        # exponents of the model's powers, including NumPy's special values
        "capital_elasticity_of_output": np.array([0.5, 0.4, 2.0, 1.0, 0.5, 0.3, -1.0])[:n],
        "urbanization_elasticity_to_jobs": rng.uniform(0.1, 0.6, 7)[:n],
        "hukou_reform_strength": rng.uniform(0.0, 1.0, (7, N_REGIONS))[:n],
        "graduate_retention_start": np.array([2012.0, 2015.0, 2020.0, 2030.0, 2049.0, 2011, 2040])[
            :n
        ],
    }


def test_sample_bits_do_not_depend_on_batch_or_chunk(c_engine):
    # Each lane runs the same vector instructions, the last block padded with copies of its
    # last sample: a sample's result is the same bits alone, in a batch, in any chunk size.
    batch = _samples(7)
    names = [*c_engine.info.stocks, "poverty_incidence", "gdp_per_capita"]
    whole = c_engine.run_batch(None, batch, variables=names)
    for chunk in (1, 3):
        small = BatchEngine(c_engine.ir, c_engine.info, chunk_size=chunk, kernel="c")
        out = small.run_batch(None, batch, variables=names)
        for name in names:
            np.testing.assert_array_equal(out.values[name], whole.values[name], err_msg=name)
    for i in (0, 4, 6):
        alone = c_engine.run_batch(
            None, {k: v[i : i + 1] for k, v in batch.items()}, variables=names
        )
        for name in names:
            np.testing.assert_array_equal(
                alone.values[name][0], whole.values[name][i], err_msg=name
            )


def test_c_kernel_matches_numpy_kernel_on_a_batch(c_engine, numpy_engine):
    # The NumPy kernel equals PySD to the last bit (tests/test_engine.py); a batch with
    # per-sample exponents exercises the C kernel's per-lane powers.
    batch = _samples(7)
    c = c_engine.run_batch(None, batch)
    ref = numpy_engine.run_batch(None, batch)
    for name, expected in ref.values.items():
        assert_close(c.values[name], expected, name)


POWER_MODEL = """{{UTF-8}}
{region}

e[Region]=
	0.5, 2, 3, -1, 0.25, 1.5, 2, 3, 0.5, 0, 1, -2, 0.7, 2.5
	~	Dmnl
	~		|

g=
	0.3
	~	Dmnl
	~		|

s[Region]= INTEG (
	-1,
		base[Region])
	~	Dmnl
	~		|

base[Region]=
	3, 2, 1, 0.5, 4, 2.5, 1.5, 0, 3.5, 2, 1, 0.25, 5, 6
	~	Dmnl
	~		|

single[Region]=
	s[Region] ^ e[Region]
	~	Dmnl
	~		|

fused[Region]=
	s[Region] ^ e[Region] * (s[Region] + 2) ^ g * EXP(s[Region] / 4) * 2
	~	Dmnl
	~		|

{controls}
"""


@pytest.fixture(scope="module")
def power_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("power") / "power.mdl"
    text = POWER_MODEL.format(region=region_block(), controls=controls(8, 0.25, 0.5))
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("batched", [False, True])
def test_powers_of_zero_and_negative_bases_are_c_pow(power_model, batched):
    # The stocks fall through zero to negative values: the fast powers (exp(y ln x), also
    # fused into one exp for a product) do not apply there, and the lane loop is run again
    # with C's pow: integer exponents of negative bases are defined, others NaN, 0^-1 inf.
    c = BatchEngine.from_mdl(power_model, kernel="c")
    ref = BatchEngine(c.ir, c.info, kernel="numpy")
    batch = {"g": np.array([0.3, 2.0, -0.5])} if batched else None
    with np.errstate(all="ignore"):
        got, expected = c.run_batch(None, batch), ref.run_batch(None, batch)
    single = expected.values["single"]
    assert np.isnan(single).any() and np.isinf(single).any()  # the cases are reached
    assert (single[..., 2][np.isfinite(single[..., 2])] < 0).any()  # (-x)^3 < 0
    for name in ("single", "fused", "s"):
        assert_close(got.values[name], expected.values[name], name)


def test_compiled_libraries_are_cached_by_source(c_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("SDPLANNER_CACHE", str(tmp_path))
    fresh = BatchEngine(c_engine.ir, c_engine.info, kernel="c")
    fresh.run(variables=["gdp"], final_time=2012)
    libraries = sorted((tmp_path / "ckernels").glob("k*.so"))
    assert len(libraries) == 1
    stamp = libraries[0].stat().st_mtime_ns

    def no_compiler(*args, **kwargs):
        raise AssertionError("compiled again although the library is cached")

    monkeypatch.setattr(toolchain.subprocess, "run", no_compiler)
    again = BatchEngine(c_engine.ir, c_engine.info, kernel="c")
    again.run(variables=["gdp"], final_time=2012)
    assert libraries[0].stat().st_mtime_ns == stamp
    assert not list((tmp_path / "ckernels").glob("build-*"))  # no temporary left behind


def test_unknown_kernel_is_refused(monkeypatch):
    with pytest.raises(EngineError, match=r"kernel: expected one of auto, c, numpy, found 'fast'"):
        resolve_kernel("fast")
    monkeypatch.setenv("SDPLANNER_KERNEL", "gpu")
    with pytest.raises(EngineError, match=r"SDPLANNER_KERNEL: expected one of .*found 'gpu'"):
        resolve_kernel()
    monkeypatch.setenv("SDPLANNER_KERNEL", "numpy")
    assert resolve_kernel() == "numpy" and kernel_label() == "numpy"


def test_without_a_compiler_auto_is_numpy_and_c_is_refused(monkeypatch):
    monkeypatch.delenv("SDPLANNER_KERNEL", raising=False)
    monkeypatch.setattr(toolchain, "compiler", lambda: None)
    assert resolve_kernel() == "numpy"
    with pytest.raises(EngineError, match=r"kernel 'c': no working C compiler"):
        resolve_kernel("c")


def test_compiler_is_found_from_the_environment(monkeypatch):
    monkeypatch.setattr(toolchain, "_compiler_state", {})
    monkeypatch.setenv("SDPLANNER_CC", "/nonexistent/cc")
    assert toolchain.compiler() is None
    monkeypatch.setattr(toolchain, "_compiler_state", {})
    monkeypatch.delenv("SDPLANNER_CC")
    info = toolchain.compiler()
    assert info is not None and "-ffp-contract=off" in info.flags  # no fused multiply-adds


def test_compile_failure_is_an_engine_error(c_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("SDPLANNER_CACHE", str(tmp_path))
    info = toolchain.compiler()
    broken = toolchain.CompilerInfo(
        info.command, info.version, (*info.flags, "-fno-such-flag"), info.libs, True, info.isa
    )
    with pytest.raises(EngineError, match=r"the C kernel did not compile"):
        ckernel.generate_c_kernel(c_engine.ir, ("gdp",), info=broken)
    assert not list((tmp_path / "ckernels").glob("*.so"))


def _sdplanner(*args, env=None, cwd=None):
    cmd = [sys.executable, "-m", "sdplanner", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_cli_records_the_kernel_and_refuses_a_bad_one(tmp_path):
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"
    env = {**os.environ, "SDPLANNER_KERNEL": "vector"}
    bad = _sdplanner("run", str(scenario), "--out", str(tmp_path / "bad"), env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr
    assert "SDPLANNER_KERNEL: expected one of auto, c, numpy, found 'vector'" in bad.stderr
    assert not list(tmp_path.glob("bad/*"))  # nothing written

    env = {k: v for k, v in os.environ.items() if k != "SDPLANNER_KERNEL"}
    good = _sdplanner("run", str(scenario), "--out", str(tmp_path / "good"), env=env)
    assert good.returncode == 0, good.stderr
    manifest = json.loads((tmp_path / "good" / "manifest.json").read_text())
    assert manifest["engine"] == "batch"
    assert manifest["kernel"] == toolchain.compiler().label


def _same_equations(a, b) -> bool:
    if list(a.variables) != list(b.variables) or a.elements != b.elements:
        return False
    for name, va in a.variables.items():
        vb = b.variables[name]
        if (va.kind, va.region, va.expr, va.init) != (vb.kind, vb.region, vb.expr, vb.init):
            return False
        values = np.asarray(va.value, float), np.asarray(vb.value, float)
        if not np.array_equal(*values, equal_nan=True):  # None (no value) reads as NaN
            return False
    return True


def test_parsed_model_is_cached_by_content(tmp_path, monkeypatch, power_model):
    from sdplanner.engine import equations

    monkeypatch.setenv("SDPLANNER_CACHE", str(tmp_path / "cache"))
    first = equations.read_model(power_model)
    entries = list((tmp_path / "cache" / "ir").glob("*.pickle"))
    assert len(entries) == 1

    def no_parse(path):
        raise AssertionError("parsed again although the parse is cached")

    copy = tmp_path / "copy.mdl"
    copy.write_bytes(power_model.read_bytes())
    with monkeypatch.context() as m:
        m.setattr(equations, "_parse_model", no_parse)
        again = equations.read_model(copy)
    assert again.path == copy  # the cached parse, with this file's path
    assert _same_equations(again, first)

    # another content is parsed (and cached) anew; a damaged entry is parsed again
    copy.write_text(power_model.read_text().replace("0.3", "0.4"), encoding="utf-8")
    changed = equations.read_model(copy)
    assert changed.variables["g"].value == 0.4 and not _same_equations(changed, first)
    assert len(list((tmp_path / "cache" / "ir").glob("*.pickle"))) == 2
    entries[0].write_bytes(b"not a pickle")
    assert _same_equations(equations.read_model(power_model), first)
