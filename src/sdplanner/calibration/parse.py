"""Reading and checking a calibration spec file against a model.

A spec is YAML (``docs/calibration.md``); `load_spec` reads it and `parse_spec` validates it
against a model: parameters the model has and may change (the seed's own figures, such as the
2010 Table 1 urbanization rates, are refused), bounds, priors, indicator -> variable
mappings with units, aggregation and default sigmas, and year mappings. Errors are
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

from sdplanner.calibration.fields import check_keys, mapping, number, where_of
from sdplanner.calibration.indicators import (
    parse_confidence,
    parse_deflators,
    parse_indicator,
    parse_year_mapping,
)
from sdplanner.calibration.spec import (
    LOSSES,
    MIN_RELATIVE_WIDTH,
    CalibrationSpec,
    ParameterSpec,
    Prior,
)
from sdplanner.errors import CalibrationError, did_you_mean, quote, show_path
from sdplanner.model import ModelInfo
from sdplanner.resources import data_path
from sdplanner.safe_yaml import load_yaml
from sdplanner.validation import check_identifier, check_in_range

__all__ = ["load_spec", "parse_spec"]

_SPEC_KEYS = (
    "name",
    "description",
    "final_time",
    "objective",
    "parameters",
    "indicators",
    "year_mapping",
    "deflators",
    "confidence",
)
_PARAM_KEYS = ("lower", "upper", "regions", "prior", "pooling", "transform", "description")


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


def _parse_prior(raw: Any, where: str) -> Prior:
    raw = mapping(raw, where, "a mapping with distribution and its parameters")
    dist = raw.get("distribution")
    if dist == "normal":
        check_keys(raw, ("distribution", "mean", "sd"), where)
        for key in ("mean", "sd"):
            if key not in raw:
                raise CalibrationError(
                    f"{where}.{quote(key, bare=True)}: expected a number, found none"
                )
        sd = number(raw["sd"], f"{where}.sd", "a positive standard deviation")
        if sd <= 0:
            raise CalibrationError(f"{where}.sd: expected a positive standard deviation")
        return Prior("normal", number(raw["mean"], f"{where}.mean"), sd)
    if dist == "lognormal":
        check_keys(raw, ("distribution", "median", "sdlog"), where)
        for key in ("median", "sdlog"):
            if key not in raw:
                raise CalibrationError(
                    f"{where}.{quote(key, bare=True)}: expected a positive number, found none"
                )
        median = number(raw["median"], f"{where}.median", "a positive median")
        sdlog = number(raw["sdlog"], f"{where}.sdlog", "a positive sdlog")
        if median <= 0 or sdlog <= 0:
            raise CalibrationError(f"{where}: expected a positive median and sdlog")
        return Prior("lognormal", median, sdlog)
    raise CalibrationError(
        f"{where}.distribution: expected 'normal' or 'lognormal', found {quote(dist)}"
    )


def _parse_parameter(name: str, raw: Any, model: ModelInfo, where: str) -> list[ParameterSpec]:
    raw = mapping(raw, where, "a mapping with lower and upper")
    check_keys(raw, _PARAM_KEYS, where)
    settable = model.settable
    py = model.resolve(str(name))
    if py is None or py not in settable:
        raise CalibrationError(
            f"{where}: unknown parameter: the model has no constant {quote(name)}"
            f"{did_you_mean(name, settable)}"
        )
    for key in ("lower", "upper"):
        if key not in raw:
            raise CalibrationError(f"{where}.{quote(key, bare=True)}: expected a bound, found none")
    lower = number(raw["lower"], f"{where}.lower", "a bound")
    upper = number(raw["upper"], f"{where}.upper", "a bound")
    if not lower < upper:
        raise CalibrationError(
            f"{where}: bounds reversed or empty: expected lower < upper, found lower {lower:g}"
            f" and upper {upper:g}"
        )
    if upper - lower <= MIN_RELATIVE_WIDTH * max(abs(lower), abs(upper)):
        raise CalibrationError(
            f"{where}: expected bounds wider than {MIN_RELATIVE_WIDTH:g} of their magnitude,"
            f" found lower {lower!r} and upper {upper!r}"
        )
    limits = model.variables[py].limits if py in model.variables else None
    check_in_range(lower, limits, f"{where}.lower", CalibrationError, "a bound")
    check_in_range(upper, limits, f"{where}.upper", CalibrationError, "a bound")
    transform = raw.get("transform", "linear")
    if transform not in ("linear", "log"):
        raise CalibrationError(
            f"{where}.transform: expected 'linear' or 'log', found {quote(transform)}"
        )
    if transform == "log" and lower <= 0:
        raise CalibrationError(f"{where}.transform: log needs a positive lower bound")
    prior = _parse_prior(raw["prior"], f"{where}.prior") if raw.get("prior") else None
    if prior is not None and prior.distribution == "lognormal" and lower <= 0:
        raise CalibrationError(f"{where}.prior: a log-normal prior needs a positive lower bound")
    pooled_with, tau = None, None
    if raw.get("pooling") is not None:
        if prior is not None:
            raise CalibrationError(
                f"{where}: a pooled region factor takes its prior from pooling (log-normal"
                " around 1 with sdlog tau); remove prior"
            )
        if raw.get("regions") is None:
            raise CalibrationError(f"{where}.pooling: expected regions: all or a list with it")
        if not lower < 1 < upper or lower <= 0:
            raise CalibrationError(
                f"{where}.pooling: a region factor's bounds must hold 1 (the shared value) and"
                f" be positive, found lower {lower:g} and upper {upper:g}"
            )
        pooled_with, tau = _parse_pooling(raw["pooling"], model, f"{where}.pooling")
        prior = Prior("lognormal", 1.0, tau)
    default = model.constants[py]
    subscripted = isinstance(default, np.ndarray)
    units = model.units(py) if py in model.variables else ""
    regions_raw = raw.get("regions")
    protected = _protected(model, py)
    if regions_raw is None:
        if protected:
            raise CalibrationError(
                f"{where}: {py} is data for {len(protected)} regions ({_first(protected)});"
                " a shared estimate would overwrite them; estimate it per region for"
                f" {_others(protected, model)} only"
            )
        value = float(np.mean(default)) if subscripted else float(default)
        return [ParameterSpec(py, None, lower, upper, transform, prior, value, units)]
    if not subscripted:
        raise CalibrationError(
            f"{where}.regions: {py} has no regions in the model; estimate one shared value"
        )
    if regions_raw == "all":
        regions = list(model.regions)
    elif isinstance(regions_raw, list) and regions_raw:
        regions = []
        for item in regions_raw:
            if item not in model.regions:
                raise CalibrationError(
                    f"{where}.regions: expected one of the 14 regions, found {quote(item)}"
                    f"{did_you_mean(item, model.regions)}"
                )
            if item in regions:
                raise CalibrationError(f"{where}.regions: {quote(item)} is listed twice")
            regions.append(item)
    else:
        raise CalibrationError(
            f"{where}.regions: expected 'all' or a list of regions, found {quote(regions_raw)}"
        )
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
            transform,
            prior,
            float(default[model.regions.index(r)]),
            units,
            pooled_with,
            tau,
        )
        for r in regions
    ]


def _parse_pooling(raw: Any, model: ModelInfo, where: str) -> tuple[str, float]:
    """Return ``(shared constant, tau)`` of a pooled region factor."""
    raw = mapping(raw, where, "a mapping with shared and tau")
    check_keys(raw, ("shared", "tau", "reason"), where)
    shared = model.resolve(str(raw.get("shared")))
    if shared is None or shared not in model.settable:
        raise CalibrationError(
            f"{where}.shared: expected the model constant the factors multiply, found"
            f" {quote(raw.get('shared'))}{did_you_mean(raw.get('shared'), model.settable)}"
        )
    tau = number(raw.get("tau"), f"{where}.tau", "a positive spread (sdlog)")
    if tau <= 0:
        raise CalibrationError(f"{where}.tau: expected a positive spread (sdlog), found {tau:g}")
    return shared, tau


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
    raw = mapping(raw, where, "a YAML mapping")
    check_keys(raw, _SPEC_KEYS, where)
    name = raw.get("name", path.stem if path is not None else "calibration")
    name = check_identifier(name, f"{where}: name", CalibrationError, "a calibration name")
    description = raw.get("description") or ""
    objective = mapping(raw.get("objective") or {}, f"{where}: objective", "a mapping")
    check_keys(objective, ("loss", "f_scale"), f"{where}: objective")
    loss = objective.get("loss", "linear")
    if loss not in LOSSES:
        raise CalibrationError(
            f"{where}: objective.loss: expected one of {list(LOSSES)}, found {quote(loss)}"
            f"{did_you_mean(loss, LOSSES)}"
        )
    f_scale = number(objective.get("f_scale", 1.0), f"{where}: objective.f_scale")
    if f_scale <= 0:
        raise CalibrationError(f"{where}: objective.f_scale: expected a positive number")
    deflators = parse_deflators(raw.get("deflators"), model, f"{where}: deflators")
    confidence = parse_confidence(raw.get("confidence"), f"{where}: confidence")
    final_time = None
    if raw.get("final_time") is not None:
        final_time = number(raw["final_time"], f"{where}: final_time", "a year")
        if not model.initial_time < final_time <= model.final_time:
            raise CalibrationError(
                f"{where}: final_time: expected a year in {model.initial_time + 1:g}.."
                f"{model.final_time:g}, found {final_time:g}"
            )
    params_raw = mapping(
        raw.get("parameters"), f"{where}: parameters", "a mapping of constants to estimate"
    )
    if not params_raw:
        raise CalibrationError(f"{where}: parameters: expected at least one, found none")
    parameters: list[ParameterSpec] = []
    for key, value in params_raw.items():
        parameters.extend(
            _parse_parameter(str(key), value, model, f"{where}: parameters.{quote(key, bare=True)}")
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
    ind_raw = mapping(
        raw.get("indicators"), f"{where}: indicators", "a mapping of indicators to variables"
    )
    if not ind_raw:
        raise CalibrationError(f"{where}: indicators: expected at least one, found none")
    indicators = {}
    for k, v in ind_raw.items():
        w = f"{where}: indicators.{quote(k, bare=True)}"
        key = check_identifier(k, w, CalibrationError, "an indicator name")
        indicators[key] = parse_indicator(key, v, model, w, deflators)
    year_mapping = parse_year_mapping(raw.get("year_mapping"), indicators, f"{where}: year_mapping")
    return CalibrationSpec(
        name=name.strip(),
        parameters=tuple(parameters),
        indicators=indicators,
        description=str(description).strip(),
        path=path,
        year_mapping=year_mapping,
        loss=loss,
        f_scale=f_scale,
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
