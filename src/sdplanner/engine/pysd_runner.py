"""The reference engine: PySD running the translated ``.mdl``.

Each run loads a fresh PySD model object, because PySD keeps parameter changes on the object
between runs (see design/PYSD-NOTES.md).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from sdplanner.engine.base import ParamValue, SimulationOutput, TimeSeries
from sdplanner.errors import EngineError
from sdplanner.model import load_model, load_pysd

__all__ = ["PysdEngine"]


class PysdEngine:
    """Run a model through PySD (the reference implementation).

    Parameters
    ----------
    model_path : path-like, optional
        The ``.mdl``; the shipped model when omitted.
    """

    name = "pysd"

    def __init__(self, model_path: str | os.PathLike | None = None) -> None:
        self.info = load_model(model_path)

    def _to_pysd(self, name: str, value: ParamValue):
        elements = list(self.info.elements)
        dim = self.info.spec.dimension
        sub = dim.subscript if dim is not None else "Region"
        if isinstance(value, TimeSeries):
            # Hold the end values beyond the given years (TimeSeries semantics): PySD returns
            # NaN outside the index of a per-region series, so pad both ends far away.
            years = np.concatenate(
                [[value.years[0] - 1e4], value.years.astype(float), [value.years[-1] + 1e4]]
            )
            vals = np.concatenate([value.values[:1], value.values, value.values[-1:]])
            if vals.ndim == 1:
                return pd.Series(vals.astype(float), index=years)
            data = [xr.DataArray(row.astype(float), {sub: elements}, [sub]) for row in vals]
            return pd.Series(data, index=years)
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 0:
            return float(arr)
        if arr.shape != (len(elements),):
            raise EngineError(
                f"parameter {name}: expected a scalar or {len(elements)} regional values,"
                f" found shape {arr.shape}"
            )
        return xr.DataArray(arr, {sub: elements}, [sub])

    def run(
        self,
        params: Mapping[str, ParamValue] | None = None,
        *,
        final_time: float | None = None,
        time_step: float | None = None,
        variables: Sequence[str] | None = None,
    ) -> SimulationOutput:
        """Run the model once through PySD.

        Parameters
        ----------
        params : mapping, optional
            ``py_name -> value`` overrides of constants (units of each constant).
        final_time : float, optional
            Last simulated year; the model's FINAL TIME when omitted.
        time_step : float, optional
            Euler step (year); the model's TIME STEP when omitted.
        variables : sequence of str, optional
            Python names to return; every variable when omitted.

        Returns
        -------
        SimulationOutput
            Trajectories saved every SAVEPER years.
        """
        params = dict(params or {})
        for name in params:
            if name not in self.info.constants:
                raise EngineError(f"parameter {name}: the model has no constant of that name")
        names = (
            list(variables)
            if variables is not None
            else [
                v
                for v, info in self.info.variables.items()
                if v != "time" and info.kind != "lookup"  # a lookup table is no time series
            ]
        )
        for name in names:
            if name not in self.info.variables:
                raise EngineError(f"variable {name}: the model has no variable of that name")
        model = load_pysd(self.info.path)
        pysd_params = {k: self._to_pysd(k, v) for k, v in params.items()}
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Replacing a constant value with a time-dependent"
            )
            frame = model.run(
                params=pysd_params,
                return_columns=names,
                flatten_output=False,
                final_time=final_time,
                time_step=time_step,
            )
        out = SimulationOutput(times=frame.index.to_numpy(dtype=float), engine=self.name)
        for name in names:
            col = frame[name]
            first = col.iloc[0]
            if isinstance(first, xr.DataArray):
                out.values[name] = np.stack([np.asarray(v.values, dtype=float) for v in col])
            else:
                out.values[name] = col.to_numpy(dtype=float)
        return out

    def run_batch(
        self,
        params: Mapping[str, ParamValue] | None = None,
        batch: Mapping[str, np.ndarray] | None = None,
        *,
        final_time: float | None = None,
        time_step: float | None = None,
        variables: Sequence[str] | None = None,
    ) -> SimulationOutput:
        """Run the model once per sample of a batch (PySD runs one sample at a time).

        Parameters
        ----------
        params : mapping, optional
            Overrides common to every sample, as in `run`.
        batch : mapping, optional
            ``py_name -> array`` of per-sample values, shape ``(n,)`` or ``(n, n_regions)``;
            one sample without it.
        final_time, time_step, variables
            As in `run`.

        Returns
        -------
        SimulationOutput
            ``(n, n_times)`` or ``(n, n_times, n_regions)`` per variable, as the batch
            engine returns them.

        Raises
        ------
        EngineError
            For per-sample arrays of different lengths, or as `run` does.
        """
        batch = dict(batch or {})
        sizes = {len(np.asarray(v)) for v in batch.values()}
        if len(sizes) > 1:
            raise EngineError(f"batch: expected arrays of one length, found {sorted(sizes)}")
        n = sizes.pop() if sizes else 1
        runs = []
        for i in range(n):
            sample = dict(params or {})
            sample.update({k: np.asarray(v)[i] for k, v in batch.items()})
            runs.append(
                self.run(sample, final_time=final_time, time_step=time_step, variables=variables)
            )
        names = list(runs[0].values)
        values = {k: np.stack([r.values[k] for r in runs]) for k in names}
        return SimulationOutput(times=runs[0].times, values=values, engine=self.name)
