"""Sobol sensitivity indices of chosen outputs to the constants of an uncertainty file.

Samples come from SALib's Saltelli scheme on Sobol' points (`SALib.sample.sobol`, seeded),
drawn on the unit hypercube and mapped through each parameter's inverse CDF (the same
distributions as the ensemble); per-region draws of one constant form a SALib group, so each
uncertain constant gets one first-order and one total index. The model runs through the
batch engine on any backend (`sdplanner.executors`); `SALib.analyze.sobol` gives the indices
and their bootstrap confidence intervals. Correlations of the uncertainty file are ignored:
Sobol indices assume independent inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sdplanner.errors import did_you_mean, quote
from sdplanner.executors import Executor, InProcessExecutor
from sdplanner.memory import check_memory, sensitivity_bytes
from sdplanner.rng import make_generator
from sdplanner.run import RunInputs
from sdplanner.uncertainty.cells import (
    DEFAULT_CHUNK,
    CellLayout,
    EnsembleJob,
    check_chunk_size,
    check_years,
    iter_cells,
    select_outputs,
)
from sdplanner.uncertainty.errors import EnsembleError
from sdplanner.uncertainty.sampling import check_samples, problem_factors, unit_problem
from sdplanner.uncertainty.spec import UncertaintySpec

__all__ = [
    "SOBOL_COLUMNS",
    "SensitivityPlan",
    "SensitivityResult",
    "default_years",
    "execute_sensitivity",
    "plan_sensitivity",
    "run_sensitivity",
]

#: Outputs analysed unless ``outputs`` says otherwise.
#: Columns of ``sobol.csv``.
SOBOL_COLUMNS = [
    "scenario",
    "variable",
    "region",
    "year",
    "parameter",
    "S1",
    "S1_conf",
    "ST",
    "ST_conf",
]


def default_years(first: float, last: float) -> list[int]:
    """Return the default years analysed: 2030 (when simulated) and the last year.

    Parameters
    ----------
    first, last : float
        First and last simulated year.

    Returns
    -------
    list of int
        Increasing years.
    """
    years = [2030] if first < 2030 < last else []
    return [*years, math.floor(last)]


@dataclass
class SensitivityPlan:
    """A validated sensitivity analysis, ready to run.

    Attributes
    ----------
    inputs : RunInputs
        The scenario.
    spec : UncertaintySpec
        The distributions.
    base_samples : int
        SALib's N (a power of two); the model runs ``N * (groups + 2)`` times.
    seed : int
        The seed.
    chunk_size : int
        Runs per chunk.
    problem : dict
        SALib's problem (unit bounds; groups of per-region draws).
    unit : numpy.ndarray
        Saltelli samples on the unit hypercube, shape ``(runs, n_columns)``.
    targets : list of (str, str, int)
        ``(variable, region, year)`` of every analysed output.
    job : EnsembleJob
        What the workers run (returns only the target cells).
    rounded : bool
        True when the requested N was rounded up to a power of two.
    """

    inputs: RunInputs
    spec: UncertaintySpec
    base_samples: int
    seed: int
    chunk_size: int
    problem: dict
    unit: np.ndarray
    targets: list[tuple[str, str, int]]
    job: EnsembleJob
    rounded: bool = False

    @property
    def runs(self) -> int:
        """Number of model runs."""
        return int(self.unit.shape[0])

    def batch(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Return the per-sample parameters of runs ``start..stop-1``."""
        values = self.spec.transform(self.unit[start:stop])
        return self.spec.to_batch(values, self.inputs.params, self.inputs.model)


@dataclass
class SensitivityResult:
    """Sobol indices.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``sobol.csv``: columns ``scenario, variable, region, year, parameter, S1, S1_conf,
        ST, ST_conf``; indices are fractions of the output's variance (dimensionless),
        ``*_conf`` the half-widths of their confidence intervals. NaN for an output that
        does not vary.
    base_samples : int
        SALib's N.
    runs : int
        Model runs.
    seed : int
        The seed.
    backend : str
        The executor that ran it.
    notes : list of str
        What the user should know (rounding of N, ignored correlations, constant outputs).
    """

    frame: pd.DataFrame
    base_samples: int
    runs: int
    seed: int
    backend: str
    notes: list[str] = field(default_factory=list)


def plan_sensitivity(
    inputs: RunInputs,
    spec: UncertaintySpec,
    *,
    samples: int,
    seed: int,
    outputs: Sequence[str] | str | None = None,
    years: Sequence[int] | str | None = None,
    region: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    engine: str = "batch",
    workers: int = 0,
) -> SensitivityPlan:
    """Validate a sensitivity request and draw its samples (see `run_sensitivity`).

    ``workers`` is the number of local worker processes besides this one (for the memory
    estimate of `sdplanner.memory.sensitivity_bytes`).

    Raises
    ------
    EnsembleError
        For N < 2, unknown outputs, years outside the run, an unknown region, or a run
        estimated to need more than half the machine's memory.
    """
    from SALib.sample import sobol as sobol_sample

    n = check_samples(samples)
    chunk = check_chunk_size(chunk_size)
    base = 1 << (n - 1).bit_length()
    chosen = select_outputs(inputs.model.spec, outputs, view="sensitivity")
    spec.check_base(inputs.params, str(inputs.scenario.path or ""), inputs.model)
    layout = CellLayout.for_run(inputs.model, chosen, inputs.scenario.final_time)
    first, last = float(layout.years[0]), float(layout.years[-1])
    year_list = check_years(years, first, last, default_years(first, last))
    targets = [
        (o.name, r, y)
        for o, r in zip(chosen, _regions(layout, region), strict=True)
        for y in year_list
    ]
    select = np.array([layout.index(v, r, y) for v, r, y in targets], dtype=np.intp)
    problem = unit_problem(spec)
    factors, columns = len(set(spec.groups)), problem["num_vars"]
    estimate = sensitivity_bytes(base, factors, columns, len(targets), chunk, workers)
    check_memory(estimate, f"--samples {n}: the sensitivity analysis", EnsembleError)
    unit = sobol_sample.sample(
        problem, base, calc_second_order=False, scramble=True, seed=make_generator(seed)
    )
    job = EnsembleJob.create(
        inputs.model,
        engine,
        inputs.params,
        inputs.scenario.final_time,
        layout,
        spec.names,
        select=select,
    )
    return SensitivityPlan(
        inputs, spec, base, seed, chunk, problem, unit, targets, job, rounded=base != n
    )


def _regions(layout: CellLayout, region: str | None) -> list[str]:
    """Return the region analysed for each output (``--region``).

    A variable without subscripts has the one region ``""`` whatever ``region`` says; the
    others take ``region``, by default the aggregate of the regions.

    Raises
    ------
    EnsembleError
        For a region that a subscripted output lacks, or no ``region`` when such an output
        has no aggregate row (a model whose spec names no aggregate).
    """
    out = []
    for regions in layout.regions_of:
        if regions == ("",):
            out.append("")
            continue
        wanted = layout.aggregate if region is None else region
        if wanted is None:
            raise EnsembleError(
                f"--region: expected one of {', '.join(map(quote, regions))}: the model has no"
                " aggregate of its regions (add 'dimension: aggregate:' to its spec to get one)"
            )
        if wanted not in regions:
            raise EnsembleError(
                f"--region: expected one of {', '.join(map(quote, regions))}, found"
                f" {quote(wanted)}{did_you_mean(wanted, regions)}"
            )
        out.append(wanted)
    if region is not None and not any(out):
        raise EnsembleError(
            f"--region: expected no region (the outputs have no subscripts), found {quote(region)}"
        )
    return out


def execute_sensitivity(
    plan: SensitivityPlan,
    executor: Executor | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    num_resamples: int = 100,
    conf_level: float = 0.95,
) -> SensitivityResult:
    """Run a planned sensitivity analysis and compute the Sobol indices.

    Parameters
    ----------
    plan : SensitivityPlan
        From `plan_sensitivity`.
    executor : Executor, optional
        A started backend; in-process when omitted.
    progress : callable, optional
        Called with the number of runs of each finished chunk.
    num_resamples : int, optional
        Bootstrap resamples of the confidence intervals.
    conf_level : float, optional
        Confidence level of the intervals.

    Returns
    -------
    SensitivityResult
        The indices.
    """
    from SALib.analyze import sobol as sobol_analyze

    executor = executor or InProcessExecutor()
    parts = []
    for cells in iter_cells(plan.job, plan.batch, plan.runs, plan.chunk_size, executor):
        parts.append(cells)
        if progress is not None:
            progress(len(cells))
    y_all = np.concatenate(parts)
    notes = []
    if plan.rounded:
        notes.append(f"N rounded up to {plan.base_samples}, a power of two (Sobol' points)")
    if plan.spec.correlations:
        notes.append("correlations of the uncertainty file are ignored (independent inputs)")
    names = problem_factors(plan.problem)
    rng = make_generator(plan.seed, 1)
    rows = []
    for j, (variable, region, year) in enumerate(plan.targets):
        y = y_all[:, j]
        bad = int(np.sum(~np.isfinite(y)))
        if bad or np.ptp(y) == 0:
            why = f"{bad} runs gave non-finite values" if bad else "the output does not vary"
            notes.append(f"{variable} {region} {year}: {why}; indices NaN")
            idx = {k: np.full(len(names), np.nan) for k in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            idx = sobol_analyze.analyze(
                plan.problem,
                y,
                calc_second_order=False,
                num_resamples=num_resamples,
                conf_level=conf_level,
                print_to_console=False,
                seed=int(rng.integers(1, 2**31 - 1)),
            )
        for k, name in enumerate(names):
            rows.append(
                {
                    "scenario": plan.inputs.scenario.name,
                    "variable": variable,
                    "region": region,
                    "year": year,
                    "parameter": name,
                    "S1": float(idx["S1"][k]),
                    "S1_conf": float(idx["S1_conf"][k]),
                    "ST": float(idx["ST"][k]),
                    "ST_conf": float(idx["ST_conf"][k]),
                }
            )
    return SensitivityResult(
        pd.DataFrame(rows, columns=SOBOL_COLUMNS),
        plan.base_samples,
        plan.runs,
        plan.seed,
        executor.name,
        notes,
    )


def run_sensitivity(
    inputs: RunInputs,
    spec: UncertaintySpec,
    *,
    samples: int,
    seed: int,
    outputs: Sequence[str] | str | None = None,
    years: Sequence[int] | str | None = None,
    region: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    executor: Executor | None = None,
    engine: str = "batch",
    progress: Callable[[int], None] | None = None,
) -> SensitivityResult:
    """Compute Sobol first-order and total indices of outputs to the uncertain constants.

    Parameters
    ----------
    inputs : RunInputs
        The scenario and its parameters (`sdplanner.run.prepare_run`).
    spec : UncertaintySpec
        The distributions.
    samples : int
        SALib's base sample size N (at least 2; rounded up to a power of two); the model
        runs ``N * (n_parameters + 2)`` times.
    seed : int
        Seed of the Sobol' points and of the bootstrap.
    outputs : sequence of str, str or None
        Variables of ``results.csv``; the model spec's ``sensitivity`` view when omitted.
    years : sequence of int, str or None
        Years analysed; 2030 and the last year when omitted.
    region : str, optional
        A region's display name or the aggregate's label (default).
    chunk_size : int, optional
        Runs per chunk.
    executor : Executor, optional
        A started backend; in-process when omitted.
    engine : {"batch", "pysd"}
        Simulation engine.
    progress : callable, optional
        Called with the number of runs of each finished chunk.

    Returns
    -------
    SensitivityResult
        One row per output, year and uncertain constant.
    """
    plan = plan_sensitivity(
        inputs,
        spec,
        samples=samples,
        seed=seed,
        outputs=outputs,
        years=years,
        region=region,
        chunk_size=chunk_size,
        engine=engine,
    )
    return execute_sensitivity(plan, executor, progress=progress)
