"""Outputs as cells, and the job every worker runs to turn samples into cells.

A *cell* is one output variable, region (the regions, then their aggregate) and year; a run
of a chunk of samples gives one row of cells per sample (`output_cells`, laid out as
`CellLayout`). `EnsembleJob` is what a backend (`sdplanner.executors`) sends every worker
once: the model and the parameters common to every sample; `iter_cells` runs chunks of
samples through it in sample order.
"""

from __future__ import annotations

import math
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdplanner.engine.base import ParamValue
from sdplanner.errors import did_you_mean, quote
from sdplanner.executors import Executor
from sdplanner.model import ModelInfo
from sdplanner.results import aggregate, required_variables
from sdplanner.spec import ModelSpec, OutputSpec
from sdplanner.uncertainty.errors import EnsembleError

__all__ = [
    "DEFAULT_CHUNK",
    "CellLayout",
    "EnsembleJob",
    "check_chunk_size",
    "check_years",
    "chunk_bounds",
    "iter_cells",
    "output_cells",
    "select_outputs",
]

#: a chunk's arrays (about 20 MB of cells) are then reused from the heap instead of being
#: mapped and zeroed anew for every chunk; measured 1,494 against 1,335 runs per CPU-second
#: for N = 10,000 (benchmarks/RESULTS.md). Results do not depend on it.
DEFAULT_CHUNK = 512
#: Exact percentiles keep values in memory up to this many bytes, else spill to files.


def select_outputs(
    spec: ModelSpec, names: Sequence[str] | str | None, view: str = "ensemble"
) -> tuple[OutputSpec, ...]:
    """Return the output variables to summarize.

    Parameters
    ----------
    spec : ModelSpec
        The model's spec (its outputs and views).
    names : sequence of str, str or None
        Names from ``results.csv`` (the spec's outputs), a comma-separated string, ``"all"``,
        or None for the spec's view ``view``.
    view : str
        The view used when ``names`` is None.

    Returns
    -------
    tuple of OutputSpec
        In the order given.

    Raises
    ------
    EnsembleError
        For an unknown name (with the closest one suggested) or an empty list.
    """
    if names is None:
        names = spec.view(view)
    if isinstance(names, str):
        if names.strip().lower() == "all":
            return spec.outputs
        names = [n.strip() for n in names.split(",") if n.strip()]
    known = {o.name: o for o in spec.outputs}
    out: list[OutputSpec] = []
    for name in names:
        if name not in known:
            hint = did_you_mean(name, known)
            raise EnsembleError(
                f"--outputs: expected variables of results.csv or 'all', found {quote(name)}{hint}"
            )
        if known[name] not in out:
            out.append(known[name])
    if not out:
        raise EnsembleError("--outputs: expected at least one variable, found none")
    return tuple(out)


@dataclass(frozen=True)
class CellLayout:
    """Which column of a cells array is which output, region and year.

    Columns are ordered by variable, then region (the 14 in model order, then
    ``All 14 regions``), then year, like ``results.csv``.

    Attributes
    ----------
    outputs : tuple of OutputSpec
        The variables.
    regions : tuple of str
        Display names, the aggregate last.
    years : numpy.ndarray
        Saved years, shape ``(n_years,)``.
    """

    outputs: tuple[OutputSpec, ...]
    regions: tuple[str, ...]
    years: np.ndarray

    @classmethod
    def for_run(
        cls, model: ModelInfo, outputs: tuple[OutputSpec, ...], final_time: float | None
    ) -> CellLayout:
        """Return the layout of a run of ``model`` up to ``final_time`` (year)."""
        end = model.final_time if final_time is None else final_time
        n = math.floor((end - model.initial_time) / model.saveper + 1e-9) + 1
        years = model.initial_time + model.saveper * np.arange(n)
        dim = model.spec.dimension
        regions = (*dim.labels, dim.aggregate) if dim is not None else ("",)
        return cls(outputs, regions, np.round(years, 6))

    @property
    def per_variable(self) -> int:
        """Cells per variable (regions x years)."""
        return len(self.regions) * len(self.years)

    @property
    def n_cells(self) -> int:
        """Total number of cells."""
        return len(self.outputs) * self.per_variable

    def variable_slices(self) -> list[slice]:
        """Return the column range of each variable."""
        k = self.per_variable
        return [slice(i * k, (i + 1) * k) for i in range(len(self.outputs))]

    def index(self, variable: str, region: str, year: float) -> int:
        """Return the column of one variable, region and year."""
        v = [o.name for o in self.outputs].index(variable)
        r = self.regions.index(region)
        t = int(np.flatnonzero(np.isclose(self.years, year))[0])
        return v * self.per_variable + r * len(self.years) + t

    def labels(self) -> pd.DataFrame:
        """Return one row per cell: ``region, variable, year``."""
        n_r, n_t = len(self.regions), len(self.years)
        years = self.years.astype(int) if np.all(self.years == np.round(self.years)) else self.years
        return pd.DataFrame(
            {
                "region": np.tile(np.repeat(self.regions, n_t), len(self.outputs)),
                "variable": np.repeat([o.name for o in self.outputs], n_r * n_t),
                "year": np.tile(years, n_r * len(self.outputs)),
            }
        )


def output_cells(values: Mapping[str, np.ndarray], outputs: Sequence[OutputSpec]) -> np.ndarray:
    """Turn a batch's trajectories into cells (regions plus the per-sample aggregate).

    Parameters
    ----------
    values : mapping
        ``py_name -> (n, n_times, n_regions)`` arrays of a batch run, outputs and weights.
    outputs : sequence of OutputSpec
        The variables, each aggregated over the regions as in ``results.csv``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, n_variables * (n_regions + 1) * n_times)``, laid out as `CellLayout`.
    """
    vals = {k: np.ascontiguousarray(v, dtype=float) for k, v in values.items()}
    first = vals[outputs[0].name]
    n, n_t, n_r = first.shape
    out = np.empty((n, len(outputs), n_r + 1, n_t))
    for i, o in enumerate(outputs):
        out[:, i, :n_r, :] = vals[o.name].transpose(0, 2, 1)
        out[:, i, n_r, :] = aggregate(vals, o)
    return out.reshape(n, -1)


# --------------------------------------------------------------------------------------
# The job every worker runs
# --------------------------------------------------------------------------------------
def _worker_model_path(path: str, sha256: str, text: bytes) -> str:
    from sdplanner.model import file_sha256

    if os.path.isfile(path) and file_sha256(path) == sha256:
        return path
    from sdplanner.cache import cache_root

    target = os.path.join(cache_root(), "worker-models", f"{sha256[:16]}.mdl")
    if not (os.path.isfile(target) and file_sha256(target) == sha256):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".mdl")
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
        os.replace(tmp, target)
    return target


@dataclass(frozen=True)
class EnsembleJob:
    """Everything a worker needs to turn per-sample parameters into cells.

    Attributes
    ----------
    key : str
        Unique per job (workers cache the engine under it).
    model_path : str
        The ``.mdl`` on the submitting machine.
    model_sha256 : str
        Its hash; a worker without that file writes ``model_text`` to its cache.
    model_text : bytes
        The ``.mdl``'s bytes.
    engine : str
        ``"batch"`` (or ``"pysd"``, one run per sample: for checks only).
    params : dict
        Parameters common to every sample (the scenario's, minus the sampled ones).
    final_time : float or None
        Last simulated year.
    outputs : tuple of OutputSpec
        The variables to return.
    select : numpy.ndarray or None
        Columns of the cells to return (all when None).
    """

    key: str
    model_path: str
    model_sha256: str
    model_text: bytes
    engine: str
    params: dict
    final_time: float | None
    outputs: tuple[OutputSpec, ...]
    select: np.ndarray | None = None

    @classmethod
    def create(
        cls,
        model: ModelInfo,
        engine: str,
        params: Mapping[str, ParamValue],
        final_time: float | None,
        outputs: tuple[OutputSpec, ...],
        sampled: Sequence[str] = (),
        select: np.ndarray | None = None,
    ) -> EnsembleJob:
        """Build a job; the sampled constants are removed from the common parameters."""
        common = {k: v for k, v in params.items() if k not in set(sampled)}
        return cls(
            uuid.uuid4().hex,
            str(model.path),
            model.sha256,
            Path(model.path).read_bytes(),
            engine,
            common,
            final_time,
            outputs,
            select,
        )

    def build(self) -> Any:
        """Build the engine (once per worker process)."""
        from sdplanner.engine import get_engine

        path = _worker_model_path(self.model_path, self.model_sha256, self.model_text)
        return get_engine(self.engine, path)

    def run(self, engine: Any, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run one chunk of samples and return its cells.

        Parameters
        ----------
        engine : Engine
            From `build`.
        batch : mapping
            Per-sample parameters (``py_name -> (n,)`` or ``(n, n_regions)``).

        Returns
        -------
        numpy.ndarray
            Shape ``(n, n_cells)`` (or ``(n, len(select))``).
        """
        variables = required_variables(self.outputs)
        out = engine.run_batch(
            self.params, dict(batch), final_time=self.final_time, variables=variables
        )
        cells = output_cells(out.values, self.outputs)
        return cells if self.select is None else np.ascontiguousarray(cells[:, self.select])


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` of consecutive chunks of at most ``chunk_size`` samples."""
    return [(a, min(n, a + chunk_size)) for a in range(0, n, chunk_size)]


def check_chunk_size(chunk: Any) -> int:
    """Validate a chunk size: a positive integer."""
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise EnsembleError(f"--chunk-size: expected an integer >= 1, found {quote(chunk)}")
    return int(chunk)


def iter_cells(
    job: EnsembleJob,
    batches: Callable[[int, int], Mapping[str, np.ndarray]],
    n: int,
    chunk_size: int,
    executor: Executor,
) -> Iterator[np.ndarray]:
    """Run chunks of samples through a backend and yield their cells in sample order.

    Parameters
    ----------
    job : EnsembleJob
        The job.
    batches : callable
        ``(start, stop) -> per-sample parameters`` of samples ``start..stop-1``.
    n : int
        Number of samples.
    chunk_size : int
        Samples per chunk.
    executor : Executor
        A started backend.

    Yields
    ------
    numpy.ndarray
        Cells of each chunk, shape ``(m, n_cells)``.
    """
    payloads = (batches(a, b) for a, b in chunk_bounds(n, chunk_size))
    yield from executor.map(job, payloads)


def check_years(
    years: Sequence[int] | str | None, first: float, last: float, default: Sequence[int]
) -> list[int]:
    """Validate the years an analysis reports (``--years``).

    Parameters
    ----------
    years : sequence of int, str or None
        Years, a comma-separated string, or None for ``default``.
    first, last : float
        First and last simulated year.
    default : sequence of int
        The years when none are given.

    Returns
    -------
    list of int
        Increasing, without repeats.

    Raises
    ------
    EnsembleError
        For a year outside the run, a text that is not years, or an empty list.
    """
    if years is None:
        years = list(default)
    if isinstance(years, str):
        parts = [y.strip() for y in years.split(",") if y.strip()]
        try:
            years = [int(y) for y in parts]
        except ValueError:
            raise EnsembleError(
                f"--years: expected comma-separated years, found {quote(years)}"
            ) from None
    out = []
    for y in years:
        if isinstance(y, bool) or not isinstance(y, int | np.integer) or not first <= y <= last:
            raise EnsembleError(f"--years: expected years in {first:g}..{last:g}, found {quote(y)}")
        if int(y) not in out:
            out.append(int(y))
    if not out:
        raise EnsembleError("--years: expected at least one year, found none")
    return sorted(out)
