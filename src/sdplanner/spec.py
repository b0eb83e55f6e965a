"""The model spec: what sdplanner knows about a model beyond its equations.

A model ``NAME.mdl`` may have a spec ``NAME.spec.yaml`` beside it (in the spirit of
SDEverywhere's model spec). The ``.mdl`` stays the only home of equations, units, comments,
default values and ranges; the spec says what the ``.mdl`` cannot:

* the dimension outputs are per (the subscript range, display names of its elements and the
  label of the aggregate rows);
* the policy levers (scenario name, path, label, unit for people, description, the ``.mdl``
  constants behind them and the variable holding their spending);
* the outputs of ``results.csv`` (how each aggregates over the dimension and with which
  weight, its display preset, whether higher or lower is better) and named views (which
  outputs the summary, comparison, ensemble, sensitivity and report show, in order);
* the price base of money and the names that an earlier version of the model used.

`load_spec` reads the file safely, validates it against its schema and checks every name
against the model: an unknown name or a lever constant without a range in the ``.mdl`` is a
`sdplanner.errors.ModelError` with one line. A model without a spec gets `default_spec`:
every constant a parameter, every stock and auxiliary an output, no levers, no aggregate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sdplanner.display import Display, display_from_unit, preset_display
from sdplanner.errors import ModelError, did_you_mean, quote
from sdplanner.model import CONTROL_NAMES, file_sha256
from sdplanner.safe_yaml import load_yaml
from sdplanner.schema import validate
from sdplanner.schema.model_spec import LeverEntry, OutputEntry, SpecFile

if TYPE_CHECKING:
    from sdplanner.model import ModelInfo

__all__ = [
    "Dimension",
    "LeverSpec",
    "ModelSpec",
    "OutputSpec",
    "SpecFile",
    "default_spec",
    "load_spec",
    "spec_path",
]


# --------------------------------------------------------------------------------------
# The resolved spec
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dimension:
    """The subscript range outputs are per.

    Attributes
    ----------
    subscript : str
        Name of the range in the ``.mdl`` (e.g. ``"Region"``).
    elements : tuple of str
        Element names in the ``.mdl``'s order.
    labels : tuple of str
        Display names in the same order.
    aggregate : str
        Label of the aggregate rows (e.g. ``"All 14 regions"``).
    aggregate_aliases : tuple of str
        Every name that means the aggregate in data files (the label first).
    """

    subscript: str
    elements: tuple[str, ...]
    labels: tuple[str, ...]
    aggregate: str
    aggregate_aliases: tuple[str, ...]

    def element_of(self, label: str) -> str:
        """Return the element name of a display name (KeyError when unknown)."""
        return self.elements[self.labels.index(label)]

    def label_of(self, element: str) -> str:
        """Return the display name of an element name (KeyError when unknown)."""
        return self.labels[self.elements.index(element)]


@dataclass(frozen=True)
class LeverSpec:
    """One policy lever: three ``.mdl`` constants per region, ramped from a start year.

    Attributes
    ----------
    name : str
        Name used in scenario files.
    path : str
        Key of the lever's path (`ModelSpec.paths`).
    label, unit, description : str
        For people: short name, unit of the strength, what the strength means.
    cost_variable : str
        PySD name of the variable holding the lever's spending (yuan/year).
    strength_constant, start_constant, ramp_constant : str
        PySD names of the strength, start year (year) and ramp length (year) constants.
    minimum, maximum : float
        Valid range of the strength (the ``.mdl`` range of its constant).
    default_start, default_ramp_years : float
        The ``.mdl`` values of the start year and ramp length (year).
    start_range, ramp_range : tuple of float
        Valid ranges of the start year and ramp length (the ``.mdl``'s; inf where open).
    cost_rule : str
        How the model computes the spending (the comment of the cost variable).
    """

    name: str
    path: str
    label: str
    unit: str
    description: str
    cost_variable: str
    strength_constant: str
    start_constant: str
    ramp_constant: str
    minimum: float
    maximum: float
    default_start: float
    default_ramp_years: float
    start_range: tuple[float, float]
    ramp_range: tuple[float, float]
    cost_rule: str


@dataclass(frozen=True)
class OutputSpec:
    """A variable of ``results.csv`` and how it aggregates and shows.

    Attributes
    ----------
    name : str
        PySD name of the model variable (the ``variable`` column).
    weight : tuple of str
        Empty for a sum; otherwise the variables whose sum weighs the regional values of a
        weighted mean.
    aggregate : {"sum", "mean", "none"}
        The aggregate rule over the dimension.
    display : Display
        Label and display units.
    better : {"higher", "lower"} or None
        Which direction is better, for rankings.
    """

    name: str
    weight: tuple[str, ...] = ()
    aggregate: str = "sum"
    display: Display | None = None
    better: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model's spec, resolved against the model.

    Attributes
    ----------
    path : pathlib.Path or None
        The spec file, or None for a model without one.
    sha256 : str
        SHA-256 of the spec file ("" without one).
    dimension : Dimension or None
        The dimension outputs are per, or None for a model without subscripts.
    paths : dict
        Path key -> ``(section, title)``, in display order.
    levers : tuple of LeverSpec
        The levers, in display order.
    outputs : tuple of OutputSpec
        The outputs of ``results.csv``, in order.
    views : dict
        View name -> tuple of output names (see the module docstring).
    renamed : dict
        Earlier names -> what replaced them.
    price_base : int or None
        The model's money is constant yuan of this year.
    money_unit : str
        The unit of money in the .mdl's units strings (``yuan``).
    cumulative_cost : str or None
        PySD name of the stock of the levers' spending since the initial time (yuan).
    comparison_years, summary_years : tuple of int
        Years of the comparison table and of the printed summary.
    policy_start : int or None
        Year the levers start, marked in figures.
    units : tuple of str
        Unit definitions for the unit check (pint syntax); empty: Vensim's rule.
    """

    path: Path | None
    sha256: str
    dimension: Dimension | None
    paths: Mapping[str, tuple[str, str]]
    levers: tuple[LeverSpec, ...]
    outputs: tuple[OutputSpec, ...]
    views: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    renamed: Mapping[str, str] = field(default_factory=dict)
    price_base: int | None = None
    money_unit: str = "yuan"
    cumulative_cost: str | None = None
    comparison_years: tuple[int, ...] = ()
    summary_years: tuple[int, ...] = ()
    policy_start: int | None = None
    units: tuple[str, ...] = ()

    def lever(self, name: str) -> LeverSpec | None:
        """Return the lever of that scenario name, or None."""
        for lever in self.levers:
            if lever.name == name:
                return lever
        return None

    @property
    def lever_constants(self) -> dict[str, str]:
        """PySD name of every lever constant (strength, start, ramp) -> its lever's name."""
        out = {}
        for lever in self.levers:
            for const in (lever.strength_constant, lever.start_constant, lever.ramp_constant):
                out[const] = lever.name
        return out

    def output(self, name: str) -> OutputSpec | None:
        """Return the output of that PySD name, or None."""
        for out in self.outputs:
            if out.name == name:
                return out
        return None

    def view(self, name: str) -> tuple[str, ...]:
        """Return a view's outputs; ``comparison`` is the headline followed by its own.

        Parameters
        ----------
        name : {"headline", "comparison", "ensemble", "sensitivity", "report", "poverty"}
            The view. Views the spec does not list fall back to ``headline``, and
            ``headline`` to the first five outputs; ``poverty`` (the number of poor people,
            then the cost per person lifted out of poverty) to nothing.

        Returns
        -------
        tuple of str
            Output names, in order, without repeats.
        """
        headline = self.views.get("headline") or tuple(o.name for o in self.outputs[:5])
        if name == "headline":
            return headline
        if name == "comparison":
            return tuple(dict.fromkeys((*headline, *self.views.get("comparison", ()))))
        if name == "poverty":
            return self.views.get(name, ())
        return self.views.get(name) or headline

    def display(self, name: str, unit: str = "") -> Display:
        """Return how to show a variable (its spec entry, else from its ``.mdl`` unit)."""
        out = self.output(name)
        if out is not None and out.display is not None:
            return out.display
        return display_from_unit(name, unit, self.price_base)


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------
def spec_path(model_path: Path) -> Path:
    """Return where the spec of a ``.mdl`` lives: ``NAME.spec.yaml`` beside ``NAME.mdl``."""
    return model_path.with_name(model_path.stem + ".spec.yaml")


def load_spec(model: ModelInfo, path: Path | None = None) -> ModelSpec:
    """Read, validate and resolve a model's spec.

    Parameters
    ----------
    model : ModelInfo
        The loaded model the spec describes.
    path : pathlib.Path, optional
        The spec file; `spec_path` of the model when omitted. When that file does not
        exist, the model gets `default_spec`.

    Returns
    -------
    ModelSpec
        The spec, every name resolved to the model's PySD names.

    Raises
    ------
    ModelError
        One line naming the spec file and key: a schema error, a name the model does not
        have, a lever constant without a range in the ``.mdl``.
    """
    given = path is not None
    path = Path(path) if given else spec_path(model.path)
    if not given and not path.exists():
        return default_spec(model)
    if not path.is_file():
        raise ModelError(f"{path}: model spec file not found")
    path = path.resolve()
    key = (model.path, model.sha256, path, file_sha256(path))
    if key not in _CACHE:
        shown = str(path)
        raw = validate(
            SpecFile, load_yaml(path, kind="model spec", error=ModelError), shown, ModelError
        )
        _CACHE[key] = _Resolver(model, raw, shown).resolve(path, key[3])
    return _CACHE[key]


#: Resolved specs by (model path, model SHA-256, spec path, spec SHA-256).
_CACHE: dict[tuple, ModelSpec] = {}


class _Resolver:
    def __init__(self, model: ModelInfo, raw: SpecFile, shown: str):
        self.model = model
        self.raw = raw
        self.shown = shown

    def fail(self, where: str, message: str) -> ModelError:
        return ModelError(f"{self.shown}: {where}: {message}")

    def name(self, where: str, name: str, kinds: tuple[str, ...] | None = None) -> str:
        py = self.model.resolve(name)
        if py is None:
            options = [v.name for v in self.model.variables.values()]
            raise self.fail(
                where,
                f"expected a variable of {self.model.path.name}, found {quote(name)}"
                f"{did_you_mean(name, options)}",
            )
        kind = self.model.variables[py].kind
        if kinds is not None and kind not in kinds:
            raise self.fail(where, f"expected a {' or '.join(kinds)}, found the {kind} {name!r}")
        return py

    def resolve(self, path: Path, digest: str) -> ModelSpec:
        raw = self.raw
        if raw.model != self.model.path.name:
            raise self.fail("model", f"expected {self.model.path.name!r}, found {raw.model!r}")
        for key, lever in raw.levers.items():
            if lever.path not in raw.paths:
                raise self.fail(
                    f"levers.{key}.path",
                    f"expected one of the paths, found {quote(lever.path)}"
                    f"{did_you_mean(lever.path, raw.paths)}",
                )
        outputs = tuple(self.output(k, o) for k, o in raw.outputs.items())
        names = {o.name for o in outputs}
        views = {}
        for view, listed in raw.views.items():
            resolved = []
            for i, name in enumerate(listed):
                py = self.model.resolve(name)
                if py not in names:
                    raise self.fail(
                        f"views.{view}[{i}]",
                        f"expected an output of this spec, found {quote(name)}"
                        f"{did_you_mean(name, names)}",
                    )
                resolved.append(py)
            views[view] = tuple(resolved)
        return ModelSpec(
            path=path,
            sha256=digest,
            dimension=self.dimension(),
            paths={k: (p.section, p.title) for k, p in raw.paths.items()},
            levers=tuple(self.lever(k, v) for k, v in raw.levers.items()),
            outputs=outputs,
            views=views,
            renamed=dict(raw.renamed),
            price_base=raw.money.price_base,
            money_unit=raw.money.unit,
            cumulative_cost=(
                self.name("cumulative_cost", raw.cumulative_cost, ("stock",))
                if raw.cumulative_cost
                else None
            ),
            comparison_years=tuple(raw.years.comparison) or self.last_year(),
            summary_years=tuple(raw.years.summary) or self.last_year(),
            policy_start=raw.years.policy_start,
            units=tuple(raw.units),
        )

    def last_year(self) -> tuple[int, ...]:
        return (round(self.model.final_time),)

    def dimension(self) -> Dimension | None:
        dim = self.raw.dimension
        if dim is None:
            return None
        subscripts = self.model.subscripts
        if dim.subscript not in subscripts:
            raise self.fail(
                "dimension.subscript",
                f"expected a subscript range of {self.model.path.name}, found"
                f" {quote(dim.subscript)}{did_you_mean(dim.subscript, subscripts)}",
            )
        elements = tuple(subscripts[dim.subscript])
        for element in dim.labels:
            if element not in elements:
                raise self.fail(
                    f"dimension.labels.{element}",
                    f"expected an element of {dim.subscript}{did_you_mean(element, elements)}",
                )
        labels = tuple(dim.labels.get(e, e) for e in elements)
        if len(set(labels)) != len(labels):
            raise self.fail("dimension.labels", "expected a different display name per element")
        aliases = tuple(dict.fromkeys((dim.aggregate, *dim.aggregate_aliases)))
        return Dimension(dim.subscript, elements, labels, dim.aggregate, aliases)

    def constant_range(self, where: str, py: str) -> tuple[float, float]:
        lo, hi = self.model.variables[py].limits
        return (-math.inf if lo is None else lo, math.inf if hi is None else hi)

    def lever(self, key: str, raw: LeverEntry) -> LeverSpec:
        where = f"levers.{key}"
        spaced = key.replace("_", " ")
        consts = raw.constants
        strength = self.name(
            f"{where}.constants.strength", consts.strength or f"{spaced} strength", ("constant",)
        )
        start = self.name(
            f"{where}.constants.start", consts.start or f"{spaced} start", ("constant",)
        )
        ramp = self.name(
            f"{where}.constants.ramp_years",
            consts.ramp_years or f"{spaced} ramp years",
            ("constant",),
        )
        lo, hi = self.constant_range(where, strength)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            name = self.model.variables[strength].name
            raise self.fail(
                where,
                f"expected a range [min,max] on the .mdl constant {name!r}, found"
                f" {'none' if lo == -math.inf and hi == math.inf else 'an open range'}",
            )
        cost = self.name(f"{where}.cost", raw.cost)
        return LeverSpec(
            name=key,
            path=raw.path,
            label=raw.label,
            unit=raw.unit,
            description=raw.description,
            cost_variable=cost,
            strength_constant=strength,
            start_constant=start,
            ramp_constant=ramp,
            minimum=lo,
            maximum=hi,
            default_start=_scalar(self.model.constants[start]),
            default_ramp_years=_scalar(self.model.constants[ramp]),
            start_range=self.constant_range(where, start),
            ramp_range=self.constant_range(where, ramp),
            cost_rule=self.model.variables[cost].comment,
        )

    def output(self, key: str, raw: OutputEntry) -> OutputSpec:
        where = f"outputs.{key}"
        py = self.name(where, key)
        weight = tuple(self.name(f"{where}.weight", w) for w in raw.weight)
        if raw.aggregate == "mean" and not weight:
            raise self.fail(f"{where}.weight", "expected the weight of a mean, found none")
        if raw.aggregate != "mean" and weight:
            raise self.fail(
                f"{where}.weight", f"expected no weight for aggregate {raw.aggregate!r}"
            )
        unit = self.model.variables[py].units
        return OutputSpec(
            name=py,
            weight=weight,
            aggregate=raw.aggregate,
            display=preset_display(raw.label, raw.display, unit, self.raw.money.price_base),
            better=raw.better,
        )


def _scalar(value) -> float:
    """Return a constant's value as one float (the first element of a per-region array)."""
    try:
        return float(value)
    except TypeError:
        return float(value.reshape(-1)[0])


def default_spec(model: ModelInfo) -> ModelSpec:
    """Return the spec of a model without a spec file.

    Every stock and auxiliary is an output with no aggregate, displayed from its unit; there
    are no levers; the dimension is the model's one subscript range that is no subrange of
    another, if there is exactly one.

    Parameters
    ----------
    model : ModelInfo
        The loaded model.

    Returns
    -------
    ModelSpec
        The default spec.
    """
    # the one subscript range that is no subrange of another, if there is exactly one
    ranges = {name: tuple(values) for name, values in model.subscripts.items()}
    top = [n for n, v in ranges.items() if not any(set(v) < set(w) for w in ranges.values())]
    dimension = None
    if len(top) == 1:
        elements = ranges[top[0]]
        dimension = Dimension(top[0], elements, elements, "", ())
    outputs = tuple(
        OutputSpec(
            name=v.py_name,
            aggregate="none",
            display=display_from_unit(v.py_name, v.units),
        )
        for v in model.variables.values()
        if v.kind in ("stock", "auxiliary") and v.py_name not in ("time", *CONTROL_NAMES)
    )
    last = (round(model.final_time),)
    return ModelSpec(
        path=None,
        sha256="",
        dimension=dimension,
        paths={},
        levers=(),
        outputs=outputs,
        comparison_years=last,
        summary_years=last,
    )
