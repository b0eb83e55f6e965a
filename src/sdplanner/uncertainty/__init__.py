"""Uncertainty: distributions of model constants, ensembles and Sobol sensitivity indices.

The flow, one module per step:

* `spec` reads an uncertainty file (`load_uncertainty`) into an `UncertaintySpec`, whose
  distributions are `distributions.Distribution`;
* `sampling` draws seeded Latin hypercube samples of it (`LatinHypercubeSampler`,
  rank-correlated by `iman_conover`);
* `cells` turns chunks of samples into model runs on any backend and their outputs into
  *cells* (variable, region, year) (`EnsembleJob`, `CellLayout`);
* `percentiles` reduces a stream of cells to percentiles and exact means;
* `ensemble` ties them into `run_ensemble`; `sensitivity` computes Sobol indices
  (`run_sensitivity`) from the same cells; `robustness` ranks the policy paths over an
  ensemble of the assumed constants (`run_robustness`).

Errors are `UncertaintyError` (the file) and `EnsembleError` (the request).
"""

from sdplanner.uncertainty.cells import (
    DEFAULT_CHUNK,
    CellLayout,
    EnsembleJob,
    check_chunk_size,
    chunk_bounds,
    iter_cells,
    output_cells,
    select_outputs,
)
from sdplanner.uncertainty.distributions import DISTRIBUTIONS, Distribution
from sdplanner.uncertainty.ensemble import (
    EnsemblePlan,
    EnsembleResult,
    execute_ensemble,
    plan_ensemble,
    run_ensemble,
)
from sdplanner.uncertainty.errors import EnsembleError, UncertaintyError
from sdplanner.uncertainty.percentiles import (
    EXACT_LIMIT,
    HISTOGRAM_BINS,
    PERCENTILE_COLUMNS,
    PERCENTILES,
    PILOT_SAMPLES,
    ExactPercentiles,
    ExactSum,
    StreamingPercentiles,
    percentile_frame,
)
from sdplanner.uncertainty.ranks import assumption_spec, material, ranks, source_label
from sdplanner.uncertainty.robustness import (
    MORRIS_COLUMNS,
    RANKING_COLUMNS,
    ROBUSTNESS_COLUMNS,
    RobustnessPlan,
    RobustnessResult,
    execute_robustness,
    plan_robustness,
    run_robustness,
)
from sdplanner.uncertainty.sampling import (
    SAMPLE_BLOCK,
    LatinHypercubeSampler,
    check_samples,
    iman_conover,
    sample_blocks,
)
from sdplanner.uncertainty.sensitivity import (
    SOBOL_COLUMNS,
    SensitivityPlan,
    SensitivityResult,
    default_years,
    execute_sensitivity,
    plan_sensitivity,
    run_sensitivity,
)
from sdplanner.uncertainty.spec import (
    Column,
    Correlation,
    UncertainParameter,
    UncertaintySpec,
    combine,
    load_uncertainty,
    parse_uncertainty,
)

__all__ = [
    "DEFAULT_CHUNK",
    "DISTRIBUTIONS",
    "EXACT_LIMIT",
    "HISTOGRAM_BINS",
    "MORRIS_COLUMNS",
    "PERCENTILES",
    "PERCENTILE_COLUMNS",
    "PILOT_SAMPLES",
    "RANKING_COLUMNS",
    "ROBUSTNESS_COLUMNS",
    "SAMPLE_BLOCK",
    "SOBOL_COLUMNS",
    "CellLayout",
    "Column",
    "Correlation",
    "Distribution",
    "EnsembleError",
    "EnsembleJob",
    "EnsemblePlan",
    "EnsembleResult",
    "ExactPercentiles",
    "ExactSum",
    "LatinHypercubeSampler",
    "RobustnessPlan",
    "RobustnessResult",
    "SensitivityPlan",
    "SensitivityResult",
    "StreamingPercentiles",
    "UncertainParameter",
    "UncertaintyError",
    "UncertaintySpec",
    "assumption_spec",
    "check_chunk_size",
    "check_samples",
    "chunk_bounds",
    "combine",
    "default_years",
    "execute_ensemble",
    "execute_robustness",
    "execute_sensitivity",
    "iman_conover",
    "iter_cells",
    "load_uncertainty",
    "material",
    "output_cells",
    "parse_uncertainty",
    "percentile_frame",
    "plan_ensemble",
    "plan_robustness",
    "plan_sensitivity",
    "ranks",
    "run_ensemble",
    "run_robustness",
    "run_sensitivity",
    "sample_blocks",
    "select_outputs",
    "source_label",
]
