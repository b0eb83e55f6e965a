"""Schema of uncertainty files (`sdplanner.uncertainty.spec`, ``docs/ensembles.md``).

What holds whatever the model: each parameter's distribution and the keys it takes, finite
numbers, positive spreads, correlations of two parameters. Constant names, regions and the
ranges declared in the ``.mdl`` are checked by `sdplanner.uncertainty.spec` after this.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from sdplanner.schema import FileModel, Number, PositiveNumber, by_kind

__all__ = [
    "ALIASES",
    "DISTRIBUTIONS",
    "CorrelationEntry",
    "DistributionEntry",
    "UncertaintyFile",
]

#: Distributions and their keys: required, then optional.
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "uniform": (("min", "max"), ()),
    "triangular": (("min", "mode", "max"), ()),
    "normal": (("mean", "sd"), ("min", "max")),
    "lognormal": (("median", "sigma"), ("min", "max")),
}
#: Other spellings of distribution names.
ALIASES = {"log-normal": "lognormal", "log_normal": "lognormal", "gaussian": "normal"}


class _Parameter(FileModel):
    """What every uncertain parameter may say besides its distribution."""

    kind_key: ClassVar[str | None] = "distribution"
    relative: bool = Field(False, description="A draw multiplies the scenario's value.")
    per_region: bool = Field(False, description="One independent draw per region.")
    regions: list[str] | None = Field(
        None, min_length=1, description="Regions drawn (the others keep their value)."
    )
    note: str | None = Field(None, description="Where the distribution comes from.")


class Uniform(_Parameter):
    """Uniform between ``min`` and ``max``."""

    distribution: Literal["uniform"]
    min: Number
    max: Number


class Triangular(_Parameter):
    """Triangular from ``min`` to ``max`` with its peak at ``mode``."""

    distribution: Literal["triangular"]
    min: Number
    mode: Number
    max: Number


class Normal(_Parameter):
    """Normal of mean ``mean`` and standard deviation ``sd``, optionally truncated."""

    distribution: Literal["normal", "gaussian"]
    mean: Number
    sd: PositiveNumber
    min: Number | None = None
    max: Number | None = None


class Lognormal(_Parameter):
    """Lognormal of median ``median``, ``sigma`` the standard deviation of the log."""

    distribution: Literal["lognormal", "log-normal", "log_normal"]
    median: PositiveNumber
    sigma: PositiveNumber
    min: Annotated[float, Field(allow_inf_nan=False, strict=True, ge=0)] | None = None
    max: PositiveNumber | None = Field(None, description="Above 0: every draw is positive.")


class _UnknownDistribution(FileModel):
    """A parameter whose distribution is missing or unknown (its only error is that)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    distribution: Literal[tuple(DISTRIBUTIONS)]  # type: ignore[valid-type]


def _distribution_of(value: Any) -> str:
    if not isinstance(value, dict):
        return "uniform"  # reported as "expected a mapping"
    kind = value.get("distribution")
    kind = ALIASES.get(kind, kind) if isinstance(kind, str) else None
    return kind if kind in DISTRIBUTIONS else "unknown"


#: One uncertain constant: its distribution, told apart by the key ``distribution``.
DistributionEntry = by_kind(
    _distribution_of,
    uniform=Uniform,
    triangular=Triangular,
    normal=Normal,
    lognormal=Lognormal,
    unknown=SkipJsonSchema[_UnknownDistribution],
)


class CorrelationEntry(FileModel):
    """A target rank correlation between two parameters of the file (Iman-Conover)."""

    parameters: list[str] = Field(min_length=2, max_length=2)
    rho: Number = Field(description="Target rank (Spearman) correlation, in (-1, 1).")
    note: str | None = None


class UncertaintyFile(FileModel):
    """Schema of an uncertainty file."""

    description: str | None = None
    parameters: dict[str, DistributionEntry] = Field(
        min_length=1, description="Model constant (Python or .mdl name) -> its distribution."
    )
    correlations: list[CorrelationEntry] | None = None
