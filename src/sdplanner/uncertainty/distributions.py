"""The distributions of an uncertainty file, sampled through their inverse CDFs.

`Distribution` maps unit draws to values (uniform, triangular, normal and lognormal, the last
two optionally truncated); `check_bounds` refuses parameters that make no distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from sdplanner.schema.uncertainty import ALIASES, DISTRIBUTIONS
from sdplanner.uncertainty.errors import UncertaintyError

__all__ = ["DISTRIBUTIONS", "Distribution", "check_bounds", "distribution_of"]

#: Unit draws are kept this far from 0 and 1 so that unbounded inverse CDFs stay finite.
_U_EPS = 2.0**-53


# --------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Distribution:
    """A one-dimensional distribution, sampled through its inverse CDF.

    Attributes
    ----------
    kind : str
        ``"uniform"``, ``"triangular"``, ``"normal"`` or ``"lognormal"``.
    values : tuple of (str, float)
        Its parameters in the file's terms: uniform ``min, max``; triangular
        ``min, mode, max``; normal ``mean, sd`` (and optional truncation ``min, max``);
        lognormal ``median, sigma`` (``sigma`` is the standard deviation of the log; optional
        truncation ``min, max``). Same units as the constant (or a multiplier when the
        parameter is relative).
    """

    kind: str
    values: tuple[tuple[str, float], ...]

    def get(self, key: str, default: float | None = None) -> float | None:
        """Return a parameter of the distribution, or ``default`` when absent."""
        return dict(self.values).get(key, default)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Return the quantiles of unit draws (the inverse CDF).

        Parameters
        ----------
        u : numpy.ndarray
            Probabilities in ``[0, 1]``; clipped to ``[2**-53, 1 - 2**-53]``.

        Returns
        -------
        numpy.ndarray
            Values of the same shape, in the distribution's units.
        """
        u = np.clip(np.asarray(u, dtype=float), _U_EPS, 1.0 - _U_EPS)
        p = dict(self.values)
        if self.kind == "uniform":
            return p["min"] + u * (p["max"] - p["min"])
        if self.kind == "triangular":
            lo, mode, hi = p["min"], p["mode"], p["max"]
            width = hi - lo
            fc = (mode - lo) / width
            left = lo + np.sqrt(u * width * (mode - lo))
            right = hi - np.sqrt((1.0 - u) * width * (hi - mode))
            return np.where(u < fc, left, right)
        if self.kind == "normal":
            loc, scale = p["mean"], p["sd"]
        else:  # lognormal: a normal in log space
            loc, scale = math.log(p["median"]), p["sigma"]
        lo, hi = p.get("min"), p.get("max")
        if self.kind == "lognormal":
            lo = math.log(lo) if lo is not None and lo > 0 else None
            hi = math.log(hi) if hi is not None else None
        if lo is not None or hi is not None:
            f_lo = special.ndtr((lo - loc) / scale) if lo is not None else 0.0
            f_hi = special.ndtr((hi - loc) / scale) if hi is not None else 1.0
            u = np.clip(f_lo + u * (f_hi - f_lo), _U_EPS, 1.0 - _U_EPS)
        z = loc + scale * special.ndtri(u)
        if lo is not None or hi is not None:
            z = np.clip(z, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        return np.exp(z) if self.kind == "lognormal" else z

    def support(self) -> tuple[float, float]:
        """Return the smallest and largest value a draw can take (``-inf``/``inf`` if open).

        Returns
        -------
        tuple of float
            ``(lower, upper)`` in the distribution's units: ``min, max`` for a uniform or
            triangular distribution and where a normal or lognormal one is truncated; else
            ``-inf`` (normal) or 0 (lognormal), and ``inf``.
        """
        p = dict(self.values)
        if self.kind in ("uniform", "triangular"):
            return p["min"], p["max"]
        lower = p.get("min", -math.inf if self.kind == "normal" else 0.0)
        return lower, p.get("max", math.inf)

    def describe(self) -> str:
        """Return a short text such as ``uniform(min=0.2, max=0.8)``."""
        inner = ", ".join(f"{k}={v:g}" for k, v in self.values)
        return f"{self.kind}({inner})"


def distribution_of(entry: Any, where: str) -> Distribution:
    """Build the distribution of one schema-valid parameter of an uncertainty file.

    Parameters
    ----------
    entry : sdplanner.schema.uncertainty.DistributionEntry
        The validated parameter (its ``distribution`` and that distribution's keys).
    where : str
        Error prefix (file and key path).

    Returns
    -------
    Distribution
        With its parameters in the file's units, the kind under its canonical name.

    Raises
    ------
    UncertaintyError
        When the parameters make no distribution (`check_bounds`).
    """
    kind = ALIASES.get(entry.distribution, entry.distribution)
    required, optional = DISTRIBUTIONS[kind]
    values = {k: float(getattr(entry, k)) for k in required}
    values.update({k: float(getattr(entry, k)) for k in optional if getattr(entry, k) is not None})
    check_bounds(kind, values, where)
    return Distribution(kind, tuple((k, values[k]) for k in (*required, *optional) if k in values))


def check_bounds(kind: str, v: dict[str, float], where: str) -> None:
    """Refuse parameters that make no distribution: ``min >= max``, a mode outside them.

    The signs of spreads and medians are the schema's (`sdplanner.schema.uncertainty`).

    Raises
    ------
    UncertaintyError
        One line naming the key.
    """
    if "min" in v and "max" in v and not v["min"] < v["max"]:
        raise UncertaintyError(
            f"{where}: expected min < max, found min={v['min']:g}, max={v['max']:g}"
        )
    if kind == "triangular" and not v["min"] <= v["mode"] <= v["max"]:
        raise UncertaintyError(
            f"{where}.mode: expected a mode in {v['min']:g}..{v['max']:g}, found {v['mode']:g}"
        )
    if kind in ("normal", "lognormal"):
        centre = v["mean"] if kind == "normal" else v["median"]
        scale = v["sd"] if kind == "normal" else v["sigma"]
        lo, hi = v.get("min"), v.get("max")
        if kind == "lognormal":
            if hi is not None and hi <= 0:
                # a log-normal lives on (0, inf): a max at or below 0 keeps no probability
                raise UncertaintyError(
                    f"{where}.max: expected a positive bound for a lognormal, found {hi:g}"
                )
            centre = math.log(centre)
            lo = math.log(lo) if lo is not None and lo > 0 else None
            hi = math.log(hi) if hi is not None else None
        if (lo is not None and lo > centre + 8 * scale) or (
            hi is not None and hi < centre - 8 * scale
        ):
            raise UncertaintyError(
                f"{where}: expected truncation bounds that keep some probability, found"
                f" min={v.get('min')}, max={v.get('max')} more than 8 spreads from the centre"
            )
