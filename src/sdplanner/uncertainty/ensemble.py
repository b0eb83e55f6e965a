"""Uncertainty ensembles: Latin hypercube samples through the batch engine, in chunks.

The flow is: an `UncertaintySpec` and a seed give a `LatinHypercubeSampler`; chunks of its
samples become per-sample parameters of the batch engine (`EnsembleJob`), run on any backend
(`sdplanner.executors`); each chunk's outputs become *cells* (one column per output variable,
region, including the aggregate of the regions, and year); a reducer turns the stream of
cells into percentiles and means (`sdplanner.uncertainty.percentiles`).

Guarantees (see ``docs/ensembles.md``): the samples depend only on the seed and N; the mean
is exact and order-independent; percentiles are exact up to `EXACT_LIMIT` samples, and
within one histogram bin width beyond (the bound of every cell is returned,
`EnsembleResult.bounds`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sdplanner.errors import EngineError, quote
from sdplanner.executors import Executor, InProcessExecutor
from sdplanner.memory import check_memory, ensemble_bytes
from sdplanner.run import RunInputs
from sdplanner.uncertainty.cells import (
    DEFAULT_CHUNK,
    CellLayout,
    EnsembleJob,
    check_chunk_size,
    iter_cells,
    select_outputs,
)
from sdplanner.uncertainty.errors import EnsembleError
from sdplanner.uncertainty.percentiles import (
    EXACT_LIMIT,
    HISTOGRAM_BINS,
    MEMORY_BUDGET,
    PILOT_SAMPLES,
    SLAB_BYTES,
    ExactPercentiles,
    StreamingPercentiles,
    percentile_frame,
)
from sdplanner.uncertainty.sampling import SAMPLE_BLOCK, LatinHypercubeSampler, check_samples
from sdplanner.uncertainty.spec import UncertaintySpec

__all__ = [
    "EnsemblePlan",
    "EnsembleResult",
    "execute_ensemble",
    "plan_ensemble",
    "run_ensemble",
]


@dataclass
class EnsembleResult:
    """Percentiles and means of an ensemble.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``percentiles.csv``: columns ``scenario, region, variable, year, p05, p25, p50, p75,
        p95, mean``; values in the model's units (rates as fractions).
    samples : int
        Number of samples N.
    seed : int
        The seed.
    method : str
        ``"exact"`` or ``"streaming"``.
    chunk_size : int
        Samples per chunk.
    backend : str
        The executor that ran it.
    bounds : pandas.DataFrame or None
        Streaming only: per row of ``frame``, the bound on the error of each percentile
        (``p05 ... p95``: the width of the histogram bins used, in the variable's units).
    columns : list of str
        Labels of the sampled columns (parameter or ``parameter[region]``).
    dropped : int
        Samples left out because a value was not finite (``nonfinite="drop"``); the
        statistics are those of the ``samples - dropped`` others.
    dropped_samples : list of int
        Indices of the first (up to 1,000) samples left out.
    """

    frame: pd.DataFrame
    samples: int
    seed: int
    method: str
    chunk_size: int
    backend: str
    bounds: pd.DataFrame | None = None
    columns: list[str] = field(default_factory=list)
    dropped: int = 0
    dropped_samples: list[int] = field(default_factory=list)


@dataclass
class EnsemblePlan:
    """A validated ensemble, ready to run: samples, job and cell layout.

    Attributes
    ----------
    inputs : RunInputs
        The scenario and its parameters.
    spec : UncertaintySpec
        The distributions.
    samples : int
        Number of samples N.
    seed : int
        The seed.
    chunk_size : int
        Samples per chunk.
    method : str
        ``"exact"`` or ``"streaming"``.
    layout : CellLayout
        Which cell is which.
    sampler : LatinHypercubeSampler
        The samples.
    job : EnsembleJob
        What the workers run.
    nonfinite : str
        ``"drop"`` or ``"error"``: what a sample with a non-finite output does.
    """

    inputs: RunInputs
    spec: UncertaintySpec
    samples: int
    seed: int
    chunk_size: int
    method: str
    layout: CellLayout
    sampler: LatinHypercubeSampler
    job: EnsembleJob
    nonfinite: str = "drop"

    def batch(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Return the per-sample parameters of samples ``start..stop-1``."""
        values = self.sampler.values(start, stop)
        return self.spec.to_batch(values, self.inputs.params, self.inputs.model)


def plan_ensemble(
    inputs: RunInputs,
    spec: UncertaintySpec,
    *,
    samples: int,
    seed: int,
    chunk_size: int = DEFAULT_CHUNK,
    outputs: Sequence[str] | str | None = None,
    method: str = "auto",
    engine: str = "batch",
    nonfinite: str = "drop",
    workers: int = 0,
) -> EnsemblePlan:
    """Validate an ensemble request without running it (see `run_ensemble`).

    ``workers`` is the number of local worker processes besides this one (for the memory
    estimate of `sdplanner.memory.ensemble_bytes`).

    Raises
    ------
    EnsembleError
        For N < 2, a bad chunk size, unknown outputs or method, too few samples for the
        correlations, or a run estimated to need more than half the machine's memory.
    UncertaintyError
        When the scenario sets a sampled constant as a time series.
    """
    n = check_samples(samples)
    chunk = min(check_chunk_size(chunk_size), n)
    if method not in ("auto", "exact", "streaming"):
        raise EnsembleError(
            f"--percentiles: expected 'auto', 'exact' or 'streaming', found {quote(method)}"
        )
    method = ("exact" if n <= EXACT_LIMIT else "streaming") if method == "auto" else method
    if nonfinite not in ("drop", "error"):
        raise EnsembleError(f"--nonfinite: expected 'drop' or 'error', found {quote(nonfinite)}")
    chosen = select_outputs(inputs.model.spec, outputs)
    spec.check_base(inputs.params, str(inputs.scenario.path or ""), inputs.model)
    layout = CellLayout.for_run(inputs.model, chosen, inputs.scenario.final_time)
    estimate = ensemble_bytes(
        n,
        layout.n_cells,
        len(spec.columns),
        chunk,
        method == "exact",
        workers,
        variables=len(chosen),
        memory_budget=MEMORY_BUDGET,
        slab_bytes=SLAB_BYTES,
        pilot=PILOT_SAMPLES,
        bins=HISTOGRAM_BINS,
        block=SAMPLE_BLOCK,
    )
    check_memory(estimate, f"--samples {n}: the ensemble", EnsembleError)
    sampler = LatinHypercubeSampler(spec, n, seed)
    job = EnsembleJob.create(
        inputs.model, engine, inputs.params, inputs.scenario.final_time, layout, spec.names
    )
    return EnsemblePlan(inputs, spec, n, seed, chunk, method, layout, sampler, job, nonfinite)


def execute_ensemble(
    plan: EnsemblePlan,
    executor: Executor | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    spill_dir: str | os.PathLike | None = None,
) -> EnsembleResult:
    """Run a planned ensemble on a backend and summarize it (see `run_ensemble`)."""
    layout = plan.layout
    slices = layout.variable_slices()
    names = [o.name for o in layout.outputs]
    reducer = (
        ExactPercentiles(
            plan.samples, slices, spill_dir=spill_dir, names=names, nonfinite=plan.nonfinite
        )
        if plan.method == "exact"
        else StreamingPercentiles(plan.samples, slices, names=names, nonfinite=plan.nonfinite)
    )
    executor = executor or InProcessExecutor()
    try:
        for cells in iter_cells(plan.job, plan.batch, plan.samples, plan.chunk_size, executor):
            if cells.shape[1] != layout.n_cells:
                raise EngineError(
                    f"ensemble: expected {layout.n_cells} output cells per sample, found"
                    f" {cells.shape[1]}"
                )
            reducer.add(cells)
            if progress is not None:
                progress(len(cells))
        pct, mean, bounds = reducer.result()
    finally:
        if isinstance(reducer, ExactPercentiles):
            reducer.close()
    name = plan.inputs.scenario.name
    return EnsembleResult(
        frame=percentile_frame(layout, name, pct, mean),
        samples=plan.samples,
        seed=plan.seed,
        method=plan.method,
        chunk_size=plan.chunk_size,
        backend=executor.name,
        bounds=None if bounds is None else percentile_frame(layout, name, bounds, None),
        columns=[c.label for c in plan.spec.columns],
        dropped=reducer.n_dropped,
        dropped_samples=list(reducer.dropped),
    )


def run_ensemble(
    inputs: RunInputs,
    spec: UncertaintySpec,
    *,
    samples: int,
    seed: int,
    chunk_size: int = DEFAULT_CHUNK,
    executor: Executor | None = None,
    outputs: Sequence[str] | str | None = None,
    method: str = "auto",
    engine: str = "batch",
    progress: Callable[[int], None] | None = None,
    spill_dir: str | os.PathLike | None = None,
    nonfinite: str = "drop",
) -> EnsembleResult:
    """Run an uncertainty ensemble of a scenario and summarize it.

    Parameters
    ----------
    inputs : RunInputs
        The scenario and its parameters (`sdplanner.run.prepare_run`).
    spec : UncertaintySpec
        The distributions (`sdplanner.uncertainty.load_uncertainty`).
    samples : int
        Number of samples N (at least 2).
    seed : int
        Seed of the Latin hypercube.
    chunk_size : int, optional
        Samples per chunk sent to the backend.
    executor : Executor, optional
        A started backend; in-process when omitted.
    outputs : sequence of str, str or None
        Variables of ``results.csv`` to summarize (`select_outputs`).
    method : {"auto", "exact", "streaming"}
        Percentile method; ``"auto"`` is exact up to `EXACT_LIMIT` samples.
    engine : {"batch", "pysd"}
        Simulation engine.
    progress : callable, optional
        Called with the number of samples of each finished chunk.
    spill_dir : path-like, optional
        Folder for the temporary files of exact percentiles over the memory budget.
    nonfinite : {"drop", "error"}
        A sample whose outputs are not all finite (a run that diverges in a corner of the
        distributions) is left out of every statistic and counted (``"drop"``), or stops the
        ensemble with an error naming the sample and the variable (``"error"``).

    Returns
    -------
    EnsembleResult
        Percentiles, means and what produced them.

    Raises
    ------
    EnsembleError
        For N < 2, a bad chunk size, unknown outputs or method.
    UncertaintyError
        When the scenario sets a sampled constant as a time series.
    """
    plan = plan_ensemble(
        inputs,
        spec,
        samples=samples,
        seed=seed,
        chunk_size=chunk_size,
        outputs=outputs,
        method=method,
        engine=engine,
        nonfinite=nonfinite,
    )
    return execute_ensemble(plan, executor, progress=progress, spill_dir=spill_dir)
