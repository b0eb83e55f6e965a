"""Calibration: fit model constants to observations, with intervals and diagnostics.

The flow, one module a step:

1. `spec`, `parse` and `indicators`: a calibration spec (YAML, ``docs/calibration.md``)
   read and checked against the model (`load_spec`), with its deflators, confidence rule
   and pooled region factors;
2. `rows` and `problem`: the observation rows the spec uses, held out or leaves out and why
   (`build_problem`, `load_problem`); `simulate`: `Simulator` runs the model for them;
3. `objective` and `fit`: weighted least squares (or a robust loss) with
   `scipy.optimize.least_squares` from a seeded Latin hypercube of starts, the solvers'
   evaluations batched (`batching`);
4. `intervals`: profile-likelihood and residual-bootstrap 95 % intervals;
5. `diagnostics`: fit statistics and identifiability;
6. `regional`, `outputs` and `figures`: changes by region beside the provinces, the
   tables, parameter file, plain-words reports, figures and manifest;
7. `backtest` and `backtest_outputs`: fit up to a year, project, score the later figures.

`calibrate` does steps 3-5. Parameters are optimized in unit coordinates ``u`` in [0, 1]
between their bounds (linear, or logarithmic with ``transform: log``).
"""

from __future__ import annotations

from sdplanner.calibration.diagnostics import (
    FIT_COLUMNS,
    Identifiability,
    fit_statistics,
    identifiability,
)
from sdplanner.calibration.figures import plot_indicator
from sdplanner.calibration.fit import (
    CalibrationResult,
    FitResult,
    calibrate,
    fit,
    observation_table,
)
from sdplanner.calibration.intervals import (
    CHI2_95,
    Interval,
    bootstrap_intervals,
    profile_intervals,
)
from sdplanner.calibration.outputs import (
    identifiability_text,
    params_yaml,
    report_text,
    write_outputs,
)
from sdplanner.calibration.parse import load_spec, parse_spec
from sdplanner.calibration.problem import Problem, build_problem, load_problem
from sdplanner.calibration.simulate import Simulator, trajectories
from sdplanner.calibration.spec import (
    LOSSES,
    CalibrationSpec,
    ConfidenceRule,
    Deflator,
    IndicatorSpec,
    ParameterSpec,
    Prior,
    YearMapping,
)

__all__ = [
    "CHI2_95",
    "FIT_COLUMNS",
    "LOSSES",
    "CalibrationResult",
    "CalibrationSpec",
    "ConfidenceRule",
    "Deflator",
    "FitResult",
    "Identifiability",
    "IndicatorSpec",
    "Interval",
    "ParameterSpec",
    "Prior",
    "Problem",
    "Simulator",
    "YearMapping",
    "bootstrap_intervals",
    "build_problem",
    "calibrate",
    "fit",
    "fit_statistics",
    "identifiability",
    "identifiability_text",
    "load_problem",
    "load_spec",
    "observation_table",
    "params_yaml",
    "parse_spec",
    "plot_indicator",
    "profile_intervals",
    "report_text",
    "trajectories",
    "write_outputs",
]
