"""sdplanner: a system-dynamics scenario planner for China's 14 contiguous poor regions.

The public verbs are re-exported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

from sdplanner.api import shipped_scenarios, simulate, simulate_many
from sdplanner.calibration import calibrate as run_calibration
from sdplanner.calibration import load_problem
from sdplanner.compare import compare_scenarios
from sdplanner.errors import (
    CalibrationError,
    DataError,
    EngineError,
    ModelError,
    OutputError,
    ScenarioError,
    SdplannerError,
)
from sdplanner.model import load_model
from sdplanner.run import prepare_run, run_scenario
from sdplanner.uncertainty import load_uncertainty, run_ensemble, run_sensitivity

__all__ = [
    "CalibrationError",
    "DataError",
    "EngineError",
    "ModelError",
    "OutputError",
    "ScenarioError",
    "SdplannerError",
    "__version__",
    "compare_scenarios",
    "load_model",
    "load_problem",
    "load_uncertainty",
    "prepare_run",
    "run_calibration",
    "run_ensemble",
    "run_scenario",
    "run_sensitivity",
    "shipped_scenarios",
    "simulate",
    "simulate_many",
]
