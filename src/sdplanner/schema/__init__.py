"""Validate a loaded input file against its declared schema, with one-line messages.

Every input file kind (scenario, parameters, calibration spec, uncertainty, checks, model
spec) declares its structure as a pydantic v2 model. pydantic is used rather than
hand-written checks because one declaration then gives both the validation and a JSON Schema
that editors can use to complete and check files (``sdplanner schema KIND``). This module
turns pydantic's error list into the project's message form: one line naming the file and
the key path, what was expected and what was found, with a "did you mean" hint for unknown
keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from sdplanner.errors import SdplannerError, did_you_mean, quote

__all__ = ["FileModel", "validate"]

M = TypeVar("M", bound=BaseModel)


class FileModel(BaseModel):
    """Base of the schemas of input files: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_EXPECTED = {
    "missing": "a value (the key is required)",
    "string_type": "a text",
    "float_type": "a number",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "dict_type": "a mapping of keys to values",
    "list_type": "a list",
    "literal_error": None,  # pydantic's message names the choices
}


def _key_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Return the keys the schema allows at the mapping that holds ``loc``'s last key."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if fields is None:
            return []
        if part in fields:
            annotation = fields[part].annotation
        else:  # a key of a dict[str, Model]
            annotation = current
        current = _inner_model(annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _message(model: type[BaseModel], err: Mapping[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        key = loc[-1] if loc else ""
        parent = _key_path(loc[:-1])
        hint = did_you_mean(key, _allowed_keys(model, loc))
        return f"{parent}: unknown key {quote(key)}{hint}"
    where = _key_path(loc)
    if kind == "missing":
        return f"{where}: expected {_EXPECTED['missing']}, found nothing"
    expected = _EXPECTED.get(kind)
    if expected is None:
        expected = str(err.get("msg", "a valid value"))
        for prefix in ("Value error, ", "Input should be ", "Assertion failed, "):
            expected = expected.removeprefix(prefix)
    return f"{where}: expected {expected}, found {quote(err.get('input'))}"


def validate(model: type[M], data: object, file: str, error: type[SdplannerError]) -> M:
    """Validate loaded data against a schema; raise one line on the first problem.

    Parameters
    ----------
    model : type of pydantic.BaseModel
        The file kind's schema.
    data : object
        What the safe YAML loader returned.
    file : str
        The file's name as shown to the user.
    error : type of SdplannerError
        The exception raised (e.g. `sdplanner.errors.ModelError`).

    Returns
    -------
    pydantic.BaseModel
        The validated file.

    Raises
    ------
    SdplannerError
        ``"<file>: <key path>: expected ..., found ..."`` for the first error pydantic lists.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise error(f"{file}: {_message(model, first)}") from None
