"""Observed points for the explorer's charts, in the model's units.

The observation file is ``data/seed_figures.csv`` by default (columns ``indicator, area,
area_type, year, value, unit, ...``; see `sdplanner.data`). A row becomes a point on the chart
of the model variable named by its ``indicator`` when its area is one of the 14 regions or
the aggregate, or when it is a sub-area (a prefecture or district) and the variable is a rate
or a per-capita figure (a variable whose 14-region aggregate is a weighted mean), because a
level of a sub-area (its GDP, its migrants) is not comparable with the level of the whole
region. Values in ``percent`` are divided by 100 (the model's rates are fractions); rows in a
unit the model does not share are left out. Each point has its role relative to the
calibration in use (`sdplanner.evidence.point_role`): ``fitted`` or ``not fitted``; figures
the model reproduces by construction and anchors of an offset group are left out and counted.
The calibration's own rows (its record, `sdplanner.evidence.recorded_points`, e.g. the
history pack's) are placed where it compared them, on the model's scale, with the same
rule for sub-areas; a file row the record holds is not drawn twice.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from sdplanner.data import load_area_mapping, read_observations
from sdplanner.errors import DataError
from sdplanner.evidence import (
    ANCHOR,
    BY_CONSTRUCTION,
    DRAWN_ROLES,
    FitRecord,
    point_role,
    recorded_points,
)
from sdplanner.model import ModelInfo
from sdplanner.resources import data_path, default_model_path

__all__ = ["ObservedPoint", "load_observed_points"]

#: Data unit -> divisor that turns it into the model's unit. A unit not listed is not plotted.
UNIT_DIVISORS: dict[str, float] = {
    "percent": 100.0,
    "percent of GDP": 100.0,
    "fraction": 1.0,
    "per 100 people": 1.0,
    "yuan/person/year": 1.0,
    "yuan/(person*year)": 1.0,
    "person": 1.0,
    "people": 1.0,
    "yuan": 1.0,
    "yuan/year": 1.0,
}


@dataclass(frozen=True)
class ObservedPoint:
    """One observed figure placed on a chart.

    Attributes
    ----------
    variable : str
        Model variable (PySD name) it is compared with.
    region : str
        Region display name or ``All 14 regions``.
    year : int
        Year of the figure (year).
    value : float
        The figure in the model's unit (fractions for rates).
    area : str
        The area the source names (a region, ``14 regions`` or a prefecture ...).
    kind : str
        ``"region"``, ``"aggregate"`` or ``"sub-area"``.
    source : str
        Where in the seed the figure is printed, when the file says.
    role : str
        ``"fitted"`` when the calibration in use was fitted to it, else ``"not fitted"``.
    """

    variable: str
    region: str
    year: int
    value: float
    area: str
    kind: str
    source: str = ""
    role: str = "not fitted"

    def to_json(self) -> dict:
        """Return the point as a JSON-ready mapping."""
        return {
            "year": self.year,
            "value": self.value,
            "area": self.area,
            "kind": self.kind,
            "source": self.source,
            "role": self.role,
        }


def _row_extras(path: Path) -> dict[int, dict[str, str]]:
    """Map each line number of the CSV to its ``unit`` and ``where_in_seed`` cells."""
    out: dict[int, dict[str, str]] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        _ = reader.fieldnames  # reads the header line
        line = reader.line_num
        for row in reader:
            out[line + 1] = {
                "unit": (row.get("unit") or "").strip(),
                "source": (row.get("where_in_seed") or "").strip(),
            }
            line = reader.line_num
    return out


def load_observed_points(
    model: ModelInfo,
    path: str | os.PathLike | None = None,
    record: FitRecord | None = None,
) -> tuple[dict[tuple[str, str], list[ObservedPoint]], dict[str, int]]:
    """Read an observation file and keep the figures the explorer can plot.

    Parameters
    ----------
    model : ModelInfo
        The model (its time bounds).
    path : path-like, optional
        The CSV; the shipped ``seed_figures.csv`` when omitted (for the shipped model only:
        another model gets no points unless a file is given).
    record : FitRecord, optional
        The calibration in use (`sdplanner.evidence.read_fit_record`); None: every point is
        ``not fitted``. Its own rows are added where it compared them (also for a model of
        one's own, whose record names its variables).

    Returns
    -------
    points : dict
        ``(variable, region) -> points`` sorted by year; values in the model's units.
    dropped : dict
        ``"reproduced by construction"`` and ``"anchor"`` -> rows left out.

    Raises
    ------
    DataError
        When the file is missing or invalid (see `sdplanner.data.read_observations`).
    """
    dropped = dict.fromkeys((BY_CONSTRUCTION, ANCHOR), 0)
    dim = model.spec.dimension
    if dim is None:
        return {}, dropped
    intensive = {o.name for o in model.spec.outputs if o.aggregate == "mean"}
    names = {o.name for o in model.spec.outputs}
    points: dict[tuple[str, str], list[ObservedPoint]] = {}
    for r in recorded_points(record, dim, sub_areas=intensive).itertuples(index=False):
        if r.indicator not in names or not model.initial_time <= r.year <= model.final_time:
            continue
        if r.role not in DRAWN_ROLES:
            dropped[r.role] += 1
            continue
        point = ObservedPoint(
            variable=r.indicator,
            region=r.region,
            year=int(r.year),
            value=float(r.value),
            area=r.area,
            kind=r.kind,
            source=r.source,
            role=r.role,
        )
        points.setdefault((point.variable, point.region), []).append(point)
    if path is None and Path(model.path).resolve() != default_model_path().resolve():
        return _sorted(points), dropped  # the shipped file is of the shipped model's regions
    src = Path(path) if path is not None else data_path("seed_figures.csv")
    observations = read_observations(src, load_area_mapping(None, dim))
    try:
        extras = _row_extras(src)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{src}: cannot read as UTF-8 CSV ({exc})") from None
    for obs in observations.rows:
        if obs.indicator not in names or not obs.area.modelled:
            continue
        if obs.area.kind == "sub-area" and obs.indicator not in intensive:
            continue
        if not model.initial_time <= obs.year <= model.final_time:
            continue
        extra = extras.get(obs.line, {})
        unit = extra.get("unit", "")
        divisor = UNIT_DIVISORS.get(unit) if unit else 1.0
        if divisor is None:
            continue
        if record is not None and record.places(obs.indicator, obs.area.name, obs.year, obs.value):
            continue  # drawn from the record, where the calibration compared it
        region = obs.area.model_area if obs.area.kind == "region" else None
        role = point_role(record, obs.indicator, obs.area.name, obs.year, obs.value, region=region)
        if role not in DRAWN_ROLES:
            dropped[role] += 1
            continue
        point = ObservedPoint(
            variable=obs.indicator,
            region=obs.area.model_area,
            year=obs.year,
            value=obs.value / divisor,
            area=obs.area.name,
            kind=obs.area.kind,
            source=extra.get("source", ""),
            role=role,
        )
        points.setdefault((point.variable, point.region), []).append(point)
    return _sorted(points), dropped


def _sorted(
    points: dict[tuple[str, str], list[ObservedPoint]],
) -> dict[tuple[str, str], list[ObservedPoint]]:
    """Sort each chart's points by year, the region's own figure first."""
    for key in points:
        points[key].sort(key=lambda p: (p.year, p.kind != "region"))
    return points
