"""Writers of a calibration: tables, parameter file, plain-words reports, figures, manifest.

`write_outputs` writes, in an output directory:

- ``parameters.csv``: ``parameter, region, estimate, lower_95, upper_95, method, at_bound``;
- ``fit.csv``: per indicator and area, ``n, rmse, mape, r2, theil_um, theil_us, theil_uc``;
- ``observations.csv``: every row compared, with the model variable it was compared with,
  its role (fitted, anchor, compared, held out), simulated value, level offset and
  standardized residual (`record_table`);
- ``regional_changes.csv``: per region, the model's change beside the data's and the
  provinces' (`sdplanner.calibration.regional`), when the spec has offset groups;
- ``starts.csv``: where each start began and ended;
- ``calibrated.params.yaml``: the estimate as a parameter file for ``run --params``;
- ``identifiability.txt``: bounds hit, correlated pairs, what the data do not determine;
- ``report.txt``: the rows used, skipped (empty value) and ignored, with reasons;
- ``plots/<indicator>.png``: simulated against observed for every calibrated series;
- ``manifest.json``: model and input hashes, versions, seed, model runs.

Every file is written atomically; the figures come from `sdplanner.calibration.figures`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sdplanner.calibration.figures import figure_indicators, plot_indicator, save_png
from sdplanner.calibration.fit import CalibrationResult, all_rows
from sdplanner.calibration.intervals import CHI2_95
from sdplanner.calibration.problem import area_mapping
from sdplanner.calibration.regional import regional_changes
from sdplanner.data import AreaMap
from sdplanner.errors import CalibrationError
from sdplanner.model import ModelInfo
from sdplanner.results import atomic_write_text, write_csv, write_manifest
from sdplanner.safe_yaml import load_yaml

__all__ = [
    "OutputFiles",
    "identifiability_text",
    "params_yaml",
    "record_table",
    "report_text",
    "write_outputs",
]


class OutputFiles:
    """The files a writer puts in its output folder (calibrate, backtest), in order.

    Parameters
    ----------
    out_dir : path-like
        The command's staging folder (`sdplanner.output_set.OutputSet`).

    Attributes
    ----------
    folder : pathlib.Path
        The folder.
    written : list of pathlib.Path
        Every file written so far.
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.folder = Path(out_dir)
        self.written: list[Path] = []

    def table(self, frame: pd.DataFrame, name: str) -> None:
        """Write a table as CSV (`sdplanner.results.write_csv`)."""
        write_csv(frame, self.folder / name)
        self.written.append(self.folder / name)

    def text(self, name: str, text: str) -> None:
        """Write a text file atomically."""
        atomic_write_text(self.folder / name, text)
        self.written.append(self.folder / name)

    def plots(self, indicators, plot) -> None:
        """Save ``plot(indicator)``'s figure as ``plots/<indicator>.png`` for each indicator."""
        folder = self.folder / "plots"
        folder.mkdir(exist_ok=True)
        for indicator in indicators:
            fig, _ = plot(indicator)
            self.written.append(save_png(fig, folder / f"{indicator}.png"))


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def params_yaml(
    result: CalibrationResult, *, source: dict | None = None, base: dict | None = None
) -> str:
    """Return the estimate as a parameter file (the format ``run --params`` reads).

    Parameters
    ----------
    result : CalibrationResult
        The calibration.
    source : dict, optional
        Facts recorded under ``source`` (spec, data, seed ...).
    base : dict, optional
        The ``parameters`` mapping of the parameter file the calibration started from
        (``calibrate --params``): its constants are kept under the estimate, so the file is
        a complete calibration on its own.

    Returns
    -------
    str
        YAML with ``description``, ``source`` and ``parameters`` (PySD name -> value, or ->
        ``{region: value}``), values at full precision.
    """
    spec = result.problem.spec
    values: dict = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or {}).items()}
    for name, value in result.parameter_values().items():
        if isinstance(value, dict) and isinstance(values.get(name), dict):
            values[name].update(value)
        else:
            values[name] = value
    kept = len(set(values) - set(result.parameter_values()))
    doc = {
        "description": (
            f"Calibrated by `sdplanner calibrate` with spec {spec.name!r}: best fit of"
            f" {len(spec.parameters)} values to {len(result.problem.rows)} observations"
            + (f", over {kept} constants of the file it started from" if base else "")
            + ". Intervals and caveats: parameters.csv and identifiability.txt beside the"
            " calibration's outputs."
        ),
        "source": dict(source or {}),
        "parameters": values,
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def record_table(result: CalibrationResult) -> pd.DataFrame:
    """Return ``observations.csv``: every compared row and the model variable it belongs to.

    Parameters
    ----------
    result : CalibrationResult
        The calibration.

    Returns
    -------
    pandas.DataFrame
        `sdplanner.calibration.fit.all_rows` without ``kind``, with ``variable`` (the PySD
        name of the model variable the spec compares the row's indicator with) after
        ``compared_with``, so the record alone says on which variable and area a row
        belongs (`sdplanner.evidence` draws it there).
    """
    rows = all_rows(result).drop(columns=["kind"])
    variables = {name: ind.variable for name, ind in result.problem.spec.indicators.items()}
    at = rows.columns.get_loc("compared_with") + 1
    rows.insert(at, "variable", rows.indicator.map(variables))
    return rows


def _base(params: str | os.PathLike | None) -> dict | None:
    """Return the ``parameters`` mapping of the parameter file a calibration started from."""
    if params is None:
        return None
    raw = load_yaml(Path(params), kind="parameter file", error=CalibrationError)
    found = raw.get("parameters") if isinstance(raw, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def identifiability_text(result: CalibrationResult) -> str:
    """Return ``identifiability.txt``: how well the data pin each parameter down.

    Parameters
    ----------
    result : CalibrationResult
        The calibration.

    Returns
    -------
    str
        Plain words: the fit, bounds hit, correlated pairs, parameters not determined, weak
        combinations, and the intervals.
    """
    problem, best, idf = result.problem, result.best, result.identifiability
    spec = problem.spec
    m, p = len(problem.rows), problem.n_parameters
    n_prior = sum(par.prior is not None for par in spec.parameters)
    reached = int(np.sum(best.starts.deviance <= best.deviance * (1 + 1e-6) + 1e-9))
    lines = [
        f"Identifiability of calibration {spec.name!r}",
        "",
        f"{m} observations used, {p} values estimated ({n_prior} with a prior). Objective"
        f" (sum of squared standardized residuals{', priors included' if n_prior else ''},"
        f" loss {spec.loss}): {best.deviance:.4g} at the best fit. {reached} of"
        f" {len(best.starts)} starts reached it (within 1e-6 relative).",
        "",
        "Parameters at a bound",
    ]
    if idf.at_bound:
        for label, side in idf.at_bound:
            j = [par.label for par in spec.parameters].index(label)
            bound = spec.parameters[j].lower if side == "lower" else spec.parameters[j].upper
            lines.append(
                f"  - {label} is at its {side} bound ({_fmt(bound)}): the data push it past the"
                " range the spec allows; widen the bound if that range is not a hard limit,"
                " and read its interval as cut by the bound."
            )
    else:
        lines.append("  None: every estimate lies inside its bounds.")
    lines += ["", "Strongly correlated pairs (|correlation| > 0.9)"]
    if idf.pairs:
        for a, b, c in idf.pairs:
            sign = "together" if c > 0 else "against each other"
            lines.append(
                f"  - {a} and {b}: {c:+.3f}. The data determine a combination of the two"
                f" (they trade off {sign}), much less each one."
            )
    else:
        lines.append("  None.")
    pooled = {par.label for par in spec.parameters if par.pooled_with}
    lines += ["", "Parameters the data do not determine"]
    plain = [(label, reason) for label, reason in idf.undetermined if label not in pooled]
    if plain:
        for label, reason in plain:
            lines.append(f"  - {label}: {reason}.")
    else:
        lines.append(
            "  None"
            + (" (pooled region factors below)" if pooled else "")
            + ": every 95 % profile interval closes inside the bounds."
        )
    if pooled:
        lines += _pooled_lines(result)
    if idf.weak_directions:
        lines += ["", "Combinations the data hardly see"]
        lines += [f"  - {w}." for w in idf.weak_directions]
    lines += [
        "",
        "95 % intervals (profile likelihood: the other parameters re-fitted at each value;"
        f" the objective rises by {CHI2_95:.2f} at the ends)",
    ]
    width = max(len(par.label) for par in spec.parameters)
    for iv in result.intervals[:p]:
        par = iv.parameter
        ends = []
        if iv.lower_open:
            ends.append("lower end is the bound")
        if iv.upper_open:
            ends.append("upper end is the bound")
        extra = "; ".join(x for x in (", ".join(ends), iv.note) if x)
        lines.append(
            f"  {par.label:<{width}}  {_fmt(iv.estimate):>10} [{_fmt(iv.lower)}, {_fmt(iv.upper)}]"
            f" {par.units}" + (f"  ({extra})" if extra else "")
        )
    boot = result.intervals[p:]
    if boot:
        n_boot = 0 if result.bootstrap is None else result.bootstrap.shape[0]
        lines += ["", f"95 % intervals (residual bootstrap, {n_boot} refits, percentiles)"]
        for iv in boot:
            lines.append(
                f"  {iv.parameter.label:<{width}}  {_fmt(iv.estimate):>10}"
                f" [{_fmt(iv.lower)}, {_fmt(iv.upper)}] {iv.parameter.units}"
            )
    dof = m - p
    lines += [
        "",
        "How to read this",
        "  Sigmas are taken as known standard errors, so the intervals are as wide as the"
        " sigmas of the spec say the data are uncertain; they do not include the model's own"
        " structural error. A sub-area (prefecture, district) is compared with its region's"
        " value: the sigma of a sub-area row carries that difference.",
        f"  {m} observations against {p} parameters leave {dof} degrees of freedom"
        + (
            "; a residual bootstrap on so few residuals understates the uncertainty."
            if dof < 2 * p
            else "."
        ),
    ]
    return "\n".join(lines) + "\n"


def _pooled_lines(result: CalibrationResult) -> list[str]:
    """Describe the pooled region factors: per family, which regions the data move."""
    spec = result.problem.spec
    idf = result.identifiability
    est = dict(zip([p.label for p in spec.parameters], result.best.estimate, strict=True))
    profile = {iv.parameter.label: iv for iv in result.intervals[: len(spec.parameters)]}
    out = []
    families: dict[str, list[int]] = {}
    for j, par in enumerate(spec.parameters):
        if par.pooled_with:
            families.setdefault(par.name, []).append(j)
    for name, idx in families.items():
        first = spec.parameters[idx[0]]
        shared = est.get(first.pooled_with)
        shared_text = (
            f"estimated {_fmt(shared)}"
            if shared is not None
            else f"{_fmt(result.problem.model.constants[first.pooled_with])} (the .mdl's)"
        )
        # a factor the data inform at least a tenth as much as its prior does
        moved = [j for j in idx if idf.data_information[j] * first.tau**2 >= 0.1]
        out += [
            "",
            f"Pooled region factors {name}: region value = {first.pooled_with} ({shared_text})"
            f" x factor; prior log-normal around 1, sdlog {first.tau:g}. The data inform"
            f" {len(moved)} of {len(idx)} (at least a tenth as much as the prior does); the"
            " others stay near 1, the shared value, with about the prior's width.",
        ]
        for j in idx:
            par = spec.parameters[j]
            iv = profile[par.label]
            what = "data" if j in moved else "prior"
            out.append(
                f"  - {par.region}: {_fmt(est[par.label])} [{_fmt(iv.lower)},"
                f" {_fmt(iv.upper)}] ({what})"
            )
    return out


def report_text(result: CalibrationResult, changes: pd.DataFrame | None = None) -> str:
    """Return ``report.txt``: which rows were used, how, and which were left out and why.

    Parameters
    ----------
    result : CalibrationResult
        The calibration.
    changes : pandas.DataFrame, optional
        `sdplanner.calibration.regional.regional_changes`: each region's modelled change
        beside the data's and its provinces'.

    Returns
    -------
    str
        Plain text.
    """
    problem = result.problem
    rows = problem.rows
    lines = [f"Calibration {problem.spec.name!r}: data report", ""]
    lines.append(
        f"Fitted (evidence): {len(rows)} rows (model runs {result.n_runs}, engine calls"
        f" {result.n_calls})"
    )
    for name, g in rows.groupby("indicator", sort=False):
        areas = ", ".join(dict.fromkeys(g.area))
        lines.append(f"  - {name}: {len(g)} rows ({areas})")
    others = result.others if result.others is not None else pd.DataFrame()
    for role, title in (
        ("anchor", "Anchors (alone in their offset group: they fix a level, no evidence)"),
        ("compared", "Compared with the model, not fitted"),
        ("held out", f"Held out (after {problem.until}): compared, not fitted"),
    ):
        mine = others[others.role == role] if len(others) else others
        if len(mine) == 0:
            continue
        lines += ["", f"{title}: {len(mine)} rows"]
        for r in mine.itertuples():
            why = problem.spec.indicators[r.indicator].fit_reason if role == "compared" else ""
            lines.append(
                f"  - line {r.line}: {r.indicator}, {r.area}, {r.year}: observed"
                f" {_fmt(r.observed)}, model {_fmt(r.simulated + r.offset)}"
                + (f" ({why})" if why else "")
            )
    mapped = rows[rows.year != rows.data_year]
    if len(mapped):
        lines += ["", "Year mapping applied"]
        for r in mapped.itertuples():
            lines.append(
                f"  - line {r.line}: {r.indicator}, {r.area}: {r.data_year} compared with"
                f" the model in {r.year}"
            )
    sub = rows[rows.kind == "sub-area"]
    if len(sub):
        lines += ["", "Sub-areas compared with their region's value"]
        for (area, region), _ in sub.groupby(["area", "compared_with"], sort=False):
            lines.append(f"  - {area} -> {region}")
    if changes is not None and len(changes):
        lines += _changes_lines(changes)
    built = [s for s in problem.ignored if s.reason.startswith("reproduced by construction")]
    if built:
        lines += [
            "",
            f"Reproduced by construction: {len(built)} rows are model inputs themselves;"
            " they carry no information and are never counted as evidence (listed below).",
        ]
    lines += ["", f"Skipped (empty value): {len(problem.skipped)} rows"]
    lines += [f"  - {s.describe()}" for s in problem.skipped]
    lines += ["", f"Ignored (not used by the spec): {len(problem.ignored)} rows"]
    lines += [f"  - {s.describe()}" for s in problem.ignored]
    return "\n".join(lines) + "\n"


def _changes_lines(changes: pd.DataFrame) -> list[str]:
    """Format `regional_changes`: each region's model change, the data and its provinces."""
    out = []
    for (group, first, last), g in changes.groupby(["group", "from_year", "to_year"], sort=False):
        out += [
            "",
            f"Changes {first}-{last} by region, offset group {group!r} (data units): the"
            " model at the estimate; fitted data with sigma and z = (model - data) / sigma;"
            " the provinces the region lies in (context, not fitted) with the share of the"
            " region's population they hold where known",
        ]
        for region, r in g.groupby("region", sort=False):
            parts = []
            for x in r.itertuples():
                if x.source == "data":
                    parts.append(
                        f"data {x.area} {x.data_change:+.2f} +/- {x.sigma:.2f} (z {x.z:+.2f})"
                    )
                elif x.source == "province":
                    share = (
                        f", share {x.population_share:.2f}"
                        if not math.isnan(x.population_share)
                        else ""
                    )
                    parts.append(f"{x.area} {x.data_change:+.2f}{share}")
            model = r.model_change.iloc[0]
            out.append(f"  - {region}: model {model:+.2f}; " + ("; ".join(parts) or "no figure"))
    return out


def write_outputs(
    result: CalibrationResult,
    out_dir: str | os.PathLike,
    *,
    model: ModelInfo,
    data: str | os.PathLike,
    spec: str | os.PathLike,
    engine: str,
    starts: int,
    bootstrap: int,
    plots: bool = True,
    params: str | os.PathLike | None = None,
    scenario: str | os.PathLike | None = None,
    areas: AreaMap | None = None,
) -> list[Path]:
    """Write every output of a calibration.

    Parameters
    ----------
    result : CalibrationResult
        The calibration.
    out_dir : path-like
        An existing, writable directory: the command's staging folder
        (`sdplanner.output_set.OutputSet`).
    model : ModelInfo
        The model calibrated.
    data : path-like or sequence of path-like
        The observation file or files (recorded with their hashes).
    spec : path-like
        The spec (recorded with its hash).
    engine : str
        Engine name.
    starts, bootstrap : int
        The options used.
    plots : bool
        Write the figures.
    params : path-like, optional
        The parameter file under the estimated constants, when one was given.
    scenario : path-like, optional
        The scenario run under the estimated constants, when one was given.
    areas : AreaMap, optional
        The area mapping (provinces beside regions in the report); the shipped one when
        omitted.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    files_out = OutputFiles(out_dir)
    files_out.table(result.parameters_table(), "parameters.csv")
    files_out.table(result.fit_table, "fit.csv")
    files_out.table(record_table(result), "observations.csv")
    changes = regional_changes(result, areas or area_mapping(model))
    if len(changes):
        files_out.table(changes, "regional_changes.csv")
    files_out.table(result.best.starts, "starts.csv")
    files = [data] if isinstance(data, str | os.PathLike) else list(data)
    source = {
        "spec": Path(spec).name,
        "data": Path(files[0]).name if len(files) == 1 else [Path(f).name for f in files],
        "model_sha256": model.sha256,
        "seed": result.seed,
        "starts": starts,
        "objective": float(result.best.deviance),
    }
    if scenario is not None:
        source["scenario"] = Path(scenario).name
    if params is not None:
        source["base"] = Path(params).name
    for name, text in (
        ("calibrated.params.yaml", params_yaml(result, source=source, base=_base(params))),
        ("identifiability.txt", identifiability_text(result)),
        ("report.txt", report_text(result, changes)),
    ):
        files_out.text(name, text)
    if plots:
        files_out.plots(
            figure_indicators(all_rows(result), result), lambda i: plot_indicator(result, i)
        )
    written = files_out.written
    manifest = write_manifest(
        files_out.folder,
        model=model,
        command="calibrate",
        inputs={
            "data": files,
            "spec": [spec],
            "parameters": [params] if params else [],
            "scenario": [scenario] if scenario else [],
        },
        engine=engine,
        seed=result.seed,
        extra={
            "calibration": {
                "starts": starts,
                "bootstrap": bootstrap,
                "model_runs": result.n_runs,
                "engine_calls": result.n_calls,
                "wall_time_s": round(result.wall_time, 3),
                "objective": float(result.best.deviance),
                "observations_used": len(result.problem.rows),
                "outputs": [p.name for p in written],
            }
        },
    )
    written.append(manifest)
    return written
