"""The one conversion between an observed series and a model variable.

A figure in a data file and the model variable it is compared with can differ in three ways,
each a factor of one `Conversion`:

- **unit**: a percent against a fraction (``scale`` 100, `UNIT_SCALES`);
- **basis**: another definition of the same quantity, such as disposable against net income
  (``basis``, data per model unit, stated in the calibration spec with its source);
- **prices**: current yuan against the model's constant yuan (``deflator``, a `Deflator`
  whose index is 1 in the model's price base year).

``data value = model value x scale x basis x price index(year)``. Calibration compares in
data units (`Conversion.factors`); figures show observations in the model's units
(`Conversion.to_model`) or in the data's unit at constant prices on the model's basis
(`Conversion.to_display`). A row a calibration compared (its ``observations.csv``: the
row's ``factor`` and its offset group's level ``offset``) goes back to the model's units
with `compared_to_model`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["UNIT_SCALES", "Conversion", "Deflator", "compared_to_model"]

#: Data units per model unit of the unit names a calibration spec uses.
UNIT_SCALES: dict[str, float] = {"level": 1.0, "fraction": 1.0, "percent": 100.0}


@dataclass(frozen=True)
class Deflator:
    """A price index: current yuan of a year per constant yuan of the model's base year.

    Attributes
    ----------
    name : str
        Name in the calibration spec (``rural_poverty_line``).
    values : mapping
        Year -> price level in any unit (the poverty line at current prices, yuan); the
        index of a year is its value over the base year's.
    base_year : int
        The model's price base (year); ``values`` holds it.
    source : str
        Where the values come from.
    """

    name: str
    values: Mapping[int, float]
    base_year: int
    source: str = ""

    @property
    def years(self) -> tuple[int, ...]:
        """Years with a value, in order."""
        return tuple(sorted(self.values))

    def index(self, year: int) -> float:
        """Return the price level of a year relative to the base year.

        Parameters
        ----------
        year : int
            A year with a value.

        Returns
        -------
        float
            Current yuan per constant base-year yuan (dimensionless).

        Raises
        ------
        KeyError
            When the deflator has no value for that year.
        """
        return float(self.values[int(year)]) / float(self.values[self.base_year])


@dataclass(frozen=True)
class Conversion:
    """How a data series converts to the units of a model variable.

    Attributes
    ----------
    scale : float
        Data units per model unit (100 for a percent of a fraction).
    basis : float
        Data per model quantity of another definition (disposable per net income); 1 for
        the same definition.
    deflator : Deflator or None
        Price index of a series in current yuan; None for a series at the model's prices
        or without money.
    """

    scale: float = 1.0
    basis: float = 1.0
    deflator: Deflator | None = None

    @property
    def nominal(self) -> bool:
        """True for a series in current prices."""
        return self.deflator is not None

    def factor(self, year: int) -> float:
        """Return data units per model unit in a year.

        Parameters
        ----------
        year : int
            The figure's year (a year of the deflator for a nominal series).

        Returns
        -------
        float
            ``scale x basis x price index(year)``.
        """
        index = 1.0 if self.deflator is None else self.deflator.index(year)
        return self.scale * self.basis * index

    def factors(self, years) -> np.ndarray:
        """Return `factor` of each year.

        Parameters
        ----------
        years : array-like of int
            Years.

        Returns
        -------
        numpy.ndarray
            Data units per model unit, one per year.
        """
        return np.array([self.factor(int(y)) for y in np.asarray(years).ravel()], dtype=float)

    def to_model(self, value: float, year: int) -> float:
        """Return a data figure in the model variable's units.

        Parameters
        ----------
        value : float
            The figure (data units).
        year : int
            Its year.

        Returns
        -------
        float
            ``value / factor(year)``.
        """
        return float(value) / self.factor(year)

    def to_display(self, value: float, year: int) -> float:
        """Return a data figure in the data's unit at the model's prices and basis.

        A percent stays a percent; current yuan become constant base-year yuan on the model's
        income basis, so figures of several years and bases share one axis with the model.

        Parameters
        ----------
        value : float
            The figure (data units).
        year : int
            Its year.

        Returns
        -------
        float
            ``value x scale / factor(year)``.
        """
        factor = self.factor(year)
        return float(value) * self.scale / factor if math.isfinite(factor) else math.nan


def compared_to_model(observed, offset, factor):
    """Return compared figures on the model's scale: their data value less the level offset.

    A calibration compares ``simulated x factor + offset`` with the observed value (both in
    data units; ``offset`` is the fitted level of the row's offset group, 0 outside one), so
    the figure the model's path is judged against is ``(observed - offset) / factor``. The
    calibration's figures and the observed points of projection figures both use it.

    Parameters
    ----------
    observed, offset : float or array-like
        The figure and its level offset (data units).
    factor : float or array-like
        Data units per model unit in the figure's year (`Conversion.factor`).

    Returns
    -------
    float or array-like
        The figure in the model variable's units (as the inputs broadcast).
    """
    return (observed - offset) / factor
