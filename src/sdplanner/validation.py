"""Reusable checks of untrusted values: identifiers, numbers, declared ranges.

Every loader (scenario, parameters, calibration spec, observations, uncertainty, checks)
validates what a user wrote with these functions, so one rule has one home:

- `check_identifier`: a name that ends up in output files (scenario, indicator, area ...):
  at most `MAX_IDENTIFIER` printable characters, not starting with a character a
  spreadsheet reads as a formula (`FORMULA_LEADS`);
- `finite_float`: a YAML or CSV number as a float, or None when it is not a finite one
  (``1e999``, a 330-digit integer);
- `check_in_range`: a value inside a constant's declared range (the ``[min,max]`` after its
  units in the ``.mdl``, read by `sdplanner.model.VariableInfo.limits`);
- `MAX_MAGNITUDE`: the largest magnitude of a number of a calibration input (the
  observations of `sdplanner.data` and the spec of `sdplanner.schema.calibration`).

Each raises the error class its caller passes, with one line naming where and what.
"""

from __future__ import annotations

import math
from typing import Any

from sdplanner.errors import SdplannerError, quote

__all__ = [
    "FORMULA_LEADS",
    "MAX_IDENTIFIER",
    "MAX_MAGNITUDE",
    "check_identifier",
    "check_in_range",
    "finite_float",
    "format_range",
    "in_range",
]

#: Longest identifier (characters).
MAX_IDENTIFIER = 100
#: Largest magnitude of any number of a calibration input (spec or observations: a value,
#: sigma, weight or bound).
MAX_MAGNITUDE = 1e15
#: Characters an identifier may not start with: spreadsheets read such a cell as a formula.
FORMULA_LEADS = ("=", "+", "-", "@")


def check_identifier(
    value: Any, where: str, error: type[SdplannerError] = SdplannerError, what: str = "a name"
) -> str:
    """Check a name that is written to output files, and return it without outer spaces.

    Parameters
    ----------
    value : object
        What the file holds.
    where : str
        Error prefix (file and key).
    error : type, optional
        The `SdplannerError` subclass raised.
    what : str, optional
        What the name is, for the message.

    Returns
    -------
    str
        The name, stripped of leading and trailing spaces.

    Raises
    ------
    SdplannerError
        Unless the value is a text of 1 to `MAX_IDENTIFIER` printable characters (no line
        break, tab or NUL) that does not start with one of `FORMULA_LEADS`.
    """
    if not isinstance(value, str):
        raise error(f"{where}: expected {what} (text), found {quote(value)}")
    name = value.strip()
    if not name:
        raise error(f"{where}: expected {what}, found an empty text")
    if len(name) > MAX_IDENTIFIER:
        raise error(
            f"{where}: expected {what} of at most {MAX_IDENTIFIER} characters, found"
            f" {len(name):,} characters"
        )
    if not name.isprintable():
        bad = next(c for c in name if not c.isprintable())
        raise error(
            f"{where}: expected {what} of printable characters, found {quote(bad)} in {quote(name)}"
        )
    if name.startswith(FORMULA_LEADS):
        raise error(
            f"{where}: expected {what} that does not start with {' '.join(FORMULA_LEADS)}"
            f" (a spreadsheet would read it as a formula), found {quote(name)}"
        )
    return name


def finite_float(value: Any) -> float | None:
    """Return a number as a finite float, or None when it is not one.

    Parameters
    ----------
    value : object
        An ``int`` or ``float`` (``bool`` is not a number here).

    Returns
    -------
    float or None
        None for anything else, for NaN and infinities, and for integers beyond the float
        range (a 330-digit integer).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _bound(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def in_range(value: float, limits: tuple[Any, Any] | None) -> bool:
    """Tell whether a value lies in a declared range.

    Parameters
    ----------
    value : float
        The value, in the constant's units.
    limits : tuple or None
        ``(lower, upper)`` (a third item, Vensim's increment, is ignored); None or NaN for
        an open end; None for no range.

    Returns
    -------
    bool
        True when ``lower <= value <= upper`` for the ends that are given.
    """
    if limits is None:
        return True
    lo, hi = (_bound(x) for x in tuple(limits)[:2])
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def format_range(limits: tuple[Any, Any] | None) -> str:
    """Return a declared range as the ``.mdl`` writes it, e.g. ``[0,1]`` or ``[0,?]``."""
    if limits is None:
        return "[?,?]"
    lo, hi = (_bound(x) for x in tuple(limits)[:2])
    return f"[{'?' if lo is None else f'{lo:g}'},{'?' if hi is None else f'{hi:g}'}]"


def check_in_range(
    value: float,
    limits: tuple[Any, Any] | None,
    where: str,
    error: type[SdplannerError] = SdplannerError,
    what: str = "a value",
) -> float:
    """Refuse a value outside a constant's declared range.

    Parameters
    ----------
    value : float
        The value, in the constant's units.
    limits : tuple or None
        ``(lower, upper)`` as `in_range` takes it.
    where : str
        Error prefix (file, key).
    error : type, optional
        The `SdplannerError` subclass raised.
    what : str, optional
        What the value is, for the message.

    Returns
    -------
    float
        The value.

    Raises
    ------
    SdplannerError
        One line naming ``where``, the range and the value.
    """
    if not in_range(value, limits):
        raise error(
            f"{where}: expected {what} in the constant's range {format_range(limits)}"
            f" (declared in the .mdl), found {value:g}"
        )
    return value
