"""The 14 regions: display names (used by people) and Vensim element names (used in the .mdl).

The table lives in ``data/regions.csv``; display names are those of the seed's Table 1 as
spelled in ``seed_figures.csv``.
"""

from __future__ import annotations

import csv
from functools import cache

from sdplanner.errors import ScenarioError, did_you_mean, quote
from sdplanner.resources import data_path

__all__ = [
    "AGGREGATE",
    "AGGREGATE_ALIASES",
    "REGIONS",
    "display_to_element",
    "element_to_display",
    "resolve_region",
]

#: Name of the 14-region aggregate in every output.
AGGREGATE = "All 14 regions"
#: Names data files use for the aggregate.
AGGREGATE_ALIASES = ("All 14 regions", "14 regions")


@cache
def _table() -> tuple[tuple[str, str], ...]:
    with open(data_path("regions.csv"), newline="", encoding="utf-8") as fh:
        return tuple((row["region"], row["mdl_element"]) for row in csv.DictReader(fh))


def _regions() -> tuple[str, ...]:
    return tuple(display for display, _ in _table())


REGIONS: tuple[str, ...] = _regions()


def display_to_element(name: str) -> str:
    """Return the Vensim element name of a region display name.

    Parameters
    ----------
    name : str
        Display name, e.g. ``"Yunnan-Guangxi-Guizhou"``.

    Returns
    -------
    str
        Element name in the ``.mdl``, e.g. ``"Yunnan_Guangxi_Guizhou"``.
    """
    for display, element in _table():
        if display == name:
            return element
    raise KeyError(name)


def element_to_display(element: str) -> str:
    """Return the display name of a Vensim element name (the inverse of `display_to_element`).

    Parameters
    ----------
    element : str
        Element name as it appears in the ``.mdl``.

    Returns
    -------
    str
        Display name as in ``seed_figures.csv``.
    """
    for display, elem in _table():
        if elem == element:
            return display
    raise KeyError(element)


def resolve_region(name: object, where: str) -> str:
    """Validate a region name typed by a user and return its display name.

    Parameters
    ----------
    name : object
        What the user wrote.
    where : str
        Prefix for the error message (file and key path).

    Returns
    -------
    str
        The display name.

    Raises
    ------
    ScenarioError
        When the name is not one of the 14 regions; the message suggests the closest.
    """
    if isinstance(name, str) and name in REGIONS:
        return name
    hint = did_you_mean(name, REGIONS)
    raise ScenarioError(f"{where}: expected one of the 14 regions, found {quote(name)}{hint}")
