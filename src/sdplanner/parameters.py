"""Values of model constants in scenario and parameter files, and their layering.

A ``parameters`` mapping (of a scenario file, a parameter file or an API call) sets model
constants: a number, a mapping region -> number (the other regions keep their value) or a
mapping year -> number (a series). `parse_parameters` validates it against its schema
(`sdplanner.schema.scenario.ParameterValue`) and then against the model: known constants,
regions, years in the run, the range declared in the ``.mdl``. `merge_params` layers them
(the shipped calibration, a ``--params`` file, the scenario). Every error is a
`sdplanner.errors.ScenarioError` whose one-line message names the file and the key path.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sdplanner.engine.base import ParamValue, TimeSeries
from sdplanner.engine.ir import CONTROL_NAMES
from sdplanner.errors import ScenarioError, SdplannerError, did_you_mean, quote, show_path
from sdplanner.model import ModelInfo
from sdplanner.safe_yaml import load_yaml
from sdplanner.schema import check, validate
from sdplanner.schema.scenario import ParameterFile, ParameterValue
from sdplanner.validation import check_in_range

__all__ = [
    "RegionValues",
    "check_parameter_range",
    "load_parameter_file",
    "merge_params",
    "parse_parameters",
    "read_mapping",
    "resolve_region",
]

#: Keys of a scenario file that a parameter file must not hold.
_SCENARIO_ONLY = ("levers", "extends", "name", "final_time")


class RegionValues(np.ndarray):
    """Per-region values of a constant of which a file set only some regions.

    A float array of shape ``(n_regions,)`` in the model's element order, holding the
    model's default for the regions the file does not set; ``given`` marks the regions it
    sets. `merge_params` merges such a value element-wise over a lower layer (e.g. the
    calibrated parameters), so the regions not named keep the lower layer's values.
    Engines see a plain float array.

    Parameters
    ----------
    values : array-like
        One value per region, in the constant's units.
    given : array-like of bool
        True for the regions the file sets.
    """

    given: np.ndarray | None

    def __new__(cls, values, given) -> RegionValues:
        """Build from values and the mask of the regions given."""
        obj = np.array(values, dtype=float).view(cls)
        obj.given = np.array(given, dtype=bool)
        if obj.given.shape != obj.shape:
            raise ValueError("given must have the shape of values")
        return obj

    def __array_finalize__(self, obj) -> None:
        given = getattr(obj, "given", None)
        self.given = given if given is not None and given.shape == self.shape else None

    def __reduce__(self):
        return (RegionValues, (np.asarray(self), self._mask()))

    def _mask(self) -> np.ndarray:
        return self.given if self.given is not None else np.ones(self.shape, dtype=bool)


def read_mapping(path: Path, kind: str) -> dict:
    """Read a YAML file that must hold a mapping (a scenario or parameter file).

    Parameters
    ----------
    path : pathlib.Path
        The file.
    kind : str
        What it is, for messages (``"scenario"``, ``"parameter"``).

    Returns
    -------
    dict
        The mapping.

    Raises
    ------
    ScenarioError
        For an unreadable, invalid or empty file, or one that holds no mapping (its content
        is not echoed: the file may be anything).
    """
    shown = show_path(path)
    data = load_yaml(path, kind=kind, error=ScenarioError)
    if data is None:
        raise ScenarioError(f"{shown}: expected a YAML mapping, found an empty file")
    if not isinstance(data, dict):
        what = "a list" if isinstance(data, list) else f"a single {type(data).__name__} value"
        raise ScenarioError(f"{shown}: expected a YAML mapping of keys to values, found {what}")
    return data


def resolve_region(
    name: object, where: str, model: ModelInfo, error: type[SdplannerError] = ScenarioError
) -> str:
    """Validate a region name typed by a user and return its display name.

    Parameters
    ----------
    name : object
        What the user wrote.
    where : str
        Prefix for the error message (file and key path).
    model : ModelInfo
        The model (its spec's region dimension).
    error : type of SdplannerError, optional
        The exception raised (the file kind's).

    Returns
    -------
    str
        The display name.

    Raises
    ------
    SdplannerError
        ``error`` when the name is not a region of the model; the message suggests the
        closest.
    """
    dim = model.spec.dimension
    labels = dim.labels if dim is not None else ()
    if isinstance(name, str) and name in labels:
        return name
    raise error(
        f"{where}: expected one of the {len(labels)} regions, found {quote(name)}"
        f"{did_you_mean(name, labels)}"
    )


def _constant(model: ModelInfo, key: object) -> str | None:
    """Return the PySD name of a constant as a file spells it (None when unknown)."""
    return model.resolve(str(key)) if isinstance(key, str) and len(key) <= 200 else None


def value_words(model: ModelInfo, name: str | None) -> str:
    """Return what a value of the constant ``name`` may be, in words."""
    default = model.constants.get(name) if name is not None else None
    if isinstance(default, np.ndarray):
        return "a number, a region -> value or a year -> value mapping"
    return "a number"


def parameters_words(model: ModelInfo):
    """Return the words of what a ``parameters`` mapping expects at each key path."""

    def words(path: tuple) -> str | None:
        if not path:
            return "a mapping of constant names to values"
        if len(path) == 1:
            return value_words(model, _constant(model, path[0]))
        return "a number"

    return words


def _is_year_key(key: object) -> bool:
    return isinstance(key, int | float) and not isinstance(key, bool)


def _year(key: float, model: ModelInfo, where: str) -> float:
    t0, t1 = model.initial_time, model.final_time
    year = float(key)
    if not t0 <= year <= t1:
        raise ScenarioError(f"{where}.{key}: expected a year in {t0:g}..{t1:g}, found {year:g}")
    return year


def _parse_value(raw: Any, model: ModelInfo, where: str, default) -> ParamValue:
    """Resolve one schema-valid value against its constant (regions, years)."""
    subscripted = isinstance(default, np.ndarray)
    if not isinstance(raw, dict):
        return float(raw)
    if not raw:
        raise ScenarioError(f"{where}: expected {value_words(model, None)}, found an empty mapping")
    keys = list(raw)
    years_given = [_is_year_key(k) for k in keys]
    if all(years_given):
        pairs = sorted((_year(k, model, where), float(raw[k])) for k in keys)
        years = np.array([y for y, _ in pairs])
        if len(np.unique(years)) != len(years):
            raise ScenarioError(f"{where}: expected distinct years, found {quote(keys)}")
        vals = np.array([v for _, v in pairs])
        if subscripted:
            vals = np.repeat(vals[:, None], len(model.regions), axis=1)
        return TimeSeries(years, vals)
    if any(years_given):
        raise ScenarioError(f"{where}: expected either region names or years as keys, found both")
    if not subscripted:
        raise ScenarioError(
            f"{where}: expected a number or a year -> value mapping (the constant has no"
            f" regions), found region keys {quote(keys[:3])}"
        )
    values = np.array(default, dtype=float)
    given = np.zeros(len(model.regions), dtype=bool)
    for key, value in raw.items():
        i = model.regions.index(resolve_region(key, where, model))
        values[i] = float(value)
        given[i] = True
    return RegionValues(values, given)


def parse_parameters(raw: Any, model: ModelInfo, where: str) -> dict[str, ParamValue]:
    """Validate a ``parameters`` mapping against its schema and the model's constants.

    Parameters
    ----------
    raw : object
        The mapping as read from YAML (or given to the API): constant name (Python or
        ``.mdl`` spelling) -> a number, a region -> number mapping, or a year -> number
        mapping (constant units).
    model : ModelInfo
        The model.
    where : str
        Error prefix (file and key path).

    Returns
    -------
    dict
        PySD name -> float, `RegionValues` (regions not named keep the model's value) or
        `TimeSeries`.

    Raises
    ------
    ScenarioError
        On an unknown constant (with the closest name), a lever constant, a computed
        variable, a wrong type, an unknown region or a year out of the simulated range.
    """
    if raw is None:
        return {}
    check(dict[str, ParameterValue], raw, where, ScenarioError, parameters_words(model))
    lever_constants = model.spec.lever_constants
    settable = [c for c in model.constants if c not in CONTROL_NAMES and c not in lever_constants]
    out: dict[str, ParamValue] = {}
    for key, value in raw.items():
        w = f"{where}.{quote(key, bare=True)}"
        name = _constant(model, key)
        if name in lever_constants:
            raise ScenarioError(
                f"{w}: a lever constant; set it under 'levers.{lever_constants[name]}',"
                " not as a parameter"
            )
        if name in CONTROL_NAMES:
            hint = " (use final_time in a scenario file)" if name == "final_time" else ""
            raise ScenarioError(f"{w}: a simulation control, not a settable constant{hint}")
        if name is not None and name not in model.constants:
            raise ScenarioError(
                f"{w}: {quote(name)} is computed by the model, not a constant; set the constants"
                " it is computed from"
            )
        if name is None:
            renamed = model.spec.renamed.get(str(key))
            hint = (
                f" (this model replaced it: {renamed})" if renamed else did_you_mean(key, settable)
            )
            raise ScenarioError(f"{w}: unknown model constant{hint}")
        if name in out:
            raise ScenarioError(f"{w}: {quote(name)} is set twice (under two spellings)")
        out[name] = _parse_value(value, model, w, model.constants[name])
        check_parameter_range(out[name], model.variables[name].limits, w, model)
    return out


def check_parameter_range(
    value: ParamValue, limits: tuple | None, where: str, model: ModelInfo
) -> None:
    """Refuse a parameter value outside the constant's range declared in the ``.mdl``.

    Parameters
    ----------
    value : float, numpy.ndarray or TimeSeries
        The value (constant's units): a number, one per region (a `RegionValues` is checked
        for the regions it sets) or a series.
    limits : tuple or None
        ``(lower, upper)`` of the constant (`sdplanner.model.VariableInfo.limits`).
    where : str
        Error prefix (file and key path).
    model : ModelInfo
        The model (region names for the message).

    Raises
    ------
    ScenarioError
        Naming the key (and region or year), the range and the value.
    """
    if isinstance(value, TimeSeries):
        values = np.asarray(value.values, dtype=float).reshape(len(value.years), -1)
        for i, year in enumerate(value.years):
            for v in values[i]:
                check_in_range(float(v), limits, f"{where}.{year:g}", ScenarioError)
        return
    if isinstance(value, np.ndarray):
        given = value._mask() if isinstance(value, RegionValues) else np.ones(value.shape, bool)
        for region, v, g in zip(model.regions, np.asarray(value, dtype=float), given, strict=True):
            if g:
                check_in_range(float(v), limits, f"{where}.{region}", ScenarioError)
        return
    check_in_range(float(value), limits, where, ScenarioError)


def _merge_value(old: ParamValue | None, new: ParamValue) -> ParamValue:
    if not isinstance(new, RegionValues) or new.given is None or old is None:
        return new
    if isinstance(old, TimeSeries):
        return new
    base = np.broadcast_to(np.asarray(old, dtype=float), new.shape)
    values = np.where(new.given, np.asarray(new), base)
    if isinstance(old, RegionValues):
        return RegionValues(values, old._mask() | new.given)
    return np.array(values, dtype=float)


def merge_params(*layers: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """Merge parameter layers; later layers win.

    A `RegionValues` (a per-region value of which only some regions were set) merges
    element-wise: the regions it sets win, the others keep the lower layer's value (a
    scalar lower value is broadcast). Any other value replaces the lower one.

    Parameters
    ----------
    *layers : mapping
        PySD name -> value, lowest priority first.

    Returns
    -------
    dict
        The merged mapping.
    """
    out: dict[str, ParamValue] = {}
    for layer in layers:
        for key, value in layer.items():
            out[key] = _merge_value(out.get(key), value)
    return out


def load_parameter_file(path: str | os.PathLike, model: ModelInfo) -> dict[str, ParamValue]:
    """Read a parameter file (a YAML mapping with a ``parameters`` key).

    Other top-level keys (``description``, ``source``, ``metadata``, fit statistics ...)
    are ignored, except scenario keys, which are rejected.

    Parameters
    ----------
    path : path-like
        The file (e.g. ``calibration/seed-2010-2012.params.yaml``).
    model : ModelInfo
        The model.

    Returns
    -------
    dict
        PySD name -> value (see `parse_parameters`).

    Raises
    ------
    ScenarioError
        With a one-line message naming the file and the key path.
    """
    path = Path(path)
    data = read_mapping(path, "parameter")
    shown = show_path(path)
    for key in _SCENARIO_ONLY:
        if key in data:
            raise ScenarioError(
                f"{shown}: {key}: a parameter file holds only 'parameters'; put {quote(key)} in a"
                " scenario file"
            )
    if "parameters" not in data:
        keys = [k for k in data if isinstance(k, str) and len(k) <= 100]
        close = difflib.get_close_matches("parameters", keys, n=1)
        hint = f" ({quote(close[0])}: did you mean 'parameters'?)" if close else ""
        raise ScenarioError(f"{shown}: expected a 'parameters' mapping, found none{hint}")
    validate(ParameterFile, data, shown, ScenarioError, _file_words(model))
    return parse_parameters(data["parameters"], model, f"{shown}: parameters")


def _file_words(model: ModelInfo):
    below = parameters_words(model)

    def words(path: tuple) -> str | None:
        return below(path[1:]) if path[:1] == ("parameters",) else None

    return words
