"""One exception hierarchy for every error a user can cause.

Every message is one line that names the file, the key or row, what was expected
and what was found. The command line prints it and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CalibrationError",
    "DataError",
    "EngineError",
    "ModelError",
    "OutputError",
    "ScenarioError",
    "SdplannerError",
    "did_you_mean",
    "quote",
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


def did_you_mean(name: object, options: Iterable[object], *, cutoff: float = 0.5) -> str:
    """Return `` (did you mean 'x'?)`` for the option closest to a name, or an empty string.

    Parameters
    ----------
    name : object
        What the user wrote.
    options : iterable
        Valid names (compared as text).
    cutoff : float
        Similarity below which no option is suggested (``difflib`` ratio, 0 to 1).

    Returns
    -------
    str
        A hint to append to an error message.
    """
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


#: Most characters of a value quoted in an error message.
QUOTE_LIMIT = 80


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Return a value as an error message shows it: its repr, at most ``limit`` characters.

    Parameters
    ----------
    value : object
        What the user wrote (text, number, mapping ...).
    limit : int
        Most characters kept; a longer repr is cut and ends with ``...``.

    Returns
    -------
    str
        ``repr(value)`` (``nothing`` for None), cut to ``limit`` characters.
    """
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
