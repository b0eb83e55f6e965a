"""Declared schemas of the input files, and one-line messages for what they refuse.

Every input file kind (scenario, parameters, uncertainty, checks, model spec, and the
calibration spec) declares its structure as a pydantic v2 model, in this package (`KINDS`
says where). pydantic is used rather than hand-written checks because one declaration then
gives both the validation and a JSON Schema that editors can use to complete and check files
(``sdplanner schema KIND``, `json_schema`). A schema states what holds whatever the model:
keys, types, required keys, finite numbers, signs. What depends on the model (names of
levers, constants, regions and variables, ranges declared in the ``.mdl``) is checked by
each file's loader after the schema.

`validate` turns pydantic's first error into the project's message form: one line naming
the file and the key path, what was expected and what was found, with a "did you mean" hint
for unknown keys and choices.
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

import annotated_types
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from sdplanner.errors import SdplannerError, did_you_mean, quote

__all__ = [
    "KINDS",
    "FileModel",
    "Number",
    "PositiveNumber",
    "UnknownKindError",
    "by_kind",
    "check",
    "describe",
    "json_schema",
    "key_path",
    "refuse",
    "schema_of",
    "validate",
]

M = TypeVar("M", bound=BaseModel)

#: Every input file kind -> ``"module:class"`` of its schema (imported when asked for, so
#: listing the kinds imports nothing).
KINDS: dict[str, str] = {
    "scenario": "sdplanner.schema.scenario:ScenarioFile",
    "params": "sdplanner.schema.scenario:ParameterFile",
    "uncertainty": "sdplanner.schema.uncertainty:UncertaintyFile",
    "checks": "sdplanner.schema.checks:ChecksFile",
    "model-spec": "sdplanner.schema.model_spec:SpecFile",
    "calibration": "sdplanner.schema.calibration:CalibrationFile",
}

#: A finite number (an integer is one; true and false are not).
Number = Annotated[float, Field(allow_inf_nan=False, strict=True)]
#: A finite number above zero.
PositiveNumber = Annotated[float, Field(allow_inf_nan=False, strict=True, gt=0)]


class FileModel(BaseModel):
    """Base of the schemas of input files: unknown keys are errors, values are not coerced.

    A schema whose members are told apart by one key (``distribution``, ``rule``) names it
    in ``kind_key``, for messages ("unknown key for rule 'between'").
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    kind_key: ClassVar[str | None] = None


class UnknownKindError(SdplannerError):
    """``sdplanner schema`` was asked for a file kind that has no schema."""


def refuse(message: str, key: str = "") -> PydanticCustomError:
    """Return an error a schema's validator raises with its own words.

    Parameters
    ----------
    message : str
        What is wrong, in the message form (``"expected ..., found ..."``).
    key : str, optional
        A key below the validated value the message is about (appended to the key path).

    Returns
    -------
    pydantic_core.PydanticCustomError
        To ``raise``.
    """
    return PydanticCustomError("sdplanner", "{message}", {"message": message, "key": key})


def describe(value: object) -> str:
    """Return how a message names a value that was found: ``a list``, ``the text 'x'`` ...

    Parameters
    ----------
    value : object
        What the file holds there.

    Returns
    -------
    str
        ``nothing``, ``a list``, ``a mapping``, ``the text '...'``, or the quoted value.
    """
    if value is None:
        return "nothing"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return f"the text {quote(value)}"
    return quote(value)


_EXPECTED = {
    "string_type": "a text",
    "float_type": "a number",
    "finite_number": "a finite number",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "list_type": "a list",
}
_MISSING = object()


# --------------------------------------------------------------------------------------
# Walking a schema along a key path
# --------------------------------------------------------------------------------------
def _strip(annotation: Any) -> tuple[Any, list]:
    """Return an annotation without ``Annotated``, and its metadata."""
    meta: list = []
    while typing.get_origin(annotation) is Annotated:
        meta.extend(annotation.__metadata__)
        annotation = annotation.__origin__
    return annotation, meta


def _tagged(annotation: Any, data: Any) -> tuple[str, Any] | None:
    """For a union told apart by a function (`by_kind`): the tag ``data`` gets and its type."""
    annotation, meta = _strip(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and data is not None:
        others = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(others) == 1:  # an optional value: its type's tag
            return _tagged(others[0], data)
    chooser = next((m for m in meta if isinstance(m, Discriminator)), None)
    if chooser is None or not callable(chooser.discriminator):
        return None
    tag = chooser.discriminator(data)
    for arg in typing.get_args(annotation):
        _, arg_meta = _strip(arg)
        if any(isinstance(m, Tag) and m.tag == tag for m in arg_meta):
            return tag, arg
    return None


def _member(annotation: Any, data: Any) -> Any:
    """Return the type that validates ``data``: a union's member, an optional's value type."""
    tagged = _tagged(annotation, data)
    if tagged is not None:
        return _member(tagged[1], data)
    bare, _ = _strip(annotation)
    if typing.get_origin(bare) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(bare) if a is not type(None)]
        return _member(others[0], data) if len(others) == 1 else bare
    return bare


def by_kind(chooser: Callable[[Any], str], **members: Any) -> Any:
    """Return a union of schema types told apart by ``chooser(value) -> name``.

    pydantic validates only the member ``chooser`` names, so its errors are those of that
    member; the JSON Schema lists every member (``oneOf``), minus those annotated with
    ``SkipJsonSchema``.

    Parameters
    ----------
    chooser : callable
        ``value -> member name`` (a key of ``members``).
    **members : type
        Member name -> type.

    Returns
    -------
    typing.Annotated
        The annotation to use in a schema.
    """
    union = typing.Union[tuple(Annotated[t, Tag(name)] for name, t in members.items())]  # noqa: UP007
    return Annotated[union, Discriminator(chooser)]


def _model_class(annotation: Any) -> type[BaseModel] | None:
    annotation, _ = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _keys(cls: type[BaseModel]) -> dict[str, Any]:
    """Return a schema's keys as files spell them (a field's alias, or its name)."""
    return {(info.alias or name): info for name, info in cls.model_fields.items()}


def _walk(model: type[BaseModel], data: Any, loc: Sequence) -> tuple[list, Any, Any]:
    """Follow pydantic's error location through the schema and the data.

    Returns the key path as the file spells it (union tags and pydantic's own markers
    dropped, a missing key kept), the annotation at its end and the data there. For an
    error in a mapping's key (``[key]``), the path ends with that key and the annotation is
    the key's type.
    """
    path: list = []
    annotation: Any = model
    node: Any = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        tagged = _tagged(annotation, node)
        if tagged is not None and part == tagged[0]:
            annotation = tagged[1]  # pydantic's name of the member: not in the file
            continue
        annotation = _member(annotation, node)
        cls = _model_class(annotation)
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        is_key = not last and loc[i + 1] == "[key]"
        if cls is not None and isinstance(part, str) and part in _keys(cls):
            path.append(part)
            info = _keys(cls)[part]
            # pydantic keeps a field's constraints apart from its type: put them back
            annotation = (
                Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            )
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        elif is_key and isinstance(node, dict):
            # pydantic names a key by its text: find the key the file holds
            key = next((k for k in node if str(k) == str(part)), part)
            path.append(_shown(key))
            annotation = args[0] if origin is dict and len(args) == 2 else Any
            node = key
        elif isinstance(node, dict) and part in node:
            path.append(_shown(part))
            annotation = args[1] if origin is dict and len(args) == 2 else Any
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            annotation = args[0] if args else Any
            node = node[part]
        elif last and isinstance(part, str) and part != "[key]":
            path.append(part)  # a missing key
            annotation, node = Any, _MISSING
        # else: one of pydantic's markers ("[key]"), not part of the file's key path
    return path, annotation, node


def _shown(key: Any) -> Any:
    """Return a mapping's key as a key path shows it: a number as text (``values.2010``)."""
    return key if isinstance(key, str) else str(key)


def key_path(path: Sequence) -> str:
    """Return a key path as messages write it: ``checks[0].expect[1].rule``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool) and out:
            out += f"[{part}]"
        else:
            out += ("." if out else "") + quote(part, bare=True)
    return out or "(top level)"


def _choices(annotation: Any) -> list[str]:
    annotation, _ = _strip(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return []


def _words(annotation: Any) -> str | None:
    """Return what a schema type expects, in words (for a missing key)."""
    choices = _choices(annotation)
    if choices:
        return f"one of {', '.join(choices)}"
    bare, meta = _strip(_member(annotation, None))
    if bare is float:
        for info in meta:
            for item in getattr(info, "metadata", ()):
                if isinstance(item, annotated_types.Gt):
                    return f"a number > {item.gt:g}"
        return "a number"
    origin = typing.get_origin(bare)
    if origin is dict:
        return "a mapping of keys to values"
    if origin is list:
        return "a list"
    return {str: "a text", bool: "true or false"}.get(bare)


def _magnitude(annotation: Any) -> float | None:
    """Return L when a number type is bounded to ``-L <= x <= L`` (a magnitude limit)."""
    _, meta = _strip(annotation)
    lower = upper = None
    for info in meta:
        for item in [info, *getattr(info, "metadata", ())]:
            if isinstance(item, annotated_types.Ge):
                lower = item.ge
            elif isinstance(item, annotated_types.Le):
                upper = item.le
    if lower is not None and upper is not None and lower == -upper:
        return float(upper)
    return None


def _explain(
    schema: Any,
    data: Any,
    err: Mapping[str, Any],
    expected: Callable[[tuple], str | None] | None,
) -> tuple[list, str]:
    """Return the key path of pydantic's error and what is wrong there, in words."""
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    path, annotation, _ = _walk(schema, data, loc)
    found = err.get("input")
    asked = (*path, "[key]") if loc and loc[-1] == "[key]" else tuple(path)
    words = expected(asked) if expected is not None else None
    if kind == "extra_forbidden":
        _, parent, parent_node = _walk(schema, data, loc[:-1])
        cls = _model_class(_member(parent, parent_node))
        allowed = list(_keys(cls)) if cls is not None else []
        context = ""
        if cls is not None and cls.kind_key and isinstance(parent_node, dict):
            shown = ", ".join(k for k in allowed if k != cls.kind_key)
            kind_value = quote(parent_node.get(cls.kind_key))
            context = f" for {cls.kind_key} {kind_value} (expected {shown})"
        return path, f"unknown key{context}{did_you_mean(loc[-1], allowed)}"
    if kind == "sdplanner":
        ctx = err.get("ctx") or {}
        return ([*path, ctx["key"]] if ctx.get("key") else path), str(ctx.get("message", ""))
    if kind == "missing":
        return path, f"expected {words or _words(annotation) or 'a value'}, found nothing"
    if kind == "literal_error":
        choices = _choices(annotation)
        what = words or f"one of {', '.join(choices)}"
        shown = quote(found) if isinstance(found, str) else describe(found)
        return path, f"expected {what}, found {shown}{did_you_mean(found, choices)}"
    if kind in _BOUNDS and _magnitude(annotation) is not None:
        limit = _magnitude(annotation)
        return (
            path,
            f"expected {words or 'a number'} of magnitude at most {limit:g}, found {found!r}",
        )
    if kind in _BOUNDS:
        bound = next(iter((err.get("ctx") or {}).values()), "")
        shown = f"{bound:g}" if isinstance(bound, int | float) else str(bound)
        return path, f"expected {words or f'a number {_BOUNDS[kind]} {shown}'}, found {found!r}"
    if kind in ("too_short", "too_long"):
        ctx = err.get("ctx") or {}
        noun = "a list" if isinstance(found, list | tuple) else "a mapping"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        if kind == "too_short":
            size = (
                f"non-empty {noun[2:]}" if limit == 1 else f"{noun[2:]} of at least {limit} items"
            )
        else:
            size = f"{noun[2:]} of at most {limit} items"
        count = ctx.get("actual_length")
        have = f"an empty {noun[2:]}" if count == 0 else f"{noun} of {count} items"
        return path, f"expected {words or 'a ' + size}, found {have}"
    what = words or _EXPECTED.get(kind)
    if what is None:
        what = str(err.get("msg", "a valid value"))
        for prefix in ("Value error, ", "Input should be ", "Assertion failed, "):
            what = what.removeprefix(prefix)
    hint = ""
    if kind in ("float_type", "int_type") and isinstance(found, str):
        try:
            float(found)
            hint = " (write a plain number such as 0.01, without quotes)"
        except ValueError:
            pass
    return path, f"expected {what}, found {describe(found)}{hint}"


_BOUNDS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}


def _first_error(
    schema: Any, data: object, expected: Callable[[tuple], str | None] | None
) -> tuple[Any, tuple[list, str] | None]:
    """Validate; return the value and None, or None and the first error explained."""
    try:
        if _model_class(schema) is not None:
            return schema.model_validate(data), None
        return _adapter(schema).validate_python(data), None
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # an unknown key (a typo) explains a missing one: report it first
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        return None, _explain(schema, data, first, expected)


def _adapter(schema: Any) -> TypeAdapter:
    key = repr(schema)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = TypeAdapter(schema, config=ConfigDict(strict=True))
    return _ADAPTERS[key]


_ADAPTERS: dict[str, TypeAdapter] = {}


def validate(
    model: type[M],
    data: object,
    file: str,
    error: type[SdplannerError],
    expected: Callable[[tuple], str | None] | None = None,
) -> M:
    """Validate a loaded file against its schema; raise one line on the first problem.

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
    expected : callable, optional
        ``key path (tuple) -> words`` of what is expected there, for messages that say more
        than the type (``"a strength (fraction) in 0..0.85"``), or None. A mapping's key
        is asked for as its path followed by ``"[key]"``.

    Returns
    -------
    pydantic.BaseModel
        The validated file.

    Raises
    ------
    SdplannerError
        ``"<file>: <key path>: expected ..., found ..."`` for the first error pydantic lists.
    """
    value, problem = _first_error(model, data, expected)
    if problem is not None:
        path, text = problem
        raise error(f"{file}: {key_path(path)}: {text}")
    return value


def check(
    schema: Any,
    data: object,
    where: str,
    error: type[SdplannerError],
    expected: Callable[[tuple], str | None] | None = None,
) -> Any:
    """Validate one value of a file (or of an API call) against a schema type.

    Parameters
    ----------
    schema : type
        A schema type (e.g. ``dict[str, LeverFile]``) or model.
    data : object
        The value.
    where : str
        Its place, as messages show it (``"s.yaml: parameters"``, ``"levers"``).
    error : type of SdplannerError
        The exception raised.
    expected : callable, optional
        ``key path below the value (tuple) -> words``, as for `validate`.

    Returns
    -------
    object
        The validated value.

    Raises
    ------
    SdplannerError
        ``"<where>.<key path>: expected ..., found ..."``.
    """
    value, problem = _first_error(schema, data, expected)
    if problem is not None:
        path, text = problem
        raise error(f"{where}{'.' + key_path(path) if path else ''}: {text}")
    return value


def schema_of(kind: str) -> type[FileModel]:
    """Return the schema of a file kind (`KINDS`).

    Raises
    ------
    UnknownKindError
        For a kind without a schema (the message lists the kinds).
    """
    target = KINDS.get(kind)
    if target is None:
        raise UnknownKindError(
            f"KIND: expected one of {', '.join(KINDS)}, found {quote(kind)}"
            f"{did_you_mean(kind, KINDS)}"
        )
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _any_of(node: Any) -> Any:
    """Write the unions of `by_kind` as ``anyOf``: their members may overlap in JSON."""
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_any_of(v) for v in node]
    return node


def json_schema(kind: str) -> dict:
    """Return the JSON Schema (draft 2020-12) of a file kind, for editors.

    Parameters
    ----------
    kind : str
        A key of `KINDS`.

    Returns
    -------
    dict
        The schema, with ``$schema`` and ``title`` set.
    """
    schema = _any_of(schema_of(kind).model_json_schema())
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": f"sdplanner {kind} file",
    }
