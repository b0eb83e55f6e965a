"""How a spec compares data with the model: indicators, deflators, confidence, year mapping.

Each indicator names the model variable it is compared with, the data's unit, basis and
prices (one `sdplanner.units.Conversion`), how the regions make the aggregate, the default
sigma per kind of area and, optionally, an offset group. A money variable (constant yuan of
the model's price base) must say whether the data are at current prices, with a deflator of
the spec, or constant prices: a nominal series is never compared with a real variable
without one. Errors are `CalibrationError` with one line naming the file and key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sdplanner.calibration.fields import check_keys, mapping, number
from sdplanner.calibration.spec import _UNITS, ConfidenceRule, IndicatorSpec, YearMapping
from sdplanner.errors import CalibrationError, did_you_mean, quote
from sdplanner.model import ModelInfo
from sdplanner.units import Conversion, Deflator
from sdplanner.validation import check_identifier

__all__ = ["parse_confidence", "parse_deflators", "parse_indicator", "parse_year_mapping"]

_INDICATOR_KEYS = (
    "variable",
    "unit",
    "scale",
    "aggregate",
    "weight",
    "sigma",
    "prices",
    "deflator",
    "basis",
    "offset",
    "fit",
    "description",
)
_KIND_SIGMA = ("region", "aggregate", "sub-area")
_PRICES = ("current", "constant")
_BASIS_KEYS = ("data", "model", "factor", "source")


def is_money(variable: str, model: ModelInfo) -> bool:
    """Return True when a model variable is measured in money (the model's constant yuan).

    Parameters
    ----------
    variable : str
        PySD name.
    model : ModelInfo
        The model (its units and its spec's money unit).

    Returns
    -------
    bool
        Whether the variable's units name the model's money unit.
    """
    unit = model.spec.money_unit
    text = model.units(variable) if variable in model.variables else ""
    return bool(unit) and re.search(rf"\b{re.escape(unit)}\b", text) is not None


def parse_deflators(raw: Any, model: ModelInfo, where: str) -> dict[str, Deflator]:
    """Read the spec's ``deflators``: name -> year -> price level.

    Parameters
    ----------
    raw : object
        The ``deflators`` mapping (or None).
    model : ModelInfo
        The model: its price base year must have a value.
    where : str
        Error prefix.

    Returns
    -------
    dict
        Name -> `sdplanner.units.Deflator`.
    """
    if raw is None:
        return {}
    raw = mapping(raw, where, "a mapping of deflator names to {values, source}")
    base = model.spec.price_base
    out = {}
    for key, item in raw.items():
        w = f"{where}.{quote(key, bare=True)}"
        name = check_identifier(key, w, CalibrationError, "a deflator name")
        item = mapping(item, w, "a mapping with values and source")
        check_keys(item, ("values", "source", "description"), w)
        if base is None:
            raise CalibrationError(
                f"{w}: the model spec states no price base (money.price_base), so nothing"
                " can be deflated to it"
            )
        values_raw = mapping(item.get("values"), f"{w}.values", "a mapping of years to levels")
        values: dict[int, float] = {}
        for year, value in values_raw.items():
            y = number(year, f"{w}.values", "a whole year")
            if y != int(y):
                raise CalibrationError(f"{w}.values: expected a whole year, found {y:g}")
            v = number(value, f"{w}.values.{int(y)}", "a positive price level")
            if v <= 0:
                raise CalibrationError(
                    f"{w}.values.{int(y)}: expected a positive price level, found {v:g}"
                )
            values[int(y)] = v
        if base not in values:
            raise CalibrationError(
                f"{w}.values: expected a value for the model's price base year {base},"
                f" found years {sorted(values)}"
            )
        source = str(item.get("source") or "").strip()
        if not source:
            raise CalibrationError(f"{w}.source: expected where the values come from, found none")
        out[name] = Deflator(name, values, int(base), source)
    return out


def parse_confidence(raw: Any, where: str) -> ConfidenceRule | None:
    """Read the spec's ``confidence`` rule: sigma multipliers by the data's confidence.

    Parameters
    ----------
    raw : object
        ``{sigma_factor: {label: factor}, recalled: factor, unlabelled: factor}`` or None.
    where : str
        Error prefix.

    Returns
    -------
    ConfidenceRule or None
        The rule; None when the spec states none.
    """
    if raw is None:
        return None
    raw = mapping(raw, where, "a mapping with sigma_factor, recalled and unlabelled")
    check_keys(raw, ("sigma_factor", "recalled", "unlabelled", "description"), where)

    def factor(value: Any, w: str) -> float:
        v = number(value, w, "a sigma multiplier >= 1")
        if v < 1:
            raise CalibrationError(
                f"{w}: expected a sigma multiplier >= 1 (a less trusted figure weighs less,"
                f" never more), found {v:g}"
            )
        return v

    labels = mapping(raw.get("sigma_factor"), f"{where}.sigma_factor", "a mapping of labels")
    factors = {
        check_identifier(k, f"{where}.sigma_factor", CalibrationError, "a label"): factor(
            v, f"{where}.sigma_factor.{quote(k, bare=True)}"
        )
        for k, v in labels.items()
    }
    return ConfidenceRule(
        factors,
        factor(raw.get("recalled", 1.0), f"{where}.recalled"),
        factor(raw.get("unlabelled", 1.0), f"{where}.unlabelled"),
    )


def _parse_basis(raw: Any, where: str) -> tuple[float, str]:
    raw = mapping(raw, where, "a mapping with data, model, factor and source")
    check_keys(raw, _BASIS_KEYS, where)
    for key in _BASIS_KEYS:
        if raw.get(key) in (None, ""):
            raise CalibrationError(f"{where}.{key}: expected a value, found none")
    data, model_basis = str(raw["data"]).strip(), str(raw["model"]).strip()
    factor = number(raw["factor"], f"{where}.factor", "a positive factor")
    if factor <= 0:
        raise CalibrationError(f"{where}.factor: expected a positive factor, found {factor:g}")
    if data == model_basis and factor != 1:
        raise CalibrationError(
            f"{where}.factor: data and model have the same basis {quote(data)}: expected 1,"
            f" found {factor:g}"
        )
    words = "" if data == model_basis else f"{data} against the model's {model_basis}"
    return factor, (f"{words} (x {factor:g}; {str(raw['source']).strip()})" if words else "")


def _default_aggregation(variable: str, model: ModelInfo) -> tuple[str, tuple[str, ...]] | None:
    out = model.spec.output(variable)
    if out is None or out.aggregate == "none":
        return None
    return (out.aggregate, out.weight)


def parse_indicator(
    name: str,
    raw: Any,
    model: ModelInfo,
    where: str,
    deflators: Mapping[str, Deflator] | None = None,
) -> IndicatorSpec:
    """Read one indicator of the spec.

    Parameters
    ----------
    name : str
        The indicator's name in the data.
    raw : object
        Its mapping.
    model : ModelInfo
        The model.
    where : str
        Error prefix.
    deflators : mapping, optional
        The spec's deflators.

    Returns
    -------
    IndicatorSpec
        The indicator with its conversion.
    """
    raw = mapping(raw, where, "a mapping with variable, unit, aggregate, weight, sigma")
    check_keys(raw, _INDICATOR_KEYS, where)
    variables = [v for v in model.variables if v != "time"]
    var = raw.get("variable")
    py = model.resolve(str(var)) if var is not None else None
    if py is None:
        hint = did_you_mean(var, variables)
        raise CalibrationError(
            f"{where}.variable: expected a model variable, found {quote(var)}{hint}"
        )
    unit = raw.get("unit", "level")
    if not isinstance(unit, str) or unit not in _UNITS:
        raise CalibrationError(f"{where}.unit: expected one of {list(_UNITS)}, found {quote(unit)}")
    scale = _UNITS[unit]
    if "scale" in raw:
        scale = number(raw["scale"], f"{where}.scale", "a positive number")
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
            v = number(value, f"{where}.sigma", "a positive standard error")
            if v <= 0:
                raise CalibrationError(
                    f"{where}.sigma: expected a positive standard error, found {v:g}"
                )
            sigma[kind] = v
    prices = raw.get("prices")
    money = is_money(py, model)
    deflator = None
    if prices is not None and prices not in _PRICES:
        raise CalibrationError(
            f"{where}.prices: expected one of {list(_PRICES)}, found {quote(prices)}"
        )
    if money and prices is None:
        raise CalibrationError(
            f"{where}.prices: {py} is in constant {model.spec.price_base} {model.spec.money_unit};"
            " expected prices: constant (data at those prices) or prices: current with a"
            " deflator, found none"
        )
    if not money and prices is not None:
        raise CalibrationError(
            f"{where}.prices: {py} is not measured in {model.spec.money_unit}; remove prices"
        )
    if prices == "current":
        name_d = raw.get("deflator")
        if name_d is None:
            raise CalibrationError(
                f"{where}.deflator: a series in current prices compared with {py} (constant"
                f" {model.spec.price_base} {model.spec.money_unit}) needs a deflator of the"
                " spec, found none"
            )
        deflator = (deflators or {}).get(str(name_d))
        if deflator is None:
            raise CalibrationError(
                f"{where}.deflator: expected a deflator of the spec, found {quote(name_d)}"
                f"{did_you_mean(name_d, list(deflators or {}))}"
            )
    elif "deflator" in raw:
        raise CalibrationError(f"{where}.deflator: only a series with prices: current has one")
    basis, basis_words = 1.0, ""
    if "basis" in raw:
        basis, basis_words = _parse_basis(raw["basis"], f"{where}.basis")
    fit, fit_reason = True, ""
    if "fit" in raw:
        fit_raw = mapping(raw["fit"], f"{where}.fit", "{fitted: false, reason: ...}")
        check_keys(fit_raw, ("fitted", "reason"), f"{where}.fit")
        if not isinstance(fit_raw.get("fitted"), bool):
            raise CalibrationError(f"{where}.fit.fitted: expected true or false")
        fit = fit_raw["fitted"]
        fit_reason = str(fit_raw.get("reason") or "").strip()
        if not fit and not fit_reason:
            raise CalibrationError(f"{where}.fit.reason: expected why it is not fitted")
    offset = None
    if raw.get("offset") is not None:
        offset = check_identifier(raw["offset"], f"{where}.offset", CalibrationError, "a group")
    return IndicatorSpec(
        name,
        py,
        unit,
        scale,
        aggregate,
        tuple(weight),
        sigma,
        prices or "",
        Conversion(scale, basis, deflator),
        basis_words,
        offset,
        fit,
        fit_reason,
    )


def parse_year_mapping(
    raw: Any, indicators: Mapping[str, IndicatorSpec], where: str
) -> tuple[YearMapping, ...]:
    """Read the spec's ``year_mapping`` list.

    Parameters
    ----------
    raw : object
        The list (or None).
    indicators : mapping
        The spec's indicators.
    where : str
        Error prefix.

    Returns
    -------
    tuple of YearMapping
        The remappings.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CalibrationError(f"{where}: expected a list of {{indicator, area, from, to}}")
    out = []
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        item = mapping(item, w, "a mapping with indicator, area, from, to")
        check_keys(item, ("indicator", "area", "from", "to", "reason"), w)
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
            y = number(item.get(key), f"{w}.{quote(key, bare=True)}", "a whole year")
            if y != int(y):
                raise CalibrationError(
                    f"{w}.{quote(key, bare=True)}: expected a whole year, found {y:g}"
                )
            years.append(int(y))
        out.append(YearMapping(str(ind), area, years[0], years[1]))
    return tuple(out)
