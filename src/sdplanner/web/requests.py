"""The explorer's request bodies: decoding, checking JSON values, and the errors it answers.

Every problem with a request raises `RequestError`, whose message names the key that is wrong,
what was expected and what was found, and whose ``status`` is the HTTP status (always 4xx).
`sdplanner.web.explorer` checks each field with these helpers; `sdplanner.web.server` decodes
bodies with `parse_json_body`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from sdplanner.errors import SdplannerError, did_you_mean

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DESCRIPTION_CHARS",
    "MAX_NAME_CHARS",
    "ExplorerError",
    "RequestError",
    "parse_json_body",
]

#: Largest request body accepted (bytes); a full request is well under 2 KiB.
MAX_BODY_BYTES = 64 * 1024
#: Longest scenario name or description accepted (characters).
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000


class ExplorerError(SdplannerError):
    """The explorer cannot start: a missing scenario folder, a port in use, a bad option."""


class RequestError(ExplorerError):
    """A request the explorer refuses; ``status`` is the HTTP status to answer (4xx).

    Parameters
    ----------
    message : str
        One line: the key, what was expected, what was found.
    status : int, optional
        HTTP status, 400 by default.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------
# Validating JSON values
# --------------------------------------------------------------------------------------
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any) -> str:
    """Describe a found value briefly (long values are cut, numbers shown as numbers)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int) and abs(value) > 10**15:
        return "a number too large"
    if isinstance(value, float) and not math.isfinite(value):
        return "a number too large" if math.isinf(value) else "NaN"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:57] + '..."'
    return _json_type(value)


def _number(value: Any, where: str, lo: float, hi: float, what: str) -> float:
    """Return a finite number in ``lo..hi`` or raise `RequestError` naming ``where``."""
    expected = f"{what} in {lo:g}..{hi:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{where}: expected {expected}, found {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise RequestError(f"{where}: expected {expected}, found a number too large") from None
    if not math.isfinite(number):
        raise RequestError(f"{where}: expected {expected}, found {_show(number)}")
    if not lo <= number <= hi:
        raise RequestError(f"{where}: expected {expected}, found {number:g}")
    return number


def _text(value: Any, where: str, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RequestError(f"{where}: expected a string, found {_show(value)}")
    text = value.strip()
    if not text and not empty:
        raise RequestError(f"{where}: expected a non-empty string, found {_show(value)}")
    if len(text) > limit:
        raise RequestError(f"{where}: expected at most {limit} characters, found {len(text)}")
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise RequestError(f"{where}: expected printable text, found control characters")
    return text


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object.

    Parameters
    ----------
    raw : bytes
        The body as received (at most `MAX_BODY_BYTES`).

    Returns
    -------
    dict
        The object.

    Raises
    ------
    RequestError
        For bytes that are not UTF-8, malformed JSON, ``NaN``/``Infinity``, nesting too
        deep, or a value that is not an object.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            f"request body: expected UTF-8 JSON, found an undecodable byte at position {exc.start}"
        ) from None

    def refuse(name: str):
        raise RequestError(f"request body: expected finite numbers, found {name}")

    try:
        data = json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"request body: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise RequestError(
            "request body: expected JSON nested a few levels, found deeper"
        ) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise RequestError(f"request body: expected JSON numbers, found {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(f"request body: expected a JSON object, found {_json_type(data)}")
    return data


def _key(name: str) -> str:
    """Return a key as a message shows it: cut when long."""
    return name if len(name) <= 40 else name[:37] + "..."


def _check_keys(body: Mapping, allowed: tuple[str, ...], where: str = "request") -> None:
    for key in body:
        if key not in allowed:
            raise RequestError(
                f"{where}: unknown key {_key(key)!r}{did_you_mean(key, allowed)}; expected"
                f" {', '.join(allowed)}"
            )
