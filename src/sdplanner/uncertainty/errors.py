"""The errors of uncertainty files and of ensemble and sensitivity requests."""

from __future__ import annotations

from sdplanner.errors import SdplannerError

__all__ = ["EnsembleError", "UncertaintyError"]


class UncertaintyError(SdplannerError):
    """An uncertainty file is invalid, or does not fit the scenario it is applied to."""


class EnsembleError(SdplannerError):
    """An ensemble or sensitivity request is invalid (sample count, outputs, years)."""
