"""Scenario and parameter files: reading, validating, resolving ``extends``.

A scenario file is YAML (read by `sdplanner.safe_yaml.load_yaml`: safe, bounded, duplicate
keys rejected)::

    name: infrastructure             # unique; the `scenario` column of every output
    title: 4.3 Infrastructure        # optional; legends and tables (default: name)
    description: ...                 # optional
    extends: baseline.yaml           # optional; relative to this file, in its folder or
                                     # the shipped scenarios folder
    final_time: 2050                 # optional (year)
    levers:
      infrastructure_investment:
        strength: 0.03               # in the lever's unit, within its range
        start: 2015                  # year
        ramp_years: 3                # year
        regions:                     # optional per-region overrides of the three fields
          Tibet: {strength: 0.05}
    parameters:                      # overrides of model constants
      base_return_rate: 0.05                         # scalar
      initial_migrant_share_of_rural_workforce:      # per region (others keep their value)
        Wulingshan: 0.38
      outside_wage_growth: {2010: 0.05, 2030: 0.03}  # year -> value series

A parameter file (``--params``) holds a ``parameters`` mapping of the same form. The full
format, with every lever, is documented in ``docs/scenarios.md``. A parameter value must lie
in the constant's range declared in the ``.mdl``. Every error is a `ScenarioError` whose
one-line message names the file and the key path.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sdplanner.engine.base import ParamValue, TimeSeries
from sdplanner.errors import ScenarioError, did_you_mean, quote, show_path
from sdplanner.model import ModelInfo
from sdplanner.resources import shipped_scenarios_dir
from sdplanner.safe_yaml import load_yaml
from sdplanner.spec import LeverSpec
from sdplanner.validation import check_identifier, check_in_range, finite_float

__all__ = [
    "LeverSetting",
    "RegionValues",
    "Scenario",
    "load_parameter_file",
    "load_scenario",
    "merge_params",
    "parse_parameters",
]

_SCENARIO_KEYS = ("name", "title", "description", "extends", "final_time", "levers", "parameters")
_LEVER_FIELDS = ("strength", "start", "ramp_years")
_LEVER_KEYS = (*_LEVER_FIELDS, "regions")
_PARAMETER_FILE_KEYS = ("parameters", "description", "source", "metadata")
_CONTROL = ("initial_time", "final_time", "time_step", "saveper")
#: Longest ramp accepted (year) when the .mdl declares no upper end for a lever's ramp.
MAX_RAMP_YEARS = 100.0
#: Longest scenario title (characters): it is a legend entry.
MAX_TITLE_CHARS = 60
#: Longest ``extends`` name, and longest folder or file name in it (characters).
MAX_EXTENDS_NAME = 1024
_MAX_PART = 255


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


@dataclass(frozen=True)
class LeverSetting:
    """One lever as a scenario sets it.

    Attributes
    ----------
    lever : str
        Lever name (a lever of the model spec, `sdplanner.spec.ModelSpec.levers`).
    strength : float
        Strength in the lever's unit, within its range.
    start : float
        Start year (year).
    ramp_years : float
        Ramp length (year); 0 for a step.
    regions : dict
        Region display name -> ``{"strength"|"start"|"ramp_years": float}`` overrides.
    """

    lever: str
    strength: float
    start: float
    ramp_years: float
    regions: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for where, values in (("", self._fields()), *self._region_fields()):
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ScenarioError(
                        f"{self.lever}{where}.{key}: expected a number, found {value!r}"
                    )

    def check(self, lever: LeverSpec, model: ModelInfo, where: str | None = None) -> None:
        """Check every field against the lever's ranges (the ``.mdl``'s) and the run.

        Parameters
        ----------
        lever : LeverSpec
            The lever of the model spec this setting is for.
        model : ModelInfo
            The model (its time bounds).
        where : str, optional
            Error prefix; the lever's name by default.

        Raises
        ------
        ScenarioError
            One line naming the field, the range and the value.
        """
        where = self.lever if where is None else where
        for sub, values in (("", self._fields()), *self._region_fields()):
            _lever_fields(values, lever, model, f"{where}{sub}")

    def _fields(self) -> dict[str, float]:
        return {"strength": self.strength, "start": self.start, "ramp_years": self.ramp_years}

    def _region_fields(self):
        return [(f".regions.{r}", dict(o)) for r, o in self.regions.items()]

    def value(self, key: str, region: str | None = None) -> float:
        """Return a field's value, for one region when given (its override, else the base).

        Parameters
        ----------
        key : {"strength", "start", "ramp_years"}
            The field.
        region : str, optional
            Region display name.

        Returns
        -------
        float
            Strength in the lever's unit, or a year, or a number of years.
        """
        if region is not None and key in self.regions.get(region, {}):
            return float(self.regions[region][key])
        return float(getattr(self, key))


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    Attributes
    ----------
    name : str
        Scenario name (the ``scenario`` column of every output).
    description : str
        Free text.
    title : str
        Short name for people (legends, tables); empty for none (`display_title` is then
        the name).
    path : pathlib.Path or None
        The file it was read from.
    files : tuple of pathlib.Path
        The file and every file it extends, child first.
    levers : dict
        Lever name -> `LeverSetting`.
    parameters : dict
        PySD name -> value (float, per-region array or `TimeSeries`).
    final_time : float or None
        Last simulated year, or None for the model's FINAL TIME.
    """

    name: str
    description: str = ""
    title: str = ""
    path: Path | None = None
    files: tuple[Path, ...] = ()
    levers: Mapping[str, LeverSetting] = field(default_factory=dict)
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)
    final_time: float | None = None

    def __post_init__(self) -> None:
        check_identifier(self.name, "name", ScenarioError, "a scenario name")
        for key, setting in self.levers.items():
            if not isinstance(setting, LeverSetting) or setting.lever != key:
                raise ScenarioError(
                    f"levers.{key}: expected a LeverSetting of lever {quote(key)},"
                    f" found {quote(setting)}"
                )

    @property
    def display_title(self) -> str:
        """The title, or the name when the scenario has none."""
        return self.title or self.name

    def to_params(self, model: ModelInfo) -> dict[str, ParamValue]:
        """Return the model constants this scenario sets (parameters, then levers on top).

        Parameters
        ----------
        model : ModelInfo
            The model (its regions and element order).

        Returns
        -------
        dict
            PySD name -> float, array of shape ``(n_regions,)`` (a `RegionValues` when only
            some regions are set) or `TimeSeries`. Levers always set all regions.
        """
        params: dict[str, ParamValue] = dict(self.parameters)
        for setting in self.levers.values():
            lever = model.spec.lever(setting.lever)
            if lever is None:
                raise ScenarioError(
                    f"levers.{setting.lever}: unknown lever{_lever_hint(model, setting.lever)}"
                )
            for key, const in (
                ("strength", lever.strength_constant),
                ("start", lever.start_constant),
                ("ramp_years", lever.ramp_constant),
            ):
                if any(key in o for o in setting.regions.values()):
                    params[const] = np.array([setting.value(key, r) for r in model.regions])
                else:
                    params[const] = float(getattr(setting, key))
        return params


# -- helpers ------------------------------------------------------------------------------


def _lever_hint(model: ModelInfo, name: object) -> str:
    """Return what replaced a lever of an earlier model, or the closest lever name."""
    renamed = model.spec.renamed.get(str(name))
    if renamed:
        return f" (this model replaced it: {renamed})"
    return did_you_mean(name, [lever.name for lever in model.spec.levers])


def resolve_region(name: object, where: str, model: ModelInfo) -> str:
    """Validate a region name typed by a user and return its display name.

    Parameters
    ----------
    name : object
        What the user wrote.
    where : str
        Prefix for the error message (file and key path).
    model : ModelInfo
        The model (its spec's region dimension).

    Returns
    -------
    str
        The display name.

    Raises
    ------
    ScenarioError
        When the name is not a region of the model; the message suggests the closest.
    """
    dim = model.spec.dimension
    labels = dim.labels if dim is not None else ()
    if isinstance(name, str) and name in labels:
        return name
    raise ScenarioError(
        f"{where}: expected one of the {len(labels)} regions, found {quote(name)}"
        f"{did_you_mean(name, labels)}"
    )


def _show(path: Path) -> str:
    return show_path(path)


def _read_yaml(path: Path, kind: str = "scenario") -> dict:
    shown = _show(path)
    data = load_yaml(path, kind=kind, error=ScenarioError)
    if data is None:
        raise ScenarioError(f"{shown}: expected a YAML mapping, found an empty file")
    if not isinstance(data, dict):  # the content is not echoed: the file may be anything
        what = "a list" if isinstance(data, list) else f"a single {type(data).__name__} value"
        raise ScenarioError(f"{shown}: expected a YAML mapping of keys to values, found {what}")
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return f"the text {quote(value)}"
    return quote(value)


def _number(value: Any, where: str, what: str = "a number") -> float:
    number = finite_float(value)
    if number is None:
        hint = ""
        if isinstance(value, str):
            try:
                float(value)
                hint = " (write a plain number such as 0.01, without quotes)"
            except ValueError:
                pass
        raise ScenarioError(f"{where}: expected {what}, found {_kind(value)}{hint}")
    return number


def _check_range(value: float, lo: float, hi: float, where: str, what: str) -> float:
    if not lo <= value <= hi:
        raise ScenarioError(f"{where}: expected {what} in {lo:g}..{hi:g}, found {value:g}")
    return value


def _lever_fields(raw: Mapping, lever: LeverSpec, model: ModelInfo, where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    t0, t1 = model.initial_time, model.final_time
    for key in _LEVER_FIELDS:
        if key not in raw:
            continue
        value, w = raw[key], f"{where}.{key}"
        if key == "strength":
            what = f"a strength ({lever.unit})"
            v = _number(value, w, f"{what} in {lever.minimum:g}..{lever.maximum:g}")
            out[key] = _check_range(v, lever.minimum, lever.maximum, w, what)
        elif key == "start":
            lo, hi = max(t0, lever.start_range[0]), min(t1, lever.start_range[1])
            v = _number(value, w, f"a year in {lo:g}..{hi:g}")
            out[key] = _check_range(v, lo, hi, w, "a year")
        else:
            lo = max(0.0, lever.ramp_range[0])
            hi = lever.ramp_range[1] if lever.ramp_range[1] < math.inf else MAX_RAMP_YEARS
            v = _number(value, w, f"a number of years in {lo:g}..{hi:g}")
            out[key] = _check_range(v, lo, hi, w, "a number of years")
    return out


def _parse_lever(
    name: object, raw: Any, model: ModelInfo, where: str, base: LeverSetting | None
) -> LeverSetting:
    lever = model.spec.lever(name) if isinstance(name, str) else None
    if lever is None:
        raise ScenarioError(f"{where}: unknown lever {quote(name)}{_lever_hint(model, name)}")
    if raw is None or not isinstance(raw, dict):
        raise ScenarioError(
            f"{where}: expected a mapping with strength, start, ramp_years, found {_kind(raw)}"
        )
    for key in raw:
        if key not in _LEVER_KEYS:
            raise ScenarioError(
                f"{where}.{quote(key, bare=True)}: unknown key{did_you_mean(key, _LEVER_KEYS)}"
            )
    fields = _lever_fields(raw, lever, model, where)
    strength = fields.get("strength", base.strength if base else None)
    if strength is None:
        raise ScenarioError(
            f"{where}.strength: expected a strength ({lever.unit}) in"
            f" {lever.minimum:g}..{lever.maximum:g}, found none"
        )
    start = fields.get("start", base.start if base else float(lever.default_start))
    ramp = fields.get("ramp_years", base.ramp_years if base else float(lever.default_ramp_years))
    regions: dict[str, dict[str, float]] = {
        r: dict(o) for r, o in (base.regions if base else {}).items()
    }
    raw_regions = raw.get("regions")
    if raw_regions is None:
        raw_regions = {}
    if not isinstance(raw_regions, dict):
        raise ScenarioError(
            f"{where}.regions: expected a mapping of region names to settings,"
            f" found {_kind(raw_regions)}"
        )
    for region, override in raw_regions.items():
        w = f"{where}.regions.{quote(region, bare=True)}"
        region = resolve_region(region, f"{where}.regions", model)
        if isinstance(override, int | float) and not isinstance(override, bool):
            override = {"strength": override}
        if not isinstance(override, dict) or not override:
            raise ScenarioError(
                f"{w}: expected a strength or a mapping with strength, start, ramp_years,"
                f" found {_kind(override)}"
            )
        for key in override:
            if key not in _LEVER_FIELDS:
                raise ScenarioError(
                    f"{w}.{quote(key, bare=True)}: unknown key{did_you_mean(key, _LEVER_FIELDS)}"
                )
        regions.setdefault(region, {}).update(_lever_fields(override, lever, model, w))
    return LeverSetting(lever.name, strength, start, ramp, regions)


def _is_year_key(key: object) -> bool:
    return isinstance(key, int | float) and not isinstance(key, bool)


def _year(key: Any, model: ModelInfo, where: str) -> float:
    t0, t1 = model.initial_time, model.final_time
    year = finite_float(key)
    if year is None:
        raise ScenarioError(f"{where}.{quote(key)}: expected a year in {t0:g}..{t1:g}")
    return _check_range(year, t0, t1, f"{where}.{key}", "a year")


def _parse_value(raw: Any, model: ModelInfo, where: str, default) -> ParamValue:
    subscripted = isinstance(default, np.ndarray)
    if isinstance(raw, dict):
        if not raw:
            raise ScenarioError(
                f"{where}: expected a number, a region -> value or a year -> value mapping,"
                " found an empty mapping"
            )
        keys = list(raw)
        years_given = [_is_year_key(k) for k in keys]
        if all(years_given):
            pairs = sorted((_year(k, model, where), _number(raw[k], f"{where}.{k}")) for k in keys)
            years = np.array([y for y, _ in pairs])
            if len(np.unique(years)) != len(years):
                raise ScenarioError(f"{where}: expected distinct years, found {quote(keys)}")
            vals = np.array([v for _, v in pairs])
            if subscripted:
                vals = np.repeat(vals[:, None], len(model.regions), axis=1)
            return TimeSeries(years, vals)
        if any(years_given):
            raise ScenarioError(
                f"{where}: expected either region names or years as keys, found both"
            )
        if not subscripted:
            raise ScenarioError(
                f"{where}: expected a number or a year -> value mapping (the constant has no"
                f" regions), found region keys {quote(keys[:3])}"
            )
        values = np.array(default, dtype=float)
        given = np.zeros(len(model.regions), dtype=bool)
        for key, value in raw.items():
            region = resolve_region(key, where, model)
            i = model.regions.index(region)
            values[i] = _number(value, f"{where}.{quote(key, bare=True)}")
            given[i] = True
        return RegionValues(values, given)
    return _number(
        raw,
        where,
        "a number, a region -> value or a year -> value mapping" if subscripted else "a number",
    )


def parse_parameters(raw: Any, model: ModelInfo, where: str) -> dict[str, ParamValue]:
    """Validate a ``parameters`` mapping against the model's constants.

    Parameters
    ----------
    raw : object
        The mapping as read from YAML: constant name (Python or ``.mdl`` spelling) -> a
        number, a region -> number mapping, or a year -> number mapping (constant units).
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
    if not isinstance(raw, dict):
        raise ScenarioError(
            f"{where}: expected a mapping of constant names to values, found {_kind(raw)}"
        )
    lever_constants = {}
    for lever in model.spec.levers:
        for const in (lever.strength_constant, lever.start_constant, lever.ramp_constant):
            lever_constants[const] = lever.name
    settable = [c for c in model.constants if c not in _CONTROL and c not in lever_constants]
    out: dict[str, ParamValue] = {}
    for key, value in raw.items():
        w = f"{where}.{quote(key, bare=True)}"
        name = model.resolve(str(key)) if isinstance(key, str) and len(key) <= 200 else None
        if name in lever_constants:
            raise ScenarioError(
                f"{w}: a lever constant; set it under 'levers.{lever_constants[name]}',"
                " not as a parameter"
            )
        if name in _CONTROL:
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
    data = _read_yaml(path, "parameter")
    shown = _show(path)
    for key in ("levers", "extends", "name", "final_time"):
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
    return parse_parameters(data["parameters"], model, f"{shown}: parameters")


def _resolve(path: Path, where: str) -> Path:
    """Return the real path of a file (symlinks followed); one line when it has none."""
    try:
        return path.resolve()
    except (RuntimeError, OSError, ValueError) as exc:  # a symlink loop, a NUL byte ...
        reason = "a symlink loop" if isinstance(exc, RuntimeError) else "an unusable path"
        raise ScenarioError(f"{where}: cannot follow {_show(path)}: {reason}") from None


def _extends_target(ext: Any, path: Path, shown: str) -> Path:
    """Check an ``extends`` value and return the file it names.

    The file must be a ``.yaml`` or ``.yml`` file inside the extending file's own folder or
    the shipped scenarios folder (symlinks followed), so a scenario cannot make sdplanner
    read any other file.
    """
    if not isinstance(ext, str) or not ext.strip():
        raise ScenarioError(f"{shown}: extends: expected a scenario file name, found {_kind(ext)}")
    name = ext.strip()
    parts = name.replace("\\", "/").split("/")
    if (
        len(name) > MAX_EXTENDS_NAME
        or any(len(part) > _MAX_PART for part in parts)
        or not name.isprintable()
    ):
        raise ScenarioError(
            f"{shown}: extends: expected a scenario file name of printable characters, at most"
            f" {_MAX_PART} per folder or file name, found {quote(name)}"
        )
    if Path(name).suffix.lower() not in (".yaml", ".yml"):
        raise ScenarioError(
            f"{shown}: extends: expected a scenario file (.yaml or .yml), found {quote(name)}"
        )
    target = path.parent / name
    real = _resolve(target, f"{shown}: extends")
    roots = [_resolve(path.parent, shown), _resolve(shipped_scenarios_dir(), shown)]
    if not any(real.is_relative_to(root) for root in roots):
        raise ScenarioError(
            f"{shown}: extends: expected a scenario file in {_show(path.parent)} or the shipped"
            f" scenarios folder, found {quote(name)} outside both"
        )
    return target


def _title(raw: Any, shown: str) -> str:
    """Return a scenario's title: one line of printable text, at most `MAX_TITLE_CHARS`."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ScenarioError(f"{shown}: title: expected text, found {_kind(raw)}")
    title = raw.strip()
    if len(title) > MAX_TITLE_CHARS or not title.isprintable():
        raise ScenarioError(
            f"{shown}: title: expected one line of at most {MAX_TITLE_CHARS} printable"
            f" characters, found {quote(title)}"
        )
    return title


def _load(
    path: Path, model: ModelInfo, stack: tuple[tuple[Path, str], ...], via: str | None
) -> Scenario:
    shown = _show(path)
    resolved = _resolve(path, via or shown)
    if any(resolved == seen for seen, _ in stack):
        chain = " -> ".join([*(s for _, s in stack), shown])
        raise ScenarioError(f"{stack[-1][1]}: extends: loop {chain}")
    if via is not None and not path.is_file():
        what = "file not found" if not path.exists() else "expected a YAML file, found a directory"
        raise ScenarioError(f"{via}: extends: {what}: {shown}")
    data = _read_yaml(path)
    for key in data:
        if key not in _SCENARIO_KEYS:
            raise ScenarioError(
                f"{shown}: {quote(key, bare=True)}: unknown key{did_you_mean(key, _SCENARIO_KEYS)}"
            )
    base: Scenario | None = None
    ext = data.get("extends")
    if ext is not None:
        parent = _extends_target(ext, path, shown)
        base = _load(parent, model, (*stack, (resolved, shown)), shown)
    name = check_identifier(data.get("name"), f"{shown}: name", ScenarioError, "a scenario name")
    description = data.get("description", "") or ""
    if not isinstance(description, str):
        raise ScenarioError(f"{shown}: description: expected text, found {_kind(description)}")
    title = _title(data.get("title"), shown)
    final_time = base.final_time if base else None
    if data.get("final_time") is not None:
        t0, t1 = model.initial_time + 1, model.final_time
        ft = _number(data["final_time"], f"{shown}: final_time", f"a year in {t0:g}..{t1:g}")
        final_time = _check_range(ft, t0, t1, f"{shown}: final_time", "a year")
    levers = dict(base.levers) if base else {}
    raw_levers = data.get("levers")
    if raw_levers is None:
        raw_levers = {}
    if not isinstance(raw_levers, dict):
        raise ScenarioError(
            f"{shown}: levers: expected a mapping of lever names to settings,"
            f" found {_kind(raw_levers)}"
        )
    for lname, raw in raw_levers.items():
        key = lname if isinstance(lname, str) else None
        setting = _parse_lever(
            lname,
            raw,
            model,
            f"{shown}: levers.{quote(lname, bare=True)}",
            levers.get(key) if key else None,
        )
        levers[setting.lever] = setting
    own = parse_parameters(data.get("parameters"), model, f"{shown}: parameters")
    params = merge_params(base.parameters if base else {}, own)
    return Scenario(
        name=name,
        description=description.strip(),
        title=title,
        path=path,
        files=(path, *(base.files if base else ())),
        levers=levers,
        parameters=params,
        final_time=final_time,
    )


def load_scenario(path: str | os.PathLike, model: ModelInfo) -> Scenario:
    """Read and validate a scenario file, following ``extends``.

    A file that ``extends`` another starts from it: its levers replace the parent's
    field by field (strength, start, ramp_years), per-region overrides merge region by
    region, parameters replace the parent's (per-region values region by region), and
    ``final_time`` is inherited unless set. ``name``, ``title`` and ``description`` are
    never inherited.

    Parameters
    ----------
    path : path-like
        The YAML file.
    model : ModelInfo
        The model the scenario is for (its constants, regions and time bounds).

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        With a one-line message naming the file and key path.
    """
    return _load(Path(path), model, (), None)


def apply_levers(
    scenario: Scenario, levers: Mapping[str, Any], model: ModelInfo, where: str = "levers"
) -> Scenario:
    """Return a scenario with levers set on top of it, as a file that ``extends`` it would.

    Parameters
    ----------
    scenario : Scenario
        The starting scenario.
    levers : mapping
        Lever name -> a strength (the lever's unit), or a mapping with ``strength``,
        ``start`` (year), ``ramp_years`` (year) and ``regions`` as in a scenario file. Fields
        not given keep the starting scenario's (or the ``.mdl``'s) values.
    model : ModelInfo
        The model (its spec's levers and ranges).
    where : str
        Error prefix.

    Returns
    -------
    Scenario
        The scenario with the levers changed; its other fields unchanged.

    Raises
    ------
    ScenarioError
        For an unknown lever (with what replaced it or the closest name) or a value outside
        its range.
    """
    if not isinstance(levers, Mapping):
        raise ScenarioError(f"{where}: expected a mapping of lever names to settings")
    out = dict(scenario.levers)
    for name, raw in levers.items():
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            raw = {"strength": raw}
        key = name if isinstance(name, str) else None
        setting = _parse_lever(name, raw, model, f"{where}.{name}", out.get(key) if key else None)
        out[setting.lever] = setting
    return replace(scenario, levers=out)
