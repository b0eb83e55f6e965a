"""PySD reference runs for the batch engine's tests of arbitrary models."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from sdplanner.engine.base import SimulationOutput
from sdplanner.model import translated_model_path


def pysd_reference(
    path: Path, names: list[str], params: dict | None = None, time_step: float | None = None
) -> SimulationOutput:
    """Run a model through PySD once, its run settings applied before it is initialized.

    PySD's model is loaded without initializing it: initialized once with the file's TIME
    STEP, PySD cannot initialize it again when a DELAY's order changes with the time step
    or a constant (its ``Delay`` keeps the shape of its first state).

    Parameters
    ----------
    path : pathlib.Path
        The ``.mdl``.
    names : list of str
        Python names of the variables to return.
    params : dict, optional
        Constants to override (scalars), as PySD's ``run(params=...)`` takes them.
    time_step : float, optional
        The run's TIME STEP (model time units).

    Returns
    -------
    SimulationOutput
        ``(n_times,)`` or ``(n_times, n_elements)`` per variable.
    """
    import pysd

    with warnings.catch_warnings():
        # PySD warns where it lowers a DELAY's order or casts a DELAY FIXED length, and
        # where an xarray operation divides by zero
        warnings.simplefilter("ignore")
        model = pysd.load(str(translated_model_path(path)), initialize=False)
        frame = model.run(
            params=params or {}, time_step=time_step, return_columns=names, flatten_output=False
        )
    out = SimulationOutput(times=frame.index.to_numpy(dtype=float), engine="pysd")
    for name in names:
        column = frame[name]
        if isinstance(column.iloc[0], xr.DataArray):
            out.values[name] = np.stack([np.asarray(v.values, dtype=float) for v in column])
        else:
            out.values[name] = column.to_numpy(dtype=float)
    return out
