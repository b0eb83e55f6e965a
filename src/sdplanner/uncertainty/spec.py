"""Uncertainty files: distributions of model constants for ensembles and sensitivity analysis.

An uncertainty file is YAML (read by `sdplanner.safe_yaml.load_yaml`; see
``docs/ensembles.md``)::

    description: ...                       # optional
    parameters:
      urbanization_elasticity_to_jobs:     # a model constant (PySD or .mdl name)
        distribution: uniform              # uniform | normal | lognormal | triangular
        min: 0.2
        max: 0.8
      base_out_migration_rate:
        distribution: triangular
        min: 0.7
        mode: 1.0
        max: 1.3
        relative: true                     # a multiplier of the scenario's value
      initial_migrant_share_of_rural_workforce:
        distribution: uniform
        min: 0.8
        max: 1.2
        relative: true
        per_region: true                   # one independent draw per region
        regions: [Wulingshan, Tibet]       # optional subset; the others keep their value
    correlations:                          # optional rank correlations (Iman-Conover)
      - parameters: [farm_income_share, income_dispersion]
        rho: 0.5

Every value a distribution can draw must lie in the constant's range declared in the
``.mdl`` (for a ``relative`` parameter: the scenario's value times the draw). Every error is an
`UncertaintyError` with a one-line message naming the file, the key path, what was expected
and what was found. Random draws come from `sdplanner.rng.make_generator`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sdplanner.engine.base import ParamValue, TimeSeries
from sdplanner.errors import did_you_mean, quote, show_path
from sdplanner.model import ModelInfo
from sdplanner.safe_yaml import load_yaml
from sdplanner.schema import describe, validate
from sdplanner.schema.uncertainty import UncertaintyFile
from sdplanner.uncertainty.distributions import Distribution, distribution_of
from sdplanner.uncertainty.errors import UncertaintyError
from sdplanner.validation import format_range, in_range

__all__ = [
    "Column",
    "Correlation",
    "UncertainParameter",
    "UncertaintySpec",
    "combine",
    "load_uncertainty",
    "parse_uncertainty",
]


@dataclass(frozen=True)
class UncertainParameter:
    """One uncertain model constant.

    Attributes
    ----------
    name : str
        PySD name of the constant.
    distribution : Distribution
        What is drawn.
    relative : bool
        True when a draw multiplies the scenario's value instead of replacing it.
    per_region : bool
        True for one independent draw per region; False for one draw shared by the regions.
    regions : tuple of str or None
        Display names of the regions that vary (model order); None for a constant without
        regions. The other regions keep the scenario's value.
    subscripted : bool
        True when the constant has the ``Region`` subscript.
    limits : tuple or None
        The constant's declared range ``(lower, upper)`` from the ``.mdl`` (NaN: open).
    """

    name: str
    distribution: Distribution
    relative: bool = False
    per_region: bool = False
    regions: tuple[str, ...] | None = None
    subscripted: bool = False
    limits: tuple | None = None


@dataclass(frozen=True)
class Column:
    """One column of the sample matrix: a parameter, and a region for per-region draws.

    Attributes
    ----------
    parameter : int
        Index into `UncertaintySpec.parameters`.
    region : str or None
        Display name of the region of a per-region draw; None for a shared draw.
    label : str
        ``name`` or ``name[region]``.
    """

    parameter: int
    region: str | None
    label: str


@dataclass(frozen=True)
class Correlation:
    """A target rank (Spearman) correlation between two uncertain parameters.

    Attributes
    ----------
    a, b : str
        PySD names of the two parameters.
    rho : float
        Target rank correlation, in (-1, 1).
    """

    a: str
    b: str
    rho: float


@dataclass(frozen=True)
class UncertaintySpec:
    """A validated uncertainty file.

    Attributes
    ----------
    parameters : tuple of UncertainParameter
        The uncertain constants, in file order.
    correlations : tuple of Correlation
        Target rank correlations.
    model_regions : tuple of str
        Display names of the model's regions, in element order.
    path : pathlib.Path or None
        The file it was read from.
    description : str
        Free text.
    """

    parameters: tuple[UncertainParameter, ...]
    correlations: tuple[Correlation, ...] = ()
    model_regions: tuple[str, ...] = ()
    path: Path | None = None
    description: str = ""

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns of the sample matrix: one per shared draw, one per region otherwise."""
        cols: list[Column] = []
        for i, p in enumerate(self.parameters):
            if p.per_region:
                cols.extend(Column(i, r, f"{p.name}[{r}]") for r in p.regions or ())
            else:
                cols.append(Column(i, None, p.name))
        return tuple(cols)

    @property
    def groups(self) -> list[str]:
        """The parameter name of every column (per-region draws of one constant form a group)."""
        return [self.parameters[c.parameter].name for c in self.columns]

    @property
    def names(self) -> tuple[str, ...]:
        """PySD names of the uncertain constants."""
        return tuple(p.name for p in self.parameters)

    def rank_correlation(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the correlated columns and their target rank correlation matrix.

        Returns
        -------
        columns : numpy.ndarray
            Indices of the columns that take part in a correlation, increasing.
        matrix : numpy.ndarray
            Target rank correlations between those columns, shape ``(k, k)``; a per-region
            parameter correlates region by region with another per-region one, and every
            region's draw with a shared one.
        """
        cols = self.columns
        index = {p.name: i for i, p in enumerate(self.parameters)}
        pairs: list[tuple[int, int, float]] = []
        for corr in self.correlations:
            ia, ib = index[corr.a], index[corr.b]
            ca = [j for j, c in enumerate(cols) if c.parameter == ia]
            cb = [j for j, c in enumerate(cols) if c.parameter == ib]
            if len(ca) > 1 and len(cb) > 1:
                pairs.extend(
                    (ja, jb, corr.rho)
                    for ja in ca
                    for jb in cb
                    if cols[ja].region == cols[jb].region
                )
            else:
                pairs.extend((ja, jb, corr.rho) for ja in ca for jb in cb)
        involved = sorted({j for a, b, _ in pairs for j in (a, b)})
        pos = {j: k for k, j in enumerate(involved)}
        matrix = np.eye(len(involved))
        for a, b, rho in pairs:
            matrix[pos[a], pos[b]] = matrix[pos[b], pos[a]] = rho
        return np.array(involved, dtype=int), matrix

    def transform(self, u: np.ndarray) -> np.ndarray:
        """Map unit draws to parameter values through each column's inverse CDF.

        Parameters
        ----------
        u : numpy.ndarray
            Shape ``(n, n_columns)``, values in ``[0, 1]``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, n_columns)``: values in the constants' units (multipliers for
            relative parameters).
        """
        out = np.empty_like(u, dtype=float)
        for j, col in enumerate(self.columns):
            out[:, j] = self.parameters[col.parameter].distribution.ppf(u[:, j])
        return out

    def check_base(
        self, base: Mapping[str, ParamValue], where: str = "", model: ModelInfo | None = None
    ) -> None:
        """Check the scenario's values of the sampled constants.

        No sampled constant may be set as a time series by the scenario, and, with the
        model given, a relative parameter's draws times the scenario's value (the model's
        where the scenario sets none) must stay in the constant's declared range.

        Parameters
        ----------
        base : mapping
            The scenario's parameters (PySD name -> value).
        where : str, optional
            Error prefix (the scenario file).
        model : ModelInfo, optional
            The model (defaults and regions); the range of relative draws is checked when
            given.

        Raises
        ------
        UncertaintyError
            Naming the parameter.
        """
        prefix = f"{show_path(self.path)}: " if self.path else ""
        for p in self.parameters:
            if isinstance(base.get(p.name), TimeSeries):
                raise UncertaintyError(
                    f"{prefix}parameters.{p.name}: expected a constant the scenario sets as a"
                    f" number, found a time series{' in ' + where if where else ''}"
                    " (it cannot be sampled)"
                )
            if model is None or not p.relative:
                continue
            value = base.get(p.name, model.constants[p.name])
            values = np.broadcast_to(np.asarray(value, dtype=float), np.shape(value))
            lo, hi = p.distribution.support()
            for v in np.atleast_1d(values):
                ends = (0.0, 0.0) if v == 0 else (float(v) * lo, float(v) * hi)
                _check_support(
                    ends, p.limits, f"{prefix}parameters.{p.name}", "the value times each draw"
                )

    def to_batch(
        self,
        values: np.ndarray,
        base: Mapping[str, ParamValue],
        model: ModelInfo,
    ) -> dict[str, np.ndarray]:
        """Turn sampled values into the per-sample parameters of a batch run.

        Parameters
        ----------
        values : numpy.ndarray
            Shape ``(n, n_columns)``, from `transform`.
        base : mapping
            The scenario's parameters; constants absent from it take the model's value.
        model : ModelInfo
            The model (defaults and regions).

        Returns
        -------
        dict
            PySD name -> array of shape ``(n,)`` (a constant without regions, or one shared
            draw over all regions) or ``(n, n_regions)``, in the constant's units.
        """
        n = values.shape[0]
        batch: dict[str, np.ndarray] = {}
        cols = self.columns
        for i, p in enumerate(self.parameters):
            idx = [j for j, c in enumerate(cols) if c.parameter == i]
            default = base.get(p.name, model.constants[p.name])
            if not p.subscripted:
                v = values[:, idx[0]]
                batch[p.name] = v * float(default) if p.relative else v.copy()
                continue
            regions = p.regions or ()
            every = len(regions) == len(model.regions)
            if not p.per_region and every and not p.relative:
                batch[p.name] = values[:, idx[0]].copy()
                continue
            arr = np.array(
                np.broadcast_to(np.asarray(default, dtype=float), (n, len(model.regions)))
            )
            for k, region in enumerate(regions):
                r = model.regions.index(region)
                v = values[:, idx[k] if p.per_region else idx[0]]
                arr[:, r] = v * arr[:, r] if p.relative else v
            batch[p.name] = arr
        return batch


# --------------------------------------------------------------------------------------
# Reading and validating
# --------------------------------------------------------------------------------------


def _parse_parameter(
    key: str, entry: Any, model: ModelInfo, settable: list[str], lever_constants: set, where: str
) -> UncertainParameter:
    """Resolve one schema-valid parameter against the model (name, regions, range)."""
    name = model.resolve(key)
    if name is None or name not in settable:
        if name in lever_constants:
            raise UncertaintyError(
                f"{where}: expected an uncertain model constant, found a policy lever"
                " constant (set levers in the scenario)"
            )
        raise UncertaintyError(f"{where}: unknown model constant{did_you_mean(key, settable)}")
    dist = distribution_of(entry, where)
    limits = model.variables[name].limits if name in model.variables else None
    if not entry.relative:
        _check_support(dist.support(), limits, where, "draws")
    subscripted = isinstance(model.constants[name], np.ndarray)
    regions: tuple[str, ...] | None = None
    if subscripted:
        regions = tuple(model.regions)
        if entry.regions is not None:
            chosen = set()
            for r in entry.regions:
                if r not in model.regions:
                    raise UncertaintyError(
                        f"{where}.regions: expected one of the {len(model.regions)} regions,"
                        f" found {quote(r)}{did_you_mean(r, model.regions)}"
                    )
                if r in chosen:
                    raise UncertaintyError(f"{where}.regions: region {quote(r)} listed twice")
                chosen.add(r)
            regions = tuple(r for r in model.regions if r in chosen)
    else:
        for k, value in (("per_region", entry.per_region), ("regions", entry.regions)):
            if value not in (None, False):
                raise UncertaintyError(
                    f"{where}.{k}: the constant has no regions, found {k}: {quote(value)}"
                )
    return UncertainParameter(
        name, dist, entry.relative, entry.per_region, regions, subscripted, limits
    )


def _check_support(ends: tuple[float, float], limits, where: str, what: str) -> None:
    """Refuse draws that can leave the constant's declared range."""
    lo, hi = min(ends), max(ends)
    if math.isnan(lo) or math.isnan(hi) or not (in_range(lo, limits) and in_range(hi, limits)):
        hint = "; truncate it with min and max" if math.isinf(lo) or math.isinf(hi) else ""
        raise UncertaintyError(
            f"{where}: expected {what} in the constant's range {format_range(limits)} (declared"
            f" in the .mdl), found draws from {lo:g} to {hi:g}{hint}"
        )


def _parse_correlations(entries: list, names: list[str], model: ModelInfo, where: str):
    """Resolve the schema-valid correlations: pairs of this file's parameters, |rho| < 1."""
    out: list[Correlation] = []
    seen: set[frozenset] = set()
    for i, item in enumerate(entries or ()):
        w = f"{where}[{i}]"
        resolved = []
        for p in item.parameters:
            py = model.resolve(p)
            if py not in names:
                raise UncertaintyError(
                    f"{w}.parameters: expected a parameter of this file, found"
                    f" {quote(p)}{did_you_mean(p, names)}"
                )
            resolved.append(py)
        if resolved[0] == resolved[1]:
            raise UncertaintyError(
                f"{w}.parameters: expected two different parameters,"
                f" found {quote(resolved[0])} twice"
            )
        if frozenset(resolved) in seen:
            raise UncertaintyError(f"{w}.parameters: the pair {resolved} is listed twice")
        seen.add(frozenset(resolved))
        if not -1 < item.rho < 1:
            raise UncertaintyError(
                f"{w}.rho: expected a rank correlation in (-1, 1), found {item.rho:g}"
            )
        out.append(Correlation(resolved[0], resolved[1], item.rho))
    return tuple(out)


_WORDS = {
    ("parameters",): "a mapping of model constants to distributions",
    ("correlations",): "a list of {parameters: [a, b], rho: r}",
    ("description",): "text",
}


def _words(path: tuple) -> str | None:
    """Return what an uncertainty file expects at ``path``, in words."""
    if len(path) == 2 and path[0] == "parameters":
        return "a mapping with 'distribution' and its parameters"
    if len(path) == 2 and path[0] == "correlations":
        return "{parameters: [a, b], rho: r}"
    if len(path) == 3 and path[0] == "correlations" and path[2] == "parameters":
        return "a list of two uncertain parameters"
    if len(path) == 3 and path[0] == "correlations" and path[2] == "rho":
        return "a rank correlation in (-1, 1)"
    return _WORDS.get(path)


def parse_uncertainty(
    data: Any, model: ModelInfo, where: str, path: Path | None = None
) -> UncertaintySpec:
    """Validate the content of an uncertainty file against its schema and the model.

    Parameters
    ----------
    data : object
        The mapping as read from YAML.
    model : ModelInfo
        The model whose constants are sampled.
    where : str
        Error prefix (the file).
    path : pathlib.Path, optional
        The file, recorded on the result.

    Returns
    -------
    UncertaintySpec
        The validated specification.

    Raises
    ------
    UncertaintyError
        One line naming the file and key path, what was expected and what was found.
    """
    if not isinstance(data, dict):
        raise UncertaintyError(f"{where}: expected a YAML mapping, found {describe(data)}")
    raw = validate(UncertaintyFile, data, where, UncertaintyError, _words)
    lever_constants = set(model.spec.lever_constants)
    settable = model.settable
    params: list[UncertainParameter] = []
    for key, entry in raw.parameters.items():
        shown = f"{where}: parameters.{quote(key, bare=True)}"
        p = _parse_parameter(key, entry, model, settable, lever_constants, shown)
        if any(q.name == p.name for q in params):
            raise UncertaintyError(f"{shown}: {quote(p.name)} is listed twice (once per name)")
        params.append(p)
    correlations = _parse_correlations(
        raw.correlations, [p.name for p in params], model, f"{where}: correlations"
    )
    spec = UncertaintySpec(
        tuple(params), correlations, tuple(model.regions), path, (raw.description or "").strip()
    )
    for corr in correlations:
        pa = next(p for p in params if p.name == corr.a)
        pb = next(p for p in params if p.name == corr.b)
        if pa.per_region and pb.per_region and pa.regions != pb.regions:
            raise UncertaintyError(
                f"{where}: correlations: {corr.a} and {corr.b} are drawn per region for"
                " different regions; expected the same regions to correlate them region by"
                " region"
            )
    if correlations:
        _, matrix = spec.rank_correlation()
        smallest = float(np.linalg.eigvalsh(matrix).min())
        if smallest <= 1e-10:
            raise UncertaintyError(
                f"{where}: correlations: expected a positive-definite rank correlation matrix,"
                f" found smallest eigenvalue {smallest:.3g}"
            )
    return spec


def load_uncertainty(path: str | os.PathLike, model: ModelInfo) -> UncertaintySpec:
    """Read and validate an uncertainty file.

    Parameters
    ----------
    path : path-like
        The YAML file.
    model : ModelInfo
        The model whose constants it declares distributions for.

    Returns
    -------
    UncertaintySpec
        The validated specification.

    Raises
    ------
    UncertaintyError
        With a one-line message naming the file and key path.
    """
    path = Path(path)
    data = load_yaml(path, kind="uncertainty", error=UncertaintyError)
    if data is None:
        raise UncertaintyError(f"{show_path(path)}: expected a YAML mapping, found an empty file")
    return parse_uncertainty(data, model, show_path(path), path)


def combine(specs: Sequence[UncertaintySpec]) -> UncertaintySpec:
    """Return one specification holding the parameters of several files, in order.

    Parameters
    ----------
    specs : sequence of UncertaintySpec
        Specifications of the same model (`load_uncertainty`).

    Returns
    -------
    UncertaintySpec
        Their parameters and correlations; the first file's path; the descriptions joined.

    Raises
    ------
    UncertaintyError
        When two files give the same constant a distribution.
    """
    seen: dict[str, Path | None] = {}
    for spec in specs:
        for p in spec.parameters:
            if p.name in seen:
                here = show_path(spec.path) if spec.path else "uncertainty"
                there = show_path(seen[p.name]) if seen[p.name] else "another file"
                raise UncertaintyError(
                    f"{here}: parameters.{p.name}: also in {there}; expected each constant in"
                    " one file"
                )
            seen[p.name] = spec.path
    return UncertaintySpec(
        tuple(p for s in specs for p in s.parameters),
        tuple(c for s in specs for c in s.correlations),
        specs[0].model_regions,
        specs[0].path,
        " ".join(s.description for s in specs if s.description),
    )
