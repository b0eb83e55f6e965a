"""sdplanner: a system-dynamics scenario planner for China's 14 contiguous poor regions.

The public verbs are re-exported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

from sdplanner.errors import (
    CalibrationError,
    DataError,
    EngineError,
    ModelError,
    OutputError,
    ScenarioError,
    SdplannerError,
)

#: Public name -> (module, attribute): imported on first use (PEP 562), so ``import
#: sdplanner`` stays cheap and a command pays only for the modules it needs (SciPy and
#: matplotlib come with calibration and figures).
_LAZY = {
    "shipped_scenarios": ("sdplanner.api", "shipped_scenarios"),
    "simulate": ("sdplanner.api", "simulate"),
    "simulate_many": ("sdplanner.api", "simulate_many"),
    "run_calibration": ("sdplanner.calibration", "calibrate"),
    "load_problem": ("sdplanner.calibration", "load_problem"),
    "compare_scenarios": ("sdplanner.compare", "compare_scenarios"),
    "load_model": ("sdplanner.model", "load_model"),
    "prepare_run": ("sdplanner.run", "prepare_run"),
    "run_scenario": ("sdplanner.run", "run_scenario"),
    "load_uncertainty": ("sdplanner.uncertainty", "load_uncertainty"),
    "run_ensemble": ("sdplanner.uncertainty", "run_ensemble"),
    "run_sensitivity": ("sdplanner.uncertainty", "run_sensitivity"),
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from sdplanner.api import shipped_scenarios, simulate, simulate_many
    from sdplanner.calibration import calibrate as run_calibration
    from sdplanner.calibration import load_problem
    from sdplanner.compare import compare_scenarios
    from sdplanner.model import load_model
    from sdplanner.run import prepare_run, run_scenario
    from sdplanner.uncertainty import load_uncertainty, run_ensemble, run_sensitivity


def __getattr__(name: str) -> Any:
    """Import a public verb on first use (PEP 562)."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'sdplanner' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
