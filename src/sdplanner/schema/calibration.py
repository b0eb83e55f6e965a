"""Schema of calibration specs (`sdplanner.calibration.parse`, ``docs/calibration.md``).

What holds whatever the model: keys and types; finite numbers of at most `MAX_MAGNITUDE` in
magnitude; positive spreads, scales, sigmas, price levels and basis factors; bounds in
order and wide enough, positive where a log transform or a log-normal prior needs it, and
around 1 for a pooled region factor; a deflator only at current prices; a basis factor of 1
for the same basis; a reason for an indicator that is not fitted; sigma multipliers of at
least 1. What depends on the model (constants, variables and regions, the ranges declared in
the ``.mdl``, the model's money unit and price base, the seed's figures that are data) and
the references between sections (an indicator's deflator, a year mapping's indicator) are
checked by `sdplanner.calibration.parse` after this.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from sdplanner.schema import FileModel, by_kind, refuse
from sdplanner.units import UNIT_SCALES
from sdplanner.validation import MAX_MAGNITUDE

__all__ = [
    "AGGREGATES",
    "LOSSES",
    "MAX_MAGNITUDE",
    "MIN_RELATIVE_WIDTH",
    "PRICES",
    "SIGMA_KINDS",
    "CalibrationFile",
    "ConfidenceEntry",
    "DeflatorEntry",
    "IndicatorEntry",
    "ParameterEntry",
    "YearMappingEntry",
    "words",
]

#: Loss functions of `scipy.optimize.least_squares`; ``linear`` is weighted least squares.
LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")
#: Narrowest bounds accepted, relative to their magnitude: ``upper - lower`` must exceed
#: this times ``max(|lower|, |upper|)`` (narrower bounds leave no room for a derivative).
MIN_RELATIVE_WIDTH = 1e-9
#: Kinds of area an indicator's default sigma is given for.
SIGMA_KINDS = ("region", "aggregate", "sub-area")
#: How the regions make an aggregate.
AGGREGATES = ("sum", "mean")
#: Prices of a money series: at current prices (a deflator converts) or the model's.
PRICES = ("current", "constant")

#: A finite number of at most `MAX_MAGNITUDE` in magnitude.
Finite = Annotated[
    float, Field(allow_inf_nan=False, strict=True, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)
]
#: A finite number above zero, of at most `MAX_MAGNITUDE`.
Positive = Annotated[float, Field(allow_inf_nan=False, strict=True, gt=0, le=MAX_MAGNITUDE)]
#: A sigma multiplier: a less trusted figure weighs less, never more.
Multiplier = Annotated[float, Field(allow_inf_nan=False, strict=True, ge=1, le=MAX_MAGNITUDE)]
#: A calendar year.
Year = Annotated[int, Field(strict=True, ge=-9999, le=9999)]
#: What a sigma multiplier is, in words.
_MULTIPLIER = "a sigma multiplier >= 1 (a less trusted figure weighs less, never more)"
#: A text that is not blank.
Text = Annotated[str, Field(pattern=r"\S")]


def _is(kind: type) -> Any:
    """Return a `by_kind` chooser: ``"yes"`` for a value of ``kind``, ``"no"`` otherwise."""
    return lambda value: "yes" if isinstance(value, kind) else "no"


# --------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------
class NormalPrior(FileModel):
    """A normal prior: residual ``(value - mean) / sd``."""

    kind_key: ClassVar[str | None] = "distribution"
    distribution: Literal["normal"]
    mean: Finite = Field(description="Mean, in the constant's units.")
    sd: Positive = Field(description="Standard deviation, in the constant's units.")


class LognormalPrior(FileModel):
    """A log-normal prior: residual ``(ln value - ln median) / sdlog``."""

    kind_key: ClassVar[str | None] = "distribution"
    distribution: Literal["lognormal"]
    median: Positive = Field(description="Median, in the constant's units.")
    sdlog: Positive = Field(description="Standard deviation of the logarithm.")


class _UnknownPrior(FileModel):
    """A prior whose distribution is missing or unknown (its only error is that)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    distribution: Literal["normal", "lognormal"]


def _prior_of(value: Any) -> str:
    kind = value.get("distribution") if isinstance(value, dict) else "normal"
    return kind if kind in ("normal", "lognormal") else "unknown"


#: A parameter's prior, told apart by the key ``distribution``.
PriorEntry = by_kind(
    _prior_of,
    normal=NormalPrior,
    lognormal=LognormalPrior,
    unknown=SkipJsonSchema[_UnknownPrior],
)

#: ``all`` or a list of regions (display names).
RegionsEntry = by_kind(
    _is(list),
    no=Literal["all"],
    yes=Annotated[list[str], Field(min_length=1)],
)


class PoolingEntry(FileModel):
    """Partial pooling of a region factor: region value = shared value x factor."""

    shared: str = Field(description="The model constant the factors multiply.")
    tau: Positive = Field(description="Spread of the factors around 1 (sdlog).")
    reason: str | None = None


class ParameterEntry(FileModel):
    """One constant to estimate: bounds, and optionally regions, transform, prior, pooling."""

    # for editors: what the validator below checks and JSON Schema can say (not lower < upper)
    model_config = ConfigDict(
        json_schema_extra={
            "dependentRequired": {"pooling": ["regions"]},
            "dependentSchemas": {"pooling": {"not": {"required": ["prior"]}}},
            "if": {"properties": {"transform": {"const": "log"}}, "required": ["transform"]},
            "then": {"properties": {"lower": {"exclusiveMinimum": 0}}},
        }
    )

    lower: Finite = Field(description="Lower bound, in the constant's units.")
    upper: Finite = Field(description="Upper bound, in the constant's units; above lower.")
    regions: RegionsEntry | None = Field(
        None, description="'all' or regions estimated one by one (default: one shared value)."
    )
    transform: Literal["linear", "log"] = Field(
        "linear", description="'log' optimizes in log space (positive bounds)."
    )
    prior: PriorEntry | None = None
    pooling: PoolingEntry | None = Field(
        None, description="A region factor around a shared value (log-normal prior around 1)."
    )
    description: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ParameterEntry:
        lower, upper = self.lower, self.upper
        if not lower < upper:
            raise refuse(
                "bounds reversed or empty: expected lower < upper, found lower"
                f" {lower:g} and upper {upper:g}"
            )
        if upper - lower <= MIN_RELATIVE_WIDTH * max(abs(lower), abs(upper)):
            raise refuse(
                f"expected bounds wider than {MIN_RELATIVE_WIDTH:g} of their magnitude,"
                f" found lower {lower!r} and upper {upper!r}"
            )
        if self.transform == "log" and lower <= 0:
            raise refuse(f"expected a positive lower bound for log, found {lower:g}", "transform")
        if isinstance(self.prior, LognormalPrior) and lower <= 0:
            raise refuse(
                f"expected a positive lower bound for a log-normal prior, found {lower:g}",
                "prior",
            )
        if self.pooling is None:
            return self
        if self.prior is not None:
            raise refuse(
                "a pooled region factor takes its prior from pooling (log-normal around 1"
                " with sdlog tau); remove prior"
            )
        if self.regions is None:
            raise refuse("expected regions: all or a list with it", "pooling")
        if not lower < 1 < upper or lower <= 0:
            raise refuse(
                "a region factor's bounds must hold 1 (the shared value) and be positive,"
                f" found lower {lower:g} and upper {upper:g}",
                "pooling",
            )
        return self


# --------------------------------------------------------------------------------------
# indicators
# --------------------------------------------------------------------------------------
class BasisEntry(FileModel):
    """Another definition of the same quantity: data per model unit, with its source."""

    data: Text = Field(description="The data's definition (e.g. disposable).")
    model: Text = Field(description="The model's definition (e.g. net).")
    factor: Positive = Field(description="Data per model unit (1 for the same basis).")
    source: Text = Field(description="Where the factor comes from.")

    @model_validator(mode="after")
    def _same_basis(self) -> BasisEntry:
        if self.data.strip() == self.model.strip() and self.factor != 1:
            raise refuse(
                f"data and model have the same basis {self.data.strip()!r}: expected 1,"
                f" found {self.factor:g}",
                "factor",
            )
        return self


class FitEntry(FileModel):
    """Whether an indicator is fitted, and why not."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"fitted": {"const": False}}},
            "then": {
                "required": ["reason"],
                "properties": {"reason": {"type": "string", "pattern": r"\S"}},
            },
        }
    )

    fitted: bool
    reason: str | None = Field(None, description="Why it is not fitted (required then).")

    @model_validator(mode="after")
    def _reason(self) -> FitEntry:
        if not self.fitted and not (self.reason or "").strip():
            raise refuse("expected why it is not fitted, found nothing", "reason")
        return self


#: A default sigma: one number for every kind of area, or one per kind.
SigmaEntry = by_kind(
    _is(dict),
    no=Positive,
    yes=dict[Literal[SIGMA_KINDS], Positive],  # type: ignore[valid-type]
)
#: A weight: one model variable, or a list of them (summed).
WeightEntry = by_kind(_is(list), no=str, yes=list[str])


class IndicatorEntry(FileModel):
    """How an indicator of the data is computed from the model."""

    model_config = ConfigDict(
        json_schema_extra={
            "dependentSchemas": {
                "deflator": {"required": ["prices"], "properties": {"prices": {"const": "current"}}}
            }
        }
    )

    variable: str = Field(description="The model variable (Python or .mdl name).")
    unit: Literal[tuple(UNIT_SCALES)] = Field(  # type: ignore[valid-type]
        "level", description="The data's unit against the model's (percent: 100 x fraction)."
    )
    scale: Positive | None = Field(None, description="Data units per model unit; overrides unit.")
    aggregate: Literal[AGGREGATES] | None = Field(  # type: ignore[valid-type]
        None,
        description="How the regions make the aggregate (default: as the model spec says).",
    )
    weight: WeightEntry | None = Field(
        None, description="For mean: the variables whose sum weights the regions."
    )
    sigma: SigmaEntry | None = Field(
        None, description="Default standard error in data units, by kind of area."
    )
    prices: Literal[PRICES] | None = Field(  # type: ignore[valid-type]
        None, description="For a money variable: current (with a deflator) or constant."
    )
    deflator: str | None = Field(None, description="A deflator of the spec (prices: current).")
    basis: BasisEntry | None = None
    offset: str | None = Field(None, description="Offset group: only changes are evidence.")
    fit: FitEntry | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _deflator(self) -> IndicatorEntry:
        if self.deflator is not None and self.prices != "current":
            raise refuse("only a series with prices: current has one", "deflator")
        return self


# --------------------------------------------------------------------------------------
# deflators, confidence, year mapping, the file
# --------------------------------------------------------------------------------------
class DeflatorEntry(FileModel):
    """A price index: year -> price level at current prices (any unit)."""

    values: dict[Year, Positive] = Field(
        min_length=1,
        description="Year -> price level; the model's price base year among them.",
        json_schema_extra={"propertyNames": {"pattern": "^-?[0-9]{1,4}$"}},
    )
    source: Text = Field(description="Where the values come from.")
    description: str | None = None


class ConfidenceEntry(FileModel):
    """Sigma multipliers by the data's confidence label."""

    sigma_factor: dict[str, Multiplier] = Field(
        description="Confidence label (high, medium, low) -> multiplier of the default sigma."
    )
    recalled: Multiplier = Field(1.0, description="For a source starting with 'recalled'.")
    unlabelled: Multiplier = Field(1.0, description="For a row without a label.")
    description: str | None = None


class YearMappingEntry(FileModel):
    """A row dated outside the horizon, compared with the model at another year."""

    indicator: str = Field(description="An indicator of the spec.")
    area: str | None = Field(None, description="Area name (default: every area).")
    source: Year = Field(alias="from", description="The year the data give.")
    target: Year = Field(alias="to", description="The model year it is compared with.")
    reason: str | None = None


class Objective(FileModel):
    """The loss and its scale."""

    loss: Literal[LOSSES] = Field(  # type: ignore[valid-type]
        "linear", description="linear (weighted least squares) or a robust loss of scipy."
    )
    f_scale: Positive = Field(
        1.0, description="Standardized residual at which a robust loss softens."
    )


class CalibrationFile(FileModel):
    """Schema of a calibration spec."""

    name: str | None = Field(None, description="Name (default: the file's name).")
    description: str | None = None
    final_time: Finite | None = Field(
        None, description="Last simulated year (default: the last observed year)."
    )
    objective: Objective | None = None
    parameters: dict[str, ParameterEntry] = Field(
        min_length=1, description="Constants to estimate (Python or .mdl name) -> bounds."
    )
    indicators: dict[str, IndicatorEntry] = Field(
        min_length=1, description="Indicator name in the data -> how the model computes it."
    )
    deflators: dict[str, DeflatorEntry] | None = None
    confidence: ConfidenceEntry | None = None
    year_mapping: list[YearMappingEntry] | None = None


#: What a spec expects at a key path, in words, where the type says less (``*``: a name
#: the file chooses, ``#``: an item of a list).
_WORDS: dict[tuple, str] = {
    ("parameters",): "a mapping of constants to estimate",
    ("indicators",): "a mapping of indicators to variables",
    ("final_time",): "a year",
    ("parameters", "*"): "a mapping with lower and upper",
    ("parameters", "*", "lower"): "a bound",
    ("parameters", "*", "upper"): "a bound",
    ("parameters", "*", "regions"): "'all' or a list of regions",
    ("parameters", "*", "prior"): "a mapping with distribution and its parameters",
    ("parameters", "*", "prior", "distribution"): "'normal' or 'lognormal'",
    ("parameters", "*", "prior", "sd"): "a positive standard deviation",
    ("parameters", "*", "prior", "median"): "a positive median",
    ("parameters", "*", "prior", "sdlog"): "a positive sdlog",
    ("parameters", "*", "pooling", "shared"): "the model constant the factors multiply",
    ("parameters", "*", "pooling", "tau"): "a positive spread (sdlog)",
    ("indicators", "*"): "a mapping with variable, unit, aggregate, weight, sigma",
    ("indicators", "*", "variable"): "a model variable",
    ("indicators", "*", "scale"): "a positive number",
    ("indicators", "*", "aggregate"): "'sum' or 'mean' (with weight)",
    ("indicators", "*", "weight"): "a variable or a list of them",
    ("indicators", "*", "sigma"): "a positive standard error",
    ("indicators", "*", "sigma", "*"): "a positive standard error",
    ("indicators", "*", "basis", "factor"): "a positive factor",
    ("deflators", "*"): "a mapping with values and source",
    ("deflators", "*", "values"): "a mapping of years to levels",
    ("deflators", "*", "values", "*"): "a positive price level",
    ("deflators", "*", "values", "*", "[key]"): "a whole year",
    ("deflators", "*", "source"): "where the values come from",
    ("confidence", "sigma_factor", "*"): _MULTIPLIER,
    ("confidence", "recalled"): _MULTIPLIER,
    ("confidence", "unlabelled"): _MULTIPLIER,
    ("year_mapping", "#"): "a mapping with indicator, area, from, to",
    ("year_mapping", "#", "from"): "a whole year",
    ("year_mapping", "#", "to"): "a whole year",
}
#: Keys whose keys are names the file chooses (a constant, an indicator, a year ...).
_NAMED = ("parameters", "indicators", "deflators", "sigma_factor", "values", "sigma")


def words(path: tuple) -> str | None:
    """Return what a calibration spec expects at a key path, in words (for messages).

    Parameters
    ----------
    path : tuple
        The key path, as `sdplanner.schema.validate` asks (a mapping's key ends with
        ``"[key]"``).

    Returns
    -------
    str or None
        E.g. ``"a bound"`` for ``parameters.NAME.upper``; None where the type says enough.
    """
    general: list = []
    for part in path:
        if general and general[-1] in _NAMED and part != "[key]":
            general.append("*")
        elif len(general) == 1 and general[0] == "year_mapping":
            general.append("#")
        else:
            general.append(part)
    return _WORDS.get(tuple(general))
