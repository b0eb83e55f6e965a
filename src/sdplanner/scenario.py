"""Scenario and parameter files: reading, validating, resolving ``extends``.

A scenario file is YAML (loaded with ``yaml.safe_load``)::

    name: infrastructure             # unique; the `scenario` column of every output
    description: ...                 # optional
    extends: baseline.yaml           # optional; relative to this file
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
      initial_migrant_share_of_rural_workforce:      # per region (others keep the default)
        Wulingshan: 0.38
      outside_wage_growth: {2010: 0.05, 2030: 0.03}  # year -> value series

A parameter file (``--params``) holds only a ``parameters`` mapping of the same form.
Every error is a `ScenarioError` whose message names the file and the key path.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sdplanner.engine.base import ParamValue, TimeSeries
from sdplanner.errors import ScenarioError
from sdplanner.levers import LEVERS, lever_by_name
from sdplanner.model import ModelInfo
from sdplanner.regions import REGIONS, resolve_region

__all__ = [
    "LeverSetting",
    "Scenario",
    "load_parameter_file",
    "load_scenario",
    "merge_params",
    "parse_parameters",
]

_SCENARIO_KEYS = ("name", "description", "extends", "final_time", "levers", "parameters")
_LEVER_KEYS = ("strength", "start", "ramp_years", "regions")
_MAX_RAMP = 100.0


@dataclass(frozen=True)
class LeverSetting:
    """One lever as a scenario sets it.

    Attributes
    ----------
    lever : str
        Lever name (see `sdplanner.levers.LEVERS`).
    strength : float
        Strength in the lever's unit.
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


@dataclass(frozen=True)
class Scenario:
    """A validated scenario.

    Attributes
    ----------
    name : str
        Scenario name.
    description : str
        Free text.
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
    path: Path | None = None
    files: tuple[Path, ...] = ()
    levers: Mapping[str, LeverSetting] = field(default_factory=dict)
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)
    final_time: float | None = None

    def to_params(self, model: ModelInfo) -> dict[str, ParamValue]:
        """Return the model constants this scenario sets (parameters, then levers on top).

        Parameters
        ----------
        model : ModelInfo
            The model (its regions and element order).

        Returns
        -------
        dict
            PySD name -> float or array of shape ``(n_regions,)`` or `TimeSeries`.
        """
        params: dict[str, ParamValue] = dict(self.parameters)
        for setting in self.levers.values():
            lever = lever_by_name(setting.lever)
            for key, const in (
                ("strength", lever.strength_constant),
                ("start", lever.start_constant),
                ("ramp_years", lever.ramp_constant),
            ):
                base = float(getattr(setting, key))
                overrides = {r: o[key] for r, o in setting.regions.items() if key in o}
                if overrides:
                    arr = np.full(len(model.regions), base)
                    for region, value in overrides.items():
                        arr[model.regions.index(region)] = value
                    params[const] = arr
                else:
                    params[const] = base
        return params


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise ScenarioError(f"{path}: file not found")
    if not path.is_file():
        raise ScenarioError(f"{path}: expected a YAML file, found a directory")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        raise ScenarioError(f"{path}: expected a YAML mapping, found an empty file")
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a YAML mapping, found {type(data).__name__}")
    return data


def _number(value: Any, where: str, what: str = "a number") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: expected {what}, found {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ScenarioError(f"{where}: expected {what}, found {value!r}")
    return value


def _check_range(value: float, lo: float, hi: float, where: str, what: str) -> float:
    if not lo <= value <= hi:
        raise ScenarioError(f"{where}: expected {what} in {lo:g}..{hi:g}, found {value:g}")
    return value


def _lever_fields(raw: Mapping, lever, model: ModelInfo, where: str, partial: bool) -> dict:
    out: dict[str, float] = {}
    t0, t1 = model.initial_time, model.final_time
    for key, value in raw.items():
        if key not in ("strength", "start", "ramp_years"):
            continue
        w = f"{where}.{key}"
        if key == "strength":
            v = _number(value, w)
            out[key] = _check_range(
                v, lever.minimum, lever.maximum, w, f"a strength ({lever.unit})"
            )
        elif key == "start":
            v = _number(value, w, f"a year in {t0:g}..{t1:g}")
            out[key] = _check_range(v, t0, t1, w, "a year")
        else:
            v = _number(value, w, "a number of years")
            out[key] = _check_range(v, 0.0, _MAX_RAMP, w, "a number of years")
    return out


def _parse_lever(name: str, raw: Any, model: ModelInfo, where: str, base: LeverSetting | None):
    lever = lever_by_name(name)
    if lever is None:
        raise ScenarioError(
            f"{where}: unknown lever {name!r}{_suggest(name, [lv.name for lv in LEVERS])}"
        )
    if not isinstance(raw, dict):
        raise ScenarioError(
            f"{where}: expected a mapping with strength, start, ramp_years, found {raw!r}"
        )
    for key in raw:
        if key not in _LEVER_KEYS:
            raise ScenarioError(f"{where}.{key}: unknown key{_suggest(key, _LEVER_KEYS)}")
    fields = _lever_fields(raw, lever, model, where, partial=True)
    strength = fields.get("strength", base.strength if base else None)
    if strength is None:
        raise ScenarioError(f"{where}.strength: expected a strength ({lever.unit}), found none")
    start = fields.get("start", base.start if base else lever.default_start)
    ramp = fields.get("ramp_years", base.ramp_years if base else lever.default_ramp_years)
    regions: dict[str, dict[str, float]] = {
        r: dict(o) for r, o in (base.regions if base else {}).items()
    }
    raw_regions = raw.get("regions", {})
    if raw_regions is None:
        raw_regions = {}
    if not isinstance(raw_regions, dict):
        raise ScenarioError(
            f"{where}.regions: expected a mapping of region to settings, found {raw_regions!r}"
        )
    for region, override in raw_regions.items():
        w = f"{where}.regions.{region}"
        region = resolve_region(region, w)
        if isinstance(override, int | float) and not isinstance(override, bool):
            override = {"strength": override}
        if not isinstance(override, dict):
            raise ScenarioError(f"{w}: expected a mapping or a strength, found {override!r}")
        for key in override:
            if key not in ("strength", "start", "ramp_years"):
                raise ScenarioError(f"{w}.{key}: unknown key{_suggest(key, _LEVER_KEYS[:3])}")
        regions.setdefault(region, {}).update(_lever_fields(override, lever, model, w, True))
    return LeverSetting(name, strength, start, ramp, regions)


def _parse_value(name: str, raw: Any, model: ModelInfo, where: str, default) -> ParamValue:
    subscripted = isinstance(default, np.ndarray)
    if isinstance(raw, dict) and raw:
        keys = list(raw)
        if all(isinstance(k, int | float) and not isinstance(k, bool) for k in keys):
            years = np.array([float(k) for k in keys])
            order = np.argsort(years)
            vals = np.array([_number(raw[k], f"{where}.{k}") for k in keys])[order]
            years = years[order]
            for y in years:
                _check_range(y, model.initial_time, model.final_time, where, "years")
            if subscripted:
                vals = np.repeat(vals[:, None], len(model.regions), axis=1)
            return TimeSeries(years, vals)
        if not subscripted:
            raise ScenarioError(
                f"{where}: expected a number or a year -> value mapping (the constant has no"
                f" regions), found keys {keys[:3]!r}"
            )
        arr = np.array(default, dtype=float)
        for region, value in raw.items():
            w = f"{where}.{region}"
            region = resolve_region(region, w)
            arr[model.regions.index(region)] = _number(value, w)
        return arr
    if isinstance(raw, list):
        raise ScenarioError(
            f"{where}: expected a number, a region -> value or a year -> value mapping,"
            " found a list"
        )
    return _number(raw, where)


def parse_parameters(raw: Any, model: ModelInfo, where: str) -> dict[str, ParamValue]:
    """Validate a ``parameters`` mapping against the model's constants.

    Parameters
    ----------
    raw : object
        The mapping as read from YAML.
    model : ModelInfo
        The model.
    where : str
        Error prefix (file and key path).

    Returns
    -------
    dict
        PySD name -> float, per-region array (element order) or `TimeSeries`.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScenarioError(
            f"{where}: expected a mapping of constant names to values, found {raw!r}"
        )
    lever_constants = set()
    for lever in LEVERS:
        lever_constants |= {lever.strength_constant, lever.start_constant, lever.ramp_constant}
    control = {"initial_time", "final_time", "time_step", "saveper"}
    settable = [c for c in model.constants if c not in control]
    out: dict[str, ParamValue] = {}
    for key, value in raw.items():
        w = f"{where}.{key}"
        name = model.resolve(str(key))
        if name is None or name not in settable:
            raise ScenarioError(f"{w}: unknown model constant{_suggest(key, settable)}")
        if name in lever_constants:
            raise ScenarioError(f"{w}: set levers under 'levers', not as parameters")
        out[name] = _parse_value(name, value, model, w, model.constants[name])
    return out


def merge_params(*layers: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """Merge parameter layers; later layers win, per-region arrays merge element-wise.

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
        out.update(layer)
    return out


def load_parameter_file(path: str | os.PathLike, model: ModelInfo) -> dict[str, ParamValue]:
    """Read a parameter file (a YAML mapping with a ``parameters`` key).

    Parameters
    ----------
    path : path-like
        The file (e.g. ``calibration/seed-2010-2012.params.yaml``).
    model : ModelInfo
        The model.

    Returns
    -------
    dict
        PySD name -> value.
    """
    path = Path(path)
    data = _read_yaml(path)
    for key in data:
        if key not in ("parameters", "description", "source", "metadata"):
            raise ScenarioError(f"{path}: {key}: unknown key (expected 'parameters')")
    if "parameters" not in data:
        raise ScenarioError(f"{path}: expected a 'parameters' mapping, found none")
    return parse_parameters(data["parameters"], model, f"{path}: parameters")


def _load(path: Path, model: ModelInfo, stack: tuple[Path, ...]) -> Scenario:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p.name) for p in (*stack, resolved))
        raise ScenarioError(f"{stack[-1]}: extends: loop {chain}")
    data = _read_yaml(path)
    for key in data:
        if key not in _SCENARIO_KEYS:
            raise ScenarioError(f"{path}: {key}: unknown key{_suggest(key, _SCENARIO_KEYS)}")
    base: Scenario | None = None
    if data.get("extends") is not None:
        ext = data["extends"]
        if not isinstance(ext, str) or not ext.strip():
            raise ScenarioError(f"{path}: extends: expected a scenario file name, found {ext!r}")
        parent = (path.parent / ext).resolve()
        if not parent.exists():
            raise ScenarioError(f"{path}: extends: file not found: {parent}")
        base = _load(parent, model, (*stack, resolved))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(f"{path}: name: expected a non-empty string, found {name!r}")
    description = data.get("description", "") or ""
    if not isinstance(description, str):
        raise ScenarioError(f"{path}: description: expected text, found {description!r}")
    final_time = base.final_time if base else None
    if data.get("final_time") is not None:
        ft = _number(data["final_time"], f"{path}: final_time", "a year")
        final_time = _check_range(
            ft, model.initial_time + 1, model.final_time, f"{path}: final_time", "a year"
        )
    levers = dict(base.levers) if base else {}
    raw_levers = data.get("levers") or {}
    if not isinstance(raw_levers, dict):
        raise ScenarioError(
            f"{path}: levers: expected a mapping of lever names, found {raw_levers!r}"
        )
    for lname, raw in raw_levers.items():
        levers[lname] = _parse_lever(
            str(lname), raw, model, f"{path}: levers.{lname}", levers.get(lname)
        )
    params = dict(base.parameters) if base else {}
    for key, value in parse_parameters(
        data.get("parameters"), model, f"{path}: parameters"
    ).items():
        old = params.get(key)
        if isinstance(value, np.ndarray) and isinstance(old, np.ndarray):
            raw_map = data["parameters"][
                next(k for k in data["parameters"] if model.resolve(str(k)) == key)
            ]
            merged = old.copy()
            for region in raw_map:
                idx = REGIONS.index(resolve_region(region, f"{path}: parameters.{key}.{region}"))
                merged[idx] = value[idx]
            value = merged
        params[key] = value
    return Scenario(
        name=name.strip(),
        description=description.strip(),
        path=path,
        files=(path, *(base.files if base else ())),
        levers=levers,
        parameters=params,
        final_time=final_time,
    )


def load_scenario(path: str | os.PathLike, model: ModelInfo) -> Scenario:
    """Read and validate a scenario file, following ``extends``.

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
    return _load(Path(path), model, ())
