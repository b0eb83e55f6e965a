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
from collections.abc import Mapping, Sequence

from sdplanner.calibration.spec import ConfidenceRule, IndicatorSpec, YearMapping
from sdplanner.errors import CalibrationError, did_you_mean, quote
from sdplanner.model import ModelInfo
from sdplanner.schema.calibration import (
    SIGMA_KINDS,
    BasisEntry,
    ConfidenceEntry,
    DeflatorEntry,
    IndicatorEntry,
    YearMappingEntry,
)
from sdplanner.units import UNIT_SCALES, Conversion, Deflator
from sdplanner.validation import check_identifier

__all__ = ["parse_confidence", "parse_deflators", "parse_indicator", "parse_year_mapping"]


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


def parse_deflators(
    entries: Mapping[str, DeflatorEntry] | None, model: ModelInfo, where: str
) -> dict[str, Deflator]:
    """Check the spec's ``deflators`` against the model: each has its price base year.

    Parameters
    ----------
    entries : mapping or None
        Name -> deflator, valid by the spec's schema.
    model : ModelInfo
        The model: its price base year must have a value.
    where : str
        Error prefix.

    Returns
    -------
    dict
        Name -> `sdplanner.units.Deflator`.
    """
    base = model.spec.price_base
    out = {}
    for key, item in (entries or {}).items():
        w = f"{where}.{quote(key, bare=True)}"
        name = check_identifier(key, w, CalibrationError, "a deflator name")
        if base is None:
            raise CalibrationError(
                f"{w}: the model spec states no price base (money.price_base), so nothing"
                " can be deflated to it"
            )
        if base not in item.values:
            raise CalibrationError(
                f"{w}.values: expected a value for the model's price base year {base},"
                f" found years {sorted(item.values)}"
            )
        out[name] = Deflator(name, dict(item.values), int(base), item.source.strip())
    return out


def parse_confidence(entry: ConfidenceEntry | None, where: str) -> ConfidenceRule | None:
    """Return the spec's ``confidence`` rule: sigma multipliers by the data's confidence.

    Parameters
    ----------
    entry : ConfidenceEntry or None
        The rule, valid by the spec's schema; None when the spec states none.
    where : str
        Error prefix.

    Returns
    -------
    ConfidenceRule or None
        The rule (multipliers dimensionless); None when the spec states none.
    """
    if entry is None:
        return None
    labels = {
        check_identifier(k, f"{where}.sigma_factor", CalibrationError, "a label"): v
        for k, v in entry.sigma_factor.items()
    }
    return ConfidenceRule(labels, entry.recalled, entry.unlabelled)


def _basis(entry: BasisEntry | None) -> tuple[float, str]:
    """Return the basis factor (data per model unit) and its plain words."""
    if entry is None:
        return 1.0, ""
    data, model_basis = entry.data.strip(), entry.model.strip()
    if data == model_basis:
        return entry.factor, ""
    return entry.factor, (
        f"{data} against the model's {model_basis} (x {entry.factor:g}; {entry.source.strip()})"
    )


def _default_aggregation(variable: str, model: ModelInfo) -> tuple[str, tuple[str, ...]] | None:
    out = model.spec.output(variable)
    if out is None or out.aggregate == "none":
        return None
    return (out.aggregate, out.weight)


def _variables(names: Sequence[str], model: ModelInfo, where: str) -> list[str]:
    """Return the PySD names of model variables; raise naming the closest for an unknown one."""
    out = []
    for name in names:
        py = model.resolve(name)
        if py is None:
            hint = did_you_mean(name, [v for v in model.variables if v != "time"])
            raise CalibrationError(f"{where}: expected a model variable, found {quote(name)}{hint}")
        out.append(py)
    return out


def _deflator(
    entry: IndicatorEntry,
    py: str,
    model: ModelInfo,
    where: str,
    deflators: Mapping[str, Deflator],
) -> Deflator | None:
    """Return an indicator's deflator; check its prices against the model's money."""
    money = is_money(py, model)
    if money and entry.prices is None:
        raise CalibrationError(
            f"{where}.prices: {py} is in constant {model.spec.price_base} {model.spec.money_unit};"
            " expected prices: constant (data at those prices) or prices: current with a"
            " deflator, found none"
        )
    if not money and entry.prices is not None:
        raise CalibrationError(
            f"{where}.prices: {py} is not measured in {model.spec.money_unit}; remove prices"
        )
    if entry.prices != "current":
        return None
    if entry.deflator is None:
        raise CalibrationError(
            f"{where}.deflator: a series in current prices compared with {py} (constant"
            f" {model.spec.price_base} {model.spec.money_unit}) needs a deflator of the"
            " spec, found none"
        )
    deflator = deflators.get(entry.deflator)
    if deflator is None:
        raise CalibrationError(
            f"{where}.deflator: expected a deflator of the spec, found {quote(entry.deflator)}"
            f"{did_you_mean(entry.deflator, list(deflators))}"
        )
    return deflator


def parse_indicator(
    name: str,
    entry: IndicatorEntry,
    model: ModelInfo,
    where: str,
    deflators: Mapping[str, Deflator] | None = None,
) -> IndicatorSpec:
    """Check one indicator of the spec against the model and return it.

    Parameters
    ----------
    name : str
        The indicator's name in the data.
    entry : IndicatorEntry
        The indicator, valid by the spec's schema.
    model : ModelInfo
        The model.
    where : str
        Error prefix.
    deflators : mapping, optional
        The spec's deflators.

    Returns
    -------
    IndicatorSpec
        The indicator with its conversion (data units per model unit).
    """
    (py,) = _variables([entry.variable], model, f"{where}.variable")
    scale = entry.scale if entry.scale is not None else UNIT_SCALES[entry.unit]
    default = _default_aggregation(py, model)
    aggregate = entry.aggregate or (default[0] if default else None)
    if aggregate is None:
        aggregate = "sum" if entry.unit == "level" else None
    if aggregate is None:
        raise CalibrationError(
            f"{where}.aggregate: expected 'sum' or 'mean' (with weight), found nothing"
            f" ({py} has no aggregation in the model spec)"
        )
    weight_raw = entry.weight
    if weight_raw is None:
        weight_raw = list(default[1]) if default and aggregate == "mean" else []
    weight = _variables(
        [weight_raw] if isinstance(weight_raw, str) else weight_raw, model, f"{where}.weight"
    )
    if aggregate == "sum" and weight:
        raise CalibrationError(f"{where}.weight: a sum takes no weight; use aggregate: mean")
    sigma = entry.sigma
    if sigma is not None and not isinstance(sigma, dict):
        sigma = dict.fromkeys(SIGMA_KINDS, sigma)
    deflator = _deflator(entry, py, model, where, deflators or {})
    basis, basis_words = _basis(entry.basis)
    fit = entry.fit.fitted if entry.fit is not None else True
    fit_reason = (entry.fit.reason or "").strip() if entry.fit is not None else ""
    offset = None
    if entry.offset is not None:
        offset = check_identifier(entry.offset, f"{where}.offset", CalibrationError, "a group")
    return IndicatorSpec(
        name,
        py,
        entry.unit,
        scale,
        aggregate,
        tuple(weight),
        dict(sigma or {}),
        entry.prices or "",
        Conversion(scale, basis, deflator),
        basis_words,
        offset,
        fit,
        fit_reason,
    )


def parse_year_mapping(
    entries: Sequence[YearMappingEntry] | None,
    indicators: Mapping[str, IndicatorSpec],
    where: str,
) -> tuple[YearMapping, ...]:
    """Check the spec's ``year_mapping`` against its indicators.

    Parameters
    ----------
    entries : sequence or None
        The remappings, valid by the spec's schema.
    indicators : mapping
        The spec's indicators.
    where : str
        Error prefix.

    Returns
    -------
    tuple of YearMapping
        The remappings (years).
    """
    out = []
    for i, item in enumerate(entries or ()):
        if item.indicator not in indicators:
            raise CalibrationError(
                f"{where}[{i}].indicator: expected an indicator of the spec, found"
                f" {quote(item.indicator)}{did_you_mean(item.indicator, indicators)}"
            )
        out.append(YearMapping(item.indicator, item.area, item.source, item.target))
    return tuple(out)
