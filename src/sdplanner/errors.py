"""One exception hierarchy for every error a user can cause.

Every message is one line that names the file, the key or row, what was expected
and what was found. The command line prints it and exits with the error's `exit_code`: 2 for
bad input or an unwritable output, 1 for a run whose outputs turned non-finite. A value
echoed in a message goes through `quote` (at most `QUOTE_LIMIT` characters), a path through
`show_path`, so a message stays one short line whatever the input holds.
"""

from __future__ import annotations

import difflib
import os
import reprlib
import sys
from collections.abc import Iterable

__all__ = [
    "QUOTE_LIMIT",
    "CalibrationError",
    "DataError",
    "EngineError",
    "ModelError",
    "NonFiniteOutputError",
    "OutputError",
    "ScenarioError",
    "SdplannerError",
    "did_you_mean",
    "quote",
    "show_path",
    "warn_once",
]

#: Most characters of a value (or a path) an error message shows.
QUOTE_LIMIT = 80


class SdplannerError(Exception):
    """Base of every error sdplanner raises for bad input or an unwritable output.

    Attributes
    ----------
    exit_code : int
        The command line's exit code for this error (2: bad input or unwritable output).
    """

    exit_code = 2


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


class NonFiniteOutputError(SdplannerError):
    """A run's outputs turned non-finite (NaN or infinite): the command exits with 1."""

    exit_code = 1


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
    text = str(name) if isinstance(name, str | int | float) else ""
    if not text or len(text) > 2 * QUOTE_LIMIT:
        return ""
    close = difflib.get_close_matches(text, [str(o) for o in options], n=1, cutoff=cutoff)
    return f" (did you mean {quote(close[0])}?)" if close else ""


_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 4
_REPR.maxstring = _REPR.maxother = QUOTE_LIMIT
_REPR.maxlong = 24


def quote(value: object, limit: int = QUOTE_LIMIT, *, bare: bool = False) -> str:
    """Return a value as an error message shows it: its ``repr``, at most ``limit`` characters.

    Long texts keep their start and say how long they were; nested values show their first
    items only (`reprlib`), so quoting never walks a large structure. Control characters are
    escaped, so the result is one line.

    Parameters
    ----------
    value : object
        What the user wrote (text, number, list, mapping ...).
    limit : int, optional
        Most characters shown (default `QUOTE_LIMIT`).
    bare : bool, optional
        For a key in a key path (``levers.<key>.strength``): a short printable text is
        shown without quotes.

    Returns
    -------
    str
        E.g. ``'abc'``, ``'aaaa…' (5,000,000 characters)`` or ``[1, 2, 3, 4, ...]``.
    """
    if bare and isinstance(value, str) and len(value) <= limit and value.isprintable():
        return value
    if isinstance(value, str):
        shown = repr(value[:limit])
        cut = len(value) > limit
        if len(shown) > limit + 2:  # escapes made it longer: cut the shown text too
            shown, cut = shown[: limit + 1] + shown[-1], True
        if cut:
            shown = f"{shown[:-1]}…{shown[-1]} ({len(value):,} characters)"
        return shown
    try:
        shown = _REPR.repr(value)
    except Exception:  # a value whose repr fails: name its type
        shown = f"<{type(value).__name__}>"
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


def show_path(path: str | os.PathLike, limit: int = QUOTE_LIMIT) -> str:
    """Return a path as an error message shows it: normalized, at most ``limit`` characters.

    Parameters
    ----------
    path : path-like
        The path.
    limit : int, optional
        Most characters shown; a longer path keeps its end (the file name).

    Returns
    -------
    str
        E.g. ``scenarios/baseline.yaml`` or ``…/deep/folder/file.yaml``.
    """
    try:
        text = os.path.normpath(os.fspath(path))
    except (TypeError, ValueError):
        text = str(path)
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    if len(text) > limit:
        text = "…" + text[-(limit - 1) :]
    return text


_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """Print ``sdplanner: warning: message`` on standard error, once per process.

    For conditions sdplanner recovers from (a damaged cache, a compiler that hangs): the
    command goes on, the user is told in one line.

    Parameters
    ----------
    message : str
        One line.
    """
    if message in _WARNED:
        return
    _WARNED.add(message)
    print(f"sdplanner: warning: {message}", file=sys.stderr, flush=True)
