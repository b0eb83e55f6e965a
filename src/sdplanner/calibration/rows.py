"""Which data rows a calibration uses, and how each one is compared with the model.

`classify` decides, row by row, whether a figure is used, held out (after the fit window),
or left out with a reason: an indicator the spec does not name, a context area, a sub-area
total, or a figure the model reproduces by construction (a 2010 figure that is itself a
model input, such as a Table 1 urbanization rate: it carries no information and is never
evidence). A used row gets its sigma (the spec's default for its kind of area, widened by the
spec's confidence rule, unless the file gives one), its conversion factor (data units per
model unit in its year) and its offset group. `split_anchors` sets apart the rows alone in
their offset group: they fix their group's level and are no evidence.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

import pandas as pd

from sdplanner.calibration.spec import CalibrationSpec, IndicatorSpec
from sdplanner.data import MIN_RELATIVE_SIGMA, Observation, SkippedRow
from sdplanner.errors import CalibrationError, DataError
from sdplanner.model import ModelInfo
from sdplanner.resources import data_path

__all__ = [
    "ROW_COLUMNS",
    "Classified",
    "by_construction",
    "check_duplicate",
    "classify",
    "construction_input",
    "reason",
    "shipped_indicators",
    "split_anchors",
]

#: Columns of a table of compared rows (used, anchors, held out).
ROW_COLUMNS = [
    "file",
    "line",
    "indicator",
    "area",
    "area_type",
    "kind",
    "compared_with",
    "year",
    "data_year",
    "observed",
    "sigma",
    "weight",
    "factor",
    "offset_group",
    "confidence",
]
#: Shipped observation files whose indicator names the calibration knows.
_SHIPPED_DATA = ("seed_figures.csv", "history_2010_2015.csv")


@cache
def shipped_indicators() -> frozenset[str]:
    """Return the indicator names of the shipped observation files (seed and history pack).

    Returns
    -------
    frozenset of str
        Names a data row may carry without being a typo.
    """
    names: set[str] = set()
    for name in _SHIPPED_DATA:
        path = data_path(name)
        if path.is_file():
            with open(path, encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    names.add(row.get("indicator") or row.get("series") or "")
    return frozenset(names - {""})


@cache
def by_construction() -> dict[tuple[str, str, int], tuple[float, str]]:
    """Return the figures the model reproduces by construction: its data inputs.

    Returns
    -------
    dict
        ``(indicator, region, year) -> (value, "parameter (source)")`` for every row of
        ``data/model_inputs.csv`` with status ``data`` that names the figure it copies
        (``source_indicator``, ``source_year``, ``source_value``).
    """
    out: dict[tuple[str, str, int], tuple[float, str]] = {}
    path = data_path("model_inputs.csv")
    if not path.is_file():
        return out
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("status") != "data":
                continue
            try:
                year = int(row["source_year"])
                value = float(row["source_value"])
            except (KeyError, TypeError, ValueError):
                continue
            out[(row["source_indicator"], row["region"], year)] = (
                value,
                f"{row['parameter']} ({row.get('source', '')})",
            )
    return out


def construction_input(indicator: str, region: str, year: int, value: float) -> str | None:
    """Return the model input a region's figure is, or None when the model does not copy it.

    Parameters
    ----------
    indicator : str
        The row's indicator.
    region : str
        The region's display name.
    year : int
        The row's year (year, before any year mapping).
    value : float
        The figure, in the data's units (as the file writes it).

    Returns
    -------
    str or None
        ``"parameter (source)"`` of the `by_construction` input with this key and value
        (equal to 1e-9 relative), else None.
    """
    built = by_construction().get((indicator, region, int(year)))
    if built is None or abs(built[0] - value) > 1e-9 * max(1.0, abs(value)):
        return None
    return built[1]


@dataclass
class Classified:
    """The outcome of `classify` for one data row.

    Attributes
    ----------
    record : dict or None
        The compared row (`ROW_COLUMNS`) when the row is used or held out.
    held_out : bool
        True when the row is dated after the fit window.
    reason : str
        Why the row is left out ("" when it is used or held out).
    compared_only : bool
        True when the spec compares the indicator with the model without fitting it.
    context : bool
        True for a row of a context area (a province, the nation): kept for reports.
    """

    record: dict | None
    held_out: bool = False
    reason: str = ""
    compared_only: bool = False
    context: bool = False


def _model_year(obs: Observation, spec: CalibrationSpec) -> int:
    for ym in spec.year_mapping:
        if (
            ym.indicator == obs.indicator
            and ym.source == obs.year
            and (ym.area is None or ym.area == obs.area.name)
        ):
            return ym.target
    return obs.year


def _sigma(obs: Observation, ind: IndicatorSpec, spec: CalibrationSpec, w: str) -> float:
    """Return the row's sigma: the file's, or the spec's default widened by its confidence rule."""
    if obs.sigma is not None:
        return obs.sigma
    sigma = ind.sigma.get(obs.area.kind)
    if sigma is None:
        raise CalibrationError(
            f"{w}: {obs.indicator} for {obs.area.name} has no sigma and the spec gives no"
            f" default sigma for a {obs.area.kind}; add indicators.{obs.indicator}.sigma"
        )
    labelled = bool(obs.confidence) or obs.recalled
    if spec.confidence is None:
        if labelled:
            what = f"confidence {obs.confidence!r}" if obs.confidence else "a recalled source"
            raise CalibrationError(
                f"{w}: the row has {what} but the spec states no confidence rule; add"
                " confidence: {sigma_factor: {high: 1, medium: ..., low: ...}, recalled: ...}"
            )
        return sigma
    factor = spec.confidence.factor(obs.confidence, obs.recalled)
    if factor is None:
        raise CalibrationError(
            f"{w}: confidence {obs.confidence!r} is not in the spec's confidence.sigma_factor"
            f" ({', '.join(spec.confidence.factors)})"
        )
    return sigma * factor


def classify(
    obs: Observation,
    spec: CalibrationSpec,
    model: ModelInfo,
    where: str,
    until: int | None = None,
) -> Classified:
    """Decide whether one data row is used, held out or left out, and how it compares.

    Parameters
    ----------
    obs : Observation
        The row.
    spec : CalibrationSpec
        The spec.
    model : ModelInfo
        The model (its horizon, regions and variables).
    where : str
        Error prefix (file and line).
    until : int, optional
        Last year of the fit window; later rows are held out (compared, not fitted).

    Returns
    -------
    Classified
        The compared row, or the reason it is left out.

    Raises
    ------
    DataError
        A used row dated outside the model's horizon.
    CalibrationError
        A row without a sigma, a confidence label the rule lacks, a year the deflator
        does not cover, or a figure in current prices compared at constant prices.
    """
    ind = spec.indicators.get(obs.indicator)
    if ind is None:
        return Classified(None, reason="indicator not in the spec")
    if not obs.area.modelled:
        return Classified(
            None, reason=f"context area ({obs.area.area_type}): not modelled", context=True
        )
    if obs.area.kind == "sub-area" and ind.aggregate == "sum":
        return Classified(
            None,
            reason="a sub-area's total cannot be compared with its region's total"
            " (the indicator sums over areas)",
        )
    built = construction_input(obs.indicator, obs.area.model_area, obs.year, obs.value)
    if obs.area.kind == "region" and built is not None:
        return Classified(
            None,
            reason=f"reproduced by construction: the figure is the model input {built};"
            " no information, never evidence",
        )
    year = _model_year(obs, spec)
    if not model.initial_time <= year <= model.final_time:
        raise DataError(
            f"{where}: year {obs.year} is outside the model's horizon"
            f" {model.initial_time:g}..{model.final_time:g} ({obs.indicator}, "
            f"{obs.area.name}); add a year_mapping to the spec or drop the row"
        )
    if ind.prices == "constant" and "current" in obs.unit.lower():
        raise CalibrationError(
            f"{where}: unit {obs.unit!r} is current prices but indicators.{obs.indicator}"
            f" compares it with {ind.variable} at constant prices; set prices: current and a"
            " deflator"
        )
    deflator = ind.conversion.deflator
    if deflator is not None and year not in deflator.values:
        raise CalibrationError(
            f"{where}: {obs.indicator} of {year} is in current prices but deflator"
            f" {deflator.name} has no value for {year} (it has {deflator.years[0]}-"
            f"{deflator.years[-1]})"
        )
    sigma = _sigma(obs, ind, spec, where)
    if sigma < MIN_RELATIVE_SIGMA * abs(obs.value):
        raise CalibrationError(
            f"{where}: the spec's sigma {sigma:g} for a {obs.area.kind} is less than"
            f" {MIN_RELATIVE_SIGMA:g} times the value {obs.value:g}; expected a larger one"
        )
    record = {
        "file": "",
        "line": obs.line,
        "indicator": obs.indicator,
        "area": obs.area.name,
        "area_type": obs.area.area_type,
        "kind": obs.area.kind,
        "compared_with": obs.area.model_area,
        "year": int(year),
        "data_year": int(obs.year),
        "observed": obs.value,
        "sigma": float(sigma),
        "weight": obs.weight,
        "factor": ind.conversion.factor(year),
        "offset_group": f"{ind.offset}|{obs.area.name}|{obs.area.area_type}" if ind.offset else "",
        "confidence": obs.confidence + (" (recalled)" if obs.recalled else ""),
    }
    held_out = until is not None and obs.year > until
    return Classified(record, held_out=held_out, compared_only=not ind.fit and not held_out)


def split_anchors(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Set apart the rows alone in their offset group.

    A level offset fitted to one row reproduces it exactly: such a row is no evidence. It
    still fixes its group's level for rows held out after the fit window.

    Parameters
    ----------
    rows : pandas.DataFrame
        Compared rows (`ROW_COLUMNS`).

    Returns
    -------
    tuple
        ``(rows that remain, anchors)``, both with `ROW_COLUMNS`.
    """
    if rows.empty:
        return rows, rows.copy()
    grouped = rows.offset_group.astype(str)
    counts = grouped[grouped != ""].value_counts()
    alone = grouped.isin(counts[counts == 1].index)
    return rows[~alone].reset_index(drop=True), rows[alone].reset_index(drop=True)


def check_duplicate(seen: dict[tuple, str], record: dict, where: str) -> None:
    """Raise `DataError` when a row repeats an earlier one after year mapping."""
    key = (record["indicator"], record["area"], record["area_type"], record["year"])
    if key in seen:
        raise DataError(
            f"{where}: duplicate row after year mapping: {record['indicator']},"
            f" {record['area']}, {record['year']} repeats {seen[key]}"
        )
    seen[key] = (
        f"{record['file']}: line {record['line']}" if record["file"] else (f"line {record['line']}")
    )


def reason(row: SkippedRow, why: str) -> SkippedRow:
    """Return the skipped row with a reason."""
    return SkippedRow(row.line, row.indicator, row.area, row.year, why, row.file)
