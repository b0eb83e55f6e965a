"""Model checks: unit consistency and reality checks (``sdplanner check``).

`check_units` infers the units of every sub-expression of a ``.mdl`` and reports each
inconsistency; `load_checks` and `run_checks` read the reality checks of ``MODEL.checks.yaml``
and evaluate them on simulation runs. The file format is documented in ``docs/checks.md``.
"""

from sdplanner.checks.errors import CheckError
from sdplanner.checks.reality import (
    CheckResult,
    Expectation,
    ExpectationResult,
    RealityCheck,
    checks_path_for,
    load_checks,
    run_checks,
    select_engine,
)
from sdplanner.checks.units import UnitFinding, UnitReport, base_unit_definitions, check_units

__all__ = [
    "CheckError",
    "CheckResult",
    "Expectation",
    "ExpectationResult",
    "RealityCheck",
    "UnitFinding",
    "UnitReport",
    "base_unit_definitions",
    "check_units",
    "checks_path_for",
    "load_checks",
    "run_checks",
    "select_engine",
]
