"""The calibration problem: observation rows against model outputs, and their simulation.

`build_problem` selects the observation rows a spec uses, maps years and areas, and lists the
rows it leaves out and why; `load_problem` reads the files first. A `Simulator` computes the
model's value of every used row for a batch of parameter vectors through an engine's
``run_batch``; `trajectories` gives the indicators' paths at one vector.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sdplanner.calibration.parse import load_spec
from sdplanner.calibration.rows import (
    ROW_COLUMNS,
    check_duplicate,
    classify,
    reason,
    shipped_indicators,
    split_anchors,
)
from sdplanner.calibration.spec import CalibrationSpec, ParameterSpec
from sdplanner.data import Area, AreaMap, ObservationSet, SkippedRow, load_area_mapping
from sdplanner.engine.base import TimeSeries
from sdplanner.errors import CalibrationError, DataError, did_you_mean, show_path
from sdplanner.model import ModelInfo
from sdplanner.spec import Dimension

__all__ = ["Problem", "area_mapping", "build_problem", "check_until", "load_problem"]


@dataclass
class Problem:
    """A spec applied to observations: the rows used and how each is computed.

    Attributes
    ----------
    model : ModelInfo
        The model.
    spec : CalibrationSpec
        The spec.
    rows : pandas.DataFrame
        One row per observation used (`sdplanner.calibration.rows.ROW_COLUMNS`): ``line,
        indicator, area, area_type, kind, compared_with, year, data_year, observed, sigma,
        weight, factor, offset_group, confidence`` (data units; ``year`` is the model year
        after any year mapping, ``data_year`` the year in the file; ``factor`` data units
        per model unit in that year; ``offset_group`` "" or the group's key).
    skipped : list of SkippedRow
        Rows left out because their value is empty.
    ignored : list of SkippedRow
        Rows the spec does not use (another indicator, a context area ...), with the reason.
    final_time : float
        Last simulated year (year).
    variables : list of str
        Model variables every run must return.
    base_params : dict
        Constant overrides under the estimated parameters (normally empty: the ``.mdl``).
    anchors : pandas.DataFrame
        Rows alone in their offset group in the fit window: they fix the group's level for
        held-out rows and are no evidence (same columns as ``rows``).
    held_out : pandas.DataFrame
        Rows after the fit window (same columns), compared but not fitted.
    compared : pandas.DataFrame
        Rows in the fit window of indicators the spec compares without fitting.
    context : pandas.DataFrame
        Rows of context areas (provinces, the nation): ``file, indicator, area, year,
        value``,
        never compared with the model, shown beside it in reports.
    until : int or None
        Last year of the fit window (None: every row is fitted).
    """

    model: ModelInfo
    spec: CalibrationSpec
    rows: pd.DataFrame
    skipped: list[SkippedRow]
    ignored: list[SkippedRow]
    final_time: float
    variables: list[str]
    base_params: dict = field(default_factory=dict)
    anchors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ROW_COLUMNS))
    held_out: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ROW_COLUMNS))
    compared: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ROW_COLUMNS))
    context: pd.DataFrame = field(default_factory=pd.DataFrame)
    until: int | None = None

    @property
    def n_parameters(self) -> int:
        """Number of estimated values."""
        return len(self.spec.parameters)

    @property
    def run_params(self) -> dict:
        """The base constants every run gets: `base_params` less the estimated ones.

        The estimated constants go in each run's batch (`batch`), starting from the base
        layer's values; an engine takes a constant either way, never both.
        """
        estimated = {p.name for p in self.parameters}
        return {k: v for k, v in self.base_params.items() if k not in estimated}

    @property
    def parameters(self) -> tuple[ParameterSpec, ...]:
        """The estimated values."""
        return self.spec.parameters

    def batch(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """Turn unit coordinates into the ``batch`` argument of ``run_batch``.

        Parameters
        ----------
        u : numpy.ndarray
            Shape ``(n, p)``.

        Returns
        -------
        dict
            PySD name -> ``(n,)`` for a scalar constant or ``(n, n_regions)`` for a
            subscripted one (other regions keep their ``.mdl`` value).
        """
        u = np.atleast_2d(u)
        n = u.shape[0]
        out: dict[str, np.ndarray] = {}
        for j, p in enumerate(self.parameters):
            value = p.to_value(u[:, j])
            default = self.base_params.get(p.name, self.model.constants[p.name])
            if isinstance(default, np.ndarray):
                arr = out.get(p.name)
                if arr is None:
                    arr = np.tile(np.asarray(default, dtype=float), (n, 1))
                if p.region is None:
                    arr[:, :] = value[:, None]
                else:
                    arr[:, self.model.regions.index(p.region)] = value
                out[p.name] = arr
            else:
                out[p.name] = value
        return out


def build_problem(
    model: ModelInfo,
    spec: CalibrationSpec,
    observations: ObservationSet | Sequence[ObservationSet],
    *,
    base_params: Mapping | None = None,
    until: int | None = None,
) -> Problem:
    """Select and check the observation rows a spec uses.

    Parameters
    ----------
    model : ModelInfo
        The model (its horizon and variables).
    spec : CalibrationSpec
        The spec.
    observations : ObservationSet or sequence of ObservationSet
        The validated file or files (rows of several files are named by file and line).
    base_params : mapping, optional
        Constant overrides under the estimated parameters; the estimated ones start from
        these values (their ``default``) where the mapping sets them.
    until : int, optional
        Last year of the fit window: rows dated later are held out (`Problem.held_out`),
        compared with the model but not fitted. None: every row is fitted.

    Returns
    -------
    Problem
        The rows used, anchors and held-out rows, and those skipped or ignored with their
        reasons.

    Raises
    ------
    DataError
        An indicator that neither the spec, the model nor the seed's figures know (closest
        name suggested), or a used row dated outside the model's horizon.
    CalibrationError
        A used row without a sigma when the spec has no default, or no row left.
    """
    sets = [observations] if isinstance(observations, ObservationSet) else list(observations)
    several = len(sets) > 1
    where = ", ".join(show_path(s.path) if s.path is not None else "data" for s in sets)
    known = set(spec.indicators) | set(model.variables) | shipped_indicators()
    used, held, compared, ignored, skipped, context = [], [], [], [], [], []
    seen: dict[tuple, str] = {}
    for obs_set in sets:
        name = obs_set.path.name if several and obs_set.path is not None else ""
        shown = show_path(obs_set.path) if obs_set.path is not None else "data"
        skipped += [dataclasses.replace(s, file=name) for s in obs_set.skipped]
        for obs in obs_set.rows:
            w = f"{shown}: line {obs.line}"
            if obs.indicator not in known:
                raise DataError(
                    f"{w}: unknown indicator {obs.indicator!r}"
                    f"{did_you_mean(obs.indicator, known)}; expected one of the spec's"
                    " indicators or a model variable"
                )
            skip = SkippedRow(obs.line, obs.indicator, obs.area.name, str(obs.year), "", name)
            found = classify(obs, spec, model, w, until)
            if found.record is None:
                ignored.append(reason(skip, found.reason))
                if found.context:
                    context.append(
                        {
                            "file": str(obs_set.path or ""),
                            "indicator": obs.indicator,
                            "area": obs.area.name,
                            "year": obs.year,
                            "value": obs.value,
                        }
                    )
                continue
            found.record["file"] = name
            check_duplicate(seen, found.record, w)
            target = held if found.held_out else compared if found.compared_only else used
            target.append(found.record)
    n_rows = sum(len(s.rows) for s in sets)
    if until is not None:
        check_until(until, [o.year for s in sets for o in s.rows], held)
    if not used or not any(r["weight"] > 0 for r in used):
        window = f" up to {until}" if until is not None else ""
        raise CalibrationError(
            f"{where}: no data left: none of its {n_rows} rows with a value"
            f" matches an indicator of the spec ({', '.join(spec.indicators)}) in a modelled"
            f" area{window} with a positive weight"
        )
    rows, anchors = split_anchors(pd.DataFrame(used, columns=ROW_COLUMNS))
    held_out = pd.DataFrame(held, columns=ROW_COLUMNS)
    compared_rows = pd.DataFrame(compared, columns=ROW_COLUMNS)
    if rows.empty:
        raise CalibrationError(
            f"{where}: no data left: every used row is alone in its offset group (a level"
            " offset leaves it no information)"
        )
    last = max([float(f.year.max()) for f in (rows, held_out, compared_rows, anchors) if len(f)])
    final_time = spec.final_time if spec.final_time is not None else last
    final_time = max(final_time, last, model.initial_time + 1)
    variables: list[str] = []
    for ind in spec.indicators.values():
        for v in (ind.variable, *ind.weight):
            if v not in variables:
                variables.append(v)
    base_params = dict(base_params or {})
    if base_params:
        starts = tuple(_start_from(p, base_params, model) for p in spec.parameters)
        spec = dataclasses.replace(spec, parameters=starts)
    return Problem(
        model=model,
        spec=spec,
        rows=rows,
        skipped=skipped,
        ignored=ignored,
        final_time=final_time,
        variables=variables,
        base_params=base_params,
        anchors=anchors,
        held_out=held_out,
        compared=compared_rows,
        context=pd.DataFrame(context, columns=["file", "indicator", "area", "year", "value"]),
        until=until,
    )


def check_until(until: int, years: Sequence[int], held: Sequence) -> None:
    """Refuse a fit window outside the data's years, or with nothing after it to compare.

    Parameters
    ----------
    until : int
        Last year of the fit window.
    years : sequence of int
        Years of every row with a value in the data files.
    held : sequence
        The rows after ``until`` that map to a model variable.

    Raises
    ------
    CalibrationError
        ``until`` before the first year or not before the last one; or no row after it
        that maps to a model variable.
    """
    first, last = (min(years), max(years)) if years else (until, until)
    if not first <= until < last:
        raise CalibrationError(
            f"--fit-until {until}: expected a year in {first}..{last - 1}, within the years of"
            " the data with at least one later year"
        )
    if not held:
        raise CalibrationError(
            f"--fit-until {until}: no observation after {until} maps to a model variable;"
            " nothing to compare"
        )


def _start_from(par: ParameterSpec, base: Mapping, model: ModelInfo) -> ParameterSpec:
    """Return a parameter whose starting value is the base layer's (e.g. a --params file)."""
    value = base.get(par.name)
    if value is None or isinstance(value, TimeSeries):
        return par
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        start = float(arr)
    elif par.region is not None:
        start = float(arr[model.regions.index(par.region)])
    else:
        start = float(np.mean(arr))
    return dataclasses.replace(par, default=start)


def _area_dimension(model: ModelInfo) -> Dimension:
    """Return the dimension data areas map to; for a model without one, no regions at all."""
    dim = model.spec.dimension
    return dim if dim is not None else Dimension("", (), (), "", ())


def area_mapping(model: ModelInfo, path: str | os.PathLike | None = None) -> AreaMap:
    """Return the areas observation files may name for a model.

    Parameters
    ----------
    model : ModelInfo
        The model.
    path : path-like, optional
        An area mapping file (`sdplanner.data.load_area_mapping`), checked against the
        model's regions; for a model without a region dimension only its ``aggregate`` (the
        whole model) and ``context`` areas can be named.

    Returns
    -------
    AreaMap
        Without ``path``: the shipped ``data/area_mapping.csv`` for a model whose spec names
        a region dimension; otherwise the model's own areas: each element of its dimension
        (display name), and the empty area (and the aggregate's names) for the aggregate.
        For a model without subscripts the empty area is the model itself: a row whose
        area is empty is compared with the variable's one value, as PySD returns it.

    Raises
    ------
    DataError
        For a mapping file that names a region the model does not have.
    """
    dim = _area_dimension(model)
    if path is not None or (model.spec.path is not None and model.spec.dimension is not None):
        return load_area_mapping(path, dim)
    areas = [Area(r, "", "region", r, "a region of the model", dim.aggregate) for r in dim.labels]
    whole = "the aggregate of the regions" if dim.labels else "the model (no subscripts)"
    for name in dict.fromkeys(("", *dim.aggregate_aliases)):
        areas.append(Area(name, "", "aggregate", None, whole, dim.aggregate))
    return AreaMap(tuple(areas))


def load_problem(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    spec: str | os.PathLike,
    model: ModelInfo,
    *,
    areas: AreaMap | None = None,
    base_params: Mapping | None = None,
    until: int | None = None,
) -> Problem:
    """Read the observations and the spec and build the problem.

    Parameters
    ----------
    data : path-like or sequence of path-like
        Observation CSV, or several (their rows are used together).
    spec : path-like
        Calibration spec (YAML).
    model : ModelInfo
        The model.
    areas : AreaMap, optional
        Area mapping; the shipped one when omitted.
    base_params : mapping, optional
        Constants under the estimated ones (e.g. a ``--params`` file); the estimated ones
        start from these values instead of the ``.mdl``'s.
    until : int, optional
        Last year of the fit window (later rows are held out); None fits every row.

    Returns
    -------
    Problem
        Ready for `calibrate`.
    """
    from sdplanner.data import read_observations

    calibration_spec = load_spec(spec, model)
    if areas is None:
        areas = area_mapping(model)
    files = [data] if isinstance(data, str | os.PathLike) else list(data)
    observations = [read_observations(f, areas) for f in files]
    return build_problem(
        model, calibration_spec, observations, base_params=base_params, until=until
    )
