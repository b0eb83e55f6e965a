"""Model checks: unit consistency and reality checks (``sdplanner check``)."""

from sdplanner.checks.errors import CheckError
from sdplanner.checks.units import UnitFinding, UnitReport, check_units

__all__ = ["CheckError", "UnitFinding", "UnitReport", "check_units"]
