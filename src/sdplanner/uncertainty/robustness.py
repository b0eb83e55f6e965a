"""Robust rankings: how often each policy path keeps its rank when the assumptions vary.

The comparison of the shipped paths (`sdplanner compare`) ranks them by their effect on each
indicator against the baseline, with every constant at its central value. Most of those
constants are modelling assumptions (the ``.mdl`` labels each constant's source in its
comment: data, derived, literature, assumption or calibrated). This module runs every path
and the baseline over one ensemble of the assumption-labelled constants of uncertainty files
and reports, per path, indicator and year:

* the share of samples in which the path keeps the rank it has in the central run (and in
  which its effect keeps its sign);
* which constants move its rank most: Morris's mean absolute elementary effect ``mu*`` of
  the path's rank (SALib, on a separate trajectory design over the same distributions: its
  grid levels are the middle quantiles of equal bins of each distribution), in ranks per
  unit of the constant's unit-interval draw.

The samples are the ensemble's seeded Latin hypercube (`LatinHypercubeSampler`), the same
for every scenario (common random numbers: an effect is the difference of two runs with the
same constants). Every run goes through the batch engine's ``run_batch`` (`EnsembleJob`) on
any backend. Ranks count from 1 (the best path for the indicator, by its ``better``
direction in the model spec); tied paths share the best of their ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sdplanner.errors import EngineError, quote
from sdplanner.executors import Executor, InProcessExecutor
from sdplanner.rng import make_generator
from sdplanner.run import RunInputs
from sdplanner.spec import OutputSpec
from sdplanner.uncertainty.cells import (
    DEFAULT_CHUNK,
    CellLayout,
    EnsembleJob,
    check_chunk_size,
    check_years,
    iter_cells,
)
from sdplanner.uncertainty.errors import EnsembleError
from sdplanner.uncertainty.ranks import (
    assumption_spec,
    material,
    ranks,
    top_constants,
)
from sdplanner.uncertainty.sampling import (
    LatinHypercubeSampler,
    check_samples,
    problem_factors,
    unit_problem,
)
from sdplanner.uncertainty.spec import UncertaintySpec

__all__ = [
    "MORRIS_COLUMNS",
    "RANKING_COLUMNS",
    "ROBUSTNESS_COLUMNS",
    "RobustnessPlan",
    "RobustnessResult",
    "execute_robustness",
    "plan_robustness",
    "run_robustness",
]

#: Columns of ``robustness.csv``.
ROBUSTNESS_COLUMNS = [
    "path",
    "indicator",
    "year",
    "better",
    "central_effect",
    "central_rank",
    "paths",
    "rank_kept_share",
    "same_sign_share",
    "rank_p05",
    "rank_p95",
    "top_constants",
]
#: Columns of ``rankings.csv``.
RANKING_COLUMNS = [
    "indicator",
    "year",
    "better",
    "central_order",
    "ranking_kept_share",
    "top_constants",
]
#: Columns of ``morris.csv``.
MORRIS_COLUMNS = ["path", "indicator", "year", "parameter", "mu_star", "mu_star_conf", "sigma"]
#: Stream of `make_generator` for the Morris design (the Latin hypercube uses 0, 1, ...).
_MORRIS_STREAM = 2**31


@dataclass
class RobustnessPlan:
    """A validated rank-robustness analysis, ready to run.

    Attributes
    ----------
    baseline : RunInputs
        The baseline scenario.
    paths : list of RunInputs
        The paths ranked against it.
    spec : UncertaintySpec
        The assumption-labelled constants and their distributions.
    samples : int
        Latin hypercube samples N.
    seed : int
        The seed.
    trajectories : int
        Morris trajectories r (the design has ``r * (groups + 1)`` points).
    levels : int
        Morris grid levels.
    targets : list of (OutputSpec, int)
        The ranked indicators (outputs with a ``better`` direction) and years.
    jobs : list of EnsembleJob
        One per scenario (baseline first), returning the target cells of the aggregate.
    unit : numpy.ndarray
        Morris design on the unit hypercube, shape ``(points, n_columns)``.
    problem : dict
        SALib's problem of the Morris design.
    chunk_size : int
        Samples per chunk.
    dropped : list of str
        Constants of the uncertainty files left out: not labelled ``assumption``.
    """

    baseline: RunInputs
    paths: list[RunInputs]
    spec: UncertaintySpec
    samples: int
    seed: int
    trajectories: int
    levels: int
    targets: list[tuple[OutputSpec, int]]
    jobs: list[EnsembleJob]
    unit: np.ndarray
    problem: dict
    chunk_size: int = DEFAULT_CHUNK
    dropped: list[str] = field(default_factory=list)

    @property
    def scenarios(self) -> list[RunInputs]:
        """The baseline, then the paths."""
        return [self.baseline, *self.paths]

    @property
    def runs(self) -> int:
        """Model runs: every sample, design point and the central run, per scenario."""
        return (self.samples + len(self.unit) + 1) * len(self.scenarios)


@dataclass
class RobustnessResult:
    """Rank robustness of every path, indicator and year.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``robustness.csv`` (`ROBUSTNESS_COLUMNS`): ``central_effect`` in the indicator's
        model units (the path minus the baseline); ``rank_kept_share`` and
        ``same_sign_share`` fractions of the samples; ``rank_p05``, ``rank_p95`` the 5 % and
        95 % quantiles of its rank; ``top_constants`` the constants with the largest Morris
        ``mu*`` of its rank (``name mu*``, ``;``-separated; none when its rank never moves).
    morris : pandas.DataFrame
        ``morris.csv`` (`MORRIS_COLUMNS`): ``mu*``, its bootstrap half-width and ``sigma``
        of every constant, in ranks per unit draw.
    rankings : pandas.DataFrame
        ``rankings.csv`` (`RANKING_COLUMNS`), one row per indicator and year: the central
        order of the paths (best first; tied paths in file order), the share of samples
        keeping every path's rank, and the constants with the largest ``mu*`` summed over
        the paths.
    samples, trajectories, runs, seed : int
        What was run.
    dropped_samples : int
        Samples left out because a run gave a non-finite value.
    backend : str
        The executor.
    """

    frame: pd.DataFrame
    morris: pd.DataFrame
    rankings: pd.DataFrame
    samples: int
    trajectories: int
    runs: int
    seed: int
    dropped_samples: int = 0
    backend: str = "in-process"


def _central_batch(spec: UncertaintySpec, inputs: RunInputs) -> dict[str, np.ndarray]:
    """Return the sampled constants at the values the scenario uses, as a batch of one."""
    model = inputs.model
    out = {}
    for p in spec.parameters:
        value = np.asarray(inputs.params.get(p.name, model.constants[p.name]), dtype=float)
        out[p.name] = value[None, ...] if value.ndim else np.array([float(value)])
    return out


def plan_robustness(
    baseline: RunInputs,
    paths: Sequence[RunInputs],
    spec: UncertaintySpec,
    *,
    samples: int,
    seed: int,
    trajectories: int = 20,
    levels: int = 4,
    years: Sequence[int] | str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    engine: str = "batch",
) -> RobustnessPlan:
    """Validate a rank-robustness request and draw its Morris design (see `run_robustness`).

    Raises
    ------
    EnsembleError
        For fewer than two paths, N < 2, fewer than 2 trajectories, an odd or small number
        of levels, years outside the run, no ranked indicator, or no assumption-labelled
        constant left.
    UncertaintyError
        When a scenario sets a sampled constant as a time series.
    """
    from SALib.sample import morris as morris_sample

    n = check_samples(samples)
    r = check_samples(trajectories, "--trajectories")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2 or levels % 2:
        raise EnsembleError(f"--levels: expected an even integer >= 2, found {quote(levels)}")
    chunk = check_chunk_size(chunk_size)
    if len(paths) < 2:
        raise EnsembleError(
            f"scenarios: expected a baseline and at least two paths, found {len(paths)} path(s)"
        )
    model = baseline.model
    names = [baseline.scenario.name, *(p.scenario.name for p in paths)]
    if len(set(names)) != len(names):
        raise EnsembleError(f"scenarios: expected distinct scenario names, found {names}")
    kept, dropped = assumption_spec(spec, model)
    if not kept.parameters:
        raise EnsembleError(
            "--uncertainty: expected constants the .mdl labels 'assumption', found none"
            f" (left out: {', '.join(dropped) or 'none'}); a constant whose .mdl comment"
            " opens with 'assumption' is one"
        )
    ranked = tuple(
        o for o in model.spec.outputs if o.better and o.name in model.spec.view("comparison")
    )
    if not ranked:
        raise EnsembleError(
            "model spec: expected outputs of the comparison with a 'better' direction, found"
            " none; give outputs 'better: higher' or 'lower' in the model's spec"
            " (docs/extending.md)"
        )
    final_time = baseline.scenario.final_time
    layout = CellLayout.for_run(model, ranked, final_time)
    first, last = float(layout.years[0]), float(layout.years[-1])
    start = model.spec.policy_start
    after = [y for y in model.spec.comparison_years if start is None or y > start]
    year_list = check_years(years, first, last, after or model.spec.comparison_years)
    targets = [(o, y) for o in ranked for y in year_list]
    aggregate = layout.aggregate
    if aggregate is None:
        raise EnsembleError(
            "model spec: expected an aggregate of the regions to rank the paths on, found"
            " none; name it under 'dimension: aggregate:' in the model's spec"
        )
    select = np.array([layout.index(o.name, aggregate, y) for o, y in targets], dtype=np.intp)
    jobs = []
    for inputs in (baseline, *paths):
        kept.check_base(inputs.params, str(inputs.scenario.path or ""), inputs.model)
        jobs.append(
            EnsembleJob.create(
                model, engine, inputs.params, final_time, layout, kept.names, select=select
            )
        )
    problem = unit_problem(kept)
    unit = morris_sample.sample(
        problem, r, num_levels=levels, seed=make_generator(seed, _MORRIS_STREAM)
    )
    return RobustnessPlan(
        baseline,
        list(paths),
        kept,
        n,
        seed,
        r,
        levels,
        targets,
        jobs,
        unit,
        problem,
        chunk,
        dropped,
    )


def _cells(
    plan: RobustnessPlan,
    values: Callable[[int, int], np.ndarray],
    n: int,
    executor: Executor,
    progress: Callable[[int], None] | None,
) -> np.ndarray:
    """Run ``n`` samples through every scenario; return cells ``(n, scenarios, targets)``."""
    out = np.empty((n, len(plan.jobs), len(plan.targets)))
    for k, (job, inputs) in enumerate(zip(plan.jobs, plan.scenarios, strict=True)):

        def batch(start: int, stop: int, inputs=inputs) -> dict[str, np.ndarray]:
            return plan.spec.to_batch(values(start, stop), inputs.params, inputs.model)

        row = 0
        for cells in iter_cells(job, batch, n, plan.chunk_size, executor):
            out[row : row + len(cells), k] = cells
            row += len(cells)
            if progress is not None:
                progress(len(cells))
    return out


def execute_robustness(
    plan: RobustnessPlan,
    executor: Executor | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> RobustnessResult:
    """Run a planned rank-robustness analysis.

    Parameters
    ----------
    plan : RobustnessPlan
        From `plan_robustness`.
    executor : Executor, optional
        A started backend; in-process when omitted.
    progress : callable, optional
        Called with the number of runs of each finished chunk.

    Returns
    -------
    RobustnessResult
        The table and the Morris indices.

    Raises
    ------
    EngineError
        When the central run or a Morris design point gives a non-finite value, or fewer
        than 2 samples remain finite.
    """
    from SALib.analyze import morris as morris_analyze

    executor = executor or InProcessExecutor()
    spec = plan.spec
    central_values = [_central_batch(spec, inputs) for inputs in plan.scenarios]
    central = np.empty((1, len(plan.jobs), len(plan.targets)))
    for k, job in enumerate(plan.jobs):
        for cells in iter_cells(job, lambda a, b, k=k: central_values[k], 1, 1, executor):
            central[0, k] = cells[0]
    sampler = LatinHypercubeSampler(spec, plan.samples, plan.seed)
    ensemble = _cells(plan, sampler.values, plan.samples, executor, progress)
    # the grid's levels at the middle quantiles of their bins (1/8, 3/8 ... for 4 levels),
    # so no design point sits in an unbounded distribution's far tail
    design = spec.transform((plan.unit * (plan.levels - 1) + 0.5) / plan.levels)
    morris = _cells(plan, lambda a, b: design[a:b], len(design), executor, progress)
    for what, cells in (("the central run", central), ("a Morris design point", morris)):
        if not np.isfinite(cells).all():
            raise EngineError(
                f"rank-robustness: {what} gave a non-finite value; narrow the distributions"
            )
    finite = np.isfinite(ensemble).all(axis=(1, 2))
    if finite.sum() < 2:
        raise EngineError("rank-robustness: fewer than 2 samples gave finite values")
    ensemble = ensemble[finite]
    names = [p.scenario.name for p in plan.paths]
    groups = problem_factors(plan.problem)
    rows, morris_rows, ranking_rows = [], [], []
    rng = make_generator(plan.seed, _MORRIS_STREAM + 1)
    for t, (output, year) in enumerate(plan.targets):
        effect_central = central[:, 1:, t] - central[:, :1, t]
        effect = ensemble[:, 1:, t] - ensemble[:, :1, t]
        rank_central = ranks(effect_central, output.better)[0]
        rank = ranks(effect, output.better)
        sign_central = np.sign(material(effect_central))[0]
        sign = np.sign(material(effect))
        rank_design = ranks(morris[:, 1:, t] - morris[:, :1, t], output.better).astype(float)
        mu_total = np.zeros(len(groups))
        for p, path in enumerate(names):
            if np.ptp(rank_design[:, p]) == 0:
                mu = {
                    "mu_star": np.zeros(len(groups)),
                    "mu_star_conf": np.zeros(len(groups)),
                    "sigma": np.zeros(len(groups)),
                }
            else:
                mu = morris_analyze.analyze(
                    plan.problem,
                    plan.unit,
                    rank_design[:, p],
                    num_levels=plan.levels,
                    seed=int(rng.integers(1, 2**31 - 1)),
                )
            mu_total += np.asarray(mu["mu_star"], dtype=float)
            top = top_constants(groups, mu["mu_star"])
            for g, name in enumerate(groups):
                morris_rows.append(
                    {
                        "path": path,
                        "indicator": output.name,
                        "year": year,
                        "parameter": name,
                        "mu_star": float(mu["mu_star"][g]),
                        "mu_star_conf": float(mu["mu_star_conf"][g]),
                        "sigma": float(np.nan_to_num(mu["sigma"][g])),
                    }
                )
            rows.append(
                {
                    "path": path,
                    "indicator": output.name,
                    "year": year,
                    "better": output.better,
                    "central_effect": float(effect_central[0, p]),
                    "central_rank": int(rank_central[p]),
                    "paths": len(names),
                    "rank_kept_share": float(np.mean(rank[:, p] == rank_central[p])),
                    "same_sign_share": float(np.mean(sign[:, p] == sign_central[p])),
                    "rank_p05": float(np.percentile(rank[:, p], 5)),
                    "rank_p95": float(np.percentile(rank[:, p], 95)),
                    "top_constants": top,
                }
            )
        ranking_rows.append(
            {
                "indicator": output.name,
                "year": year,
                "better": output.better,
                "central_order": " > ".join(
                    names[i] for i in np.argsort(rank_central, kind="stable")
                ),
                "ranking_kept_share": float(np.mean((rank == rank_central).all(axis=1))),
                "top_constants": top_constants(groups, mu_total),
            }
        )
    return RobustnessResult(
        pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS),
        pd.DataFrame(morris_rows, columns=MORRIS_COLUMNS),
        pd.DataFrame(ranking_rows, columns=RANKING_COLUMNS),
        plan.samples,
        plan.trajectories,
        plan.runs,
        plan.seed,
        int((~finite).sum()),
        executor.name,
    )


def run_robustness(
    baseline: RunInputs,
    paths: Sequence[RunInputs],
    spec: UncertaintySpec,
    *,
    samples: int,
    seed: int,
    trajectories: int = 20,
    levels: int = 4,
    years: Sequence[int] | str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    executor: Executor | None = None,
    engine: str = "batch",
    progress: Callable[[int], None] | None = None,
) -> RobustnessResult:
    """Rank every path against the baseline over an ensemble of the assumed constants.

    Parameters
    ----------
    baseline : RunInputs
        The baseline (`sdplanner.run.prepare_run`).
    paths : sequence of RunInputs
        At least two paths, ranked against it.
    spec : UncertaintySpec
        Distributions (`load_uncertainty`); only the constants the ``.mdl`` labels
        ``assumption`` are sampled.
    samples : int
        Latin hypercube samples N (at least 2; 1,000 or more for a published table).
    seed : int
        Seed of the samples, the Morris design and its bootstrap.
    trajectories : int, optional
        Morris trajectories r.
    levels : int, optional
        Morris grid levels (even).
    years : sequence of int, str or None
        Years ranked; the model spec's comparison years after its policy start when omitted.
    chunk_size : int, optional
        Samples per chunk.
    executor : Executor, optional
        A started backend; in-process when omitted.
    engine : {"batch", "pysd"}
        Simulation engine.
    progress : callable, optional
        Called with the number of runs of each finished chunk.

    Returns
    -------
    RobustnessResult
        One row per path, ranked indicator and year.
    """
    plan = plan_robustness(
        baseline,
        paths,
        spec,
        samples=samples,
        seed=seed,
        trajectories=trajectories,
        levels=levels,
        years=years,
        chunk_size=chunk_size,
        engine=engine,
    )
    return execute_robustness(plan, executor, progress=progress)
