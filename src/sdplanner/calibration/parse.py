"""Reading and checking a calibration spec file against a model.

A spec is YAML (``docs/calibration.md``); `load_spec` reads it and `parse_spec` validates it,
first against its declared schema (`sdplanner.schema.calibration`: keys, types, numbers,
bounds in order, priors, pooling), then against a model: parameters the model has and may
change (the seed's own figures, such as the 2010 Table 1 urbanization rates, are refused),
bounds within the ranges the ``.mdl`` declares, regions, indicator -> variable mappings with
prices and aggregation, and references between the spec's sections. Errors are
`CalibrationError` with one line naming the file and the key.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from sdplanner.calibration.indicators import (
    parse_confidence,
    parse_deflators,
    parse_indicator,
    parse_year_mapping,
)
from sdplanner.calibration.spec import CalibrationSpec, ParameterSpec, Prior
from sdplanner.errors import CalibrationError, did_you_mean, quote, show_path
from sdplanner.model import ModelInfo
from sdplanner.parameters import resolve_region
from sdplanner.resources import data_path
from sdplanner.safe_yaml import load_yaml
from sdplanner.schema import describe, validate
from sdplanner.schema.calibration import CalibrationFile, NormalPrior, ParameterEntry, words
from sdplanner.validation import check_identifier, check_in_range

__all__ = ["load_spec", "parse_spec"]


def where_of(path: Path | None) -> str:
    """Return the error prefix of a spec: its shown path, or ``spec`` without one."""
    return show_path(path) if path is not None else "spec"


@cache
def _data_constants() -> dict[tuple[str, str], str]:
    """Return ``(mdl name, region) -> source`` for constants that are the seed's figures."""
    out: dict[tuple[str, str], str] = {}
    path = data_path("model_inputs.csv")
    if not path.is_file():
        return out
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("status") == "data" and row.get("confidence") == "seed":
                out[(row["parameter"], row["region"])] = (
                    f"{row.get('source', '')} {row.get('source_value', '')}".strip()
                )
    return out


def _protected(model: ModelInfo, name: str) -> dict[str, str]:
    """Return region -> source for the elements of a constant that are observed data."""
    out = {}
    for (mdl_name, region), source in _data_constants().items():
        if model.resolve(mdl_name) == name:
            out[region] = source
    return out


def _prior(entry: ParameterEntry) -> Prior | None:
    """Return a parameter's prior: its own, or a pooled factor's log-normal around 1."""
    if entry.pooling is not None:
        return Prior("lognormal", 1.0, entry.pooling.tau)
    if entry.prior is None:
        return None
    if isinstance(entry.prior, NormalPrior):
        return Prior("normal", entry.prior.mean, entry.prior.sd)
    return Prior("lognormal", entry.prior.median, entry.prior.sdlog)


def _parse_parameter(
    name: str, entry: ParameterEntry, model: ModelInfo, where: str
) -> list[ParameterSpec]:
    """Check one parameter of the spec (valid by its schema) against the model."""
    settable = model.settable
    py = model.resolve(str(name))
    if py is None or py not in settable:
        raise CalibrationError(
            f"{where}: unknown parameter: the model has no constant {quote(name)}"
            f"{did_you_mean(name, settable)}"
        )
    lower, upper = entry.lower, entry.upper
    limits = model.variables[py].limits if py in model.variables else None
    check_in_range(lower, limits, f"{where}.lower", CalibrationError, "a bound")
    check_in_range(upper, limits, f"{where}.upper", CalibrationError, "a bound")
    pooled_with, tau = None, None
    if entry.pooling is not None:
        pooled_with = _pooled_with(entry.pooling.shared, model, f"{where}.pooling")
        tau = entry.pooling.tau
    prior = _prior(entry)
    default = model.constants[py]
    subscripted = isinstance(default, np.ndarray)
    units = model.units(py) if py in model.variables else ""
    protected = _protected(model, py)
    if entry.regions is None:
        if protected:
            raise CalibrationError(
                f"{where}: {py} is data for {len(protected)} regions ({_first(protected)});"
                " a shared estimate would overwrite them; estimate it per region for"
                f" {_others(protected, model)} only"
            )
        value = float(np.mean(default)) if subscripted else float(default)
        return [ParameterSpec(py, None, lower, upper, entry.transform, prior, value, units)]
    if not subscripted:
        raise CalibrationError(
            f"{where}.regions: {py} has no regions in the model; estimate one shared value"
        )
    regions = list(model.regions) if entry.regions == "all" else []
    for item in [] if entry.regions == "all" else entry.regions:
        if resolve_region(item, f"{where}.regions", model, CalibrationError) in regions:
            raise CalibrationError(f"{where}.regions: {quote(item)} is listed twice")
        regions.append(item)
    for region in regions:
        if region in protected:
            raise CalibrationError(
                f"{where}: {py} for {region} is data ({protected[region]}), not a calibration"
                f" parameter; only {_others(protected, model)} may be estimated"
            )
    return [
        ParameterSpec(
            py,
            r,
            lower,
            upper,
            entry.transform,
            prior,
            float(default[model.regions.index(r)]),
            units,
            pooled_with,
            tau,
        )
        for r in regions
    ]


def _pooled_with(shared: str, model: ModelInfo, where: str) -> str:
    """Return the PySD name of the shared constant a pooled region factor multiplies."""
    name = model.resolve(shared)
    if name is None or name not in model.settable:
        raise CalibrationError(
            f"{where}.shared: expected the model constant the factors multiply, found"
            f" {quote(shared)}{did_you_mean(shared, model.settable)}"
        )
    return name


def _first(protected: Mapping[str, str]) -> str:
    region, source = next(iter(protected.items()))
    return f"e.g. {region}: {source}"


def _others(protected: Mapping[str, str], model: ModelInfo) -> str:
    rest = [r for r in model.regions if r not in protected]
    return ", ".join(rest) if rest else "no region"


def parse_spec(raw: Any, model: ModelInfo, path: Path | None = None) -> CalibrationSpec:
    """Validate a calibration spec (as read from YAML) against a model.

    Parameters
    ----------
    raw : object
        The mapping.
    model : ModelInfo
        The model (its constants and variables).
    path : pathlib.Path, optional
        The file, for error messages.

    Returns
    -------
    CalibrationSpec
        The validated spec.

    Raises
    ------
    CalibrationError
        One line naming the file and key: unknown key, unknown parameter or variable (with
        the closest name), reversed bounds, a constant that is data (the Table 1 rates).
    """
    where = where_of(path)
    if not isinstance(raw, dict):
        raise CalibrationError(f"{where}: expected a YAML mapping, found {describe(raw)}")
    spec = validate(CalibrationFile, raw, where, CalibrationError, words)
    name = spec.name if spec.name is not None else (path.stem if path else "calibration")
    name = check_identifier(name, f"{where}: name", CalibrationError, "a calibration name")
    deflators = parse_deflators(spec.deflators, model, f"{where}: deflators")
    confidence = parse_confidence(spec.confidence, f"{where}: confidence")
    final_time = spec.final_time
    if final_time is not None and not model.initial_time < final_time <= model.final_time:
        raise CalibrationError(
            f"{where}: final_time: expected a year in {model.initial_time + 1:g}.."
            f"{model.final_time:g}, found {final_time:g}"
        )
    parameters: list[ParameterSpec] = []
    for key, entry in spec.parameters.items():
        parameters.extend(
            _parse_parameter(key, entry, model, f"{where}: parameters.{quote(key, bare=True)}")
        )
    labels = [p.label for p in parameters]
    for label in labels:
        if labels.count(label) > 1:
            raise CalibrationError(f"{where}: parameters: {label} is estimated twice")
    for par in parameters:
        if par.pooled_with is not None and par.pooled_with == par.name:
            raise CalibrationError(
                f"{where}: parameters.{par.name}.pooling.shared: a factor cannot multiply itself"
            )
    indicators = {}
    for k, v in spec.indicators.items():
        w = f"{where}: indicators.{quote(k, bare=True)}"
        key = check_identifier(k, w, CalibrationError, "an indicator name")
        indicators[key] = parse_indicator(key, v, model, w, deflators)
    year_mapping = parse_year_mapping(spec.year_mapping, indicators, f"{where}: year_mapping")
    objective = spec.objective
    return CalibrationSpec(
        name=name.strip(),
        parameters=tuple(parameters),
        indicators=indicators,
        description=(spec.description or "").strip(),
        path=path,
        year_mapping=year_mapping,
        loss=objective.loss if objective is not None else "linear",
        f_scale=objective.f_scale if objective is not None else 1.0,
        final_time=final_time,
        deflators=deflators,
        confidence=confidence,
    )


def load_spec(path: str | os.PathLike, model: ModelInfo) -> CalibrationSpec:
    """Read and validate a calibration spec file.

    Parameters
    ----------
    path : path-like
        The YAML file.
    model : ModelInfo
        The model.

    Returns
    -------
    CalibrationSpec
        The validated spec.
    """
    path = Path(path)
    raw = load_yaml(path, kind="calibration spec", error=CalibrationError)
    if raw is None:
        raise CalibrationError(f"{show_path(path)}: expected a YAML mapping, found an empty file")
    return parse_spec(raw, model, path)
