"""Writers and plots of a calibration: tables, parameter file, plain-words reports, figures.

`write_outputs` writes, in an output directory:

- ``parameters.csv``: ``parameter, region, estimate, lower_95, upper_95, method, at_bound``;
- ``fit.csv``: per indicator and area, ``n, rmse, mape, r2, theil_um, theil_us, theil_uc``;
- ``observations.csv``: every row used, with its simulated value and standardized residual;
- ``starts.csv``: where each start began and ended;
- ``calibrated.params.yaml``: the estimate as a parameter file for ``run --params``;
- ``identifiability.txt``: bounds hit, correlated pairs, what the data do not determine;
- ``report.txt``: the rows used, skipped (empty value) and ignored, with reasons;
- ``plots/<indicator>.png``: simulated against observed for every calibrated series;
- ``manifest.json``: model and input hashes, versions, seed, model runs.

Every file is written atomically. Plot functions return ``(figure, axes)`` and leave saving
to the caller; figures are built without pyplot, so nothing stays registered.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure

from sdplanner.calibration.fit import CalibrationResult
from sdplanner.calibration.intervals import CHI2_95
from sdplanner.model import ModelInfo
from sdplanner.results import atomic_write_text, write_csv, write_manifest

__all__ = [
    "identifiability_text",
    "params_yaml",
    "plot_indicator",
    "report_text",
    "write_outputs",
]


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def params_yaml(result: CalibrationResult, *, source: dict | None = None) -> str:
    """Return the estimate as a parameter file (the format ``run --params`` reads).

    Parameters
    ----------
    result : CalibrationResult
        The calibration.
    source : dict, optional
        Facts recorded under ``source`` (spec, data, seed ...).

    Returns
    -------
    str
        YAML with ``description``, ``source`` and ``parameters`` (PySD name -> value, or ->
        ``{region: value}``), values at full precision.
    """
    spec = result.problem.spec
    doc = {
        "description": (
            f"Calibrated by `sdplanner calibrate` with spec {spec.name!r}: best fit of"
            f" {len(spec.parameters)} values to {len(result.problem.rows)} observations."
            " Intervals and caveats: parameters.csv and identifiability.txt beside the"
            " calibration's outputs."
        ),
        "source": dict(source or {}),
        "parameters": result.parameter_values(),
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


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
    lines += ["", "Parameters the data do not determine"]
    if idf.undetermined:
        for label, reason in idf.undetermined:
            lines.append(f"  - {label}: {reason}.")
    else:
        lines.append("  None: every 95 % profile interval closes inside the bounds.")
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


def report_text(result: CalibrationResult) -> str:
    """Return ``report.txt``: which rows were used, skipped or ignored, and why.

    Parameters
    ----------
    result : CalibrationResult
        The calibration.

    Returns
    -------
    str
        Plain text.
    """
    problem = result.problem
    rows = problem.rows
    lines = [f"Calibration {problem.spec.name!r}: data report", ""]
    lines.append(
        f"Used: {len(rows)} rows (model runs {result.n_runs}, engine calls {result.n_calls})"
    )
    for name, g in rows.groupby("indicator", sort=False):
        areas = ", ".join(dict.fromkeys(g.area))
        lines.append(f"  - {name}: {len(g)} rows ({areas})")
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
    lines += ["", f"Skipped (empty value): {len(problem.skipped)} rows"]
    lines += [f"  - {s.describe()}" for s in problem.skipped]
    lines += ["", f"Ignored (not used by the spec): {len(problem.ignored)} rows"]
    lines += [f"  - {s.describe()}" for s in problem.ignored]
    return "\n".join(lines) + "\n"


def plot_indicator(result: CalibrationResult, indicator: str) -> tuple[Figure, np.ndarray]:
    """Plot one indicator: the simulated path and the observations, one panel per area.

    Each panel is a model area (a region or the aggregate) with the observations compared
    with it (a sub-area's rows appear in its region's panel), drawn with 95 % error bars
    (1.96 sigma).

    Parameters
    ----------
    result : CalibrationResult
        The calibration.
    indicator : str
        An indicator of the spec with rows used.

    Returns
    -------
    tuple
        ``(figure, axes)``; the caller saves the figure.
    """
    rows = result.observations[result.observations.indicator == indicator]
    panels = list(dict.fromkeys(rows.compared_with))
    n = len(panels)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.6 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    path = result.trajectories[indicator]
    spec = result.problem.spec.indicators[indicator]
    unit = {"percent": "%", "fraction": "fraction"}.get(spec.unit, "")
    for ax, area in zip(axes, panels, strict=False):
        regions = result.problem.model.regions
        col = regions.index(area) if area in regions else len(regions)
        ax.plot(result.times, path[:, col], color="C0", label="simulated")
        for k, (name, g) in enumerate(rows[rows.compared_with == area].groupby("area", sort=False)):
            # observations on the trajectory's scale: the model's prices and basis
            display = spec.conversion.scale / g.factor
            ax.errorbar(
                g.year,
                (g.observed - g.offset) * display,
                yerr=1.96 * g.sigma * display / np.sqrt(np.where(g.weight > 0, g.weight, np.nan)),
                fmt="o",
                color=f"C{k + 1}",
                capsize=3,
                label=name if name != area else "observed",
            )
        ax.set_title(area, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{indicator}" + (f" ({unit})" if unit else ""), fontsize=10)
    return fig, axes


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
    data, spec : path-like
        The input files (recorded with their hashes).
    engine : str
        Engine name.
    starts, bootstrap : int
        The options used.
    plots : bool
        Write the figures.
    params : path-like, optional
        The parameter file under the estimated constants, when one was given.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out = Path(out_dir)
    written = []

    def table(frame, name):
        write_csv(frame, out / name)
        written.append(out / name)

    table(result.parameters_table(), "parameters.csv")
    table(result.fit_table, "fit.csv")
    obs = result.observations.drop(columns=["kind"])
    table(obs, "observations.csv")
    table(result.best.starts, "starts.csv")
    source = {
        "spec": Path(spec).name,
        "data": Path(data).name,
        "model_sha256": model.sha256,
        "seed": result.seed,
        "starts": starts,
        "objective": float(result.best.deviance),
    }
    for name, text in (
        ("calibrated.params.yaml", params_yaml(result, source=source)),
        ("identifiability.txt", identifiability_text(result)),
        ("report.txt", report_text(result)),
    ):
        atomic_write_text(out / name, text)
        written.append(out / name)
    if plots:
        folder = out / "plots"
        folder.mkdir(exist_ok=True)
        for indicator in dict.fromkeys(result.observations.indicator):
            fig, _ = plot_indicator(result, indicator)
            target = folder / f"{indicator}.png"
            tmp = folder / f".{indicator}.png.tmp"
            fig.savefig(tmp, dpi=110, format="png")
            os.replace(tmp, target)
            written.append(target)
    manifest = write_manifest(
        out,
        model=model,
        command="calibrate",
        inputs={"data": [data], "spec": [spec], "parameters": [params] if params else []},
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
