"""What every simulation engine takes and returns.

Parameters are passed by PySD Python name. A value is a float (the constant's units), a
float array of shape ``(n_regions,)`` in the model's element order, or a `TimeSeries`.
Outputs are NumPy arrays: ``(n_times,)`` for scalar variables and ``(n_times, n_regions)``
for per-region ones; a batch run adds a leading sample axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Engine", "ParamValue", "SimulationOutput", "TimeSeries"]


@dataclass(frozen=True)
class TimeSeries:
    """A parameter that varies with time: linear interpolation, held constant beyond the ends.

    Attributes
    ----------
    years : numpy.ndarray
        Strictly increasing times (year), shape ``(k,)``.
    values : numpy.ndarray
        Values in the parameter's units, shape ``(k,)`` or ``(k, n_regions)``.
    """

    years: np.ndarray
    values: np.ndarray

    def at(self, t: float) -> float | np.ndarray:
        """Return the interpolated value at time ``t`` (year)."""
        if self.values.ndim == 1:
            return float(np.interp(t, self.years, self.values))
        return np.array(
            [np.interp(t, self.years, self.values[:, j]) for j in range(self.values.shape[1])]
        )


ParamValue = float | np.ndarray | TimeSeries


@dataclass
class SimulationOutput:
    """Saved trajectories of one run or a batch of runs.

    Attributes
    ----------
    times : numpy.ndarray
        Saved times (year), shape ``(n_times,)``.
    values : dict
        ``py_name -> array``: ``(n_times,)`` or ``(n_times, n_regions)`` for one run, with a
        leading ``n_samples`` axis for a batch. Units are those of the model variable.
    engine : str
        Name of the engine that produced it (``"pysd"`` or ``"batch"``).
    """

    times: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)
    engine: str = ""


@runtime_checkable
class Engine(Protocol):
    """A simulation engine for one model."""

    name: str

    def run(
        self,
        params: Mapping[str, ParamValue] | None = None,
        *,
        final_time: float | None = None,
        time_step: float | None = None,
        variables: Sequence[str] | None = None,
    ) -> SimulationOutput:
        """Run once with the given parameter overrides; return the saved trajectories."""
        ...

    def run_batch(
        self,
        params: Mapping[str, ParamValue] | None = None,
        batch: Mapping[str, np.ndarray] | None = None,
        *,
        final_time: float | None = None,
        time_step: float | None = None,
        variables: Sequence[str] | None = None,
    ) -> SimulationOutput:
        """Run once per sample of ``batch`` (arrays ``(n,)`` or ``(n, n_regions)``)."""
        ...
