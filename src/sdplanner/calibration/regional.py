"""Changes by region: the model beside the data and beside the provinces each region lies in.

For every offset group of a spec (rows whose level is free, so only their changes are
evidence, such as urbanization from the 2010 census to 2015), `regional_changes` gives, per
region, the model's change over the group's years, the change of each area compared with
the region (the region itself or a prefecture in it) with its sigma and z-score, and the
changes of the provinces the region lies in (context, never fitted) with the share of the
region's population each holds where known. Nothing here draws or writes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdplanner.data import AreaMap

if TYPE_CHECKING:
    from sdplanner.calibration.fit import CalibrationResult

__all__ = ["CHANGE_COLUMNS", "regional_changes"]

#: Columns of ``regional_changes.csv``.
CHANGE_COLUMNS = [
    "group",
    "region",
    "from_year",
    "to_year",
    "model_change",
    "source",
    "area",
    "data_change",
    "sigma",
    "z",
    "population_share",
]


def _change(frame: pd.DataFrame) -> tuple[float, float] | None:
    """Return (change, sigma of the change) from the first to the last year of a group.

    Two figures of one year (a census share and a year-end estimate) count as their mean.
    """
    frame = frame.groupby("year", as_index=False)[["observed", "sigma"]].mean().sort_values("year")
    if len(frame) < 2:
        return None
    first, last = frame.iloc[0], frame.iloc[-1]
    sigma = math.hypot(first.sigma, last.sigma)
    return float(last.observed - first.observed), sigma


def regional_changes(result: CalibrationResult, areas: AreaMap) -> pd.DataFrame:
    """Tabulate each region's modelled change beside the data's and its provinces'.

    Parameters
    ----------
    result : CalibrationResult
        The calibration (its rows, context rows and trajectories at the estimate).
    areas : AreaMap
        The area mapping (which provinces a region lies in, and their population shares).

    Returns
    -------
    pandas.DataFrame
        `CHANGE_COLUMNS`, one row per region and source: ``source`` is ``data`` (an area
        compared with the region: a fitted change, with ``sigma`` and ``z`` = (model -
        data) / sigma), ``province`` (context: a province the region lies in, with
        ``population_share`` where known) or ``model`` (a region without either). Changes
        are in the indicator's data unit (points for a percent).
    """
    problem = result.problem
    spec = problem.spec
    regions = problem.model.regions
    frames = [f for f in (problem.rows, problem.anchors, problem.held_out) if len(f)]
    rows = pd.concat(frames, ignore_index=True) if frames else problem.rows
    groups: dict[str, list[str]] = {}
    for name, ind in spec.indicators.items():
        if ind.offset:
            groups.setdefault(ind.offset, []).append(name)
    records = []
    for group, names in groups.items():
        mine = rows[rows.indicator.isin(names)]
        if mine.empty:
            continue
        first, last = int(mine.year.min()), int(mine.year.max())
        path = next((result.trajectories[n] for n in names if n in result.trajectories), None)
        if path is None:
            continue
        i0 = int(np.argmin(np.abs(result.times - first)))
        i1 = int(np.argmin(np.abs(result.times - last)))
        context = problem.context
        context = context[context.indicator.isin(names)] if len(context) else context
        for k, region in enumerate(regions):
            model = float(path[i1, k] - path[i0, k])
            base = {
                "group": group,
                "region": region,
                "from_year": first,
                "to_year": last,
                "model_change": model,
            }
            found = False
            for area, g in mine[mine.compared_with == region].groupby("area", sort=False):
                change = _change(g)
                if change is None:
                    continue
                found = True
                data, sigma = change
                records.append(
                    {
                        **base,
                        "source": "data",
                        "area": area,
                        "data_change": data,
                        "sigma": sigma,
                        "z": (model - data) / sigma if sigma > 0 else math.nan,
                        "population_share": math.nan,
                    }
                )
            for province in areas.context_of(region):
                g = context[context.area == province.name] if len(context) else context
                if g is None or len(g) == 0:
                    continue
                g = g.rename(columns={"value": "observed"}).assign(sigma=math.nan)
                # one file's figures spanning the whole window (the seed's Table 1 provincial
                # rates are on another basis than the history pack's census shares)
                spans = [
                    f
                    for _, f in g.groupby("file", sort=False)
                    if f.year.min() <= first and f.year.max() >= last
                ]
                change = _change(spans[-1]) if spans else None
                if change is None:
                    continue
                found = True
                share = province.population_share
                records.append(
                    {
                        **base,
                        "source": "province",
                        "area": province.name,
                        "data_change": change[0],
                        "sigma": math.nan,
                        "z": math.nan,
                        "population_share": math.nan if share is None else share,
                    }
                )
            if not found:
                records.append(
                    {
                        **base,
                        "source": "model",
                        "area": "",
                        "data_change": math.nan,
                        "sigma": math.nan,
                        "z": math.nan,
                        "population_share": math.nan,
                    }
                )
    return pd.DataFrame(records, columns=CHANGE_COLUMNS)
