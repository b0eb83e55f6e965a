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

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sdplanner.engine.base import ParamValue
from sdplanner.errors import ScenarioError, did_you_mean, quote, show_path
from sdplanner.model import ModelInfo
from sdplanner.parameters import (
    RegionValues,
    check_parameter_range,
    load_parameter_file,
    merge_params,
    parameters_words,
    parse_parameters,
    read_mapping,
    resolve_region,
)
from sdplanner.resources import shipped_scenarios_dir
from sdplanner.schema import check, describe, validate
from sdplanner.schema.scenario import LeverFile, ScenarioFile
from sdplanner.spec import LeverSpec
from sdplanner.validation import check_identifier

__all__ = [
    "MAX_RAMP_YEARS",
    "MAX_TITLE_CHARS",
    "LeverSetting",
    "RegionValues",
    "Scenario",
    "apply_levers",
    "check_parameter_range",
    "load_parameter_file",
    "load_scenario",
    "merge_params",
    "parse_parameters",
    "resolve_region",
]

_LEVER_FIELDS = ("strength", "start", "ramp_years")
#: Longest ramp accepted (year) when the .mdl declares no upper end for a lever's ramp.
MAX_RAMP_YEARS = 100.0
#: Longest scenario title (characters): it is a legend entry.
MAX_TITLE_CHARS = 60
#: Longest ``extends`` name, and longest folder or file name in it (characters).
MAX_EXTENDS_NAME = 1024
_MAX_PART = 255


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


def _lever_ranges(lever: LeverSpec, model: ModelInfo) -> dict[str, tuple[float, float, str]]:
    """Each field's valid range and what it is, in words (the .mdl's ranges and the run's)."""
    t0, t1 = model.initial_time, model.final_time
    ramp_hi = lever.ramp_range[1] if lever.ramp_range[1] < math.inf else MAX_RAMP_YEARS
    return {
        "strength": (lever.minimum, lever.maximum, f"a strength ({lever.unit})"),
        "start": (max(t0, lever.start_range[0]), min(t1, lever.start_range[1]), "a year"),
        "ramp_years": (max(0.0, lever.ramp_range[0]), ramp_hi, "a number of years"),
    }


def _lever_fields(raw: Mapping, lever: LeverSpec, model: ModelInfo, where: str) -> dict[str, float]:
    """Check each field given against its range; return them as floats."""
    out: dict[str, float] = {}
    for key, (lo, hi, what) in _lever_ranges(lever, model).items():
        if raw.get(key) is None:
            continue
        value = float(raw[key])
        if not lo <= value <= hi:
            raise ScenarioError(
                f"{where}.{key}: expected {what} in {lo:g}..{hi:g}, found {value:g}"
            )
        out[key] = value
    return out


def _lever_words(model: ModelInfo, name: object, path: tuple) -> str | None:
    """Return what a lever's settings expect at ``path`` below the lever, in words."""
    lever = model.spec.lever(name) if isinstance(name, str) else None
    if not path:
        return "a mapping with strength, start, ramp_years"
    if path == ("regions",):
        return "a mapping of region names to settings"
    if len(path) == 2 and path[0] == "regions":
        return "a strength or a mapping with strength, start, ramp_years"
    if lever is not None and path[-1] in _LEVER_FIELDS:
        lo, hi, what = _lever_ranges(lever, model)[path[-1]]
        return f"{what} in {lo:g}..{hi:g}"
    return None


def _scenario_words(model: ModelInfo):
    """Return the words of what a scenario file expects at each key path."""
    t0, t1 = model.initial_time + 1, model.final_time
    params = parameters_words(model)
    fixed = {
        ("name",): "a scenario name",
        ("description",): "text",
        ("title",): "text",
        ("extends",): "a scenario file name",
        ("final_time",): f"a year in {t0:g}..{t1:g}",
        ("levers",): "a mapping of lever names to settings",
    }

    def words(path: tuple) -> str | None:
        if path in fixed:
            return fixed[path]
        if path[:1] == ("levers",) and len(path) >= 2:
            return _lever_words(model, path[1], path[2:])
        if path[:1] == ("parameters",):
            return params(path[1:])
        return None

    return words


def _parse_lever(
    name: object, raw: Any, model: ModelInfo, where: str, base: LeverSetting | None
) -> LeverSetting:
    lever = model.spec.lever(name) if isinstance(name, str) else None
    if lever is None:
        raise ScenarioError(f"{where}: unknown lever {quote(name)}{_lever_hint(model, name)}")
    check(LeverFile, raw, where, ScenarioError, lambda path: _lever_words(model, name, path))
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
    for region, override in (raw.get("regions") or {}).items():
        w = f"{where}.regions.{quote(region, bare=True)}"
        region = resolve_region(region, f"{where}.regions", model)
        if not isinstance(override, dict):
            override = {"strength": override}
        if not override:
            raise ScenarioError(
                f"{w}: expected a strength or a mapping with strength, start, ramp_years,"
                " found an empty mapping"
            )
        regions.setdefault(region, {}).update(_lever_fields(override, lever, model, w))
    return LeverSetting(lever.name, strength, start, ramp, regions)


def _resolve(path: Path, where: str) -> Path:
    """Return the real path of a file (symlinks followed); one line when it has none."""
    try:
        return path.resolve()
    except (RuntimeError, OSError, ValueError) as exc:  # a symlink loop, a NUL byte ...
        reason = "a symlink loop" if isinstance(exc, RuntimeError) else "an unusable path"
        raise ScenarioError(f"{where}: cannot follow {show_path(path)}: {reason}") from None


def _extends_target(ext: Any, path: Path, shown: str) -> Path:
    """Check an ``extends`` value and return the file it names.

    The file must be a ``.yaml`` or ``.yml`` file inside the extending file's own folder or
    the shipped scenarios folder (symlinks followed), so a scenario cannot make sdplanner
    read any other file.
    """
    if not isinstance(ext, str) or not ext.strip():
        raise ScenarioError(
            f"{shown}: extends: expected a scenario file name, found {describe(ext)}"
        )
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
            f"{shown}: extends: expected a scenario file in {show_path(path.parent)} or the shipped"
            f" scenarios folder, found {quote(name)} outside both"
        )
    return target


def _load(
    path: Path, model: ModelInfo, stack: tuple[tuple[Path, str], ...], via: str | None
) -> Scenario:
    shown = show_path(path)
    resolved = _resolve(path, via or shown)
    if any(resolved == seen for seen, _ in stack):
        chain = " -> ".join([*(s for _, s in stack), shown])
        raise ScenarioError(f"{stack[-1][1]}: extends: loop {chain}")
    if via is not None and not path.is_file():
        what = "file not found" if not path.exists() else "expected a YAML file, found a directory"
        raise ScenarioError(f"{via}: extends: {what}: {shown}")
    data = read_mapping(path, "scenario")
    validate(ScenarioFile, data, shown, ScenarioError, _scenario_words(model))
    base: Scenario | None = None
    ext = data.get("extends")
    if ext is not None:
        parent = _extends_target(ext, path, shown)
        base = _load(parent, model, (*stack, (resolved, shown)), shown)
    name = check_identifier(data.get("name"), f"{shown}: name", ScenarioError, "a scenario name")
    description = data.get("description") or ""
    title = (data.get("title") or "").strip()
    if len(title) > MAX_TITLE_CHARS or not title.isprintable():
        raise ScenarioError(
            f"{shown}: title: expected one line of at most {MAX_TITLE_CHARS} printable"
            f" characters, found {quote(title)}"
        )
    final_time = base.final_time if base else None
    if data.get("final_time") is not None:
        t0, t1 = model.initial_time + 1, model.final_time
        final_time = float(data["final_time"])
        if not t0 <= final_time <= t1:
            raise ScenarioError(
                f"{shown}: final_time: expected a year in {t0:g}..{t1:g}, found {final_time:g}"
            )
    levers = dict(base.levers) if base else {}
    for lname, raw in (data.get("levers") or {}).items():
        setting = _parse_lever(
            lname, raw, model, f"{shown}: levers.{quote(lname, bare=True)}", levers.get(lname)
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
