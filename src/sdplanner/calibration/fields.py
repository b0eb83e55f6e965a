"""Small checks shared by the readers of a calibration spec: numbers, mappings, keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sdplanner.calibration.spec import MAX_MAGNITUDE
from sdplanner.errors import CalibrationError, did_you_mean, quote, show_path
from sdplanner.validation import finite_float

__all__ = ["check_keys", "mapping", "number", "where_of"]


def where_of(path: Path | None) -> str:
    """Return the error prefix of a spec: its shown path, or ``spec`` without one."""
    return show_path(path) if path is not None else "spec"


def number(value: Any, where: str, what: str = "a number") -> float:
    """Return a finite number of at most `MAX_MAGNITUDE` in magnitude.

    Parameters
    ----------
    value : object
        What the spec holds.
    where : str
        Error prefix (file and key).
    what : str
        What the number is, for the message.

    Returns
    -------
    float
        The number (the key's units).

    Raises
    ------
    CalibrationError
        When the value is not such a number.
    """
    found = finite_float(value)
    if found is None:
        raise CalibrationError(f"{where}: expected {what}, found {quote(value)}")
    if abs(found) > MAX_MAGNITUDE:
        raise CalibrationError(
            f"{where}: expected {what} of magnitude at most {MAX_MAGNITUDE:g}, found {found:g}"
        )
    return found


def mapping(value: Any, where: str, what: str) -> Mapping:
    """Return ``value`` when it is a mapping; raise `CalibrationError` naming ``what`` if not."""
    if not isinstance(value, dict):
        raise CalibrationError(f"{where}: expected {what}, found {quote(value)}")
    return value


def check_keys(raw: Mapping, allowed: Sequence[str], where: str) -> None:
    """Raise `CalibrationError` on the first key not in ``allowed`` (closest one suggested)."""
    for key in raw:
        if key not in allowed:
            raise CalibrationError(
                f"{where}.{quote(key, bare=True)}: unknown key{did_you_mean(key, allowed)}"
            )
