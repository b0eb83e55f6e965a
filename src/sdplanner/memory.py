"""Peak memory of ensembles, sensitivity analyses and calibrations, estimated before they start.

``--samples``, ``--starts`` and ``--bootstrap`` size the work; nothing else bounds them. Each
estimator here adds up what the run holds at its peak, from the sizes alone (the arrays the
code allocates, the bookkeeping per chunk, the interpreter with NumPy, pandas, SciPy and the
model, and each local worker process); `check_memory` refuses a run whose estimate exceeds
`MEMORY_FRACTION` of the machine's memory, in one line with the estimate and the limit,
before anything is allocated.

The constants come from measurements on the shipped model and ``uncertainty/default.yaml``
(``/usr/bin/time -f %M``, maximum resident set size): 454 MiB for a 2,000-sample ensemble
(estimate 642 MiB), 469 MiB at 50,000 samples, spilled (estimate 722 MiB), 226 MiB for a
256-sample sensitivity analysis (estimate 303 MiB); ``benchmarks/RESULTS.md``: 572 MiB main
and 245 MiB per worker, 1,061 MiB in all, at 1,000,000 samples on two processes (estimate
1,529 MiB). The estimates stay 1.3 to 1.5 times above what was measured.
"""

from __future__ import annotations

import os

from sdplanner.errors import SdplannerError

__all__ = [
    "BASE_BYTES",
    "MEMORY_FRACTION",
    "WORKER_BYTES",
    "calibration_bytes",
    "check_memory",
    "ensemble_bytes",
    "machine_memory",
    "sensitivity_bytes",
]

#: Share of the machine's memory a run may need.
MEMORY_FRACTION = 0.5
#: The interpreter with NumPy, pandas, SciPy, PySD, the model and its kernel (byte).
BASE_BYTES = 300 * 2**20
#: One worker process before its chunks (byte).
WORKER_BYTES = 280 * 2**20
#: Bookkeeping per chunk of samples (a tuple of bounds, a pending result) (byte).
_PER_CHUNK = 160
_F8 = 8


def machine_memory() -> int:
    """Return the machine's physical memory in bytes (0 when it cannot be told).

    Returns
    -------
    int
        ``SC_PAGE_SIZE * SC_PHYS_PAGES``.
    """
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(estimate: int, what: str, error: type[SdplannerError] = SdplannerError) -> None:
    """Refuse a run whose estimated peak memory exceeds `MEMORY_FRACTION` of the machine's.

    Parameters
    ----------
    estimate : int
        The run's estimated peak memory (byte).
    what : str
        What asked for it, e.g. ``"--samples 1000000000000: the ensemble"``.
    error : type, optional
        The `SdplannerError` subclass raised.

    Raises
    ------
    SdplannerError
        One line with the estimate and the limit.
    """
    total = machine_memory()
    if total <= 0:
        return
    limit = total * MEMORY_FRACTION
    if estimate > limit:
        raise error(
            f"{what} would need about {_gib(estimate)} of memory, more than half of this"
            f" machine's {_gib(total)} (limit {_gib(limit)}); ask for less"
        )


def _in_flight(chunk: int, cells: int, workers: int) -> int:
    """Chunks whose results the main process holds (twice the workers), and their copies."""
    window = 2 * max(1, workers)
    return window * chunk * cells * _F8 * 3


def ensemble_bytes(
    samples: int,
    cells: int,
    columns: int,
    chunk: int,
    exact: bool,
    workers: int = 0,
    *,
    variables: int = 1,
    memory_budget: int,
    slab_bytes: int,
    pilot: int,
    bins: int,
    block: int,
) -> int:
    """Estimate the peak memory of an ensemble (byte).

    Parameters
    ----------
    samples : int
        N.
    cells : int
        Output cells per sample (variables x regions with the aggregate x years).
    columns : int
        Sampled columns (parameters, per region where drawn per region).
    chunk : int
        Samples per chunk.
    exact : bool
        Exact percentiles (values kept, up to ``memory_budget``, then spilled to disk) or
        streaming histograms.
    workers : int, optional
        Local worker processes besides the main one (``--processes``, ``--dask-local``).
    variables : int, optional
        Output variables (the streaming percentiles work on one variable's cells at a time).
    memory_budget, slab_bytes, pilot, bins, block : int
        The ensemble's constants (`sdplanner.uncertainty.percentiles`): values kept in memory before
        spilling (byte), a spilled slab read back (byte), pilot samples, histogram bins,
        samples per Latin hypercube block.

    Returns
    -------
    int
        Bytes.
    """
    n = int(samples)
    values = n * cells * _F8
    if exact:  # kept in memory (partitioned in place), or spilled and read back by slabs
        held, summary = (values, 0) if values <= memory_budget else (0, 2 * slab_bytes)
    else:  # counts, and one variable's counts in int64 with their running sums
        held = cells * (bins + 2) * 4
        summary = 2 * (bins + 2) * _F8 * -(-cells // max(1, variables))
    pilot_bytes = 2 * min(n, pilot) * cells * _F8
    sampling = 3 * min(n, block) * columns * _F8 + (-(-n // block)) * _PER_CHUNK
    chunks = (-(-n // max(1, chunk))) * _PER_CHUNK + _in_flight(chunk, cells, workers)
    local = workers * (WORKER_BYTES + chunk * cells * _F8 * 3)
    return BASE_BYTES + held + summary + pilot_bytes + sampling + chunks + local


def sensitivity_bytes(
    base_samples: int, groups: int, columns: int, targets: int, chunk: int, workers: int = 0
) -> int:
    """Estimate the peak memory of a Sobol analysis (byte).

    Parameters
    ----------
    base_samples : int
        SALib's N (a power of two).
    groups : int
        Parameter groups (one per uncertain constant).
    columns : int
        Sampled columns.
    targets : int
        Outputs analysed (variables x years).
    chunk : int
        Samples per chunk.
    workers : int, optional
        Local worker processes besides the main one.

    Returns
    -------
    int
        Bytes: the Saltelli sample (``N (groups + 2)`` rows, kept whole), every run's
        targets (kept whole, then joined), the chunks in flight and the workers.
    """
    runs = int(base_samples) * (groups + 2)
    sample = 2 * runs * columns * _F8
    results = 2 * runs * targets * _F8 + (-(-runs // max(1, chunk))) * _PER_CHUNK
    local = workers * (WORKER_BYTES + chunk * columns * _F8 * 3)
    return BASE_BYTES + sample + results + _in_flight(chunk, targets, workers) + local


def calibration_bytes(
    starts: int, bootstrap: int, parameters: int, rows: int, cells_per_run: int
) -> int:
    """Estimate the peak memory of a calibration (byte).

    Parameters
    ----------
    starts : int
        Latin hypercube starts.
    bootstrap : int
        Bootstrap refits.
    parameters : int
        Estimated values.
    rows : int
        Observations used.
    cells_per_run : int
        Values one run stores (variables x saved times x regions).

    Returns
    -------
    int
        Bytes: the starts and their records, the bootstrap's draws (three arrays of
        ``bootstrap x rows``) and estimates, and one batch of model runs (64 solvers of
        ``2 p + 1`` points each, as `sdplanner.calibration` gathers them).
    """
    solvers = min(64, max(int(starts) + 1, int(bootstrap), 2 * parameters))
    batch = solvers * (2 * parameters + 1) * cells_per_run * _F8 * 2
    fits = (int(starts) + 1) * parameters * _F8 * 8 + int(starts) * 2048
    boot = int(bootstrap) * (3 * rows + 2 * parameters) * _F8 + int(bootstrap) * 1024
    return BASE_BYTES + batch + fits + boot
