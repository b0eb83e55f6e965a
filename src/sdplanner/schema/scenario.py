"""Schemas of scenario files and parameter files (`sdplanner.scenario`, ``docs/scenarios.md``).

What holds whatever the model: keys, types, finite numbers. Lever names, constant names,
regions, years and ranges are the model's, checked by `sdplanner.scenario` after these.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from sdplanner.schema import FileModel, Number, by_kind

__all__ = [
    "LeverFields",
    "LeverFile",
    "ParameterFile",
    "ParameterValue",
    "ScenarioFile",
]


def _mapping_or_number(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "number"


#: A constant's value: a number, or a mapping of regions (display names) or of years to
#: numbers (a per-region value, or a series interpolated linearly between the years).
ParameterValue = by_kind(
    _mapping_or_number,
    number=Number,
    mapping=dict[str | int | float, Number],
)


class LeverFields(FileModel):
    """The three settings of a lever (each optional: the rest keep their values)."""

    strength: Number | None = Field(
        None, description="Strength in the lever's unit, within its range (the .mdl's)."
    )
    start: Number | None = Field(None, description="Year the lever starts (default: the .mdl's).")
    ramp_years: Number | None = Field(
        None, description="Years from the start to full strength; 0 for a step."
    )


def _strength_alone(value: Any) -> Any:
    """Return a region's override written as a bare number as its strength."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"strength": value}
    return value


#: A region's override: a strength, or a mapping of the three settings.
RegionOverride = Annotated[
    LeverFields, BeforeValidator(_strength_alone, json_schema_input_type=Number | LeverFields)
]


class LeverFile(LeverFields):
    """One lever of a scenario file."""

    regions: dict[str, RegionOverride] | None = Field(
        None, description="Region display name -> its own strength (or settings)."
    )


class ScenarioFile(FileModel):
    """Schema of a scenario file."""

    name: str = Field(description="Unique name: the scenario column of every output.")
    description: str | None = None
    extends: str | None = Field(
        None,
        description="A scenario file this one starts from (in this folder or the shipped"
        " scenarios folder).",
    )
    final_time: Number | None = Field(None, description="Last simulated year.")
    levers: dict[str, LeverFile] | None = Field(
        None, description="Lever name (see docs/scenarios.md) -> its settings."
    )
    parameters: dict[str, ParameterValue] | None = Field(
        None, description="Model constant (Python or .mdl name) -> its value."
    )


class ParameterFile(FileModel):
    """Schema of a parameter file (``--params``; what ``sdplanner calibrate`` writes).

    Keys besides these (provenance a tool records) are allowed and ignored; the keys of a
    scenario file are refused by the loader (`sdplanner.parameters.load_parameter_file`).
    """

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    parameters: dict[str, ParameterValue] = Field(
        description="Model constant (Python or .mdl name) -> its value."
    )
    description: str | None = None
    source: dict[str, Any] | None = Field(None, description="Where the values come from.")
    metadata: dict[str, Any] | None = None
