"""Uncertainty ensembles: Latin hypercube samples through the batch engine, in chunks.

The flow is: an `UncertaintySpec` and a seed give a `LatinHypercubeSampler`; chunks of its
samples become per-sample parameters of the batch engine (`EnsembleJob`), run on any backend
(`sdplanner.executors`); each chunk's outputs become *cells* (one column per output variable,
region, including the ``All 14 regions`` aggregate, and year); a reducer turns the stream of
cells into percentiles and means.

Guarantees (see ``docs/ensembles.md``):

* The samples depend only on the seed and N: Latin hypercubes are drawn per fixed block of
  sample indices (one block up to `SAMPLE_BLOCK` samples), never per chunk.
* The mean is an exact, order-independent sum (`ExactSum`), so chunk sizes and backends do
  not change it.
* Percentiles are exact up to `EXACT_LIMIT` samples (values kept in memory, or spilled to
  temporary files beyond a memory budget). Beyond, fixed-bin histograms per cell keep memory
  bounded whatever N: the estimate is within one bin width of the exact percentile (the bin
  width of every cell is returned, `EnsembleResult.bounds`).

Nothing here plots or writes files except the temporary spill files of exact percentiles.
"""

from __future__ import annotations

import math
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdplanner.engine.base import ParamValue
from sdplanner.errors import EngineError, SdplannerError, did_you_mean, quote
from sdplanner.executors import Executor, InProcessExecutor
from sdplanner.memory import check_memory, ensemble_bytes
from sdplanner.model import ModelInfo
from sdplanner.results import aggregate, required_variables
from sdplanner.rng import make_generator
from sdplanner.run import RunInputs
from sdplanner.spec import ModelSpec, OutputSpec
from sdplanner.uncertainty import UncertaintySpec, iman_conover

__all__ = [
    "DEFAULT_CHUNK",
    "EXACT_LIMIT",
    "HISTOGRAM_BINS",
    "PERCENTILES",
    "PERCENTILE_COLUMNS",
    "PILOT_SAMPLES",
    "SAMPLE_BLOCK",
    "CellLayout",
    "EnsembleError",
    "EnsembleJob",
    "EnsemblePlan",
    "EnsembleResult",
    "ExactPercentiles",
    "ExactSum",
    "LatinHypercubeSampler",
    "StreamingPercentiles",
    "check_samples",
    "chunk_bounds",
    "execute_ensemble",
    "iter_cells",
    "output_cells",
    "percentile_frame",
    "plan_ensemble",
    "run_ensemble",
    "select_outputs",
]

#: Percentiles reported (percent).
PERCENTILES = (5, 25, 50, 75, 95)
#: Columns of ``percentiles.csv``.
PERCENTILE_COLUMNS = [
    "scenario",
    "region",
    "variable",
    "year",
    "p05",
    "p25",
    "p50",
    "p75",
    "p95",
    "mean",
]
#: Largest N for which percentiles are exact by default; beyond it they stream.
EXACT_LIMIT = 100_000
#: Latin hypercubes are drawn per block of at most this many sample indices.
SAMPLE_BLOCK = 100_000
#: Bins of the streaming histograms (per cell), between the pilot's range and two overflow bins.
HISTOGRAM_BINS = 4096
#: The first samples, whose range sets the histogram bins and the exact sums' scale.
PILOT_SAMPLES = 2000
#: Relative padding of the pilot range on each side.
PILOT_PAD = 0.05
#: Default samples per chunk (the unit of work sent to a backend). 512 rather than 2,048:
#: a chunk's arrays (about 20 MB of cells) are then reused from the heap instead of being
#: mapped and zeroed anew for every chunk; measured 1,494 against 1,335 runs per CPU-second
#: for N = 10,000 (benchmarks/RESULTS.md). Results do not depend on it.
DEFAULT_CHUNK = 512
#: Exact percentiles keep values in memory up to this many bytes, else spill to files.
MEMORY_BUDGET = 512 * 2**20
#: Bytes of one column slab processed at a time.
SLAB_BYTES = 64 * 2**20


class EnsembleError(SdplannerError):
    """An ensemble or sensitivity request is invalid (sample count, outputs, years)."""


# --------------------------------------------------------------------------------------
# Outputs as cells
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------
def sample_blocks(n: int) -> list[tuple[int, int]]:
    """Return the blocks of sample indices that each get their own Latin hypercube.

    Parameters
    ----------
    n : int
        Number of samples.

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` of ``ceil(n / SAMPLE_BLOCK)`` blocks of nearly equal size.
    """
    k = max(1, -(-n // SAMPLE_BLOCK))
    return [(j * n // k, (j + 1) * n // k) for j in range(k)]


class LatinHypercubeSampler:
    """Seeded Latin hypercube samples of an uncertainty specification.

    Sample ``i`` depends only on the seed, N and the specification: block ``j`` of
    `sample_blocks` is a `scipy.stats.qmc.LatinHypercube` drawn with the generator
    ``make_generator(seed, j)``, then rank-correlated by `iman_conover` when the
    specification has correlations.

    Parameters
    ----------
    spec : UncertaintySpec
        The distributions.
    n : int
        Number of samples (at least 2).
    seed : int
        The seed.
    """

    def __init__(self, spec: UncertaintySpec, n: int, seed: int) -> None:
        self.spec = spec
        self.n = n
        self.seed = seed
        self.blocks = sample_blocks(n)
        self._corr_cols, self._corr = spec.rank_correlation()
        if len(self._corr_cols) and min(b - a for a, b in self.blocks) < len(self._corr_cols) + 2:
            raise EnsembleError(
                f"--samples: expected at least {len(self._corr_cols) + 2} samples for"
                f" {len(self._corr_cols)} correlated draws, found {n}"
            )
        self._cache: tuple[int, np.ndarray] | None = None

    def _block(self, j: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == j:
            return self._cache[1]
        from scipy.stats import qmc

        a, b = self.blocks[j]
        d = len(self.spec.columns)
        u = qmc.LatinHypercube(d=d, rng=make_generator(self.seed, j)).random(b - a)
        if len(self._corr_cols):
            u[:, self._corr_cols] = iman_conover(u[:, self._corr_cols], self._corr)
        self._cache = (j, u)
        return u

    def unit(self, start: int, stop: int) -> np.ndarray:
        """Return the unit-hypercube samples ``start..stop-1``, shape ``(m, n_columns)``."""
        parts = []
        for j, (a, b) in enumerate(self.blocks):
            lo, hi = max(a, start), min(b, stop)
            if lo < hi:
                parts.append(self._block(j)[lo - a : hi - a])
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def values(self, start: int, stop: int) -> np.ndarray:
        """Return parameter values of samples ``start..stop-1``, shape ``(m, n_columns)``."""
        return self.spec.transform(self.unit(start, stop))


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` of consecutive chunks of at most ``chunk_size`` samples."""
    return [(a, min(n, a + chunk_size)) for a in range(0, n, chunk_size)]


# --------------------------------------------------------------------------------------
# Exact, order-independent sums
# --------------------------------------------------------------------------------------
class ExactSum:
    """Order-independent sums of float64 columns, exact to 2**-120 of a per-column scale.

    Each value ``x`` with ``|x| < 2**E`` (``E`` per column) is split into three integers
    ``k1, k2, k3`` of at most 40 bits with ``x = k1 u1 + k2 u2 + k3 u3 + r``,
    ``u_l = 2**(E - 40 l)`` and ``|r| <= u3 / 2`` (``r`` dropped, ``u3 = 2**(E-120)``). Sums
    of the integers are exact (in float64 over blocks of 4096 rows, then in Python integers),
    so the total does not depend on the order or grouping of the values: chunk sizes and
    backends give the same bits. `mean` is the correctly rounded quotient.

    Parameters
    ----------
    exponent : numpy.ndarray
        ``E`` per column (integers); every value added must satisfy ``|x| < 2**E``.
    """

    LEVELS = 3
    BITS = 40
    ROWS = 4096

    def __init__(self, exponent: np.ndarray) -> None:
        self.exponent = np.asarray(exponent, dtype=np.int64)
        self.limit = np.ldexp(1.0, self.exponent)
        self.units = [
            np.ldexp(1.0, self.exponent - self.BITS * (lvl + 1)) for lvl in range(self.LEVELS)
        ]
        self.inverse = [1.0 / u for u in self.units]
        c = self.exponent.size
        self.totals = [np.array([0] * c, dtype=object) for _ in range(self.LEVELS)]
        self.count = 0

    def add(self, x: np.ndarray) -> None:
        """Add rows of values, shape ``(m, n_columns)``.

        Raises
        ------
        EngineError
            When a value exceeds its column's scale (2**24 times the pilot's largest
            magnitude): the exact sum cannot be formed.
        """
        x = np.asarray(x, dtype=float)
        if x.shape[0] == 0:
            return
        over = (x.max(axis=0) >= self.limit) | (x.min(axis=0) <= -self.limit)
        if over.any():
            col = int(np.flatnonzero(over)[0])
            raise EngineError(
                f"ensemble: cell {col}: a value exceeds 2**{int(self.exponent[col])}, over"
                " 16 million times the largest of the pilot samples; narrow the distributions"
            )
        for r0 in range(0, x.shape[0], self.ROWS):
            block = x[r0 : r0 + self.ROWS]
            rest = None
            k = np.empty_like(block)
            for lvl in range(self.LEVELS):
                np.multiply(block if rest is None else rest, self.inverse[lvl], out=k)
                np.rint(k, out=k)
                self.totals[lvl] += k.sum(axis=0).astype(np.int64).astype(object)
                if lvl + 1 < self.LEVELS:
                    k *= self.units[lvl]
                    if rest is None:
                        rest = block - k
                    else:
                        rest -= k
        self.count += x.shape[0]

    def mean(self, n: int | None = None) -> np.ndarray:
        """Return the correctly rounded mean of every column.

        Parameters
        ----------
        n : int, optional
            Divisor; the number of rows added when omitted.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_columns,)``.
        """
        n = self.count if n is None else n
        shift = [self.BITS * (self.LEVELS - 1 - lvl) for lvl in range(self.LEVELS)]
        out = np.empty(self.exponent.size)
        for c in range(self.exponent.size):
            total = sum(int(self.totals[lvl][c]) << shift[lvl] for lvl in range(self.LEVELS))
            out[c] = math.ldexp(total / n, int(self.exponent[c]) - self.BITS * self.LEVELS)
        return out


def _scale_exponents(pilot: np.ndarray, slices: Sequence[slice]) -> np.ndarray:
    """Per-column exponents for `ExactSum`: each variable's largest pilot magnitude x 2**24."""
    exp = np.empty(pilot.shape[1], dtype=np.int64)
    for s in slices:
        top = float(np.max(np.abs(pilot[:, s]))) if pilot.size else 0.0
        exp[s] = (math.frexp(top)[1] if top > 0 else 40) + 24
    return exp


# --------------------------------------------------------------------------------------
# Percentiles
# --------------------------------------------------------------------------------------
def _positions(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order statistics around each percentile, as `numpy.percentile` (linear) picks them."""
    q = np.array(PERCENTILES, dtype=float) / 100.0
    virtual = (n - 1) * q
    prev = np.floor(virtual)
    gamma = virtual - prev
    prev = prev.astype(np.intp)
    nxt = np.minimum(prev + 1, n - 1)
    above = virtual >= n - 1
    prev[above] = n - 1
    return prev, nxt, gamma


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation computed exactly as `numpy.percentile` does."""
    diff = b - a
    out = np.add(a, diff * t)
    np.subtract(b, diff * (1 - t), out=out, where=np.broadcast_to(t >= 0.5, out.shape))
    return out


class _Reducer:
    """Consume cells in sample order; hold the first samples until the pilot is complete.

    Samples with a non-finite value are an error (``nonfinite="error"``) or are left out of
    every statistic (``"drop"``; counted in `dropped`): statistics then use the kept samples.
    """

    def __init__(
        self,
        n: int,
        slices: Sequence[slice],
        pilot: int = PILOT_SAMPLES,
        *,
        names: Sequence[str] | None = None,
        nonfinite: str = "error",
    ) -> None:
        if n < 2:
            raise EnsembleError(f"--samples: expected at least 2 samples, found {n}")
        if nonfinite not in ("error", "drop"):
            raise EnsembleError(
                f"--nonfinite: expected 'drop' or 'error', found {quote(nonfinite)}"
            )
        self.n = n
        self.slices = list(slices)
        self.names = list(names) if names is not None else [str(i) for i in range(len(slices))]
        self.nonfinite = nonfinite
        self.n_pilot = min(n, pilot)
        self.seen = 0
        self.kept = 0
        self.dropped: list[int] = []
        self.n_dropped = 0
        self._pending: list[np.ndarray] | None = []
        self.sum: ExactSum | None = None

    def _variable(self, col: int) -> str:
        return next(self.names[i] for i, s in enumerate(self.slices) if s.start <= col < s.stop)

    def add(self, cells: np.ndarray) -> None:
        """Add the cells of the next samples, shape ``(m, n_cells)``."""
        cells = np.asarray(cells, dtype=float)
        if self.seen + len(cells) > self.n:
            raise EnsembleError(f"ensemble: more than the {self.n} samples announced")
        m = len(cells)
        suspect = np.flatnonzero(~np.isfinite(cells.sum(axis=1)))
        ok = np.ones(m, dtype=bool)
        if len(suspect):
            ok[suspect] = np.isfinite(cells[suspect]).all(axis=1)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            finite = np.isfinite(cells)
            if self.nonfinite == "error":
                col = int(np.flatnonzero(~finite[bad[0]])[0])
                raise EngineError(
                    f"ensemble: sample {self.seen + int(bad[0])} gives a non-finite"
                    f" {self._variable(col)} ({len(bad)} such samples in this chunk); narrow"
                    " the distributions or leave such samples out (--nonfinite drop)"
                )
            self.n_dropped += len(bad)
            self.dropped.extend(int(self.seen + b) for b in bad[: max(0, 1000 - len(self.dropped))])
            cells = cells[ok]
        self.seen += m
        if not len(cells):
            return
        self.kept += len(cells)
        if self._pending is not None:
            self._pending.append(cells)
            if self.kept >= self.n_pilot:
                self._begin()
            return
        self._feed(cells)

    def _begin(self) -> None:
        data = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending = None
        pilot = data[: self.n_pilot]
        self.sum = ExactSum(_scale_exponents(pilot, self.slices))
        self._start(pilot)
        self._feed(data)

    def _feed(self, cells: np.ndarray) -> None:
        self.sum.add(cells)
        self._consume(cells)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Return percentiles ``(5, n_cells)``, means ``(n_cells,)`` and bounds (or None)."""
        if self.seen != self.n:
            raise EnsembleError(f"ensemble: expected {self.n} samples, received {self.seen}")
        if self.kept < 2:
            raise EngineError(
                f"ensemble: {self.n_dropped} of {self.n} samples gave non-finite values; fewer"
                " than 2 remain (narrow the distributions)"
            )
        if self._pending is not None:
            self._begin()
        pct, bounds = self._percentiles()
        return pct, self.sum.mean(self.kept), bounds

    def _start(self, pilot: np.ndarray) -> None:
        raise NotImplementedError

    def _consume(self, cells: np.ndarray) -> None:
        raise NotImplementedError

    def _percentiles(self) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


class ExactPercentiles(_Reducer):
    """Exact percentiles (as `numpy.percentile`, linear) from every value of every cell.

    Values are kept in memory up to ``memory_budget`` bytes; beyond, they are written to
    temporary files (one per slab of columns, under ``spill_dir``) and read back slab by slab.

    Parameters
    ----------
    n : int
        Number of samples.
    slices : sequence of slice
        Column range of each variable.
    memory_budget : int, optional
        Bytes of values kept in memory (byte).
    spill_dir : path-like, optional
        Folder for the temporary files (the system's temporary folder when omitted).
    """

    method = "exact"

    def __init__(
        self,
        n: int,
        slices: Sequence[slice],
        *,
        memory_budget: int = MEMORY_BUDGET,
        spill_dir: str | os.PathLike | None = None,
        pilot: int = PILOT_SAMPLES,
        names: Sequence[str] | None = None,
        nonfinite: str = "error",
    ) -> None:
        super().__init__(n, slices, pilot, names=names, nonfinite=nonfinite)
        self.memory_budget = memory_budget
        self.spill_dir = spill_dir
        self._data: np.ndarray | None = None
        self._files: list | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._row = 0

    def _start(self, pilot: np.ndarray) -> None:
        c = pilot.shape[1]
        self.n_cells = c
        self.slab = max(1, min(c, SLAB_BYTES // (8 * self.n)))
        if self.n * c * 8 <= self.memory_budget:
            self._data = np.empty((self.n, c))
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix=".ensemble-", dir=self.spill_dir)
            self._files = [
                open(Path(self._tmp.name) / f"slab{i}.f64", "wb") for i in range(-(-c // self.slab))
            ]

    def _consume(self, cells: np.ndarray) -> None:
        m = len(cells)
        if self._data is not None:
            self._data[self._row : self._row + m] = cells
        else:
            for i, fh in enumerate(self._files):
                np.ascontiguousarray(cells[:, i * self.slab : (i + 1) * self.slab]).tofile(fh)
        self._row += m

    def _slabs(self) -> Iterator[tuple[int, np.ndarray]]:
        for i, a in enumerate(range(0, self.n_cells, self.slab)):
            b = min(self.n_cells, a + self.slab)
            if self._data is not None:
                yield a, self._data[: self.kept, a:b]
            else:
                self._files[i].close()
                path = Path(self._tmp.name) / f"slab{i}.f64"
                yield a, np.fromfile(path, dtype=float).reshape(self.kept, b - a)
                path.unlink()

    def _percentiles(self) -> tuple[np.ndarray, None]:
        prev, nxt, gamma = _positions(self.kept)
        kth = np.unique(np.concatenate([prev, nxt]))
        out = np.empty((len(PERCENTILES), self.n_cells))
        try:
            for a, data in self._slabs():
                # in place: the stored values are not needed after this (no copy of the
                # whole slab; the same order statistics)
                data.partition(kth, axis=0)
                out[:, a : a + data.shape[1]] = _lerp(data[prev], data[nxt], gamma[:, None])
        finally:
            self.close()
        return out, None

    def close(self) -> None:
        """Remove the temporary files, if any."""
        for fh in self._files or ():
            fh.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._data = None


class StreamingPercentiles(_Reducer):
    """Percentiles from fixed-bin histograms per cell: bounded memory whatever N.

    The bins of each cell split the range of the first `PILOT_SAMPLES` samples, padded by
    5 % on each side, into `HISTOGRAM_BINS` equal bins, plus an underflow and an overflow
    bin whose outer ends are the exact minimum and maximum. An order statistic is placed in
    its bin by the counts and interpolated within it, so it is off by less than the width of
    its bin (`EnsembleResult.bounds`); percentiles interpolate two order statistics as
    `numpy.percentile` does. Counts are integers, so the result does not depend on the order
    or grouping of samples. Memory: ``n_cells * (HISTOGRAM_BINS + 2) * 4`` bytes.

    Parameters
    ----------
    n : int
        Number of samples.
    slices : sequence of slice
        Column range of each variable.
    bins : int, optional
        Bins per cell inside the pilot range.
    """

    method = "streaming"

    def __init__(
        self,
        n: int,
        slices: Sequence[slice],
        *,
        bins: int = HISTOGRAM_BINS,
        pilot: int = PILOT_SAMPLES,
        names: Sequence[str] | None = None,
        nonfinite: str = "error",
    ) -> None:
        super().__init__(n, slices, pilot, names=names, nonfinite=nonfinite)
        self.bins = bins

    def _start(self, pilot: np.ndarray) -> None:
        lo, hi = pilot.min(axis=0), pilot.max(axis=0)
        span = hi - lo
        pad = np.where(
            span > 0, PILOT_PAD * span, np.maximum(np.abs(lo) * 1e-6, np.finfo(float).tiny)
        )
        self.left = lo - pad
        self.width = (span + 2 * pad) / self.bins
        self.inv_width = 1.0 / self.width
        self.right = self.left + self.bins * self.width
        self._shift = 1.0 - self.left * self.inv_width
        width = max(sl.stop - sl.start for sl in self.slices)
        self._offsets = np.arange(width, dtype=np.intp) * (self.bins + 2)
        self.vmin = np.full(lo.shape, np.inf)
        self.vmax = np.full(lo.shape, -np.inf)
        dtype = np.int32 if self.n < 2**31 else np.int64
        self.counts = np.zeros((lo.size, self.bins + 2), dtype=dtype)

    def _consume(self, cells: np.ndarray) -> None:
        np.minimum(self.vmin, cells.min(axis=0), out=self.vmin)
        np.maximum(self.vmax, cells.max(axis=0), out=self.vmax)
        nb = self.bins + 2
        for s in self.slices:
            # Bin b >= 1 holds [left + (b - 1) w, left + b w); 0 and bins + 1 the overflows.
            t = cells[:, s] * self.inv_width[s]
            t += self._shift[s]
            np.clip(t, 0.0, float(self.bins + 1), out=t)
            idx = t.astype(np.intp)
            idx += self._offsets[: idx.shape[1]]
            counts = np.bincount(idx.ravel(), minlength=idx.shape[1] * nb)
            self.counts[s] += counts.reshape(idx.shape[1], nb).astype(self.counts.dtype)

    def _order_stat(self, cum, counts, k: int, s: slice) -> tuple[np.ndarray, np.ndarray]:
        b = np.argmax(cum > k, axis=1)
        rows = np.arange(cum.shape[0])
        n_in = counts[rows, b].astype(float)
        before = (cum[rows, b] - counts[rows, b]).astype(float)
        frac = (k - before + 0.5) / n_in
        left = np.where(
            b == 0,
            self.vmin[s],
            np.where(b == self.bins + 1, self.right[s], self.left[s] + (b - 1) * self.width[s]),
        )
        width = np.where(
            b == 0,
            self.left[s] - self.vmin[s],
            np.where(b == self.bins + 1, self.vmax[s] - self.right[s], self.width[s]),
        )
        value = np.clip(left + frac * width, self.vmin[s], self.vmax[s])
        return value, np.maximum(width, 0.0)

    def _percentiles(self) -> tuple[np.ndarray, np.ndarray]:
        prev, nxt, gamma = _positions(self.kept)
        out = np.empty((len(PERCENTILES), self.counts.shape[0]))
        bound = np.empty_like(out)
        for s in self.slices:
            counts = self.counts[s].astype(np.int64)
            cum = np.cumsum(counts, axis=1)
            for i in range(len(PERCENTILES)):
                a, wa = self._order_stat(cum, counts, int(prev[i]), s)
                b, wb = self._order_stat(cum, counts, int(nxt[i]), s)
                out[i, s] = _lerp(a, b, np.full(a.shape, gamma[i]))
                bound[i, s] = np.maximum(wa, wb)
        constant = self.vmin == self.vmax
        out[:, constant] = self.vmin[constant]
        bound[:, constant] = 0.0
        return out, bound


# --------------------------------------------------------------------------------------
# Running an ensemble
# --------------------------------------------------------------------------------------
@dataclass
class EnsembleResult:
    """Percentiles and means of an ensemble.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``percentiles.csv``: columns ``scenario, region, variable, year, p05, p25, p50, p75,
        p95, mean``; values in the model's units (rates as fractions).
    samples : int
        Number of samples N.
    seed : int
        The seed.
    method : str
        ``"exact"`` or ``"streaming"``.
    chunk_size : int
        Samples per chunk.
    backend : str
        The executor that ran it.
    bounds : pandas.DataFrame or None
        Streaming only: per row of ``frame``, the bound on the error of each percentile
        (``p05 ... p95``: the width of the histogram bins used, in the variable's units).
    columns : list of str
        Labels of the sampled columns (parameter or ``parameter[region]``).
    dropped : int
        Samples left out because a value was not finite (``nonfinite="drop"``); the
        statistics are those of the ``samples - dropped`` others.
    dropped_samples : list of int
        Indices of the first (up to 1,000) samples left out.
    """

    frame: pd.DataFrame
    samples: int
    seed: int
    method: str
    chunk_size: int
    backend: str
    bounds: pd.DataFrame | None = None
    columns: list[str] = field(default_factory=list)
    dropped: int = 0
    dropped_samples: list[int] = field(default_factory=list)


def check_samples(n: Any, option: str = "--samples") -> int:
    """Validate a sample count: an integer of at least 2.

    Raises
    ------
    EnsembleError
        One line naming the option.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise EnsembleError(f"{option}: expected an integer >= 2, found {quote(n)}")
    return int(n)


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


@dataclass
class EnsemblePlan:
    """A validated ensemble, ready to run: samples, job and cell layout.

    Attributes
    ----------
    inputs : RunInputs
        The scenario and its parameters.
    spec : UncertaintySpec
        The distributions.
    samples : int
        Number of samples N.
    seed : int
        The seed.
    chunk_size : int
        Samples per chunk.
    method : str
        ``"exact"`` or ``"streaming"``.
    layout : CellLayout
        Which cell is which.
    sampler : LatinHypercubeSampler
        The samples.
    job : EnsembleJob
        What the workers run.
    nonfinite : str
        ``"drop"`` or ``"error"``: what a sample with a non-finite output does.
    """

    inputs: RunInputs
    spec: UncertaintySpec
    samples: int
    seed: int
    chunk_size: int
    method: str
    layout: CellLayout
    sampler: LatinHypercubeSampler
    job: EnsembleJob
    nonfinite: str = "drop"

    def batch(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Return the per-sample parameters of samples ``start..stop-1``."""
        values = self.sampler.values(start, stop)
        return self.spec.to_batch(values, self.inputs.params, self.inputs.model)


def plan_ensemble(
    inputs: RunInputs,
    spec: UncertaintySpec,
    *,
    samples: int,
    seed: int,
    chunk_size: int = DEFAULT_CHUNK,
    outputs: Sequence[str] | str | None = None,
    method: str = "auto",
    engine: str = "batch",
    nonfinite: str = "drop",
    workers: int = 0,
) -> EnsemblePlan:
    """Validate an ensemble request without running it (see `run_ensemble`).

    ``workers`` is the number of local worker processes besides this one (for the memory
    estimate of `sdplanner.memory.ensemble_bytes`).

    Raises
    ------
    EnsembleError
        For N < 2, a bad chunk size, unknown outputs or method, too few samples for the
        correlations, or a run estimated to need more than half the machine's memory.
    UncertaintyError
        When the scenario sets a sampled constant as a time series.
    """
    n = check_samples(samples)
    chunk = min(check_chunk_size(chunk_size), n)
    if method not in ("auto", "exact", "streaming"):
        raise EnsembleError(
            f"--percentiles: expected 'auto', 'exact' or 'streaming', found {quote(method)}"
        )
    method = ("exact" if n <= EXACT_LIMIT else "streaming") if method == "auto" else method
    if nonfinite not in ("drop", "error"):
        raise EnsembleError(f"--nonfinite: expected 'drop' or 'error', found {quote(nonfinite)}")
    chosen = select_outputs(inputs.model.spec, outputs)
    spec.check_base(inputs.params, str(inputs.scenario.path or ""), inputs.model)
    layout = CellLayout.for_run(inputs.model, chosen, inputs.scenario.final_time)
    estimate = ensemble_bytes(
        n,
        layout.n_cells,
        len(spec.columns),
        chunk,
        method == "exact",
        workers,
        variables=len(chosen),
        memory_budget=MEMORY_BUDGET,
        slab_bytes=SLAB_BYTES,
        pilot=PILOT_SAMPLES,
        bins=HISTOGRAM_BINS,
        block=SAMPLE_BLOCK,
    )
    check_memory(estimate, f"--samples {n}: the ensemble", EnsembleError)
    sampler = LatinHypercubeSampler(spec, n, seed)
    job = EnsembleJob.create(
        inputs.model, engine, inputs.params, inputs.scenario.final_time, chosen, spec.names
    )
    return EnsemblePlan(inputs, spec, n, seed, chunk, method, layout, sampler, job, nonfinite)


def execute_ensemble(
    plan: EnsemblePlan,
    executor: Executor | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    spill_dir: str | os.PathLike | None = None,
) -> EnsembleResult:
    """Run a planned ensemble on a backend and summarize it (see `run_ensemble`)."""
    layout = plan.layout
    slices = layout.variable_slices()
    names = [o.name for o in layout.outputs]
    reducer = (
        ExactPercentiles(
            plan.samples, slices, spill_dir=spill_dir, names=names, nonfinite=plan.nonfinite
        )
        if plan.method == "exact"
        else StreamingPercentiles(plan.samples, slices, names=names, nonfinite=plan.nonfinite)
    )
    executor = executor or InProcessExecutor()
    try:
        for cells in iter_cells(plan.job, plan.batch, plan.samples, plan.chunk_size, executor):
            if cells.shape[1] != layout.n_cells:
                raise EngineError(
                    f"ensemble: expected {layout.n_cells} output cells per sample, found"
                    f" {cells.shape[1]}"
                )
            reducer.add(cells)
            if progress is not None:
                progress(len(cells))
        pct, mean, bounds = reducer.result()
    finally:
        if isinstance(reducer, ExactPercentiles):
            reducer.close()
    name = plan.inputs.scenario.name
    return EnsembleResult(
        frame=percentile_frame(layout, name, pct, mean),
        samples=plan.samples,
        seed=plan.seed,
        method=plan.method,
        chunk_size=plan.chunk_size,
        backend=executor.name,
        bounds=None if bounds is None else percentile_frame(layout, name, bounds, None),
        columns=[c.label for c in plan.spec.columns],
        dropped=reducer.n_dropped,
        dropped_samples=list(reducer.dropped),
    )


def run_ensemble(
    inputs: RunInputs,
    spec: UncertaintySpec,
    *,
    samples: int,
    seed: int,
    chunk_size: int = DEFAULT_CHUNK,
    executor: Executor | None = None,
    outputs: Sequence[str] | str | None = None,
    method: str = "auto",
    engine: str = "batch",
    progress: Callable[[int], None] | None = None,
    spill_dir: str | os.PathLike | None = None,
    nonfinite: str = "drop",
) -> EnsembleResult:
    """Run an uncertainty ensemble of a scenario and summarize it.

    Parameters
    ----------
    inputs : RunInputs
        The scenario and its parameters (`sdplanner.run.prepare_run`).
    spec : UncertaintySpec
        The distributions (`sdplanner.uncertainty.load_uncertainty`).
    samples : int
        Number of samples N (at least 2).
    seed : int
        Seed of the Latin hypercube.
    chunk_size : int, optional
        Samples per chunk sent to the backend.
    executor : Executor, optional
        A started backend; in-process when omitted.
    outputs : sequence of str, str or None
        Variables of ``results.csv`` to summarize (`select_outputs`).
    method : {"auto", "exact", "streaming"}
        Percentile method; ``"auto"`` is exact up to `EXACT_LIMIT` samples.
    engine : {"batch", "pysd"}
        Simulation engine.
    progress : callable, optional
        Called with the number of samples of each finished chunk.
    spill_dir : path-like, optional
        Folder for the temporary files of exact percentiles over the memory budget.
    nonfinite : {"drop", "error"}
        A sample whose outputs are not all finite (a run that diverges in a corner of the
        distributions) is left out of every statistic and counted (``"drop"``), or stops the
        ensemble with an error naming the sample and the variable (``"error"``).

    Returns
    -------
    EnsembleResult
        Percentiles, means and what produced them.

    Raises
    ------
    EnsembleError
        For N < 2, a bad chunk size, unknown outputs or method.
    UncertaintyError
        When the scenario sets a sampled constant as a time series.
    """
    plan = plan_ensemble(
        inputs,
        spec,
        samples=samples,
        seed=seed,
        chunk_size=chunk_size,
        outputs=outputs,
        method=method,
        engine=engine,
        nonfinite=nonfinite,
    )
    return execute_ensemble(plan, executor, progress=progress, spill_dir=spill_dir)


def percentile_frame(
    layout: CellLayout, scenario: str, pct: np.ndarray, mean: np.ndarray | None
) -> pd.DataFrame:
    """Build the ``percentiles.csv`` table from per-cell percentiles and means.

    Parameters
    ----------
    layout : CellLayout
        Which cell is which.
    scenario : str
        The ``scenario`` column.
    pct : numpy.ndarray
        Shape ``(5, n_cells)``.
    mean : numpy.ndarray or None
        Shape ``(n_cells,)``; the ``mean`` column is left out when None.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario, region, variable, year, p05 ... p95[, mean]``.
    """
    frame = layout.labels()
    frame.insert(0, "scenario", scenario)
    for i, p in enumerate(PERCENTILES):
        frame[f"p{p:02d}"] = pct[i]
    if mean is not None:
        frame["mean"] = mean
    return frame
