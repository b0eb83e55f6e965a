"""Schema of a model spec file, ``NAME.spec.yaml`` beside ``NAME.mdl`` (`sdplanner.spec`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sdplanner.display import PRESETS
from sdplanner.schema import FileModel

__all__ = ["VIEWS", "LeverEntry", "OutputEntry", "SpecFile"]

_DISPLAY = Literal[tuple([*PRESETS, "number"])]  # type: ignore[valid-type]
#: The named views of a spec.
VIEWS = ("headline", "comparison", "ensemble", "sensitivity", "report", "poverty")


class _Money(FileModel):
    unit: str = Field("yuan", description="Unit of money in the .mdl.")
    price_base: int | None = Field(
        None, description="The model's money is constant yuan of this year."
    )


class _Dimension(FileModel):
    subscript: str = Field(description="The subscript range outputs are per.")
    aggregate: str = Field(description="Label of the aggregate rows of results.csv.")
    aggregate_aliases: list[str] = Field(
        default_factory=list, description="Other names data files use for the aggregate."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Element name -> display name (others as is)."
    )


class _Path(FileModel):
    section: str = Field(description="Where the path stands in the seed, e.g. '4.1'.")
    title: str


class _LeverConstants(FileModel):
    strength: str | None = None
    start: str | None = None
    ramp_years: str | None = None


class LeverEntry(FileModel):
    """One lever of ``levers``: facts about it the .mdl cannot say."""

    path: str = Field(description="Key of `paths`.")
    label: str = Field(description="Short display name.")
    unit: str = Field(description="Unit of the strength, for people.")
    description: str = Field(description="What the strength means.")
    cost: str = Field(description=".mdl variable holding the lever's spending (yuan/year).")
    constants: _LeverConstants = Field(
        default_factory=_LeverConstants,
        description="The .mdl constants; default '<name> strength', '<name> start', "
        "'<name> ramp years'.",
    )


class OutputEntry(FileModel):
    """One output of ``outputs``: its label, aggregation, display and ranking direction."""

    label: str
    aggregate: Literal["sum", "mean", "none"] = Field(
        "sum", description="Over the dimension: sum (levels), weighted mean (rates), none."
    )
    weight: list[str] = Field(
        default_factory=list, description="For a mean: variables whose sum weighs each region."
    )
    display: _DISPLAY = Field("number", description="Display preset.")  # type: ignore[valid-type]
    better: Literal["higher", "lower"] | None = Field(
        None, description="Which direction is better, for rankings."
    )


class _Years(FileModel):
    comparison: list[int] = Field(
        default_factory=list, description="Years of the comparison table (default: the last)."
    )
    summary: list[int] = Field(
        default_factory=list, description="Years of the printed summary (default: the last)."
    )
    policy_start: int | None = Field(None, description="Year the levers start (figures mark it).")


class SpecFile(FileModel):
    """Schema of a model spec file (``NAME.spec.yaml``)."""

    model: str = Field(description="File name of the .mdl this spec describes.")
    money: _Money = Field(default_factory=_Money)
    cumulative_cost: str | None = Field(
        None, description=".mdl stock of the levers' spending since the initial time (yuan)."
    )
    years: _Years = Field(default_factory=_Years)
    units: list[str] = Field(
        default_factory=list,
        description="The model's unit names in pint's definition syntax, for the unit check"
        " (e.g. 'person = [population] = people'); none: every unit name is a base unit.",
    )
    dimension: _Dimension | None = None
    paths: dict[str, _Path] = Field(default_factory=dict)
    levers: dict[str, LeverEntry] = Field(default_factory=dict)
    outputs: dict[str, OutputEntry] = Field(default_factory=dict)
    views: dict[Literal[VIEWS], list[str]] = Field(default_factory=dict)  # type: ignore[valid-type]
    renamed: dict[str, str] = Field(
        default_factory=dict,
        description="Names of an earlier model version -> what replaced them.",
    )
