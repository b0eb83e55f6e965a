"""Vensim's test models through both kernels of the batch engine, against Vensim and PySD.

One case per Vensim model of the SDXorg/test-models suite (``../shared/test-models/tests``
beside the repository, or ``$SDPLANNER_TEST_MODELS``), read where it is and never copied
here; without the folder every case is skipped with that reason. For a model the batch
engine reads, each kernel (NumPy, and C where a compiler works; under ``CI`` it must):

1. matches Vensim's output as PySD's integration test compares them
   (``assert_frames_close``, relative and absolute tolerance 1e-5; 1e-2 for ``arguments``,
   as PySD's suite sets it): Vensim's output has 4 to 7 significant digits, so this is the
   tolerance of the reference itself;
2. agrees with PySD within ``max(1e-9 * |x|, 1e-12)`` on every variable at every saved
   time (the engine's promise, docs/engine.md): with the model's defaults, with the time
   step halved, and in one batch of two samples whose two first scalar constants both
   differ (each sample against its own PySD run; the models with fewer constants vary
   those they have, docs/conformance.md counts them).

A model the engine refuses must be listed in docs/conformance.md with the reason it gives,
and the last test fails when that page is not what ``python tools/conformance.py --write``
writes, so a model that stops running cannot go unnoticed. PySD's runs are made once per
test session.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sdplanner.engine import toolchain
from sdplanner.engine.batch import BatchEngine
from tests.reference import pysd_reference

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("conformance", ROOT / "tools" / "conformance.py")
conformance = importlib.util.module_from_spec(_spec)
sys.modules["conformance"] = conformance  # its dataclasses look their module up
_spec.loader.exec_module(conformance)

FOLDER = conformance.suite_folder()
CASES = conformance.cases(FOLDER) if FOLDER else []
if toolchain.compiler() is None and os.environ.get("CI"):
    raise RuntimeError("CI: the C kernel needs a working C compiler")
KERNELS = conformance.available_kernels()

#: Models whose trajectories two correct engines may not share to 1e-9 (none so far: every
#: model the engine runs is compared with PySD).
CHAOTIC: dict[str, str] = {}

#: Factors of the two constants varied per sample (two samples; a constant that is 0 is
#: moved by the factor minus one instead).
FACTORS = ((1.1, 0.8), (0.9, 1.25))


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    """Where PySD translates the models it compares with Vensim's output."""
    return tmp_path_factory.mktemp("conformance")


@cache
def row(case: str, work: Path):
    """PySD's verdict and the engine's reading of a model and match with Vensim (cached)."""
    path = FOLDER / case
    pysd = conformance.pysd_verdict(case, FOLDER, work)
    reason = conformance.engine_reason(path)
    return conformance.engine_row(case, path, pysd, reason, KERNELS)


def assert_close(out, ref, label: str) -> None:
    """Every variable within max(1e-9 |PySD|, 1e-12) of PySD's, NaN where PySD has NaN."""
    np.testing.assert_array_equal(out.times, ref.times, err_msg=f"{label}: saved times")
    for name, expected in ref.values.items():
        got = out.values[name]
        assert got.shape == expected.shape, f"{label}: {name} shape"
        tol = np.maximum(1e-9 * np.abs(expected), 1e-12)
        with np.errstate(invalid="ignore"):
            ok = (got == expected) | (np.abs(got - expected) <= tol)
        ok |= np.isnan(got) & np.isnan(expected)
        assert ok.all(), f"{label}: {name}: {int((~ok).sum())} values beyond the tolerance"


def sample_values(engine, names: list[str]) -> list[dict]:
    """The constants' values of each sample: each constant times its factor."""
    samples = []
    for factors in FACTORS:
        values = {}
        for name, factor in zip(names, factors, strict=False):
            default = np.asarray(engine.ir.variables[name].value, dtype=float)
            values[name] = np.where(default == 0, default + factor - 1, default * factor)
        samples.append(values)
    return samples


def to_pysd(engine, values: dict) -> dict:
    """The samples' values as PySD's run(params=...) takes them."""
    out = {}
    for name, value in values.items():
        if engine.ir.variables[name].region:
            dim = engine.info.spec.dimension.subscript
            out[name] = xr.DataArray(value, {dim: list(engine.info.elements)}, [dim])
        else:
            out[name] = float(value)
    return out


@pytest.mark.parametrize(
    "case",
    CASES or [pytest.param("none", marks=pytest.mark.skip(reason="no test models folder"))],
)
def test_model(case, work):
    path = FOLDER / case
    result = row(case, work)
    if result.reason is not None:
        listed = conformance.DOC.read_text(encoding="utf-8") if conformance.DOC.is_file() else ""
        assert f"| `{case}` |" in listed and result.reason in listed, (
            f"{case} is refused ({result.reason}) but docs/conformance.md does not say so"
        )
        return
    assert result.mismatch is None, f"{case} differs from Vensim: {result.mismatch}"
    engines = [BatchEngine.from_mdl(path, kernel=k) for k in KERNELS]
    if case in CHAOTIC:
        return
    names = engines[0]._output_names(None)
    ref = pysd_reference(path, names)
    half = engines[0].info.time_step / 2
    ref_half = pysd_reference(path, names, time_step=half)
    constants = conformance.varied_constants(engines[0])
    samples = sample_values(engines[0], constants)
    refs = [pysd_reference(path, names, params=to_pysd(engines[0], s)) for s in samples]
    for engine in engines:
        label = f"{case} ({engine.kernel})"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert_close(engine.run(), ref, label)
            assert_close(engine.run(time_step=half), ref_half, f"{label}, time step {half}")
            if not constants:
                continue
            batch = {name: np.stack([s[name] for s in samples]) for name in constants}
            out = engine.run_batch(None, batch)
        for i, sample_ref in enumerate(refs):
            one = type(out)(out.times, {k: v[i] for k, v in out.values.items()})
            assert_close(one, sample_ref, f"{label}, sample {i} of {constants}")


@pytest.mark.skipif(not CASES, reason="no test models folder")
@pytest.mark.skipif(KERNELS != ["numpy", "c"], reason="the page is written with both kernels")
def test_the_page_is_current(work):
    # docs/conformance.md is what tools/conformance.py --write writes from these results
    rows = [row(case, work) for case in CASES]
    expected = conformance.document(rows, KERNELS)
    current = conformance.DOC.read_text(encoding="utf-8") if conformance.DOC.is_file() else ""
    assert current == expected, (
        "docs/conformance.md is not current: run tools/conformance.py --write"
    )
    passing = sum(r.reason is None and r.mismatch is None for r in rows)
    assert passing >= 55, f"only {passing} test models pass in both kernels"
