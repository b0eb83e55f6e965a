"""The calibration problem: observation rows against model outputs, and their simulation.

`build_problem` selects the observation rows a spec uses, maps years and areas, and lists the
rows it leaves out and why; `load_problem` reads the files first. A `Simulator` computes the
model's value of every used row for a batch of parameter vectors through an engine's
``run_batch``; `trajectories` gives the indicators' paths at one vector.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from sdplanner.calibration.parse import load_spec
from sdplanner.calibration.spec import CalibrationSpec, IndicatorSpec, ParameterSpec
from sdplanner.data import (
    MIN_RELATIVE_SIGMA,
    AreaMap,
    ObservationSet,
    SkippedRow,
    load_area_mapping,
)
from sdplanner.engine.base import TimeSeries
from sdplanner.errors import CalibrationError, did_you_mean
from sdplanner.model import ModelInfo
from sdplanner.resources import data_path
from sdplanner.results import aggregate
from sdplanner.spec import OutputSpec

__all__ = ["Problem", "Simulator", "build_problem", "load_problem", "trajectories"]


@cache
def _seed_indicators() -> frozenset[str]:
    path = data_path("seed_figures.csv")
    if not path.is_file():
        return frozenset()
    with open(path, encoding="utf-8", newline="") as fh:
        return frozenset(row["indicator"] for row in csv.DictReader(fh))


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
        One row per observation used: ``line, indicator, area, area_type, kind,
        compared_with, year, data_year, observed, sigma, weight`` (data units; ``year`` is
        the model year after any year mapping, ``data_year`` the year in the file).
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
    """

    model: ModelInfo
    spec: CalibrationSpec
    rows: pd.DataFrame
    skipped: list[SkippedRow]
    ignored: list[SkippedRow]
    final_time: float
    variables: list[str]
    base_params: dict = field(default_factory=dict)

    @property
    def n_parameters(self) -> int:
        """Number of estimated values."""
        return len(self.spec.parameters)

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
    observations: ObservationSet,
    *,
    base_params: Mapping | None = None,
) -> Problem:
    """Select and check the observation rows a spec uses.

    Parameters
    ----------
    model : ModelInfo
        The model (its horizon and variables).
    spec : CalibrationSpec
        The spec.
    observations : ObservationSet
        The validated file.
    base_params : mapping, optional
        Constant overrides under the estimated parameters; the estimated ones start from
        these values (their ``default``) where the mapping sets them.

    Returns
    -------
    Problem
        The rows used, and those skipped or ignored with their reasons.

    Raises
    ------
    DataError
        An indicator that neither the spec, the model nor the seed's figures know (closest
        name suggested), or a used row dated outside the model's horizon.
    CalibrationError
        A used row without a sigma when the spec has no default, or no row left.
    """
    from sdplanner.errors import DataError

    where = str(observations.path) if observations.path is not None else "data"
    known = set(spec.indicators) | set(model.variables) | _seed_indicators()
    used, ignored = [], []
    seen: dict[tuple, int] = {}
    for obs in observations.rows:
        w = f"{where}: line {obs.line}"
        if obs.indicator not in known:
            raise DataError(
                f"{w}: unknown indicator {obs.indicator!r}{did_you_mean(obs.indicator, known)};"
                " expected one of the spec's indicators or a model variable"
            )
        ind = spec.indicators.get(obs.indicator)
        skip = SkippedRow(obs.line, obs.indicator, obs.area.name, str(obs.year), "")
        if ind is None:
            ignored.append(_reason(skip, "indicator not in the spec"))
            continue
        if not obs.area.modelled:
            ignored.append(_reason(skip, f"context area ({obs.area.area_type}): not modelled"))
            continue
        if obs.area.kind == "sub-area" and ind.aggregate == "sum":
            ignored.append(
                _reason(
                    skip,
                    "a sub-area's total cannot be compared with its region's total"
                    " (the indicator sums over areas)",
                )
            )
            continue
        year = obs.year
        for ym in spec.year_mapping:
            if (
                ym.indicator == obs.indicator
                and ym.source == obs.year
                and (ym.area is None or ym.area == obs.area.name)
            ):
                year = ym.target
                break
        if not model.initial_time <= year <= model.final_time:
            raise DataError(
                f"{w}: year {obs.year} is outside the model's horizon"
                f" {model.initial_time:g}..{model.final_time:g} ({obs.indicator}, "
                f"{obs.area.name}); add a year_mapping to the spec or drop the row"
            )
        key = (obs.indicator, obs.area.name, obs.area.area_type, year)
        if key in seen:
            raise DataError(
                f"{w}: duplicate row after year mapping: {obs.indicator}, {obs.area.name},"
                f" {year} repeats line {seen[key]}"
            )
        seen[key] = obs.line
        sigma = obs.sigma
        if sigma is None:
            sigma = ind.sigma.get(obs.area.kind)
        if sigma is None:
            raise CalibrationError(
                f"{w}: {obs.indicator} for {obs.area.name} has no sigma and the spec gives no"
                f" default sigma for a {obs.area.kind}; add indicators.{obs.indicator}.sigma"
            )
        if sigma < MIN_RELATIVE_SIGMA * abs(obs.value):
            raise CalibrationError(
                f"{w}: the spec's sigma {sigma:g} for a {obs.area.kind} is less than"
                f" {MIN_RELATIVE_SIGMA:g} times the value {obs.value:g}; expected a larger one"
            )
        used.append(
            {
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
            }
        )
    if not used or not any(r["weight"] > 0 for r in used):
        raise CalibrationError(
            f"{where}: no data left: none of its {len(observations.rows)} rows with a value"
            f" matches an indicator of the spec ({', '.join(spec.indicators)}) in a modelled"
            " area with a positive weight"
        )
    rows = pd.DataFrame(used)
    final_time = spec.final_time if spec.final_time is not None else float(rows.year.max())
    final_time = max(final_time, float(rows.year.max()), model.initial_time + 1)
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
        skipped=list(observations.skipped),
        ignored=ignored,
        final_time=final_time,
        variables=variables,
        base_params=base_params,
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


def _reason(row: SkippedRow, reason: str) -> SkippedRow:
    return SkippedRow(row.line, row.indicator, row.area, row.year, reason)


class Simulator:
    """Compute the model's value for every used row, for a batch of parameter vectors.

    Parameters
    ----------
    problem : Problem
        The problem.
    engine : object
        An engine with ``run_batch(params, batch=, final_time=, variables=)`` returning a
        `SimulationOutput` whose arrays have a leading sample axis.
    """

    def __init__(self, problem: Problem, engine) -> None:
        self.problem = problem
        self.engine = engine
        self.n_runs = 0
        self.n_calls = 0
        self.n_nonfinite = 0
        self._lock = threading.Lock()
        rows = problem.rows
        self._groups = []
        for name, ind in problem.spec.indicators.items():
            idx = np.flatnonzero(rows.indicator.to_numpy() == name)
            if idx.size:
                self._groups.append((ind, idx))
        self._years = rows.year.to_numpy(dtype=float)
        regions = problem.model.regions
        cols = [
            regions.index(area) if area in regions else len(regions) for area in rows.compared_with
        ]
        self._cols = np.array(cols, dtype=int)
        self._time_index: np.ndarray | None = None

    def predict(self, u: np.ndarray) -> np.ndarray:
        """Return the simulated value of every used row.

        Parameters
        ----------
        u : numpy.ndarray
            Unit coordinates, shape ``(n, p)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, m)``, in the data units of each row (NaN where a run failed).
        """
        u = np.atleast_2d(np.asarray(u, dtype=float))
        n = u.shape[0]
        out = self.engine.run_batch(
            self.problem.base_params,
            batch=self.problem.batch(u),
            final_time=self.problem.final_time,
            variables=self.problem.variables,
        )
        with self._lock:
            self.n_runs += n
            self.n_calls += 1
        if self._time_index is None:
            times = np.asarray(out.times, dtype=float)
            index = np.searchsorted(times, self._years - 1e-9)
            ok = (index < len(times)) & (
                np.abs(times[np.minimum(index, len(times) - 1)] - self._years) < 1e-6
            )
            if not ok.all():
                bad = self._years[~ok][0]
                raise CalibrationError(f"the engine saved no output at year {bad:g}")
            self._time_index = index
        pred = np.empty((n, len(self._years)))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for ind, idx in self._groups:
                full = _with_aggregate(out.values, ind, len(self.problem.model.regions))
                pred[:, idx] = full[:, self._time_index[idx], self._cols[idx]] * ind.scale
        return pred


def _with_aggregate(
    values: Mapping[str, np.ndarray], ind: IndicatorSpec, n_regions: int
) -> np.ndarray:
    """Return ``(n, n_times, n_regions + 1)``: the regions, then the aggregate."""
    data = np.asarray(values[ind.variable], dtype=float)
    if data.ndim == 2:  # a scalar variable: the same value everywhere
        data = np.repeat(data[:, :, None], n_regions, axis=2)
    rule = OutputSpec(ind.variable, tuple(ind.weight), ind.aggregate)
    agg = aggregate({**values, ind.variable: data}, rule)
    return np.concatenate([data, agg[..., None]], axis=-1)


def trajectories(
    problem: Problem, simulator: Simulator, u: np.ndarray, final_time: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulate every indicator of the spec at one parameter vector.

    Parameters
    ----------
    problem : Problem
        The problem.
    simulator : Simulator
        Model evaluations (its run counter is updated).
    u : numpy.ndarray
        Unit coordinates, shape ``(p,)``.
    final_time : float
        Last simulated year (year).

    Returns
    -------
    tuple
        ``(times, values)``: saved years and indicator -> ``(n_times, n_regions + 1)``
        (regions, then the aggregate) in data units.
    """
    out = simulator.engine.run_batch(
        problem.base_params,
        batch=problem.batch(np.asarray(u)[None]),
        final_time=final_time,
        variables=problem.variables,
    )
    simulator.n_runs += 1
    simulator.n_calls += 1
    values = {}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for name, ind in problem.spec.indicators.items():
            values[name] = (
                _with_aggregate(out.values, ind, len(problem.model.regions))[0] * ind.scale
            )
    return np.asarray(out.times, dtype=float), values


def _dimension(model: ModelInfo):
    dim = model.spec.dimension
    if dim is None:
        raise CalibrationError(
            f"{model.path}: calibration compares regions with data; the model spec names no"
            " region dimension"
        )
    return dim


def load_problem(
    data: str | os.PathLike,
    spec: str | os.PathLike,
    model: ModelInfo,
    *,
    areas: AreaMap | None = None,
    base_params: Mapping | None = None,
) -> Problem:
    """Read the observations and the spec and build the problem.

    Parameters
    ----------
    data : path-like
        Observation CSV.
    spec : path-like
        Calibration spec (YAML).
    model : ModelInfo
        The model.
    areas : AreaMap, optional
        Area mapping; the shipped one when omitted.
    base_params : mapping, optional
        Constants under the estimated ones (e.g. a ``--params`` file); the estimated ones
        start from these values instead of the ``.mdl``'s.

    Returns
    -------
    Problem
        Ready for `calibrate`.
    """
    from sdplanner.data import read_observations

    calibration_spec = load_spec(spec, model)
    if areas is None:
        areas = load_area_mapping(None, _dimension(model))
    observations = read_observations(data, areas)
    return build_problem(model, calibration_spec, observations, base_params=base_params)
