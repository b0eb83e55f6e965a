"""Schema of reality-check files, ``MODEL.checks.yaml`` (`sdplanner.checks`, ``docs/checks.md``).

What holds whatever the model: each check's keys, each expectation's rule and the keys that
rule takes, finite numbers. Variables, constants, regions and years are checked by
`sdplanner.checks.checks_file` after this.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from sdplanner.schema import FileModel, Number, by_kind

__all__ = ["RULES", "CheckEntry", "ChecksFile", "ConditionEntry", "ExpectationEntry"]

#: Every rule an expectation can state, with the keys it takes besides the common ones.
RULES: dict[str, tuple[str, ...]] = {
    "between": ("bounds",),
    "nonnegative": (),
    "equals": ("value", "rtol", "atol"),
    "constant": ("rtol", "atol"),
    "increasing": (),
    "decreasing": (),
    "nondecreasing": (),
    "nonincreasing": (),
    "at_most": ("other", "rtol", "atol"),
    "at_least": ("other", "rtol", "atol"),
    "greater_than_baseline": (),
    "less_than_baseline": (),
    "equals_baseline": ("rtol", "atol"),
}

_NonNegative = Annotated[float, Field(allow_inf_nan=False, strict=True, ge=0)]
#: A step ``{from_year: YEAR, value: VALUE}``: the model's value before, VALUE from then on.
_Step = create_model(
    "Step",
    __base__=FileModel,
    from_year=(Number, Field(description="Year the value changes.")),
    value=(Number | dict[str, Number], Field(description="A number or a region mapping.")),
)


def _value_kind(value: Any) -> str:
    if not isinstance(value, dict):
        return "number"
    return "step" if "from_year" in value or "value" in value else "mapping"


#: A condition's value: a number, a mapping region -> number or year -> number, or a step.
ConditionValue = by_kind(
    _value_kind,
    number=Number,
    mapping=dict[str | int | float, Number],
    step=_Step,
)


class ConditionEntry(FileModel):
    """The condition of a check: the constants it sets."""

    parameters: dict[str, ConditionValue] = Field(
        min_length=1, description="Model constant -> its value under the condition."
    )


class _Common(FileModel):
    """Keys every expectation takes."""

    kind_key: ClassVar[str | None] = "rule"
    variable: str = Field(description="The output variable (Python or .mdl name).")
    regions: str | list[str] = Field(
        "all", description="'all', a region, or a list of regions (subscripted variables only)."
    )
    years: Number | Annotated[list[Number], Field(min_length=2, max_length=2)] | None = Field(
        None, description="A year or an inclusive range [first, last]; default the whole run."
    )


_EXTRA_KEYS = {
    "bounds": (
        Annotated[list[Number | None], Field(min_length=2, max_length=2)],
        Field(description="[lower, upper]; null for an open side."),
    ),
    "value": (Number, Field(description="The value the variable must equal.")),
    "other": (str, Field(description="The variable compared with (same units).")),
    "rtol": (_NonNegative, Field(1e-6, description="Relative tolerance.")),
    "atol": (_NonNegative, Field(1e-9, description="Absolute tolerance (variable's units).")),
}


def _rule_model(rule: str, keys: tuple[str, ...]) -> type[FileModel]:
    fields: dict[str, Any] = {"rule": (Literal[rule], ...)}
    fields.update({k: _EXTRA_KEYS[k] for k in keys})
    name = "".join(part.title() for part in rule.split("_"))
    return create_model(name, __base__=_Common, __doc__=f"Rule {rule!r}.", **fields)


class _UnknownRule(FileModel):
    """An expectation whose rule is missing or unknown (its only error is that)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    rule: Literal[tuple(RULES)]  # type: ignore[valid-type]


def _rule_of(value: Any) -> str:
    if not isinstance(value, dict):
        return next(iter(RULES))  # reported as "expected a mapping"
    rule = value.get("rule")
    return rule if isinstance(rule, str) and rule in RULES else "unknown"


#: One expectation: a rule applied to one variable, told apart by the key ``rule``.
ExpectationEntry = by_kind(
    _rule_of,
    **{rule: _rule_model(rule, keys) for rule, keys in RULES.items()},
    unknown=SkipJsonSchema[_UnknownRule],
)


class CheckEntry(FileModel):
    """One reality check: a condition and what must hold under it."""

    name: str = Field(min_length=1, description="Unique name of the check.")
    description: str = ""
    condition: ConditionEntry | None = None
    expect: list[ExpectationEntry] = Field(min_length=1)


class ChecksFile(FileModel):
    """Schema of a reality-check file."""

    checks: list[CheckEntry] = Field(min_length=1)
