"""Outputs as cells, and the job every worker runs to turn samples into cells.

A *cell* is one output variable, region (the regions, then their aggregate) and year; a run
of a chunk of samples gives one row of cells per sample (`output_cells`, laid out as
`CellLayout`). `EnsembleJob` is what a backend (`sdplanner.executors`) sends every worker
once: the model and the parameters common to every sample; `iter_cells` runs chunks of
samples through it in sample order.
"""

from __future__ import annotations

import itertools
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
from sdplanner.errors import EngineError, did_you_mean, quote
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
        or None for the spec's view ``view`` (every output for a model without a spec: every
        stock and auxiliary).
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
        names = spec.view(view) if spec.path is not None else "all"
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

    Columns are ordered by variable, then region, then year, like ``results.csv``. A
    variable's regions are those of its rows in ``results.csv``: the elements of the model's
    dimension (display names) followed by its aggregate when the output aggregates, or the
    one empty region ``""`` for a variable without subscripts.

    Attributes
    ----------
    outputs : tuple of OutputSpec
        The variables.
    regions_of : tuple of tuple of str
        The regions of each variable, in the order of ``outputs``.
    years : numpy.ndarray
        Saved years, shape ``(n_years,)``.
    aggregate : str or None
        Label of the aggregate rows, or None when the model's spec gives none.
    """

    outputs: tuple[OutputSpec, ...]
    regions_of: tuple[tuple[str, ...], ...]
    years: np.ndarray
    aggregate: str | None = None

    @classmethod
    def for_run(
        cls, model: ModelInfo, outputs: tuple[OutputSpec, ...], final_time: float | None
    ) -> CellLayout:
        """Return the layout of a run of ``model`` up to ``final_time`` (year).

        Raises
        ------
        EnsembleError
            For a subscripted output of a model whose spec names no dimension (its rows
            would have no region names).
        """
        end = model.final_time if final_time is None else final_time
        n = math.floor((end - model.initial_time) / model.saveper + 1e-9) + 1
        years = model.initial_time + model.saveper * np.arange(n)
        dim = model.spec.dimension
        aggregate = dim.aggregate if dim is not None and dim.aggregate else None
        regions_of = []
        for o in outputs:
            if not model.variables[o.name].subscripted:
                regions_of.append(("",))
            elif dim is None:
                raise EnsembleError(
                    f"{model.path.name}: output {o.name} has subscripts but the model has no"
                    " single region dimension; name it under 'dimension:' in a spec beside"
                    " the model (docs/extending.md)"
                )
            elif o.aggregate != "none" and aggregate is not None:
                regions_of.append((*dim.labels, aggregate))
            else:
                regions_of.append(tuple(dim.labels))
        return cls(outputs, tuple(regions_of), np.round(years, 6), aggregate)

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region of any variable, in order of first appearance."""
        return tuple(dict.fromkeys(r for regions in self.regions_of for r in regions))

    def widths(self) -> list[int]:
        """Return the number of cells of each variable (its regions x years)."""
        return [len(r) * len(self.years) for r in self.regions_of]

    @property
    def n_cells(self) -> int:
        """Total number of cells."""
        return sum(self.widths())

    def variable_slices(self) -> list[slice]:
        """Return the column range of each variable."""
        stops = np.cumsum([0, *self.widths()])
        return [slice(int(a), int(b)) for a, b in itertools.pairwise(stops)]

    def index(self, variable: str, region: str, year: float) -> int:
        """Return the column of one variable, region and year.

        Raises
        ------
        EnsembleError
            When the variable has no such region (e.g. no aggregate row).
        """
        v = [o.name for o in self.outputs].index(variable)
        if region not in self.regions_of[v]:
            raise EnsembleError(
                f"{variable}: expected a region of its rows"
                f" ({', '.join(map(quote, self.regions_of[v]))}), found {quote(region)}"
            )
        r = self.regions_of[v].index(region)
        t = int(np.flatnonzero(np.isclose(self.years, year))[0])
        return self.variable_slices()[v].start + r * len(self.years) + t

    def labels(self) -> pd.DataFrame:
        """Return one row per cell: ``region, variable, year``."""
        n_t = len(self.years)
        years = self.years.astype(int) if np.all(self.years == np.round(self.years)) else self.years
        return pd.DataFrame(
            {
                "region": np.concatenate([np.repeat(r, n_t) for r in self.regions_of]),
                "variable": np.repeat(
                    [o.name for o in self.outputs], [len(r) * n_t for r in self.regions_of]
                ),
                "year": np.tile(years, sum(len(r) for r in self.regions_of)),
            }
        )


def output_cells(values: Mapping[str, np.ndarray], layout: CellLayout) -> np.ndarray:
    """Turn a batch's trajectories into cells (regions plus the per-sample aggregate).

    Parameters
    ----------
    values : mapping
        ``py_name -> (n, n_times, n_regions)`` arrays of a batch run (``(n, n_times)`` for
        a variable without subscripts), outputs and weights.
    layout : CellLayout
        The variables and their regions; a variable with an aggregate row is aggregated
        over the regions as in ``results.csv``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, layout.n_cells)``, laid out as `CellLayout`.

    Raises
    ------
    EngineError
        When a trajectory's shape does not match the layout (a variable subscripted by
        another range than the model's dimension).
    """
    vals = {k: np.ascontiguousarray(v, dtype=float) for k, v in values.items()}
    n, n_t = vals[layout.outputs[0].name].shape[:2]
    out = np.empty((n, layout.n_cells))
    for o, regions, cols in zip(
        layout.outputs, layout.regions_of, layout.variable_slices(), strict=True
    ):
        data = vals[o.name]
        if data.ndim == 2:
            data = data[:, :, None]
        n_r = len(regions) - (layout.aggregate is not None and regions[-1] == layout.aggregate)
        if data.shape != (n, n_t, n_r):
            raise EngineError(
                f"{o.name}: expected trajectories of shape {(n, n_t, n_r)}, found {data.shape}"
                " (a variable subscripted by another range than the model's dimension)"
            )
        block = out[:, cols].reshape(n, len(regions), n_t)
        block[:, :n_r, :] = data.transpose(0, 2, 1)
        if n_r < len(regions):
            block[:, n_r, :] = aggregate(vals, o)
    return out


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
    layout : CellLayout
        The variables to return and their regions.
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
    layout: CellLayout
    select: np.ndarray | None = None

    @classmethod
    def create(
        cls,
        model: ModelInfo,
        engine: str,
        params: Mapping[str, ParamValue],
        final_time: float | None,
        layout: CellLayout,
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
            layout,
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
        variables = required_variables(self.layout.outputs)
        out = engine.run_batch(
            self.params, dict(batch), final_time=self.final_time, variables=variables
        )
        cells = output_cells(out.values, self.layout)
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
