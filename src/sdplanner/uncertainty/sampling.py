"""Seeded samples of an uncertainty specification: Latin hypercubes, rank-correlated.

The samples depend only on the seed and N: Latin hypercubes are drawn per fixed block of
sample indices (one block up to `SAMPLE_BLOCK` samples), never per chunk of work, and
correlations are imposed by `iman_conover`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg, special

from sdplanner.errors import quote
from sdplanner.rng import make_generator
from sdplanner.uncertainty.errors import EnsembleError, UncertaintyError
from sdplanner.uncertainty.spec import UncertaintySpec

__all__ = [
    "SAMPLE_BLOCK",
    "LatinHypercubeSampler",
    "check_samples",
    "iman_conover",
    "problem_factors",
    "sample_blocks",
    "unit_problem",
]

SAMPLE_BLOCK = 100_000
#: Bins of the streaming histograms (per cell), between the pilot's range and two overflow bins.


# --------------------------------------------------------------------------------------
# Iman-Conover rank correlation
# --------------------------------------------------------------------------------------
def iman_conover(u: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Reorder the columns of a sample to give them a target rank correlation.

    The method of Iman and Conover (1982): van der Waerden scores take the ranks of each
    column, are transformed to the target correlation with two Cholesky factors, and each
    column is then rearranged to the ranks of the transformed scores. Each column keeps its
    values (so a Latin hypercube stays one); only their pairing changes.

    Parameters
    ----------
    u : numpy.ndarray
        Shape ``(n, k)``: the sample (any values, no ties within a column).
    target : numpy.ndarray
        Shape ``(k, k)``: a positive-definite correlation matrix.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, k)``: the rearranged sample.

    Raises
    ------
    UncertaintyError
        When ``n`` is too small for ``k`` columns (the score correlation is singular).
    """
    n, k = u.shape
    ranks = np.argsort(np.argsort(u, axis=0, kind="stable"), axis=0, kind="stable")
    scores = special.ndtri(np.arange(1, n + 1) / (n + 1))
    m = scores[ranks]
    try:
        f = linalg.cholesky(np.corrcoef(m, rowvar=False), lower=True)
        p = linalg.cholesky(target, lower=True)
    except linalg.LinAlgError:
        raise UncertaintyError(
            f"correlations: expected at least {k + 2} samples for {k} correlated draws, found {n}"
        ) from None
    t = m @ linalg.solve_triangular(f, p.T, lower=True, trans="T")
    new_ranks = np.argsort(np.argsort(t, axis=0, kind="stable"), axis=0, kind="stable")
    return np.take_along_axis(np.sort(u, axis=0), new_ranks, axis=0)


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


def unit_problem(spec: UncertaintySpec) -> dict:
    """Return SALib's problem of a specification's columns on the unit hypercube.

    Parameters
    ----------
    spec : UncertaintySpec
        The distributions; a design on this problem maps to values through
        `UncertaintySpec.transform`.

    Returns
    -------
    dict
        ``num_vars``, ``names`` (the column labels) and ``bounds`` (``[0, 1]`` each,
        dimensionless); ``groups`` (the parameter of each column) when per-region draws of
        one constant share a group.
    """
    labels = [c.label for c in spec.columns]
    groups = spec.groups
    problem: dict = {"num_vars": len(labels), "names": labels, "bounds": [[0.0, 1.0]] * len(labels)}
    if len(set(groups)) < len(groups):
        problem["groups"] = groups
    return problem


def problem_factors(problem: dict) -> list[str]:
    """Return the factors SALib reports indices for: the groups, else the column labels.

    Parameters
    ----------
    problem : dict
        From `unit_problem`.

    Returns
    -------
    list of str
        Distinct factor names in column order.
    """
    return list(dict.fromkeys(problem.get("groups", problem["names"])))
