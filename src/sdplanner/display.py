"""How model values are shown to people: one display convention for tables, plots and pages.

A model spec gives every output a display preset (``percent``, ``people``, ``money`` ...);
this module turns a preset into a `Display`: the label, the unit a level is shown in, the
factor from model units to display units, and the unit of a change. Money is shown in the
model's constant prices (the spec's ``money.price_base``: "billion yuan (2010 prices)"), shares
in percent, people in millions. Variables without a spec entry get a display from their
``.mdl`` unit. `format_number` writes a number for a table: thousands separators and three
significant figures, never an exponent. Nothing here computes statistics or draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "EFFECT_COST",
    "PRESETS",
    "Display",
    "cost_unit",
    "display_from_unit",
    "format_number",
    "money_unit",
    "preset_display",
]

#: Cumulative extra spending an effect is expressed per (yuan): "per 100 billion yuan".
EFFECT_COST = 100e9


@dataclass(frozen=True)
class Display:
    """How an indicator is shown to people (tables and plots).

    Attributes
    ----------
    label : str
        Plain name, e.g. ``"urbanization rate"``.
    unit : str
        Display unit of levels, e.g. ``"%"``, ``"million people"`` or ``"yuan (2010 prices)
        per person per year"``.
    scale : float
        Display value = model value x scale (e.g. 100 for a fraction shown in %).
    delta_unit : str
        Display unit of a change, e.g. ``"percentage points"``.
    short_delta_unit : str
        The same, short for table headings (``"pp"`` for percentage points).
    """

    label: str
    unit: str
    scale: float
    delta_unit: str
    short_delta_unit: str = ""

    @property
    def axis_label(self) -> str:
        """Axis label with the unit, e.g. ``"urbanization rate (%)"``."""
        return _with_unit(self.label, self.unit)

    @property
    def delta_axis_label(self) -> str:
        """Axis label of a change against the baseline, with its unit."""
        return _with_unit(f"change in {self.label}", self.delta_unit)

    @property
    def title(self) -> str:
        """The label with a capital first letter, for titles."""
        return self.label[:1].upper() + self.label[1:]

    def effect_unit(self, price_base: int | None) -> str:
        """Return the unit of a change per `EFFECT_COST` of cumulative extra spending."""
        return f"{self.delta_unit} per {cost_unit(EFFECT_COST, price_base)}"


def _with_unit(label: str, unit: str) -> str:
    return f"{label}, {unit}" if "(" in unit else f"{label} ({unit})"


def money_unit(unit: str, price_base: int | None) -> str:
    """Return a money unit with its price base: ``"yuan"`` -> ``"yuan (2010 prices)"``.

    Parameters
    ----------
    unit : str
        A unit whose first word of money is ``yuan`` (``"billion yuan per year"``).
    price_base : int or None
        The year of the constant prices; None leaves the unit as it is.

    Returns
    -------
    str
        The unit with ``(<year> prices)`` after ``yuan``.
    """
    if price_base is None:
        return unit
    return unit.replace("yuan", f"yuan ({price_base} prices)", 1)


def cost_unit(amount: float, price_base: int | None) -> str:
    """Return the name of an amount of money, e.g. ``"100 billion yuan (2010 prices)"``."""
    billions = amount / 1e9
    text = f"{billions:,.0f} billion yuan" if billions != 1 else "billion yuan"
    return money_unit(text, price_base)


#: Display presets a model spec can name: preset -> (unit, scale, unit of a change, short).
#: ``yuan`` in a unit gets the model's price base.
PRESETS: dict[str, tuple[str, float, str, str]] = {
    "percent": ("%", 100.0, "percentage points", "pp"),
    "people": ("million people", 1e-6, "million people", ""),
    "people_per_year": ("thousand people per year", 1e-3, "thousand people per year", ""),
    "money": ("billion yuan", 1e-9, "billion yuan", ""),
    "money_per_year": ("billion yuan per year", 1e-9, "billion yuan per year", ""),
    "money_per_person": ("yuan per person per year", 1.0, "yuan per person per year", ""),
    "money_per_resident": ("yuan per person", 1.0, "yuan per person", ""),
    "index": ("index, 2010 = 1", 1.0, "index points", ""),
    "per_100_people": ("per 100 people", 1.0, "per 100 people", ""),
}

#: The preset a ``.mdl`` unit implies for variables the spec does not describe.
_UNIT_PRESETS = {
    "person": "people",
    "person/year": "people_per_year",
    "yuan": "money",
    "yuan/year": "money_per_year",
    "yuan/person": "money_per_resident",
    "yuan/(person*year)": "money_per_person",
}
_RATE_WORDS = ("share", "rate", "incidence", "coverage", "fraction")


def preset_display(
    label: str, preset: str, unit: str = "", price_base: int | None = None
) -> Display:
    """Return the display of a preset for a label.

    Parameters
    ----------
    label : str
        Plain name of the indicator.
    preset : str
        A key of `PRESETS`, or ``"number"``: shown as is, in ``unit``.
    unit : str, optional
        The ``.mdl`` unit, used by ``"number"``.
    price_base : int, optional
        The year of the model's constant prices, named in money units.

    Returns
    -------
    Display
        Label, units and scale.

    Raises
    ------
    KeyError
        For an unknown preset (the spec reader validates presets first).
    """
    if preset == "number":
        shown = "dimensionless" if unit.strip().lower() in ("dmnl", "") else unit.strip()
        return Display(label, shown, 1.0, shown, shown)
    shown, scale, delta, short = PRESETS[preset]
    shown, delta = money_unit(shown, price_base), money_unit(delta, price_base)
    return Display(label, shown, scale, delta, short or delta)


def display_from_unit(name: str, unit: str = "", price_base: int | None = None) -> Display:
    """Return a display for a variable the model spec does not describe.

    Parameters
    ----------
    name : str
        Variable name (PySD name); its label is the name with spaces.
    unit : str, optional
        Its ``.mdl`` unit.
    price_base : int, optional
        The year of the model's constant prices.

    Returns
    -------
    Display
        People in millions, yuan in billions, dimensionless shares and rates in %, anything
        else as is.
    """
    label = name.replace("_", " ")
    unit = (unit or "").strip()
    if unit in _UNIT_PRESETS:
        return preset_display(label, _UNIT_PRESETS[unit], price_base=price_base)
    if unit.lower() in ("dmnl", "") and any(w in name for w in _RATE_WORDS):
        return preset_display(label, "percent")
    return preset_display(label, "number", unit)


def format_number(value: float | None, *, signed: bool = False, digits: int = 3) -> str:
    """Write a number for a table: thousands separators, about ``digits`` significant figures.

    Parameters
    ----------
    value : float or None
        The number (in display units); None and NaN are written ``n/a``.
    signed : bool
        Write ``+`` before a positive number (a change).
    digits : int
        Significant figures of a number below ``10**digits``; larger numbers are whole.

    Returns
    -------
    str
        E.g. ``"4,899"``, ``"+0.452"``, ``"-1.05"``, ``"0"``; never an exponent.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    if math.isinf(value):
        return "n/a"
    mag = abs(value)
    decimals = 0 if mag == 0 else max(0, digits - 1 - math.floor(math.log10(mag)))
    text = f"{value:,.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        return "0"
    return f"+{text}" if signed and value > 0 else text
