"""The shareable report: one self-contained HTML file made from a results folder.

`write_report` reads what ``sdplanner compare`` wrote in a folder (``comparison.csv``,
``results.csv``, ``*.png``, ``manifest.json``) and, when present, the outputs of
``sdplanner calibrate`` (``parameters.csv``, ``fit.csv``, ``observations.csv``,
``identifiability.txt``, ``plots/*.png``, ``manifest.json``) and of ``sdplanner ensemble``
(``percentiles.csv``), and writes one HTML file with five sections: the scenario table, the
projections, the calibration (fit and intervals), the uncertainty (fan charts) and the
manifests. Every figure is a PNG embedded as base64 (made with matplotlib's Agg canvas, no
pyplot, so no figure stays open); the style sheet is inline; there is no script and no
reference to anything outside the file, so it opens from disk with no server and no network.

``percentiles.csv`` has the columns ``scenario, region, variable, year, p05, p25, p50, p75,
p95, mean`` (values in the variable's unit); `read_percentiles` reads and checks it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdplanner.errors import DataError, OutputError
from sdplanner.model import load_model
from sdplanner.spec import ModelSpec

__all__ = [
    "PERCENTILE_COLUMNS",
    "ReportInputs",
    "collect_inputs",
    "read_percentiles",
    "render_report",
    "write_report",
]

#: Columns of ``percentiles.csv`` (``sdplanner ensemble``).
PERCENTILE_COLUMNS = (
    "scenario",
    "region",
    "variable",
    "year",
    "p05",
    "p25",
    "p50",
    "p75",
    "p95",
    "mean",
)
_RESULT_COLUMNS = ("scenario", "region", "variable", "year", "value")
#: Largest PNG embedded from a results folder (bytes).
MAX_EMBED_BYTES = 5 * 1024 * 1024
_MAX_TABLE_ROWS = 500
#: Image files embedded from the folders read: suffix -> (media type, leading bytes).
_IMAGE_TYPES = {
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".svg": ("image/svg+xml", (b"<", b"\xef\xbb\xbf<")),
}
_DPI = 100


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def _read_csv(path: Path, required: Sequence[str] = ()) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read as CSV ({first})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: expected columns {list(required)}, missing {missing}; found"
            f" {list(frame.columns)}"
        )
    return frame


def _numeric(frame: pd.DataFrame, path: Path, columns: Iterable[str]) -> None:
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: line {row + 2}: {col}: expected a number, found {frame[col].iloc[row]!r}"
            )
        frame[col] = values


def read_percentiles(path: str | os.PathLike, spec: ModelSpec | None = None) -> pd.DataFrame:
    """Read ``percentiles.csv`` of ``sdplanner ensemble``.

    Parameters
    ----------
    path : path-like
        The CSV, columns `PERCENTILE_COLUMNS`; ``mean`` may be missing.
    spec : ModelSpec, optional
        The model's spec; its aggregate's aliases are renamed to its label.

    Returns
    -------
    pandas.DataFrame
        The rows; ``year`` (year) and the percentiles (the variable's unit) as numbers; the
        aggregate's region named by its label whatever alias the file uses.

    Raises
    ------
    DataError
        When the file is missing, not a CSV, lacks a column or holds a non-number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: expected the percentiles.csv of sdplanner ensemble, found none")
    frame = _read_csv(path, PERCENTILE_COLUMNS[:-1])
    _numeric(frame, path, [c for c in PERCENTILE_COLUMNS[3:] if c in frame.columns])
    frame["region"] = _aggregate_named(frame["region"], spec)
    frame["scenario"] = frame["scenario"].astype(str)
    frame["variable"] = frame["variable"].astype(str)
    return frame


def _aggregate_named(regions: pd.Series, spec: ModelSpec | None) -> pd.Series:
    """Return region names with every alias of the aggregate replaced by its label."""
    regions = regions.astype(str)
    if spec is None or spec.dimension is None:
        return regions
    dim = spec.dimension
    return regions.replace(dict.fromkeys(dim.aggregate_aliases, dim.aggregate))


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _read_text(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as UTF-8 text ({exc})") from None


def _figure_files(folder: Path | None) -> tuple[Path, ...]:
    if folder is None or not folder.is_dir():
        return ()
    return tuple(
        sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_TYPES and p.is_file())
    )


@dataclass(frozen=True)
class ReportInputs:
    """What a report is made of; every table is None when its file is absent.

    Attributes
    ----------
    results_dir : pathlib.Path
        The folder given (``sdplanner compare``'s output).
    comparison : pandas.DataFrame or None
        ``comparison.csv``.
    results : pandas.DataFrame or None
        ``results.csv`` (``scenario, region, variable, year, value, unit``).
    manifest : dict or None
        ``manifest.json`` of the results folder.
    figures : tuple of pathlib.Path
        PNG and SVG files of the results folder.
    calibration_dir : pathlib.Path or None
        Folder of ``sdplanner calibrate``'s outputs.
    parameters, fit, observations : pandas.DataFrame or None
        ``parameters.csv`` (estimates, 95 % intervals), ``fit.csv`` (statistics per
        indicator and area), ``observations.csv`` (observed and simulated values).
    identifiability : str or None
        ``identifiability.txt``.
    calibration_manifest : dict or None
        The calibration's ``manifest.json``.
    calibration_figures : tuple of pathlib.Path
        PNG and SVG files of the calibration folder and its ``plots/``.
    ensemble_dir : pathlib.Path or None
        Folder of ``sdplanner ensemble``'s outputs.
    percentiles : pandas.DataFrame or None
        ``percentiles.csv``.
    ensemble_manifest : dict or None
        The ensemble's ``manifest.json``.
    ensemble_figures : tuple of pathlib.Path
        PNG and SVG files of the ensemble folder.
    spec : ModelSpec or None
        The spec of the model the outputs are of (labels, views, the aggregate).
    """

    results_dir: Path
    comparison: pd.DataFrame | None = None
    results: pd.DataFrame | None = None
    manifest: dict | None = None
    figures: tuple[Path, ...] = ()
    calibration_dir: Path | None = None
    parameters: pd.DataFrame | None = None
    fit: pd.DataFrame | None = None
    observations: pd.DataFrame | None = None
    identifiability: str | None = None
    calibration_manifest: dict | None = None
    calibration_figures: tuple[Path, ...] = ()
    ensemble_dir: Path | None = None
    percentiles: pd.DataFrame | None = None
    ensemble_manifest: dict | None = None
    ensemble_figures: tuple[Path, ...] = ()
    spec: ModelSpec | None = None

    @property
    def aggregate(self) -> str | None:
        """Label of the aggregate rows, or None."""
        dim = self.spec.dimension if self.spec is not None else None
        return dim.aggregate if dim is not None else None

    @property
    def headline(self) -> tuple[str, ...]:
        """Variables plotted first (the spec's ``report`` view)."""
        return self.spec.view("report") if self.spec is not None else ()


def _folder(value: str | os.PathLike | None, option: str) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    if not path.is_dir():
        what = "a file" if path.exists() else "nothing"
        raise DataError(f"{option} {path}: expected a folder, found {what}")
    return path


def collect_inputs(
    results_dir: str | os.PathLike,
    *,
    calibration: str | os.PathLike | None = None,
    ensemble: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
) -> ReportInputs:
    """Read everything a report can show.

    Parameters
    ----------
    results_dir : path-like
        Output folder of ``sdplanner compare`` (or ``run``).
    model : path-like, optional
        The ``.mdl`` the outputs are of (labels, views); the shipped model when omitted.
    calibration : path-like, optional
        Output folder of ``sdplanner calibrate``; by default the results folder itself when
        it holds ``fit.csv`` or ``parameters.csv``, else its ``calibration/`` subfolder.
    ensemble : path-like, optional
        Output folder of ``sdplanner ensemble`` or its ``percentiles.csv``; by default the
        results folder when it holds ``percentiles.csv``, else its ``ensemble/`` subfolder.

    Returns
    -------
    ReportInputs
        The tables, manifests and figure files found.

    Raises
    ------
    DataError
        When a folder is missing, holds none of the files a report is made of, or a file
        cannot be read.
    """
    root = Path(results_dir)
    spec = load_model(model).spec
    if not root.is_dir():
        what = "a file" if root.exists() else "nothing"
        raise DataError(
            f"{root}: expected a results folder (sdplanner compare --out), found {what}"
        )

    comparison = _read_csv(root / "comparison.csv") if (root / "comparison.csv").is_file() else None
    results = None
    if (root / "results.csv").is_file():
        results = _read_csv(root / "results.csv", _RESULT_COLUMNS)
        _numeric(results, root / "results.csv", ("year", "value"))
        results["region"] = _aggregate_named(results["region"], spec)

    cal = _folder(calibration, "--calibration")
    if cal is not None and not any((cal / f).is_file() for f in ("fit.csv", "parameters.csv")):
        raise DataError(f"--calibration {cal}: expected fit.csv or parameters.csv, found neither")
    if cal is None:
        if any((root / f).is_file() for f in ("fit.csv", "parameters.csv")):
            cal = root
        elif (root / "calibration").is_dir():
            cal = root / "calibration"

    ens_file: Path | None = None
    if ensemble is not None:
        ens = Path(ensemble)
        ens_file = ens / "percentiles.csv" if ens.is_dir() else ens
        if not ens_file.is_file():
            raise DataError(f"--ensemble {ens}: expected percentiles.csv, found none")
    elif (root / "percentiles.csv").is_file():
        ens_file = root / "percentiles.csv"
    elif (root / "ensemble" / "percentiles.csv").is_file():
        ens_file = root / "ensemble" / "percentiles.csv"

    parameters = fit = observations = None
    identifiability = cal_manifest = None
    cal_figures: tuple[Path, ...] = ()
    if cal is not None:
        if (cal / "parameters.csv").is_file():
            parameters = _read_csv(cal / "parameters.csv")
        if (cal / "fit.csv").is_file():
            fit = _read_csv(cal / "fit.csv")
        if (cal / "observations.csv").is_file():
            observations = _read_csv(cal / "observations.csv")
        identifiability = _read_text(cal / "identifiability.txt")
        cal_manifest = _read_json(cal / "manifest.json") if cal != root else None
        cal_figures = _figure_files(cal / "plots") + (_figure_files(cal) if cal != root else ())

    percentiles = read_percentiles(ens_file, spec) if ens_file is not None else None
    ens_dir = ens_file.parent if ens_file is not None else None
    ens_manifest = (
        _read_json(ens_dir / "manifest.json") if ens_dir is not None and ens_dir != root else None
    )
    if (
        comparison is None
        and results is None
        and parameters is None
        and fit is None
        and (percentiles is None)
    ):
        raise DataError(
            f"{root}: expected comparison.csv or results.csv (sdplanner compare), fit.csv or"
            " parameters.csv (sdplanner calibrate) or percentiles.csv (sdplanner ensemble),"
            " found none of them"
        )
    return ReportInputs(
        results_dir=root,
        comparison=comparison,
        results=results,
        manifest=_read_json(root / "manifest.json"),
        figures=_figure_files(root),
        calibration_dir=cal,
        parameters=parameters,
        fit=fit,
        observations=observations,
        identifiability=identifiability,
        calibration_manifest=cal_manifest,
        calibration_figures=cal_figures,
        ensemble_dir=ens_dir,
        percentiles=percentiles,
        ensemble_manifest=ens_manifest,
        ensemble_figures=_figure_files(ens_dir) if ens_dir is not None and ens_dir != root else (),
        spec=spec,
    )


# --------------------------------------------------------------------------------------
# Figures (matplotlib's object API on the Agg canvas: nothing global, nothing left open)
# --------------------------------------------------------------------------------------
def _figure(width: float = 7.5, height: float = 3.9):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png_base64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    fig.clear()
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _unit_of(frame: pd.DataFrame, variable: str) -> str:
    if "unit" not in frame.columns:
        return ""
    units = frame.loc[frame.variable == variable, "unit"].dropna().astype(str).unique()
    return units[0] if len(units) else ""


def _pick_variables(present: Iterable[str], limit: int, first: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(present))
    chosen = [v for v in first if v in present]
    chosen += [v for v in present if v not in chosen]
    return chosen[:limit]


def _pick_region(frame: pd.DataFrame, aggregate: str | None) -> str | None:
    regions = list(dict.fromkeys(frame.region))
    if aggregate in regions:
        return aggregate
    return regions[0] if regions else None


def projection_figure(results: pd.DataFrame, variable: str, region: str):
    """Plot one variable of every scenario over time for one region.

    Parameters
    ----------
    results : pandas.DataFrame
        ``results.csv`` rows (``scenario, region, variable, year, value[, unit]``).
    variable : str
        The variable (its unit is the ``unit`` column's).
    region : str
        A region display name or ``All 14 regions``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas).
    """
    fig = _figure()
    ax = fig.add_subplot()
    rows = results[(results.variable == variable) & (results.region == region)]
    for name, group in rows.groupby("scenario", sort=False):
        group = group.sort_values("year")
        ax.plot(group.year, group.value, label=str(name), lw=1.8)
    unit = _unit_of(results, variable)
    ax.set_title(f"{variable} · {region}")
    ax.set_xlabel("year")
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2 if rows.scenario.nunique() > 4 else 1)
    return fig


def regions_figure(results: pd.DataFrame, variable: str, aggregate: str | None):
    """Plot one variable of every scenario in small multiples, one panel per region.

    Parameters
    ----------
    results : pandas.DataFrame
        ``results.csv`` rows.
    variable : str
        The variable.
    aggregate : str or None
        Label of the aggregate rows (left out).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (Agg canvas).
    """
    rows = results[(results.variable == variable) & (results.region != aggregate)]
    regions = list(dict.fromkeys(rows.region))
    ncols = 4
    nrows = max(1, math.ceil(len(regions) / ncols))
    fig = _figure(10, 2.0 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    for ax, region in zip(axes.flat, regions, strict=False):
        sub = rows[rows.region == region]
        for name, group in sub.groupby("scenario", sort=False):
            group = group.sort_values("year")
            ax.plot(group.year, group.value, lw=1.2, label=str(name))
        ax.set_title(region, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(regions) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(6, len(labels)), fontsize=8
        )
    fig.suptitle(f"{variable} by region [{_unit_of(results, variable)}]", fontsize=10)
    return fig


def fit_figure(observations: pd.DataFrame):
    """Plot simulated against observed values of a calibration, as a ratio.

    Parameters
    ----------
    observations : pandas.DataFrame
        ``observations.csv`` of ``sdplanner calibrate`` (``indicator, area, year, observed,
        simulated`` and optionally ``sigma``).

    Returns
    -------
    matplotlib.figure.Figure or None
        Each row's simulated value divided by the observed one (dimensionless; 1 is a
        perfect fit) with the observation's ±1 sigma band; None when the columns are missing.
    """
    need = ("indicator", "observed", "simulated")
    if any(c not in observations.columns for c in need):
        return None
    rows = observations[pd.to_numeric(observations.observed, errors="coerce").fillna(0) != 0]
    rows = rows.head(60)
    if rows.empty:
        return None
    obs = pd.to_numeric(rows.observed, errors="coerce").to_numpy(dtype=float)
    sim = pd.to_numeric(rows.simulated, errors="coerce").to_numpy(dtype=float)
    labels = [
        " · ".join(str(r[c]) for c in ("indicator", "area", "year") if c in rows.columns)
        for _, r in rows.iterrows()
    ]
    fig = _figure(7.5, max(2.4, 1.0 + 0.22 * len(rows)))
    ax = fig.add_subplot()
    ypos = np.arange(len(rows))[::-1]
    if "sigma" in rows.columns:
        sig = np.abs(pd.to_numeric(rows.sigma, errors="coerce").to_numpy(dtype=float) / obs)
        ax.errorbar(np.ones(len(rows)), ypos, xerr=sig, fmt="none", ecolor="0.6", lw=3, alpha=0.6)
    ax.axvline(1.0, color="0.3", lw=1)
    ax.scatter(sim / obs, ypos, color="#c2410c", zorder=3, s=18, label="simulated ÷ observed")
    ax.set_yticks(ypos, labels, fontsize=7)
    ax.set_xlabel("simulated ÷ observed (grey: observed ± 1 sigma)")
    ax.set_title("Calibration fit")
    ax.grid(axis="x", alpha=0.3)
    return fig


def intervals_figure(parameters: pd.DataFrame):
    """Plot each parameter's 95 % interval relative to its estimate.

    Parameters
    ----------
    parameters : pandas.DataFrame
        ``parameters.csv`` (``parameter, region, estimate, lower_95, upper_95, method``).

    Returns
    -------
    matplotlib.figure.Figure or None
        Intervals divided by the estimate (dimensionless; the estimate is 1); None when the
        columns are missing or no estimate is non-zero.
    """
    need = ("parameter", "estimate", "lower_95", "upper_95")
    if any(c not in parameters.columns for c in need):
        return None
    frame = parameters.copy()
    for col in need[1:]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame = frame[(frame.estimate != 0) & frame.estimate.notna()].head(60)
    if frame.empty:
        return None
    labels = []
    for _, r in frame.iterrows():
        label = str(r.parameter)
        if "region" in frame.columns and isinstance(r.region, str) and r.region:
            label += f" [{r.region}]"
        if "method" in frame.columns and isinstance(r.method, str):
            label += f" ({r.method})"
        labels.append(label)
    fig = _figure(7.5, max(2.4, 1.0 + 0.25 * len(frame)))
    ax = fig.add_subplot()
    ypos = np.arange(len(frame))[::-1]
    est = frame.estimate.to_numpy(dtype=float)
    lo = frame.lower_95.to_numpy(dtype=float) / est
    hi = frame.upper_95.to_numpy(dtype=float) / est
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    ax.hlines(ypos, lo, hi, color="#0f766e", lw=3)
    ax.scatter(np.ones(len(frame)), ypos, color="black", zorder=3, s=14)
    ax.axvline(1.0, color="0.6", lw=1, ls="--")
    ax.set_yticks(ypos, labels, fontsize=7)
    ax.set_xlabel("95 % interval ÷ estimate")
    ax.set_title("Parameter intervals")
    ax.grid(axis="x", alpha=0.3)
    return fig


def fan_figure(percentiles: pd.DataFrame, variable: str, region: str):
    """Plot the ensemble's bands of one variable: 5-95 % and 25-75 %, median line.

    Parameters
    ----------
    percentiles : pandas.DataFrame
        `read_percentiles` rows.
    variable : str
        The variable.
    region : str
        A region display name or ``All 14 regions``.

    Returns
    -------
    matplotlib.figure.Figure
        One colour per scenario.
    """
    fig = _figure()
    ax = fig.add_subplot()
    rows = percentiles[(percentiles.variable == variable) & (percentiles.region == region)]
    colors = ["#0f766e", "#c2410c", "#2563eb", "#7c3aed", "#b45309", "#be123c", "#4d7c0f"]
    for i, (name, group) in enumerate(rows.groupby("scenario", sort=False)):
        group = group.sort_values("year")
        c = colors[i % len(colors)]
        ax.fill_between(group.year, group.p05, group.p95, color=c, alpha=0.15, lw=0)
        ax.fill_between(group.year, group.p25, group.p75, color=c, alpha=0.3, lw=0)
        ax.plot(group.year, group.p50, color=c, lw=1.6, label=f"{name} (median; 50 %, 90 % bands)")
    ax.set_title(f"{variable} · {region}")
    ax.set_xlabel("year")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1f2933; max-width: 1100px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d9dee3; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
nav ul { display: flex; flex-wrap: wrap; gap: 1.4rem; list-style: none; padding: 0; }
table { border-collapse: collapse; font-size: 0.82rem; margin: 0.6rem 0; display: block;
  overflow-x: auto; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 0.2rem 0.55rem; text-align: right;
  white-space: nowrap; }
th { background: #f3f4f6; position: sticky; top: 0; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eef0f2; }
figcaption { font-size: 0.82rem; color: #616e7c; }
pre { background: #f3f4f6; padding: 0.7rem; overflow-x: auto; font-size: 0.78rem; }
.absent { color: #8a4b08; background: #fff8e6; padding: 0.5rem 0.8rem; border-radius: 4px; }
.meta { color: #616e7c; font-size: 0.85rem; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float, signed: bool = False) -> str:
    """Format a number: whole with thousands separators from 1,000 to a million, else 4 digits."""
    sign = "+" if signed else ""
    if 1e3 <= abs(value) < 1e6:
        return f"{value:{sign},.0f}"
    return f"{value:{sign}.4g}"


def _cell(value: object) -> tuple[str, bool]:
    if isinstance(value, bool | np.bool_):
        return str(value), True
    if isinstance(value, int | np.integer):
        return str(int(value)), False
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "", False
        if v.is_integer() and abs(v) < 1e3:
            return str(int(v)), False
        return _num(v), False
    return str(value), True


def _table(frame: pd.DataFrame, caption: str = "") -> str:
    shown = frame.head(_MAX_TABLE_ROWS)
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption class='meta'>{_e(caption)}</caption>")
    parts.append(
        "<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in shown.columns) + "</tr></thead>"
    )
    parts.append("<tbody>")
    for row in shown.itertuples(index=False):
        cells = []
        for value in row:
            text, is_text = _cell(value)
            cells.append(f"<td class='text'>{_e(text)}</td>" if is_text else f"<td>{_e(text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    if len(frame) > len(shown):
        parts.append(f"<p class='meta'>First {len(shown)} of {len(frame)} rows.</p>")
    return "\n".join(parts)


def _img(b64: str, alt: str, caption: str) -> str:
    return (
        f"<figure><img alt='{_e(alt)}' src='data:image/png;base64,{b64}'>"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _fig_html(fig, alt: str, caption: str) -> str:
    if fig is None:
        return ""
    return _img(_png_base64(fig), alt, caption)


def _file_img(path: Path, root: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    name = path.relative_to(root) if path.is_relative_to(root) else path.name
    media, magic = _IMAGE_TYPES[path.suffix.lower()]
    if not data.lstrip(b" \t\r\n").startswith(magic):
        return f"<p class='absent'>{_e(name)}: not a {path.suffix[1:].upper()} image; left out.</p>"
    if len(data) > MAX_EMBED_BYTES:
        return (
            f"<p class='absent'>{_e(name)}: {len(data) / 1e6:.1f} MB, larger than"
            f" {MAX_EMBED_BYTES / 1e6:.0f} MB; left out.</p>"
        )
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f"<figure><img alt='{_e(name)}' src='data:{media};base64,{b64}'>"
        f"<figcaption>{_e(name)}</figcaption></figure>"
    )


def _other_figures(files: Sequence[Path], root: Path, drawn: Iterable[str], title: str) -> str:
    """Embed the figure files of a folder, leaving out those of a variable already drawn."""
    drawn = set(drawn)
    keep = [p for p in files if not any(v in p.stem for v in drawn)]
    if not keep:
        return ""
    return f"<h3>{_e(title)}</h3>" + "\n".join(_file_img(p, root) for p in keep)


def _absent(text: str) -> str:
    return f"<p class='absent'>{_e(text)}</p>"


_LONG_COMPARISON = ("scenario", "region", "indicator", "year", "value")


def _comparison_tables(inp: ReportInputs, comp: pd.DataFrame, path: Path) -> list[str]:
    """Tables of a long ``comparison.csv``: scenarios x headline indicators, per year."""
    comp = comp.copy()
    comp["region"] = _aggregate_named(comp["region"], inp.spec)
    region = _pick_region(comp, inp.aggregate)
    sub = comp[comp.region == region].copy()
    numbers = [c for c in ("year", "value", "baseline_value", "delta") if c in sub.columns]
    _numeric(sub, path, numbers)
    years = sorted({int(y) for y in sub.year.dropna()})
    shown_years = sorted({y for y in (2030, years[-1] if years else None) if y in years})
    indicators = _pick_variables(sub.indicator.astype(str), 6, inp.headline)
    cost = next((c for c in sub.columns if c.startswith("cumulative_cost")), None)
    out = [
        f"<p class='meta'>From {_e(path)}: {region}, the value of each scenario and, in"
        " brackets, its difference from the baseline.</p>"
    ]
    for year in shown_years:
        rows = sub[sub.year == year]
        head = ["scenario", *indicators] + ([cost] if cost else [])
        body = []
        if "baseline_value" in rows.columns and not rows.empty:
            first = rows[rows.scenario == rows.scenario.iloc[0]]
            cells = ["baseline"]
            for ind in indicators:
                match = first[first.indicator == ind]
                cells.append(_cell(match.baseline_value.iloc[0])[0] if len(match) else "")
            body.append(cells + (["0"] if cost else []))
        for name, group in rows.groupby("scenario", sort=False):
            cells = [str(name)]
            for ind in indicators:
                match = group[group.indicator == ind]
                if match.empty:
                    cells.append("")
                    continue
                text = _cell(match.value.iloc[0])[0]
                if "delta" in match.columns and pd.notna(match.delta.iloc[0]):
                    text += f" ({_num(float(match.delta.iloc[0]), signed=True)})"
                cells.append(text)
            if cost:
                cells.append(_cell(pd.to_numeric(group[cost], errors="coerce").max())[0])
            body.append(cells)
        out.append(f"<h3>{_e(year)}</h3>")
        out.append(_table(pd.DataFrame(body, columns=head)))
    out.append(
        f"<details><summary>Every indicator for {_e(region)} ({len(sub)} rows; all regions:"
        f" {len(comp)} rows in comparison.csv)</summary>{_table(sub)}</details>"
    )
    return out


def _scenario_section(inp: ReportInputs) -> str:
    out = ["<section id='scenarios'><h2>1. Scenarios</h2>"]
    path = inp.results_dir / "comparison.csv"
    if inp.comparison is not None and all(c in inp.comparison.columns for c in _LONG_COMPARISON):
        out.extend(_comparison_tables(inp, inp.comparison, path))
    elif inp.comparison is not None:
        out.append(f"<p class='meta'>From {_e(path)}.</p>")
        out.append(_table(inp.comparison))
    elif inp.results is not None:
        res = inp.results
        region = _pick_region(res, inp.aggregate)
        variables = _pick_variables(res.variable, 6, inp.headline)
        last = int(res.year.max())
        years = sorted({y for y in (2030, last) if y in set(res.year)})
        rows = res[(res.region == region) & res.variable.isin(variables) & res.year.isin(years)]
        table = rows.pivot_table(
            index="scenario", columns=["variable", "year"], values="value", sort=False
        )
        table.columns = [f"{v} {y}" for v, y in table.columns]
        out.append(
            _absent(
                "No comparison.csv in the results folder; the table shows values of results.csv"
                f" for {region}."
            )
        )
        out.append(_table(table.reset_index()))
    else:
        out.append(_absent("No comparison.csv or results.csv in the results folder."))
    out.append("</section>")
    return "\n".join(out)


def _projection_section(inp: ReportInputs) -> str:
    out = ["<section id='projections'><h2>2. Projections</h2>"]
    res = inp.results
    drawn: list[str] = []
    if res is not None and not res.empty:
        region = _pick_region(res, inp.aggregate)
        out.append(f"<p class='meta'>From {_e(inp.results_dir / 'results.csv')}.</p>")
        for var in _pick_variables(res.variable, len(inp.headline) or 6, inp.headline):
            drawn.append(var)
            out.append(
                _fig_html(
                    projection_figure(res, var, region),
                    f"projection of {var}",
                    f"{var} [{_unit_of(res, var)}], {region}, every scenario.",
                )
            )
        by_region = drawn[0]
        if (res.region != inp.aggregate).any():
            drawn.append("by_region")
            out.append(
                _fig_html(
                    regions_figure(res, by_region, inp.aggregate),
                    f"{by_region} by region",
                    f"{by_region} in each region, every scenario.",
                )
            )
    else:
        out.append(_absent("No results.csv in the results folder: no projection to plot."))
    out.append(
        _other_figures(inp.figures, inp.results_dir, drawn, "Other figures of the results folder")
    )
    out.append("</section>")
    return "\n".join(out)


def _calibration_section(inp: ReportInputs) -> str:
    out = ["<section id='calibration'><h2>3. Calibration</h2>"]
    if inp.calibration_dir is None:
        out.append(
            _absent(
                "No calibration outputs (fit.csv, parameters.csv): pass --calibration DIR"
                " (the output folder of sdplanner calibrate)."
            )
        )
        out.append("</section>")
        return "\n".join(out)
    out.append(f"<p class='meta'>From {_e(inp.calibration_dir)}.</p>")
    out.append("<h3 id='fit'>Fit</h3>")
    if inp.observations is not None:
        out.append(
            _fig_html(
                fit_figure(inp.observations),
                "calibration fit",
                "Each observation's simulated value over its observed value (1 = exact).",
            )
        )
    if inp.fit is not None:
        out.append(_table(inp.fit, "fit.csv"))
    elif inp.observations is None:
        out.append(_absent("No fit.csv or observations.csv."))
    out.append("<h3 id='intervals'>Parameters and intervals</h3>")
    if inp.parameters is not None:
        out.append(
            _fig_html(
                intervals_figure(inp.parameters),
                "parameter intervals",
                "95 % intervals of the estimated parameters, relative to the estimate.",
            )
        )
        out.append(_table(inp.parameters, "parameters.csv"))
    else:
        out.append(_absent("No parameters.csv."))
    if inp.identifiability:
        out.append("<h3>Identifiability</h3>")
        out.append(f"<pre>{_e(inp.identifiability)}</pre>")
    out.append(
        _other_figures(
            inp.calibration_figures, inp.calibration_dir, (), "Figures of the calibration"
        )
    )
    out.append("</section>")
    return "\n".join(out)


def _uncertainty_section(inp: ReportInputs) -> str:
    out = ["<section id='uncertainty'><h2>4. Uncertainty</h2>"]
    pct = inp.percentiles
    drawn: list[str] = []
    if pct is None or pct.empty:
        out.append(
            _absent(
                "No ensemble percentiles (percentiles.csv): pass --ensemble DIR (the output"
                " folder of sdplanner ensemble)."
            )
        )
    else:
        region = _pick_region(pct, inp.aggregate)
        out.append(f"<p class='meta'>From {_e(inp.ensemble_dir / 'percentiles.csv')}.</p>")
        for var in _pick_variables(pct.variable, 4, inp.headline):
            drawn.append(var)
            out.append(
                _fig_html(
                    fan_figure(pct, var, region),
                    f"fan chart of {var}",
                    f"{var}, {region}: median, 25-75 % and 5-95 % of the ensemble.",
                )
            )
        out.append(
            _other_figures(
                inp.ensemble_figures, inp.ensemble_dir, drawn, "Other figures of the ensemble"
            )
        )
    out.append("</section>")
    return "\n".join(out)


def _manifest_html(title: str, manifest: dict) -> str:
    facts = []
    for key in ("command", "created_utc", "engine", "seed"):
        if manifest.get(key) is not None:
            facts.append(f"<li>{_e(key)}: {_e(manifest[key])}</li>")
    model = manifest.get("model")
    if isinstance(model, dict):
        facts.append(
            f"<li>model: {_e(model.get('path', ''))} (sha256 {_e(model.get('sha256', ''))})</li>"
        )
    versions = manifest.get("versions")
    if isinstance(versions, dict):
        facts.append(
            "<li>versions: " + _e(", ".join(f"{k} {v}" for k, v in versions.items())) + "</li>"
        )
    text = json.dumps(manifest, indent=2, default=str)
    return (
        f"<h3>{_e(title)}</h3><ul class='meta'>{''.join(facts)}</ul>"
        f"<details><summary>manifest.json</summary><pre>{_e(text)}</pre></details>"
    )


def _manifest_section(inp: ReportInputs) -> str:
    out = ["<section id='manifest'><h2>5. Manifest</h2>"]
    found = False
    for title, manifest in (
        ("Results", inp.manifest),
        ("Calibration", inp.calibration_manifest),
        ("Ensemble", inp.ensemble_manifest),
    ):
        if manifest:
            found = True
            out.append(_manifest_html(title, manifest))
    if not found:
        out.append(_absent("No manifest.json in the folders read."))
    out.append("</section>")
    return "\n".join(out)


def render_report(inputs: ReportInputs, *, title: str | None = None) -> str:
    """Return the report as one self-contained HTML document.

    Parameters
    ----------
    inputs : ReportInputs
        From `collect_inputs`.
    title : str, optional
        The heading; by default names the results folder.

    Returns
    -------
    str
        HTML with sections ``scenarios``, ``projections``, ``calibration``,
        ``uncertainty`` and ``manifest`` (each present, saying so when its inputs are
        absent); images embedded as base64 PNG; no script and no external reference.
    """
    from sdplanner import __version__

    heading = title or f"sdplanner report: {inputs.results_dir.name or inputs.results_dir}"
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        _scenario_section(inputs),
        _projection_section(inputs),
        _calibration_section(inputs),
        _uncertainty_section(inputs),
        _manifest_section(inputs),
    ]
    nav = "".join(
        f"<li><a href='#{k}'>{_e(v)}</a></li>"
        for k, v in (
            ("scenarios", "1. Scenarios"),
            ("projections", "2. Projections"),
            ("calibration", "3. Calibration"),
            ("uncertainty", "4. Uncertainty"),
            ("manifest", "5. Manifest"),
        )
    )
    return (
        "<!doctype html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{_e(heading)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_e(heading)}</h1>\n"
        f"<p class='meta'>Made by sdplanner {_e(__version__)} on {_e(created)} from"
        f" {_e(inputs.results_dir)}.</p>\n"
        f"<nav><ul>{nav}</ul></nav>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def write_report(
    results_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    calibration: str | os.PathLike | None = None,
    ensemble: str | os.PathLike | None = None,
    title: str | None = None,
    model: str | os.PathLike | None = None,
) -> Path:
    """Write the report of a results folder to one HTML file (atomically).

    Parameters
    ----------
    results_dir : path-like
        Output folder of ``sdplanner compare``.
    out : path-like
        The HTML file to write; its folder must exist.
    calibration, ensemble : path-like, optional
        Output folders of ``sdplanner calibrate`` and ``sdplanner ensemble`` (see
        `collect_inputs` for the defaults).
    title : str, optional
        The heading.
    model : path-like, optional
        The ``.mdl`` the outputs are of; the shipped model when omitted.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    DataError
        When the inputs are missing or unreadable.
    OutputError
        When the file cannot be written.
    """
    from sdplanner.results import atomic_write_text

    target = Path(out)
    if target.is_dir():
        raise OutputError(f"--out {target}: expected an HTML file name, found a folder")
    if not target.parent.is_dir():
        raise OutputError(f"--out {target}: the folder {target.parent} does not exist")
    inputs = collect_inputs(results_dir, calibration=calibration, ensemble=ensemble, model=model)
    atomic_write_text(target, render_report(inputs, title=title))
    return target
