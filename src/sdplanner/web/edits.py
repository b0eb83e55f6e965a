"""The edited scenario: the request's lever edits, checked, applied to the starting scenario.

A lever given as a number sets its strength; a lever given as an object sets any of
``strength`` (lever's unit), ``start`` (year) and ``ramp_years`` (year). A field set this way
applies to all regions: the starting scenario's per-region overrides of that field are
dropped, its other overrides are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sdplanner.errors import did_you_mean
from sdplanner.scenario import MAX_RAMP_YEARS, LeverSetting, Scenario
from sdplanner.spec import LeverSpec, ModelSpec
from sdplanner.web.requests import RequestError, _check_keys, _json_type, _key, _number

__all__ = ["edit_scenario", "lever_edits"]

_LEVER_FIELDS = ("strength", "start", "ramp_years")


def lever_edits(
    raw: Any, spec: ModelSpec, horizon: tuple[float, float]
) -> dict[str, dict[str, float]]:
    """Check the ``levers`` of a request and return them as fields per lever.

    Parameters
    ----------
    raw : Any
        The decoded ``levers`` value (None: no edit).
    spec : ModelSpec
        The model's spec (its levers and their ranges).
    horizon : tuple of float
        The model's initial and final time (year): the range of a start year.

    Returns
    -------
    dict
        Lever name -> ``{"strength"|"start"|"ramp_years": value}`` (the lever's unit, year,
        years).

    Raises
    ------
    RequestError
        An unknown lever or field, per-region settings, or a value out of its range.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RequestError(
            "levers: expected an object of lever name -> strength or"
            f" {{strength, start, ramp_years}}, found {_json_type(raw)}"
        )
    names = [lv.name for lv in spec.levers]
    edits: dict[str, dict[str, float]] = {}
    for name, value in raw.items():
        where = f"levers.{_key(name)}"
        lever = spec.lever(name) if isinstance(name, str) else None
        if lever is None:
            raise RequestError(
                f"{where}: unknown lever{did_you_mean(name, names)}; expected one of"
                f" {', '.join(names)}"
            )
        if isinstance(value, dict):
            if "regions" in value:
                raise RequestError(
                    f"{where}.regions: per-region settings are not edited in the explorer;"
                    " expected strength, start, ramp_years (edit the scenario file instead)"
                )
            _check_keys(value, _LEVER_FIELDS, where)
            fields = dict(value)
        else:
            fields = {"strength": value}
        edits[name] = _lever_fields(lever, fields, where, horizon)
    return edits


def _lever_fields(
    lever: LeverSpec, fields: Mapping, where: str, horizon: tuple[float, float]
) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in fields.items():
        w = f"{where}.{key}" if len(fields) > 1 or key != "strength" else where
        if key == "strength":
            out[key] = _number(value, w, lever.minimum, lever.maximum, f"a strength ({lever.unit})")
        elif key == "start":
            out[key] = _number(value, w, horizon[0], horizon[1], "a start year")
        else:
            out[key] = _number(value, w, 0.0, MAX_RAMP_YEARS, "a ramp length (years)")
    return out


def edit_scenario(
    start: Scenario,
    edits: Mapping[str, Mapping[str, float]],
    spec: ModelSpec,
    name: str,
    description: str = "",
) -> Scenario:
    """Return the starting scenario with the edited levers.

    Parameters
    ----------
    start : Scenario
        The starting scenario.
    edits : mapping
        From `lever_edits`.
    spec : ModelSpec
        The model's spec (a lever's defaults when the scenario does not set it).
    name : str
        Name of the edited scenario.
    description : str, optional
        Its description; by default one listing the edits.

    Returns
    -------
    Scenario
        A scenario with no file; its per-region overrides of the edited fields dropped.
    """
    levers = dict(start.levers)
    for lname, fields in edits.items():
        lever = spec.lever(lname)
        base = levers.get(lname)
        if base is None:
            base = LeverSetting(
                lname,
                max(0.0, lever.minimum),
                float(lever.default_start),
                float(lever.default_ramp_years),
            )
        regions = {}
        for region, override in base.regions.items():
            kept = {k: v for k, v in override.items() if k not in fields}
            if kept:
                regions[region] = kept
        levers[lname] = replace(base, **fields, regions=regions)
    if not description:
        changes = "; ".join(
            f"{k} " + ", ".join(f"{f} {v:g}" for f, v in fields.items())
            for k, fields in edits.items()
        )
        origin = f"{start.name} ({start.path.name})" if start.path else start.name
        description = f"Edited in the sdplanner explorer from {origin}" + (
            f": {changes}." if changes else " with no change."
        )
    return replace(
        start,
        name=name,
        title="",
        description=description,
        path=None,
        files=(),
        levers=levers,
    )
