"""The shareable report: one self-contained HTML file made from a results folder.

`write_report` reads what ``sdplanner compare`` wrote in a folder (``comparison.csv``,
``results.csv``, ``*.png``, ``manifest.json``) and, when present, the outputs of
``sdplanner calibrate`` (``parameters.csv``, ``fit.csv``, ``observations.csv``,
``identifiability.txt``, ``plots/*.png``, ``manifest.json``) and of ``sdplanner ensemble``
(``percentiles.csv``), and writes one HTML file with five sections: the scenario table, the
projections, the calibration (fit and intervals), the uncertainty (fan charts) and the
manifests. The files are read by `sdplanner.readers`; the figures are those of
``sdplanner compare`` (`sdplanner.figures.comparison_figures`) and ``sdplanner ensemble``
(`sdplanner.ensemble_plots.fan_chart`), with the same labels, units, scenario titles and
colours, and the ensemble's bands on the trajectories. Every figure is a PNG embedded as
base64; the style sheet is inline; there is no script and no reference to anything outside
the file, so it opens from disk with no server and no network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdplanner.compare import summary_table
from sdplanner.display import format_number, money_unit
from sdplanner.errors import DataError, OutputError
from sdplanner.model import load_model
from sdplanner.readers import (
    read_comparison,
    read_observed,
    read_percentiles,
    read_results,
    scenario_titles,
)
from sdplanner.spec import ModelSpec
from sdplanner.style import new_figure, style_axes

__all__ = [
    "ReportInputs",
    "collect_inputs",
    "read_percentiles",
    "render_report",
    "write_report",
]

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
    titles : mapping
        Scenario name -> title, from the manifests.
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
    titles: Mapping[str, str] = field(default_factory=dict)

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

    comparison = None
    if (root / "comparison.csv").is_file():
        comparison = read_comparison(root / "comparison.csv", spec)
    results = None
    if (root / "results.csv").is_file():
        results = read_results(root / "results.csv", spec)

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
    manifest = _read_json(root / "manifest.json")
    titles = {
        **scenario_titles(ens_manifest),
        **scenario_titles(cal_manifest),
        **scenario_titles(manifest),
    }
    return ReportInputs(
        results_dir=root,
        comparison=comparison,
        results=results,
        manifest=manifest,
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
        titles=titles,
    )


# --------------------------------------------------------------------------------------
# Figures (matplotlib's object API on the Agg canvas: nothing global, nothing left open)
# --------------------------------------------------------------------------------------
def _figure(width: float = 7.5, height: float = 3.9):
    return new_figure(width, height)


def _png_base64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    fig.clear()
    return base64.b64encode(buf.getvalue()).decode("ascii")


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
    style_axes(ax, y=False, grid="x")
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
    style_axes(ax, y=False, grid="x")
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
        return format_number(v, digits=4), False
    return str(value), True


def _table(frame: pd.DataFrame, caption: str = "", *, numbers_as_text: bool = False) -> str:
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
        for k, value in enumerate(row):
            text, is_text = _cell(value)
            is_text = is_text and not (numbers_as_text and k > 0)
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
    """Embed the figure files of a folder, leaving out those drawn already (by file stem)."""
    drawn = set(drawn)
    keep = [p for p in files if p.stem not in drawn]
    if not keep:
        return ""
    return f"<h3>{_e(title)}</h3>" + "\n".join(_file_img(p, root) for p in keep)


def _absent(text: str) -> str:
    return f"<p class='absent'>{_e(text)}</p>"


def _baseline(inp: ReportInputs, frame: pd.DataFrame) -> str:
    named = (inp.manifest or {}).get("baseline")
    order = list(dict.fromkeys(frame["scenario"]))
    return named if isinstance(named, str) and named in order else order[0]


def _title(inp: ReportInputs, name: str) -> str:
    return inp.titles.get(name) or name


def _summary_html(inp: ReportInputs, comp: pd.DataFrame) -> list[str]:
    """Return the aggregate's summary: a table per year, levels then changes."""
    spec = inp.spec
    region = inp.aggregate if inp.aggregate in set(comp["region"]) else comp["region"].iloc[0]
    years = [y for y in spec.summary_years if y in set(comp["year"])] or [int(comp.year.max())]
    indicators = [v for v in spec.view("headline") if v in set(comp["indicator"])]
    table = summary_table(comp, spec, years=years, indicators=indicators, region=region)
    baseline = (inp.manifest or {}).get("baseline") or "baseline"
    prices = f"{spec.price_base} prices" if spec.price_base is not None else "the model's prices"
    out = [
        f"<p class='meta'>{_e(region)}: the first row of each year is the level in"
        f" {_e(_title(inp, baseline))}; the other rows are each scenario's change against it."
        f" Cost: cumulative extra public spending on the levers since the initial year,"
        f" undiscounted, in {_e(money_unit('billion yuan', spec.price_base))}. Money at"
        f" {_e(prices)}. Every region, indicator and year: comparison.csv and regions.csv.</p>"
    ]
    if table.empty:
        return [*out, _absent("No row of the comparison for the summary years.")]
    heads = {"cost": f"cost: {money_unit('billion yuan', spec.price_base)}"}
    for ind in indicators:
        disp = spec.display(ind)
        change = f"; change in {disp.delta_unit}" if disp.delta_unit != disp.unit else ""
        heads[ind] = f"{disp.label}: {disp.unit}{change}"
    for year in dict.fromkeys(y for y, _ in table.index):
        block = table.loc[year]
        body = []
        for scen, row in block.iterrows():
            level = scen == "(level)"
            cells = [_title(inp, baseline) if level else _title(inp, scen)]
            for col in block.columns:
                cells.append(format_number(row[col], signed=not level or col == "cost"))
            body.append(cells)
        frame = pd.DataFrame(body, columns=["scenario", *(heads[c] for c in block.columns)])
        out.append(f"<h3>{_e(year)}</h3>")
        out.append(_table(frame, numbers_as_text=True))
    return out


def _scenario_section(inp: ReportInputs) -> str:
    out = ["<section id='scenarios'><h2>1. Scenarios</h2>"]
    if inp.comparison is not None and inp.spec is not None:
        out.append(f"<p class='meta'>From {_e(inp.results_dir / 'comparison.csv')}.</p>")
        out.extend(_summary_html(inp, inp.comparison))
    elif inp.results is not None:
        out.append(
            _absent(
                "No comparison.csv in the results folder (sdplanner run, not compare): the"
                " projections below show the scenario's levels."
            )
        )
    else:
        out.append(_absent("No comparison.csv or results.csv in the results folder."))
    out.append("</section>")
    return "\n".join(out)


def _comparison_figures(inp: ReportInputs) -> dict[str, tuple]:
    from sdplanner.figures import comparison_figures
    from sdplanner.plots import observed_points
    from sdplanner.resources import data_path

    res = inp.results
    observed = observed_points(read_observed(data_path("seed_figures.csv")), inp.spec.dimension)
    return comparison_figures(
        res,
        inp.comparison,
        inp.spec,
        baseline=_baseline(inp, res),
        titles=inp.titles,
        observed=observed,
        since=int(res["year"].min()),
        bands=inp.percentiles,
    )


def _projection_section(inp: ReportInputs) -> str:
    out = ["<section id='projections'><h2>2. Projections</h2>"]
    drawn: list[str] = []
    if inp.results is not None and not inp.results.empty and inp.spec is not None:
        out.append(
            f"<p class='meta'>From {_e(inp.results_dir / 'results.csv')}: the figures of"
            " sdplanner compare. Grey: the years before the policy start."
            + (" Bands: the ensemble's 5-95 % and 25-75 %." if inp.percentiles is not None else "")
            + "</p>"
        )
        for stem, (fig, _axes) in _comparison_figures(inp).items():
            drawn.append(stem)
            title = fig.get_suptitle() or stem
            out.append(_fig_html(fig, stem.replace("_", " "), title))
    else:
        out.append(_absent("No results.csv in the results folder: no projection to plot."))
    out.append(
        _other_figures(inp.figures, inp.results_dir, drawn, "Other figures of the results folder")
    )
    out.append("</section>")
    return "\n".join(out)


def _uncertainty_section(inp: ReportInputs) -> str:
    from sdplanner.ensemble_plots import fan_chart

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
        out.append(f"<p class='meta'>From {_e(inp.ensemble_dir / 'percentiles.csv')}.</p>")
        present = set(pct["variable"])
        for var in [v for v in inp.spec.view("ensemble") if v in present][:6]:
            drawn.append(f"fan_{var}")
            fig, _ = fan_chart(pct, var, inp.spec, titles=inp.titles)
            out.append(_fig_html(fig, f"fan chart of {var}", fig.get_suptitle()))
        out.append(
            _other_figures(
                inp.ensemble_figures, inp.ensemble_dir, drawn, "Other figures of the ensemble"
            )
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
