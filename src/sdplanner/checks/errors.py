"""The error raised for an invalid checks file or a model the checks cannot read."""

from __future__ import annotations

from sdplanner.errors import SdplannerError

__all__ = ["CheckError"]


class CheckError(SdplannerError):
    """A reality-check file is invalid, or a check cannot be run (one line: file, key, found)."""
