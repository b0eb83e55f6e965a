"""One exception hierarchy for every error a user can cause.

Every message is one line that names the file, the key or row, what was expected
and what was found. The command line prints it and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "CalibrationError",
    "DataError",
    "EngineError",
    "ModelError",
    "OutputError",
    "ScenarioError",
    "SdplannerError",
]


class SdplannerError(Exception):
    """Base of every error sdplanner raises for bad input or an unwritable output."""


class ModelError(SdplannerError):
    """The model file is missing, unreadable or uses an unsupported construct."""


class EngineError(SdplannerError):
    """A simulation engine cannot run the request (unknown variable, bad shape)."""


class ScenarioError(SdplannerError):
    """A scenario or parameter file is invalid."""


class DataError(SdplannerError):
    """An observation or mapping file is invalid."""


class CalibrationError(SdplannerError):
    """A calibration specification is invalid or calibration cannot proceed."""


class OutputError(SdplannerError):
    """An output file or directory cannot be written."""
