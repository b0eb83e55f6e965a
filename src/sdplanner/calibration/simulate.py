"""Model values of observation rows for batches of parameter vectors, and indicator paths.

A `Simulator` runs the model through an engine's ``run_batch`` and returns, for each row of
a problem (or any table of compared rows), the model variable at the row's area (a region,
or the aggregate for the 14 regions) and year, times the row's conversion factor: data units.
`trajectories` gives every indicator's path at one parameter vector in display units (the
data's unit at the model's prices and basis).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sdplanner.calibration.spec import IndicatorSpec
from sdplanner.errors import CalibrationError
from sdplanner.results import aggregate
from sdplanner.spec import OutputSpec

if TYPE_CHECKING:
    from sdplanner.calibration.problem import Problem

__all__ = ["Simulator", "trajectories", "with_aggregate"]


class Simulator:
    """Compute the model's value for every used row, for a batch of parameter vectors.

    Parameters
    ----------
    problem : Problem
        The problem.
    engine : object
        An engine with ``run_batch(params, batch=, final_time=, variables=)`` returning a
        `SimulationOutput` whose arrays have a leading sample axis.
    rows : pandas.DataFrame, optional
        The rows to compute (columns of `Problem.rows`); the problem's used rows when
        omitted.
    """

    def __init__(self, problem: Problem, engine, rows: pd.DataFrame | None = None) -> None:
        self.problem = problem
        self.engine = engine
        self.n_runs = 0
        self.n_calls = 0
        self.n_nonfinite = 0
        self._lock = threading.Lock()
        rows = problem.rows if rows is None else rows
        self._factor = rows.factor.to_numpy(dtype=float)
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
            self.problem.run_params,
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
                full = with_aggregate(out.values, ind, len(self.problem.model.regions))
                pred[:, idx] = full[:, self._time_index[idx], self._cols[idx]] * self._factor[idx]
        return pred


def with_aggregate(
    values: Mapping[str, np.ndarray], ind: IndicatorSpec, n_regions: int
) -> np.ndarray:
    """Return an indicator's variable for the regions and their aggregate.

    Parameters
    ----------
    values : mapping
        Variable -> ``(n, n_times[, n_regions])`` from ``run_batch`` (model units).
    ind : IndicatorSpec
        The indicator (its variable and aggregation rule).
    n_regions : int
        Number of regions.

    Returns
    -------
    numpy.ndarray
        ``(n, n_times, n_regions + 1)``: the regions, then the aggregate (model units). For a
        model without regions (``n_regions`` 0) the "aggregate" is the variable's one value.

    Raises
    ------
    CalibrationError
        For a subscripted variable of a model without a region dimension.
    """
    data = np.asarray(values[ind.variable], dtype=float)
    if n_regions == 0:
        if data.ndim != 2:
            raise CalibrationError(
                f"indicator variable {ind.variable} has subscripts but the model has no region"
                " dimension; name it under 'dimension:' in a spec beside the model"
            )
        return data[:, :, None]
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
        (regions, then the aggregate) in display units: the data's unit at the model's
        prices and basis (`sdplanner.units.Conversion.to_display` puts observations on it).
    """
    out = simulator.engine.run_batch(
        problem.run_params,
        batch=problem.batch(np.asarray(u)[None]),
        final_time=final_time,
        variables=problem.variables,
    )
    simulator.n_runs += 1
    simulator.n_calls += 1
    values = {}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for name, ind in problem.spec.indicators.items():
            values[name] = with_aggregate(out.values, ind, len(problem.model.regions))[0] * (
                ind.conversion.scale
            )
    return np.asarray(out.times, dtype=float), values
