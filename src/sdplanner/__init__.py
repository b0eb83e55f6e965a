"""sdplanner: a system-dynamics scenario planner for China's 14 contiguous poor regions.

The public verbs are re-exported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from sdplanner.run import run_scenario

__all__ = [
    "CalibrationError",
    "DataError",
    "EngineError",
    "ModelError",
    "OutputError",
    "ScenarioError",
    "SdplannerError",
    "__version__",
    "load_model",
    "run_scenario",
]
