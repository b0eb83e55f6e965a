"""Calibration specs: what to estimate and how each indicator is computed from the model.

The dataclasses of a validated spec (``docs/calibration.md``); `sdplanner.calibration.parse`
reads and checks a spec file against its schema (`sdplanner.schema.calibration`, where the
limits `LOSSES`, `MAX_MAGNITUDE` and `MIN_RELATIVE_WIDTH` are declared) and a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdplanner.schema.calibration import LOSSES, MAX_MAGNITUDE, MIN_RELATIVE_WIDTH
from sdplanner.units import Conversion, Deflator

__all__ = [
    "LOSSES",
    "MAX_MAGNITUDE",
    "MIN_RELATIVE_WIDTH",
    "CalibrationSpec",
    "ConfidenceRule",
    "Deflator",
    "IndicatorSpec",
    "ParameterSpec",
    "Prior",
    "YearMapping",
]


@dataclass(frozen=True)
class Prior:
    """A prior on one parameter, added to the objective as a residual.

    Attributes
    ----------
    distribution : str
        ``"normal"`` or ``"lognormal"``.
    center : float
        Mean (normal) or median (log-normal), in the parameter's units.
    spread : float
        Standard deviation (normal, parameter's units) or standard deviation of the
        logarithm (log-normal, dimensionless).
    """

    distribution: str
    center: float
    spread: float

    def residual(self, theta: np.ndarray) -> np.ndarray:
        """Return the standardized distance of parameter values from the prior centre.

        Parameters
        ----------
        theta : numpy.ndarray
            Parameter values (parameter's units).

        Returns
        -------
        numpy.ndarray
            ``(theta - mean) / sd`` or ``(log theta - log median) / sdlog`` (dimensionless).
        """
        if self.distribution == "normal":
            return (theta - self.center) / self.spread
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(np.maximum(theta, 1e-300)) - math.log(self.center)) / self.spread


@dataclass(frozen=True)
class ParameterSpec:
    """One estimated quantity: a constant, shared by all regions or for one region.

    Attributes
    ----------
    name : str
        PySD name of the model constant.
    region : str or None
        Region display name when the constant is estimated for that region alone; None
        when one value is shared (a subscripted constant then gets it in every region).
    lower, upper : float
        Bounds, in the constant's units.
    transform : str
        ``"linear"`` or ``"log"``: how unit coordinates map to values.
    prior : Prior or None
        Optional prior.
    default : float
        The ``.mdl`` value (the region's value for a per-region estimate).
    units : str
        The constant's units.
    pooled_with : str or None
        For a region factor estimated with partial pooling: the PySD name of the shared
        value it multiplies (region value = shared value x factor). Its prior is then
        log-normal with median 1 and sdlog ``tau``.
    tau : float or None
        Spread of the region factors around 1 (sdlog, dimensionless) under pooling.
    """

    name: str
    region: str | None
    lower: float
    upper: float
    transform: str = "linear"
    prior: Prior | None = None
    default: float = math.nan
    units: str = ""
    pooled_with: str | None = None
    tau: float | None = None

    @property
    def label(self) -> str:
        """``name`` or ``name[Region]``."""
        return self.name if self.region is None else f"{self.name}[{self.region}]"

    def to_value(self, u: np.ndarray) -> np.ndarray:
        """Map unit coordinates (0 = lower, 1 = upper) to values (constant's units)."""
        u = np.asarray(u, dtype=float)
        if self.transform == "log":
            lo, hi = math.log(self.lower), math.log(self.upper)
            return np.exp(lo + u * (hi - lo))
        return self.lower + u * (self.upper - self.lower)

    def to_unit(self, value: np.ndarray) -> np.ndarray:
        """Map values (constant's units) to unit coordinates."""
        value = np.asarray(value, dtype=float)
        if self.transform == "log":
            lo, hi = math.log(self.lower), math.log(self.upper)
            return (np.log(value) - lo) / (hi - lo)
        return (value - self.lower) / (self.upper - self.lower)


@dataclass(frozen=True)
class IndicatorSpec:
    """How an indicator of the data is computed from the model.

    Attributes
    ----------
    name : str
        Indicator name in the data.
    variable : str
        PySD name of the model variable.
    unit : str
        ``"level"``, ``"fraction"`` or ``"percent"``: the data's unit relative to the model's.
    scale : float
        Data units per model unit (100 for a percent of a fraction).
    aggregate : str
        ``"sum"`` or ``"mean"``: how the model's regions make the aggregate.
    weight : tuple of str
        For ``mean``: model variables whose sum weights the regions (the population the
        rate is of); empty for an unweighted mean or a sum.
    sigma : dict
        Area kind (``region``, ``aggregate``, ``sub-area``) -> default standard error in
        data units, for rows without a ``sigma``.
    prices : str
        ``"current"`` (a deflator converts), ``"constant"`` (the model's price base) or
        ``""`` for a variable without money.
    conversion : Conversion
        Unit, basis and prices: data units per model unit in each year.
    basis : str
        Plain words on the data's definition against the model's (``"disposable income
        against the model's net income"``), or ``""`` when they are the same.
    offset : str or None
        Offset group: rows of indicators in the same group and area share one unknown
        level offset, so only their changes over time are evidence.
    fit : bool
        False for an indicator compared with the model (reports, backtests) but never
        fitted, e.g. one that repeats another's information.
    fit_reason : str
        Why an indicator is not fitted.
    """

    name: str
    variable: str
    unit: str = "level"
    scale: float = 1.0
    aggregate: str = "sum"
    weight: tuple[str, ...] = ()
    sigma: Mapping[str, float] = field(default_factory=dict)
    prices: str = ""
    conversion: Conversion = field(default_factory=Conversion)
    basis: str = ""
    offset: str | None = None
    fit: bool = True
    fit_reason: str = ""


@dataclass(frozen=True)
class ConfidenceRule:
    """How a data row's confidence widens the spec's default sigma.

    Attributes
    ----------
    factors : dict
        Confidence label (``high``, ``medium``, ``low``) -> multiplier of the default sigma
        (dimensionless, >= 1 for a less trusted figure).
    recalled : float
        Further multiplier for a row whose source starts with ``recalled`` (a figure not
        found in any source).
    unlabelled : float
        Multiplier for a row without a confidence label (a file without the column).
    """

    factors: Mapping[str, float]
    recalled: float = 1.0
    unlabelled: float = 1.0

    def factor(self, confidence: str, recalled: bool) -> float | None:
        """Return the sigma multiplier of a row, or None for a label the rule lacks.

        Parameters
        ----------
        confidence : str
            The row's label ("" without one).
        recalled : bool
            Whether its source says it was recalled.

        Returns
        -------
        float or None
            The multiplier (dimensionless).
        """
        base = self.unlabelled if not confidence else self.factors.get(confidence)
        if base is None:
            return None
        return base * (self.recalled if recalled else 1.0)


@dataclass(frozen=True)
class YearMapping:
    """A row dated outside the horizon, compared with the model at another year.

    Attributes
    ----------
    indicator : str
        Indicator it applies to.
    area : str or None
        Area name it applies to, or None for every area.
    source : int
        The year the data give (year).
    target : int
        The model year it is compared with (year).
    """

    indicator: str
    area: str | None
    source: int
    target: int


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated calibration spec.

    Attributes
    ----------
    name : str
        Name (``seed-2010-2012``).
    description : str
        Free text.
    path : pathlib.Path or None
        The file it was read from.
    parameters : tuple of ParameterSpec
        What to estimate.
    indicators : dict
        Indicator name -> `IndicatorSpec`.
    year_mapping : tuple of YearMapping
        Year remappings.
    loss : str
        One of `LOSSES`.
    f_scale : float
        Standardized residual at which a robust loss softens (dimensionless).
    final_time : float or None
        Last simulated year of calibration runs; the last observed year when None.
    deflators : dict
        Name -> `Deflator` for series in current prices.
    confidence : ConfidenceRule or None
        Sigma rule of the data's confidence labels; None when the spec states none (a
        labelled row is then refused).
    """

    name: str
    parameters: tuple[ParameterSpec, ...]
    indicators: Mapping[str, IndicatorSpec]
    description: str = ""
    path: Path | None = None
    year_mapping: tuple[YearMapping, ...] = ()
    loss: str = "linear"
    f_scale: float = 1.0
    final_time: float | None = None
    deflators: Mapping[str, Deflator] = field(default_factory=dict)
    confidence: ConfidenceRule | None = None
