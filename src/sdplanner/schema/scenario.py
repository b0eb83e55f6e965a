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
    "with_levers",
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
    title: str | None = Field(
        None, description="Short name for legends and tables (default: name)."
    )
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


def with_levers(schema: dict, model: Any) -> dict:
    """Return a scenario file's JSON Schema with the levers of a model spelled out.

    Editors then complete lever names and check strengths, start years and ramp lengths
    against the ranges the model declares (the ``.mdl``'s, via its spec).

    Parameters
    ----------
    schema : dict
        The JSON Schema of `ScenarioFile`.
    model : sdplanner.model.ModelInfo
        The model whose levers the scenario sets.

    Returns
    -------
    dict
        A new schema; ``levers`` lists every lever and refuses other names.
    """
    out = dict(schema)
    defs = dict(out.get("$defs", {}))
    levers = {}
    t0, t1 = model.initial_time, model.final_time
    for lever in model.spec.levers:
        name = f"Lever_{lever.name}"
        fields = {
            "strength": (lever.minimum, lever.maximum, f"Strength ({lever.unit})."),
            "start": (max(t0, lever.start_range[0]), min(t1, lever.start_range[1]), "Year."),
            "ramp_years": (max(0.0, lever.ramp_range[0]), lever.ramp_range[1], "Years."),
        }
        props = {
            key: {"type": "number", "description": text, "minimum": lo}
            | ({"maximum": hi} if hi != float("inf") else {})
            for key, (lo, hi, text) in fields.items()
        }
        settings = {"type": "object", "properties": dict(props), "additionalProperties": False}
        region = {"anyOf": [props["strength"], settings]}
        labels = model.spec.dimension.labels if model.spec.dimension is not None else ()
        props["regions"] = {
            "type": "object",
            "properties": {label: region for label in labels},
            "additionalProperties": False,
        }
        defs[name] = {
            "type": "object",
            "title": lever.label,
            "description": lever.description,
            "properties": props,
            "additionalProperties": False,
        }
        levers[lever.name] = {"$ref": f"#/$defs/{name}"}
    out["$defs"] = defs
    properties = dict(out["properties"])
    properties["levers"] = {
        "type": "object",
        "description": properties["levers"].get("description", ""),
        "properties": levers,
        "additionalProperties": False,
    }
    out["properties"] = properties
    return out
