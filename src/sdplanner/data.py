"""Observations for calibration: reading and validating them, and mapping areas to regions.

An observation file is a long CSV with one figure per row, in either of two layouts::

    indicator,area,year,value[,sigma][,weight][,area_type][,any other column]
    series,area,year,value,unit,source,confidence

(``data/seed_figures.csv`` has the first, the history pack ``data/history_2010_2015.csv``
the second). The columns:

- ``indicator`` or ``series`` (one of the two): a name such as ``rural_income_per_capita``;
  the calibration spec says which model variable each indicator is compared with.
- ``area``: one of the 14 regions, the aggregate (``All 14 regions`` or ``14 regions``), a
  sub-area (prefecture, district) or a context area (province, the nation), as named in the
  area mapping (``data/area_mapping.csv``).
- ``year``: a whole year.
- ``value``: the figure, in the unit the spec states for the indicator. A row whose value is
  empty is skipped and listed (`ObservationSet.skipped`), not an error.
- ``sigma`` (optional): the figure's standard error, in the same unit; empty means "use the
  spec's default".
- ``weight`` (optional): a non-negative multiplier of the row's squared residual; empty means 1.
- ``area_type`` (optional): when present it is part of a row's identity, so the same name can
  be two areas (``Tibet`` is a region and a province in ``seed_figures.csv``).
- ``unit`` (optional): the figure's unit as the source writes it; the calibration refuses a
  unit in current prices (``yuan_per_capita_current``) compared without a deflator.
- ``confidence`` (optional): ``high``, ``medium``, ``low`` ...: the calibration spec's
  confidence rule turns it into a larger sigma (never a dropped row).
- ``source`` (optional): where the figure comes from; a source starting with ``recalled``
  marks a figure not found in any source (the spec's rule weighs it less).

Other columns (``note`` ...) are kept out of the way and ignored. A file is at
most `MAX_CSV_BYTES`; a column name appears once; indicator and area names are identifiers
(`sdplanner.validation.check_identifier`); numbers are finite and at most `MAX_MAGNITUDE` in
magnitude, and a sigma is at least `MIN_RELATIVE_SIGMA` times the value's magnitude. Errors
are `DataError` with one line naming the file, the line and what was expected and found.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

from sdplanner.errors import DataError, did_you_mean, quote, show_path
from sdplanner.resources import data_path
from sdplanner.spec import Dimension
from sdplanner.validation import MAX_MAGNITUDE, check_identifier

__all__ = [
    "AREA_KINDS",
    "MAX_CSV_BYTES",
    "MAX_MAGNITUDE",
    "MIN_RELATIVE_SIGMA",
    "OBSERVATION_COLUMNS",
    "Area",
    "AreaMap",
    "Observation",
    "ObservationSet",
    "SkippedRow",
    "load_area_mapping",
    "read_observations",
]

#: Kinds of area in the mapping file.
AREA_KINDS = ("region", "aggregate", "sub-area", "context")
#: Required columns of an observation file (``series`` may stand for ``indicator``), then
#: the optional ones it understands.
OBSERVATION_COLUMNS = ("indicator", "area", "year", "value")
_OPTIONAL = ("sigma", "weight", "area_type", "unit", "confidence", "source")
_INDICATOR_ALIASES = ("indicator", "series")
_MAPPING_COLUMNS = ("area", "area_type", "kind", "region", "note")
_MAPPING_OPTIONAL = ("population_share", "share_source")
#: Largest observation or mapping file read (byte).
MAX_CSV_BYTES = 64 << 20
#: Smallest sigma relative to the value's magnitude (a smaller one weighs a row beyond what
#: double precision can compare).
MIN_RELATIVE_SIGMA = 1e-12


@dataclass(frozen=True)
class Area:
    """One named area and how it relates to the model.

    Attributes
    ----------
    name : str
        Name as data files write it (``"Enshi"``).
    area_type : str
        Type as ``seed_figures.csv`` writes it (``"prefecture (Wulingshan)"``).
    kind : str
        ``"region"`` (one of the 14), ``"aggregate"`` (all 14), ``"sub-area"`` (part of one
        region, compared with that region's value) or ``"context"`` (not modelled; rows ignored).
    region : str or None
        Display name of the region for a region or a sub-area; None otherwise.
    note : str
        Free text.
    aggregate : str
        Label of the model's aggregate rows (what an ``"aggregate"`` area is compared with).
    population_share : float or None
        For a context area named with a region: the share of that region's population
        living in it (fraction), where known.
    share_source : str
        Where ``population_share`` comes from.
    """

    name: str
    area_type: str
    kind: str
    region: str | None
    note: str = ""
    aggregate: str = ""
    population_share: float | None = None
    share_source: str = ""

    @property
    def modelled(self) -> bool:
        """True unless the area is a context area (a province, the nation)."""
        return self.kind != "context"

    @property
    def model_area(self) -> str:
        """The area of the model it is compared with: a region display name or the aggregate."""
        return self.region if self.region is not None else self.aggregate


@dataclass(frozen=True)
class AreaMap:
    """The areas data files may name.

    Attributes
    ----------
    areas : tuple of Area
        Every row of the mapping file.
    path : pathlib.Path or None
        The file it was read from.
    """

    areas: tuple[Area, ...]
    path: Path | None = None

    @property
    def names(self) -> list[str]:
        """Every area name, without repeats."""
        return list(dict.fromkeys(a.name for a in self.areas))

    def resolve(self, name: str, area_type: str | None, where: str) -> Area:
        """Return the area a data row names.

        Parameters
        ----------
        name : str
            The row's ``area``.
        area_type : str or None
            The row's ``area_type`` when the file has that column.
        where : str
            Error prefix (file and line).

        Returns
        -------
        Area
            The matching area. Without ``area_type``, a name that is both a modelled area
            and a context area (``Tibet``) means the modelled one.

        Raises
        ------
        DataError
            When the name (or the name and type) is not in the mapping.
        """
        matches = [a for a in self.areas if a.name == name]
        if not matches:
            raise DataError(
                f"{where}: unknown area {quote(name)}{did_you_mean(name, self.names)};"
                f" expected a region, the aggregate or an area of {self._source()}"
            )
        if area_type:
            typed = [a for a in matches if a.area_type == area_type]
            if not typed:
                types = [a.area_type for a in matches]
                raise DataError(
                    f"{where}: area {quote(name)} has no area_type {quote(area_type)}"
                    f"{did_you_mean(area_type, types)}; expected one of {types}"
                )
            return typed[0]
        modelled = [a for a in matches if a.modelled]
        return (modelled or matches)[0]

    def _source(self) -> str:
        return str(self.path) if self.path is not None else "the area mapping"

    def context_of(self, region: str) -> list[Area]:
        """Return the context areas (provinces) a region lies in.

        Parameters
        ----------
        region : str
            A region's display name.

        Returns
        -------
        list of Area
            Context rows naming that region, in file order, each with the share of the
            region's population it holds where known.
        """
        return [a for a in self.areas if a.kind == "context" and a.region == region]


def _read_csv_rows(path: Path, error) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    shown = show_path(path)
    if not path.exists():
        raise error(f"{shown}: file not found")
    if not path.is_file():
        raise error(f"{shown}: expected a CSV file, found a directory")
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise error(
                f"{shown}: expected a CSV file of at most {MAX_CSV_BYTES:,} bytes, found {size:,}"
            )
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            repeated = [h for i, h in enumerate(header) if h in header[:i]]
            if repeated:
                raise error(f"{shown}: line 1: column {quote(repeated[0])} appears twice")
            reader.fieldnames = header
            rows = []
            line = reader.line_num
            for row in reader:
                rows.append((line + 1, row))
                line = reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = quote(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise error(f"{shown}: cannot read as UTF-8 CSV ({reason[1:-1]})") from None
    return header, rows


def load_area_mapping(path: str | os.PathLike | None, dimension: Dimension) -> AreaMap:
    """Read and validate an area mapping file.

    Parameters
    ----------
    path : path-like or None
        CSV with columns ``area, area_type, kind, region, note`` and optionally
        ``population_share, share_source``; the shipped ``data/area_mapping.csv`` when
        None. A context area (a province) may be listed once per region it holds part of,
        with ``region`` and the share of that region's population it holds.
    dimension : Dimension
        The model's regions: every ``region`` cell must be one of them.

    Returns
    -------
    AreaMap
        The areas.

    Raises
    ------
    DataError
        On a missing column, an unknown kind, a region that is not one of the model's, a
        sub-area without a region, a share outside [0, 1] or without a source, or a
        repeated (area, area_type, region).
    """
    path = data_path("area_mapping.csv") if path is None else Path(path)
    return _load_area_mapping(path, dimension)


@cache
def _load_area_mapping(path: Path, dimension: Dimension) -> AreaMap:
    header, rows = _read_csv_rows(path, DataError)
    missing = [c for c in _MAPPING_COLUMNS[:4] if c not in header]
    if missing:
        raise DataError(f"{path}: expected columns {list(_MAPPING_COLUMNS)}, missing {missing}")
    areas: list[Area] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in rows:
        where = f"{show_path(path)}: line {line}"
        name = (row.get("area") or "").strip()
        area_type = (row.get("area_type") or "").strip()
        kind = (row.get("kind") or "").strip()
        region = (row.get("region") or "").strip() or None
        if not name:
            raise DataError(f"{where}: expected an area name, found an empty cell")
        name = check_identifier(name, f"{where}: area", DataError, "an area name")
        if kind not in AREA_KINDS:
            raise DataError(
                f"{where}: kind: expected one of {list(AREA_KINDS)}, found {quote(kind)}"
            )
        if kind in ("region", "sub-area") or (kind == "context" and region is not None):
            if not dimension.labels:
                raise DataError(
                    f"{where}: kind: the model has no regions (no region dimension), so an"
                    f" area is its whole ('aggregate') or 'context'; found a {kind}"
                )
            if region not in dimension.labels:
                raise DataError(
                    f"{where}: region: expected one of the {len(dimension.labels)} regions of"
                    f" the model for a {kind}, found {quote(region)}"
                    f"{did_you_mean(region or '', dimension.labels)}"
                )
        elif region is not None:
            raise DataError(f"{where}: region: expected an empty cell for a {kind}")
        share, share_source = _population_share(row, kind, region, where)
        key = (name, area_type, region if kind == "context" else None)
        if key in seen:
            raise DataError(f"{where}: area {quote(name)} ({area_type}) repeats line {seen[key]}")
        seen[key] = line
        note = (row.get("note") or "").strip()
        areas.append(
            Area(
                name,
                area_type,
                kind,
                region,
                note,
                dimension.aggregate,
                share,
                share_source,
            )
        )
    return AreaMap(tuple(areas), path)


def _population_share(
    row: dict[str, str], kind: str, region: str | None, where: str
) -> tuple[float | None, str]:
    text = (row.get("population_share") or "").strip()
    source = (row.get("share_source") or "").strip()
    if not text:
        return None, source
    if kind != "context" or region is None:
        raise DataError(
            f"{where}: population_share: expected an empty cell for a {kind} without a region"
            " (a share belongs to a context area and the region it holds part of)"
        )
    share = _float(text, f"{where}: population_share", "a share in [0, 1]")
    if not 0.0 <= share <= 1.0:
        raise DataError(f"{where}: population_share: expected a share in [0, 1], found {share:g}")
    if not source:
        raise DataError(f"{where}: share_source: expected the source of the share, found none")
    return share, source


@dataclass(frozen=True)
class Observation:
    """One observed figure.

    Attributes
    ----------
    line : int
        Line of the file (the header is line 1).
    indicator : str
        Indicator name.
    area : Area
        The area, resolved through the mapping.
    year : int
        Year the figure is dated (year).
    value : float
        The figure, in the indicator's data unit (see the spec).
    sigma : float or None
        Standard error in the same unit, or None for the spec's default.
    weight : float
        Multiplier of the squared residual (dimensionless, >= 0).
    unit : str
        The unit the file gives ("" without a ``unit`` column).
    confidence : str
        The file's confidence label ("" without a ``confidence`` column).
    source : str
        The file's source ("" without a ``source`` column).
    """

    line: int
    indicator: str
    area: Area
    year: int
    value: float
    sigma: float | None = None
    weight: float = 1.0
    unit: str = ""
    confidence: str = ""
    source: str = ""

    @property
    def recalled(self) -> bool:
        """True when the source says the figure was recalled, not found in a source."""
        return self.source.lower().startswith("recalled")


@dataclass(frozen=True)
class SkippedRow:
    """A row left out before calibration, and why.

    Attributes
    ----------
    line : int
        Line of the file.
    indicator, area : str
        As written in the row.
    year : str
        As written in the row.
    reason : str
        Plain words.
    file : str
        The file's name when rows of several files are listed together ("" otherwise).
    """

    line: int
    indicator: str
    area: str
    year: str
    reason: str
    file: str = ""

    def describe(self) -> str:
        """Return one line: where, what and why."""
        where = f"{self.file}: line {self.line}" if self.file else f"line {self.line}"
        return f"{where}: {self.indicator}, {self.area}, {self.year}: {self.reason}"


@dataclass(frozen=True)
class ObservationSet:
    """The validated rows of an observation file.

    Attributes
    ----------
    path : pathlib.Path or None
        The file.
    rows : tuple of Observation
        Rows with a value, in file order.
    skipped : tuple of SkippedRow
        Rows whose value is empty.
    extra_columns : tuple of str
        Columns kept and ignored.
    """

    path: Path | None
    rows: tuple[Observation, ...]
    skipped: tuple[SkippedRow, ...] = ()
    extra_columns: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """Return the rows as a table.

        Returns
        -------
        pandas.DataFrame
            Columns ``line, indicator, area, area_type, kind, region, year, value, sigma,
            weight`` (``sigma`` is NaN where the file gives none).
        """
        return pd.DataFrame(
            {
                "line": [o.line for o in self.rows],
                "indicator": [o.indicator for o in self.rows],
                "area": [o.area.name for o in self.rows],
                "area_type": [o.area.area_type for o in self.rows],
                "kind": [o.area.kind for o in self.rows],
                "region": [o.area.region or "" for o in self.rows],
                "year": [o.year for o in self.rows],
                "value": [o.value for o in self.rows],
                "sigma": [math.nan if o.sigma is None else o.sigma for o in self.rows],
                "weight": [o.weight for o in self.rows],
            }
        )


def _float(text: str, where: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: expected {what}, found {quote(text)}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: expected {what}, found {quote(text)}")
    if abs(value) > MAX_MAGNITUDE:
        raise DataError(
            f"{where}: expected {what} of magnitude at most {MAX_MAGNITUDE:g}, found {value:g}"
        )
    return value


def read_observations(path: str | os.PathLike, areas: AreaMap) -> ObservationSet:
    """Read and validate an observation file.

    Parameters
    ----------
    path : path-like
        The CSV (see the module docstring for its columns).
    areas : AreaMap
        Areas the file may name (`load_area_mapping`).

    Returns
    -------
    ObservationSet
        Rows with values, and the rows skipped because their value is empty.

    Raises
    ------
    DataError
        One line naming the file and line: a missing column, an empty indicator, an
        unknown area (with the closest name), a non-numeric or non-whole year, a non-numeric
        value, a sigma that is not positive, a negative weight, or a row that repeats an
        earlier one (same indicator, area, area_type when present, and year).
    """
    path = Path(path)
    header, raw = _read_csv_rows(path, DataError)
    names = [c for c in _INDICATOR_ALIASES if c in header]
    if len(names) > 1:
        raise DataError(
            f"{show_path(path)}: line 1: expected one of the columns {list(_INDICATOR_ALIASES)},"
            " found both"
        )
    column = names[0] if names else "indicator"
    missing = [c for c in (column, *OBSERVATION_COLUMNS[1:]) if c not in header]
    if missing:
        raise DataError(
            f"{show_path(path)}: expected columns {list(OBSERVATION_COLUMNS)} ('series' may"
            f" stand for 'indicator'; optional {list(_OPTIONAL)}), missing {missing};"
            f" found {header}"
        )
    has_type = "area_type" in header
    extra = tuple(c for c in header if c not in (column, *OBSERVATION_COLUMNS[1:], *_OPTIONAL))
    rows: list[Observation] = []
    skipped: list[SkippedRow] = []
    seen: dict[tuple, int] = {}
    for line, row in raw:
        where = f"{show_path(path)}: line {line}"
        cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(cells.values()):
            continue  # a blank line
        if row.get(None):
            raise DataError(
                f"{where}: expected {len(header)} cells, found {len(header) + len(row[None])}"
            )
        indicator = cells.get(column, "")
        if not indicator:
            raise DataError(f"{where}: {column}: expected a name, found an empty cell")
        indicator = check_identifier(indicator, f"{where}: {column}", DataError, "a name")
        name = cells.get("area", "")
        area_type = cells.get("area_type", "") if has_type else None
        area = areas.resolve(name, area_type, where)
        year_text = cells.get("year", "")
        year = _float(year_text, f"{where}: year", "a whole year")
        if year != int(year):
            raise DataError(f"{where}: year: expected a whole year, found {quote(year_text)}")
        key = (indicator, name, area_type, int(year))
        if key in seen:
            raise DataError(
                f"{where}: duplicate row: {indicator}, {name}"
                + (f" ({area_type})" if has_type else "")
                + f", {int(year)} repeats line {seen[key]}"
            )
        seen[key] = line
        value_text = cells.get("value", "")
        if not value_text:
            skipped.append(SkippedRow(line, indicator, name, year_text, "empty value"))
            continue
        value = _float(value_text, f"{where}: value", "a number")
        sigma = None
        if cells.get("sigma"):
            sigma = _float(cells["sigma"], f"{where}: sigma", "a positive standard error")
            if sigma <= 0:
                raise DataError(
                    f"{where}: sigma: expected a positive standard error, found {sigma:g}"
                )
            if sigma < MIN_RELATIVE_SIGMA * abs(value):
                raise DataError(
                    f"{where}: sigma: expected a standard error of at least"
                    f" {MIN_RELATIVE_SIGMA:g} times the value ({value:g}), found {sigma:g}"
                )
        weight = 1.0
        if cells.get("weight"):
            weight = _float(cells["weight"], f"{where}: weight", "a non-negative weight")
            if weight < 0:
                raise DataError(
                    f"{where}: weight: expected a non-negative weight, found {weight:g}"
                )
        rows.append(
            Observation(
                line,
                indicator,
                area,
                int(year),
                value,
                sigma,
                weight,
                cells.get("unit", ""),
                cells.get("confidence", ""),
                cells.get("source", ""),
            )
        )
    return ObservationSet(path, tuple(rows), tuple(skipped), extra)
