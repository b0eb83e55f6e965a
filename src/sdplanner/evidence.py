"""Observed figures as evidence: each point's role relative to the calibration in use.

A figure drawn beside a projection is evidence only when the model did not copy it and,
to be read honestly, the reader must see whether the calibration in use was fitted to it.
This module is the analysis every figure, the report and the explorer share:

* `read_fit_record` finds the calibration record of the parameter files a run used (the
  ``observations.csv`` that ``sdplanner calibrate`` wrote beside them: every compared row
  with its ``role``, fitted, anchor, compared or held out);
* `point_role` gives one observed figure its role: `FITTED` when it was a fitted row of that
  calibration, `NOT_FITTED` otherwise (held out, compared only, or a figure the calibration
  never saw); `BY_CONSTRUCTION` for a model input the model reproduces by construction
  (`sdplanner.calibration.rows.construction_input`, the calibration's own rule) and `ANCHOR`
  for a row that only fixed its offset group's level: those two are never drawn;
* `recorded_points` places the record's own rows: each on the model variable its
  ``variable`` column names and the region or aggregate of ``compared_with``, on the model's
  scale (`sdplanner.units.compared_to_model`: the data value less the row's level offset,
  over its factor), so the history pack's figures, compared through the calibration spec,
  are drawn where the calibration compared them;
* `observed_evidence` (and `observed_points`) turns an observation table into points in the
  model's units, with their roles and the count of rows left out: the record's rows, plus
  the table's rows the record does not hold.

With no calibration in use (``--no-params``, a model of one's own, parameter files without a
record) every drawn point is a row of the observation table and `NOT_FITTED`; a record
written before it had a ``variable`` column gives roles only. Nothing here draws.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sdplanner.spec import Dimension
from sdplanner.units import compared_to_model

__all__ = [
    "ANCHOR",
    "BY_CONSTRUCTION",
    "DRAWN_ROLES",
    "FITTED",
    "NOT_FITTED",
    "Evidence",
    "FitRecord",
    "fit_record_path",
    "observed_evidence",
    "observed_points",
    "point_role",
    "read_fit_record",
    "recorded_fit",
    "recorded_points",
]

#: A fitted row of the calibration in use.
FITTED = "fitted"
#: Any other figure drawn: held out, compared only, or not in the calibration's data.
NOT_FITTED = "not fitted"
#: A model input the model reproduces by construction: never drawn.
BY_CONSTRUCTION = "reproduced by construction"
#: A row alone in its offset group: it fixed the group's level, no evidence; never drawn.
ANCHOR = "anchor"
#: The roles a figure draws, in legend order.
DRAWN_ROLES = (FITTED, NOT_FITTED)

_PERCENT_UNITS = ("%", "percent", "per cent", "percentage")
_MODELLED_AREA_TYPES = ("region", "aggregate")
_COLUMNS = ["indicator", "region", "year", "value", "role", "area"]
#: Columns of `recorded_points`.
RECORDED_COLUMNS = [*_COLUMNS, "kind", "source"]
#: Record columns kept in `FitRecord.table`.
_TABLE = ["indicator", "area", "data_year", "observed", "role", "variable", "compared_with"]
_TABLE += ["year", "factor", "offset", "file", "line"]
#: Significant digits two points must share to be one (a figure compared twice).
_SAME_DIGITS = 12


@dataclass(frozen=True, eq=False)
class FitRecord:
    """The rows a calibration compared, and the role each one had.

    Attributes
    ----------
    name : str
        The calibration's name (`sdplanner.resources.calibration_name` of its files).
    rows : mapping
        ``(indicator, area, data year) -> ((observed value, role), ...)``; values in the
        data's units, roles as ``observations.csv`` writes them.
    files : tuple of pathlib.Path
        The ``observations.csv`` files read.
    table : pandas.DataFrame
        The rows of the records that name their ``variable``: ``indicator, area, data_year,
        observed, role, variable, compared_with, year, factor, offset, file, line``
        (`sdplanner.readers.read_fit_rows`); empty when no record names it.
    """

    name: str
    rows: Mapping[tuple[str, str, int], tuple[tuple[float, str], ...]] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_TABLE))

    def places(self, indicator: str, area: str, year: int, value: float) -> bool:
        """Return True when the record draws this figure itself (`recorded_points`).

        Parameters
        ----------
        indicator, area, year, value : str, str, int, float
            A row of a data file, as for `role_of` (the value in the data's units).

        Returns
        -------
        bool
            True when a record with a ``variable`` column holds the row: the figure is
            drawn from the record (where the calibration compared it), not from the file.
        """
        t = self.table
        if t.empty:
            return False
        same = (t.indicator == indicator) & (t.area == area) & (t.data_year == int(year))
        return bool((abs(t.observed[same] - value) <= 1e-9 * max(1.0, abs(value))).any())

    def role_of(self, indicator: str, area: str, year: int, value: float) -> str | None:
        """Return the role the calibration gave a figure, or None when it did not use it.

        Parameters
        ----------
        indicator, area : str
            The row's indicator and area as the data file writes them.
        year : int
            The row's year (year, as in the data file).
        value : float
            The figure in the data's units (equal to 1e-9 relative).

        Returns
        -------
        str or None
            ``fitted``, ``anchor``, ``compared`` or ``held out``; ``fitted`` wins when the
            calibration's layers disagree.
        """
        roles = [
            role
            for seen, role in self.rows.get((indicator, area, int(year)), ())
            if abs(seen - value) <= 1e-9 * max(1.0, abs(value))
        ]
        if not roles:
            return None
        return FITTED if FITTED in roles else roles[0]


def fit_record_path(params_file: str | os.PathLike) -> Path | None:
    """Return the ``observations.csv`` recording the fit of a parameter file, if any.

    Parameters
    ----------
    params_file : path-like
        A parameter file: a shipped ``calibration/<name>.params.yaml`` (its record is
        ``calibration/<name>/observations.csv``) or the ``calibrated.params.yaml`` that
        ``sdplanner calibrate --out DIR`` writes (its record is ``DIR/observations.csv``).

    Returns
    -------
    pathlib.Path or None
        The record, or None when there is none beside the file.
    """
    path = Path(params_file)
    name = path.name.removesuffix(".yaml").removesuffix(".params")
    candidates = [path.parent / name / "observations.csv"]
    if name == "calibrated":
        candidates.append(path.parent / "observations.csv")
    return next((c for c in candidates if c.is_file()), None)


def read_fit_record(params_files: Iterable[str | os.PathLike]) -> FitRecord | None:
    """Read the calibration record of the parameter files a run used.

    Parameters
    ----------
    params_files : iterable of path-like
        The parameter files, lowest layer first (`sdplanner.run.PreparedRun.params_files`).

    Returns
    -------
    FitRecord or None
        The roles of every row any layer compared; None when no file was used (no
        calibration in use). A layer without a record adds no row.

    Raises
    ------
    DataError
        When a record exists but is not a readable table with ``indicator, area,
        data_year, observed, role`` (`sdplanner.readers.read_fit_rows`).
    """
    from sdplanner.readers import read_fit_rows
    from sdplanner.resources import calibration_name

    files = [Path(f) for f in params_files]
    if not files:
        return None
    rows: dict[tuple[str, str, int], tuple[tuple[float, str], ...]] = {}
    read: list[Path] = []
    placed: list[pd.DataFrame] = []
    for params in files:
        path = fit_record_path(params)
        if path is None:
            continue
        table = read_fit_rows(path)
        read.append(path)
        for r in table.itertuples(index=False):
            key = (r.indicator, r.area, int(r.data_year))
            rows[key] = (*rows.get(key, ()), (float(r.observed), r.role))
        if "variable" in table.columns:
            placed.append(table.reindex(columns=_TABLE).fillna({"file": "", "line": ""}))
    record = FitRecord(calibration_name(files), rows, tuple(read))
    if placed:
        record = FitRecord(record.name, rows, record.files, pd.concat(placed, ignore_index=True))
    return record


def recorded_fit(manifest: Mapping | None) -> FitRecord | None:
    """Return the calibration record of the parameter files a manifest lists.

    Parameters
    ----------
    manifest : mapping or None
        A ``manifest.json`` of ``run`` or ``compare`` (`sdplanner.readers.read_manifest`):
        its ``inputs.parameters`` entries name the parameter files used.

    Returns
    -------
    FitRecord or None
        As `read_fit_record`; None when the manifest lists no parameter file (no
        calibration in use) or there is no manifest. A listed file that no longer exists
        adds no row.
    """
    inputs = (manifest or {}).get("inputs")
    entries = inputs.get("parameters") if isinstance(inputs, Mapping) else None
    if not isinstance(entries, list):
        return None
    files = [
        Path(e["path"])
        for e in entries
        if isinstance(e, Mapping) and isinstance(e.get("path"), str) and e["path"].strip()
    ]
    return read_fit_record(files)


def point_role(
    record: FitRecord | None,
    indicator: str,
    area: str,
    year: int,
    value: float,
    *,
    region: str | None = None,
) -> str:
    """Return an observed figure's role relative to the calibration in use.

    Parameters
    ----------
    record : FitRecord or None
        The calibration in use (None: no calibration).
    indicator, area : str
        The row's indicator and area as the data file writes them.
    year : int
        The row's year (year).
    value : float
        The figure in the data's units.
    region : str, optional
        The region's display name when the area is one of the model's regions (a figure of
        a region can be a model input); None for the aggregate and sub-areas.

    Returns
    -------
    str
        `BY_CONSTRUCTION`, `ANCHOR` (never drawn), `FITTED` or `NOT_FITTED`.
    """
    from sdplanner.calibration.rows import construction_input

    if region is not None and construction_input(indicator, region, year, value) is not None:
        return BY_CONSTRUCTION
    role = record.role_of(indicator, area, year, value) if record is not None else None
    if role == ANCHOR:
        return ANCHOR
    return FITTED if role == FITTED else NOT_FITTED


def _record_role(role: str) -> str:
    """Return the drawn role of a record's row: fitted, anchor (not drawn) or not fitted."""
    return role if role in (FITTED, ANCHOR) else NOT_FITTED


def _distinct(points: pd.DataFrame) -> pd.DataFrame:
    """Keep one point of a figure compared twice (same variable, area, year, value).

    A figure two files print alike (the seed's 24.4 % of 2012 and the history pack's) is one
    point; `FITTED` wins, as in `FitRecord.role_of`. Anchors are kept apart: each sits on
    the path by construction, so they coincide without being one figure (and are counted).
    """
    drawn = points["role"].isin(DRAWN_ROLES)
    if not drawn.any():
        return points
    same = points["value"].map(lambda v: float(f"{v:.{_SAME_DIGITS}g}"))
    order = (points["role"] != FITTED).astype(int)
    ranked = points.assign(_same=same, _order=order)[drawn].sort_values("_order", kind="stable")
    kept = ranked.drop_duplicates(["indicator", "region", "year", "_same"])
    kept = pd.concat([kept, points[~drawn]]).sort_index().drop(columns=["_same", "_order"])
    return kept.reset_index(drop=True)


def recorded_points(
    record: FitRecord | None,
    dimension: Dimension | None,
    *,
    sub_areas: Iterable[str] = (),
) -> pd.DataFrame:
    """Return the rows a calibration compared, as points on the model variables it compared.

    Parameters
    ----------
    record : FitRecord or None
        The calibration in use; its `FitRecord.table` (records with a ``variable``
        column) is placed, nothing else.
    dimension : Dimension or None
        The model's region dimension: a row is kept when its ``compared_with`` is one of its
        regions or its aggregate (None: no row).
    sub_areas : iterable of str, optional
        Variables whose sub-area rows (a prefecture or district compared with its region)
        are kept on their region; the rows of other variables are kept only for a region
        itself or the aggregate. Empty by default, as the projection figures draw no
        sub-area.

    Returns
    -------
    pandas.DataFrame
        `RECORDED_COLUMNS`: ``indicator`` the model variable, ``region`` the region or the
        aggregate compared with, ``year`` the year compared (the figure's own is
        ``data_year`` in the record), ``value`` on the model's scale
        (`sdplanner.units.compared_to_model`), ``role`` `FITTED`, `NOT_FITTED` (compared,
        held out) or `ANCHOR`, ``area`` as the data file writes it, ``kind`` region,
        aggregate or sub-area, ``source`` the data file's line (``line 6 of
        history_2010_2015.csv``; ``the data`` for a record of one file, which names none).
        A figure compared twice is one point (`FITTED` wins); a row whose level offset is
        unknown is left out.
    """
    table = record.table if record is not None else None
    if table is None or table.empty or dimension is None:
        return pd.DataFrame(columns=RECORDED_COLUMNS)
    regions = set(dimension.labels)
    within = table.compared_with.isin(regions)
    kind = np.where(
        table.compared_with == dimension.aggregate,
        "aggregate",
        np.where(within & (table.area == table.compared_with), "region", "sub-area"),
    )
    keep = within | (table.compared_with == dimension.aggregate)
    keep &= (kind != "sub-area") | table.variable.isin(set(sub_areas))
    value = compared_to_model(table.observed, table.offset, table.factor)
    keep &= np.isfinite(value)
    line = table.line.astype(str)
    file = table.file.astype(str).where(table.file.astype(str) != "", "the data")
    source = ("line " + line + " of " + file).where(line != "", file)
    points = pd.DataFrame(
        {
            "indicator": table.variable,
            "region": table.compared_with,
            "year": table.year,
            "value": value,
            "role": table.role.map(_record_role),
            "area": table.area,
            "kind": kind,
            "source": source,
        }
    )[keep]
    return _distinct(points.reset_index(drop=True))[RECORDED_COLUMNS]


@dataclass(frozen=True)
class Evidence:
    """Observed points to draw, with their roles, and what was left out.

    Attributes
    ----------
    points : pandas.DataFrame
        Columns ``indicator, region, year, value, role, area``: ``region`` a display name or
        the aggregate's label, ``value`` in the model's units, ``role`` one of
        `DRAWN_ROLES`, ``area`` as the file writes it.
    dropped : dict
        `BY_CONSTRUCTION` and `ANCHOR` -> number of rows left out.
    calibration : str or None
        The calibration's name (None: no calibration in use).
    """

    points: pd.DataFrame
    dropped: dict[str, int]
    calibration: str | None = None

    def counts(self) -> dict[str, int]:
        """Return the number of points of each drawn role (`DRAWN_ROLES` order)."""
        return {r: int((self.points["role"] == r).sum()) for r in DRAWN_ROLES}


def _unit_factor(unit: object) -> float:
    text = str(unit).strip().lower() if isinstance(unit, str) else ""
    return 0.01 if text.startswith(_PERCENT_UNITS) else 1.0


def observed_evidence(
    observed: pd.DataFrame | None,
    dimension: Dimension | None,
    record: FitRecord | None = None,
) -> Evidence:
    """Turn observed figures into points comparable with model results, with their roles.

    Parameters
    ----------
    observed : pandas.DataFrame or None
        Columns ``indicator, area, year, value`` and optionally ``unit`` and ``area_type``
        (as in ``data/seed_figures.csv``; `sdplanner.readers.read_observed`). A figure whose
        unit starts with ``percent`` (or is ``%``) is divided by 100, so 28.72 percent
        becomes the fraction 0.2872; other units are kept. Areas are kept when they are a
        region of the dimension or the aggregate (any of its names, e.g. ``All 14 regions``
        or ``14 regions``); with an ``area_type`` column only rows of type ``region`` or
        ``aggregate`` count (``Tibet`` is also a province). Rows without a value are
        dropped.
    dimension : Dimension or None
        The model's region dimension (its display names and the aggregate's names); None
        keeps no area.
    record : FitRecord, optional
        The calibration in use (`read_fit_record`); None: every point is `NOT_FITTED`.
        Its own rows are drawn where it compared them (`recorded_points`, regions and the
        aggregate only), whichever file they came from; a row of ``observed`` it holds
        (`FitRecord.places`) is not drawn a second time.

    Returns
    -------
    Evidence
        The points (model units) with their roles, the record's first; rows reproduced by
        construction and anchors left out and counted; a figure drawn twice is one point.
    """
    dropped = dict.fromkeys((BY_CONSTRUCTION, ANCHOR), 0)
    name = record.name if record is not None else None
    recorded = recorded_points(record, dimension)
    dropped[ANCHOR] = int((recorded["role"] == ANCHOR).sum())
    recorded = recorded[recorded["role"].isin(DRAWN_ROLES)][_COLUMNS]
    if observed is None or observed.empty or dimension is None:
        return Evidence(recorded.reset_index(drop=True), dropped, name)
    aliases = list(dimension.aggregate_aliases)
    frame = observed.copy()
    area = frame["area"].astype(str).str.strip()
    keep = area.isin([*dimension.labels, *aliases])
    if "area_type" in frame.columns:
        kind = frame["area_type"].fillna("").astype(str).str.strip().str.lower()
        keep &= kind.isin(_MODELLED_AREA_TYPES)
    value = pd.to_numeric(frame["value"], errors="coerce")
    keep &= value.notna()
    factor = frame["unit"].map(_unit_factor) if "unit" in frame.columns else 1.0
    out = pd.DataFrame(
        {
            "indicator": frame["indicator"].astype(str).str.strip(),
            "region": area.where(~area.isin(aliases), dimension.aggregate),
            "year": pd.to_numeric(frame["year"], errors="coerce"),
            "value": value * factor,
            "raw": value,
            "area": area,
        }
    )[keep]
    if record is not None and not record.table.empty:
        held = [
            record.places(r.indicator, r.area, int(r.year), float(r.raw))
            for r in out.itertuples(index=False)
        ]
        out = out[~np.array(held, dtype=bool)]
    regions = set(dimension.labels)
    roles = [
        point_role(
            record,
            r.indicator,
            r.area,
            int(r.year),
            float(r.raw),
            region=r.region if r.region in regions else None,
        )
        for r in out.itertuples(index=False)
    ]
    out = out.assign(role=roles)
    for role in dropped:
        dropped[role] += int((out["role"] == role).sum())
    points = out[out["role"].isin(DRAWN_ROLES)][_COLUMNS]
    return Evidence(_distinct(pd.concat([recorded, points], ignore_index=True)), dropped, name)


def observed_points(
    observed: pd.DataFrame | None,
    dimension: Dimension | None,
    record: FitRecord | None = None,
) -> pd.DataFrame:
    """Return the points of `observed_evidence` (the figures to draw, with their roles).

    Parameters
    ----------
    observed : pandas.DataFrame or None
        Observed figures (see `observed_evidence`).
    dimension : Dimension or None
        The model's region dimension.
    record : FitRecord, optional
        The calibration in use.

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, region, year, value, role, area`` (value in the model's units).
    """
    return observed_evidence(observed, dimension, record).points
