"""How model values are shown to people: one display convention for tables, plots and pages.

A model spec gives every output a display preset (``percent``, ``people``, ``money`` ...);
this module turns a preset into a `Display`: the label, the unit a level is shown in, the
factor from model units to display units, and the units of a change and of a change per
billion yuan of public spending. Variables without a spec entry get a display from their
``.mdl`` unit. Nothing here computes statistics or draws.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRESETS", "Display", "display_from_unit", "preset_display"]


@dataclass(frozen=True)
class Display:
    """How an indicator is shown to people (tables and plots).

    Attributes
    ----------
    label : str
        Plain name, e.g. ``"urbanization rate"``.
    unit : str
        Display unit of levels, e.g. ``"%"`` or ``"million people"``.
    scale : float
        Display value = model value x scale (e.g. 100 for a fraction shown in %).
    delta_unit : str
        Display unit of a change, e.g. ``"percentage points"``.
    per_billion_unit : str
        Display unit of a change per billion yuan of public spending.
    per_billion_scale : float
        Display value = (model change per billion yuan) x per_billion_scale.
    """

    label: str
    unit: str
    scale: float
    delta_unit: str
    per_billion_unit: str
    per_billion_scale: float

    @property
    def axis_label(self) -> str:
        """Axis label with the unit, e.g. ``"urbanization rate (%)"``."""
        return f"{self.label} ({self.unit})"


#: Display presets a model spec can name: preset -> (unit, scale, delta unit, per-billion
#: unit, per-billion scale).
PRESETS: dict[str, tuple[str, float, str, str, float]] = {
    "percent": ("%", 100.0, "percentage points", "percentage points per billion yuan", 100.0),
    "people": ("million people", 1e-6, "million people", "people per billion yuan", 1.0),
    "people_per_year": (
        "thousand people/year",
        1e-3,
        "thousand people/year",
        "people/year per billion yuan",
        1.0,
    ),
    "money": ("billion yuan", 1e-9, "billion yuan", "yuan per yuan spent", 1e-9),
    "money_per_year": (
        "billion yuan/year",
        1e-9,
        "billion yuan/year",
        "yuan/year per yuan spent",
        1e-9,
    ),
    "money_per_person": (
        "yuan/person/year",
        1.0,
        "yuan/person/year",
        "yuan/person/year per billion yuan",
        1.0,
    ),
    "money_per_resident": (
        "yuan/person",
        1.0,
        "yuan/person",
        "yuan/person per billion yuan",
        1.0,
    ),
    "index": ("index, 2010 = 1", 1.0, "index points", "index points per billion yuan", 1.0),
    "per_100_people": (
        "per 100 people",
        1.0,
        "per 100 people",
        "per 100 people per billion yuan",
        1.0,
    ),
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


def preset_display(label: str, preset: str, unit: str = "") -> Display:
    """Return the display of a preset for a label.

    Parameters
    ----------
    label : str
        Plain name of the indicator.
    preset : str
        A key of `PRESETS`, or ``"number"``: shown as is, in ``unit``.
    unit : str, optional
        The ``.mdl`` unit, used by ``"number"``.

    Returns
    -------
    Display
        Label, units and scales.

    Raises
    ------
    KeyError
        For an unknown preset (the spec reader validates presets first).
    """
    if preset == "number":
        shown = "dimensionless" if unit.strip().lower() in ("dmnl", "") else unit.strip()
        return Display(label, shown, 1.0, shown, f"{shown} per billion yuan", 1.0)
    shown, scale, delta, per_bn, per_bn_scale = PRESETS[preset]
    return Display(label, shown, scale, delta, per_bn, per_bn_scale)


def display_from_unit(name: str, unit: str = "") -> Display:
    """Return a display for a variable the model spec does not describe.

    Parameters
    ----------
    name : str
        Variable name (PySD name); its label is the name with spaces.
    unit : str, optional
        Its ``.mdl`` unit.

    Returns
    -------
    Display
        People in millions, yuan in billions, dimensionless shares and rates in %, anything
        else as is.
    """
    label = name.replace("_", " ")
    unit = (unit or "").strip()
    if unit in _UNIT_PRESETS:
        return preset_display(label, _UNIT_PRESETS[unit])
    if unit.lower() in ("dmnl", "") and any(w in name for w in _RATE_WORDS):
        return preset_display(label, "percent")
    return preset_display(label, "number", unit)
