"""Percentiles and exact means of a stream of cells, in bounded memory.

* The mean is an exact, order-independent sum (`ExactSum`), so chunk sizes and backends do
  not change it.
* Percentiles are exact up to `EXACT_LIMIT` samples (`ExactPercentiles`: values kept in
  memory, or spilled to temporary files beyond a memory budget). Beyond, fixed-bin
  histograms per cell keep memory bounded whatever N (`StreamingPercentiles`): the estimate
  is within one bin width of the exact percentile.

Nothing here writes files except the temporary spill files of exact percentiles.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sdplanner.errors import EngineError, quote
from sdplanner.uncertainty.cells import CellLayout
from sdplanner.uncertainty.errors import EnsembleError

__all__ = [
    "EXACT_LIMIT",
    "HISTOGRAM_BINS",
    "PERCENTILES",
    "PERCENTILE_COLUMNS",
    "PILOT_SAMPLES",
    "ExactPercentiles",
    "ExactSum",
    "StreamingPercentiles",
    "percentile_frame",
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
HISTOGRAM_BINS = 4096
#: The first samples, whose range sets the histogram bins and the exact sums' scale.
PILOT_SAMPLES = 2000
#: Relative padding of the pilot range on each side.
PILOT_PAD = 0.05
#: Default samples per chunk (the unit of work sent to a backend). 512 rather than 2,048:
MEMORY_BUDGET = 512 * 2**20
#: Bytes of one column slab processed at a time.
SLAB_BYTES = 64 * 2**20


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
