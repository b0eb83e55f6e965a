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
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from sdplanner.calibration.spec import (
    _UNITS,
    LOSSES,
    MAX_MAGNITUDE,
    MIN_RELATIVE_WIDTH,
    CalibrationSpec,
    IndicatorSpec,
    ParameterSpec,
    Prior,
    YearMapping,
)
from sdplanner.errors import CalibrationError, did_you_mean, quote, show_path
from sdplanner.model import ModelInfo
from sdplanner.resources import data_path
from sdplanner.safe_yaml import load_yaml
from sdplanner.validation import check_identifier, check_in_range, finite_float

__all__ = ["load_spec", "parse_spec"]

_SPEC_KEYS = (
    "name",
    "description",
    "final_time",
    "objective",
    "parameters",
    "indicators",
    "year_mapping",
)
_PARAM_KEYS = ("lower", "upper", "regions", "prior", "transform", "description")
_INDICATOR_KEYS = (
    "variable",
    "unit",
    "scale",
    "aggregate",
    "weight",
    "sigma",
    "description",
)
_KIND_SIGMA = ("region", "aggregate", "sub-area")


def _where(path: Path | None) -> str:
    return show_path(path) if path is not None else "spec"


def _num(value: Any, where: str, what: str = "a number") -> float:
    number = finite_float(value)
    if number is None:
        raise CalibrationError(f"{where}: expected {what}, found {quote(value)}")
    if abs(number) > MAX_MAGNITUDE:
        raise CalibrationError(
            f"{where}: expected {what} of magnitude at most {MAX_MAGNITUDE:g}, found {number:g}"
        )
    return number


def _mapping(value: Any, where: str, what: str) -> Mapping:
    if not isinstance(value, dict):
        raise CalibrationError(f"{where}: expected {what}, found {quote(value)}")
    return value


def _check_keys(raw: Mapping, allowed: Sequence[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise CalibrationError(
                f"{where}.{quote(key, bare=True)}: unknown key{did_you_mean(key, allowed)}"
            )


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
    raw = _mapping(raw, where, "a mapping with distribution and its parameters")
    dist = raw.get("distribution")
    if dist == "normal":
        _check_keys(raw, ("distribution", "mean", "sd"), where)
        for key in ("mean", "sd"):
            if key not in raw:
                raise CalibrationError(
                    f"{where}.{quote(key, bare=True)}: expected a number, found none"
                )
        sd = _num(raw["sd"], f"{where}.sd", "a positive standard deviation")
        if sd <= 0:
            raise CalibrationError(f"{where}.sd: expected a positive standard deviation")
        return Prior("normal", _num(raw["mean"], f"{where}.mean"), sd)
    if dist == "lognormal":
        _check_keys(raw, ("distribution", "median", "sdlog"), where)
        for key in ("median", "sdlog"):
            if key not in raw:
                raise CalibrationError(
                    f"{where}.{quote(key, bare=True)}: expected a positive number, found none"
                )
        median = _num(raw["median"], f"{where}.median", "a positive median")
        sdlog = _num(raw["sdlog"], f"{where}.sdlog", "a positive sdlog")
        if median <= 0 or sdlog <= 0:
            raise CalibrationError(f"{where}: expected a positive median and sdlog")
        return Prior("lognormal", median, sdlog)
    raise CalibrationError(
        f"{where}.distribution: expected 'normal' or 'lognormal', found {quote(dist)}"
    )


def _parse_parameter(name: str, raw: Any, model: ModelInfo, where: str) -> list[ParameterSpec]:
    raw = _mapping(raw, where, "a mapping with lower and upper")
    _check_keys(raw, _PARAM_KEYS, where)
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
    lower = _num(raw["lower"], f"{where}.lower", "a bound")
    upper = _num(raw["upper"], f"{where}.upper", "a bound")
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
        )
        for r in regions
    ]


def _first(protected: Mapping[str, str]) -> str:
    region, source = next(iter(protected.items()))
    return f"e.g. {region}: {source}"


def _others(protected: Mapping[str, str], model: ModelInfo) -> str:
    rest = [r for r in model.regions if r not in protected]
    return ", ".join(rest) if rest else "no region"


def _default_aggregation(variable: str, model: ModelInfo) -> tuple[str, tuple[str, ...]] | None:
    out = model.spec.output(variable)
    if out is None or out.aggregate == "none":
        return None
    return (out.aggregate, out.weight)


def _parse_indicator(name: str, raw: Any, model: ModelInfo, where: str) -> IndicatorSpec:
    raw = _mapping(raw, where, "a mapping with variable, unit, aggregate, weight, sigma")
    _check_keys(raw, _INDICATOR_KEYS, where)
    variables = [v for v in model.variables if v != "time"]
    var = raw.get("variable")
    py = model.resolve(str(var)) if var is not None else None
    if py is None:
        hint = did_you_mean(var, variables)
        raise CalibrationError(
            f"{where}.variable: expected a model variable, found {quote(var)}{hint}"
        )
    unit = raw.get("unit", "level")
    if unit not in _UNITS:
        raise CalibrationError(f"{where}.unit: expected one of {list(_UNITS)}, found {quote(unit)}")
    scale = _UNITS[unit]
    if "scale" in raw:
        scale = _num(raw["scale"], f"{where}.scale", "a positive number")
        if scale <= 0:
            raise CalibrationError(f"{where}.scale: expected a positive number, found {scale:g}")
    default = _default_aggregation(py, model)
    aggregate = raw.get("aggregate", default[0] if default else None)
    if aggregate is None:
        aggregate = "sum" if unit == "level" else None
    if aggregate not in ("sum", "mean"):
        raise CalibrationError(
            f"{where}.aggregate: expected 'sum' or 'mean' (with weight), found {quote(aggregate)}"
        )
    weight_raw = raw.get("weight", list(default[1]) if default and aggregate == "mean" else [])
    if isinstance(weight_raw, str):
        weight_raw = [weight_raw]
    if not isinstance(weight_raw, list):
        raise CalibrationError(f"{where}.weight: expected a variable or a list of them")
    weight = []
    for w in weight_raw:
        wp = model.resolve(str(w))
        if wp is None:
            hint = did_you_mean(w, variables)
            raise CalibrationError(
                f"{where}.weight: expected a model variable, found {quote(w)}{hint}"
            )
        weight.append(wp)
    if aggregate == "sum" and weight:
        raise CalibrationError(f"{where}.weight: a sum takes no weight; use aggregate: mean")
    sigma: dict[str, float] = {}
    if "sigma" in raw:
        s = raw["sigma"]
        items = s.items() if isinstance(s, dict) else ((k, s) for k in _KIND_SIGMA)
        for kind, value in items:
            if kind not in _KIND_SIGMA:
                raise CalibrationError(
                    f"{where}.sigma.{kind}: expected one of {list(_KIND_SIGMA)}"
                    f"{did_you_mean(kind, _KIND_SIGMA)}"
                )
            v = _num(value, f"{where}.sigma", "a positive standard error")
            if v <= 0:
                raise CalibrationError(
                    f"{where}.sigma: expected a positive standard error, found {v:g}"
                )
            sigma[kind] = v
    return IndicatorSpec(name, py, unit, scale, aggregate, tuple(weight), sigma)


def _parse_year_mapping(raw: Any, indicators: Mapping[str, IndicatorSpec], where: str):
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CalibrationError(f"{where}: expected a list of {{indicator, area, from, to}}")
    out = []
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        item = _mapping(item, w, "a mapping with indicator, area, from, to")
        _check_keys(item, ("indicator", "area", "from", "to", "reason"), w)
        ind = item.get("indicator")
        if ind not in indicators:
            raise CalibrationError(
                f"{w}.indicator: expected an indicator of the spec, found {quote(ind)}"
                f"{did_you_mean(ind, indicators)}"
            )
        area = item.get("area")
        if area is not None and not isinstance(area, str):
            raise CalibrationError(f"{w}.area: expected an area name, found {quote(area)}")
        years = []
        for key in ("from", "to"):
            y = _num(item.get(key), f"{w}.{quote(key, bare=True)}", "a whole year")
            if y != int(y):
                raise CalibrationError(
                    f"{w}.{quote(key, bare=True)}: expected a whole year, found {y:g}"
                )
            years.append(int(y))
        out.append(YearMapping(str(ind), area, years[0], years[1]))
    return tuple(out)


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
    where = _where(path)
    raw = _mapping(raw, where, "a YAML mapping")
    _check_keys(raw, _SPEC_KEYS, where)
    name = raw.get("name", path.stem if path is not None else "calibration")
    name = check_identifier(name, f"{where}: name", CalibrationError, "a calibration name")
    description = raw.get("description") or ""
    objective = _mapping(raw.get("objective") or {}, f"{where}: objective", "a mapping")
    _check_keys(objective, ("loss", "f_scale"), f"{where}: objective")
    loss = objective.get("loss", "linear")
    if loss not in LOSSES:
        raise CalibrationError(
            f"{where}: objective.loss: expected one of {list(LOSSES)}, found {quote(loss)}"
            f"{did_you_mean(loss, LOSSES)}"
        )
    f_scale = _num(objective.get("f_scale", 1.0), f"{where}: objective.f_scale")
    if f_scale <= 0:
        raise CalibrationError(f"{where}: objective.f_scale: expected a positive number")
    final_time = None
    if raw.get("final_time") is not None:
        final_time = _num(raw["final_time"], f"{where}: final_time", "a year")
        if not model.initial_time < final_time <= model.final_time:
            raise CalibrationError(
                f"{where}: final_time: expected a year in {model.initial_time + 1:g}.."
                f"{model.final_time:g}, found {final_time:g}"
            )
    params_raw = _mapping(
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
    ind_raw = _mapping(
        raw.get("indicators"), f"{where}: indicators", "a mapping of indicators to variables"
    )
    if not ind_raw:
        raise CalibrationError(f"{where}: indicators: expected at least one, found none")
    indicators = {}
    for k, v in ind_raw.items():
        w = f"{where}: indicators.{quote(k, bare=True)}"
        key = check_identifier(k, w, CalibrationError, "an indicator name")
        indicators[key] = _parse_indicator(key, v, model, w)
    year_mapping = _parse_year_mapping(
        raw.get("year_mapping"), indicators, f"{where}: year_mapping"
    )
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
