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
colours, and the ensemble's bands on the trajectories; observed points are filled when the
calibration the results were run with was fitted to them, hollow otherwise, and the section
says how many of each. The inputs are found and read by `sdplanner.report_inputs`; the
calibration's own figures are `sdplanner.report_figures`. Every figure is a PNG embedded as
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
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sdplanner.compare import summary_table
from sdplanner.display import format_number, money_unit
from sdplanner.errors import DataError, OutputError
from sdplanner.evidence import ANCHOR, BY_CONSTRUCTION, FITTED, NOT_FITTED
from sdplanner.report_figures import fit_figure, intervals_figure
from sdplanner.report_inputs import IMAGE_TYPES, ReportInputs, collect_inputs
from sdplanner.style import OBSERVED_LABELS

__all__ = [
    "ReportInputs",
    "collect_inputs",
    "fit_figure",
    "intervals_figure",
    "render_report",
    "write_report",
]

#: Largest PNG embedded from a results folder (bytes).
MAX_EMBED_BYTES = 5 * 1024 * 1024
_MAX_TABLE_ROWS = 500
_DPI = 100


def _png_base64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    fig.clear()
    return base64.b64encode(buf.getvalue()).decode("ascii")


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
    media, magic = IMAGE_TYPES[path.suffix.lower()]
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
    where = f"{_e(region)}: the" if region else "The"
    cost = (
        f" Cost: cumulative extra public spending on the levers since the initial year,"
        f" undiscounted, in {_e(money_unit('billion yuan', spec.price_base))}. Money at"
        f" {_e(prices)}."
        if spec.cumulative_cost
        else ""
    )
    out = [
        f"<p class='meta'>{where} first row of each year is the level in"
        f" {_e(_title(inp, baseline))}; the other rows are each scenario's change against it."
        f"{cost} Every region, indicator and year: comparison.csv and regions.csv.</p>"
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

    res = inp.results
    return comparison_figures(
        res,
        inp.comparison,
        inp.spec,
        baseline=_baseline(inp, res),
        titles=inp.titles,
        observed=inp.evidence.points if inp.evidence is not None else None,
        since=int(res["year"].min()),
        bands=inp.percentiles,
    )


def _evidence_html(inp: ReportInputs) -> str:
    """Say which observed points the calibration in use was fitted to, and what is left out."""
    ev = inp.evidence
    if ev is None:
        return ""
    counts = ev.counts()
    if ev.calibration is None:
        used = (
            f"No calibration in use (the results record no parameter file): all"
            f" {counts[NOT_FITTED]} observed points are hollow, not used in a fit."
        )
    else:
        used = (
            f"Observed points: {counts[FITTED]} used in the fit of the calibration"
            f" {ev.calibration} (filled: {OBSERVED_LABELS[FITTED]}), {counts[NOT_FITTED]}"
            f" not used in it (hollow: {OBSERVED_LABELS[NOT_FITTED]}; held out, compared only"
            " or not in its data)."
        )
    left = (
        f" Not drawn: {ev.dropped[BY_CONSTRUCTION]} figures the model reproduces by"
        f" construction (model inputs, such as Table 1's urbanization rates of 2010) and"
        f" {ev.dropped[ANCHOR]} anchors of an offset group: they are no evidence."
    )
    return f"<p class='meta' id='observed-roles'>{_e(used + left)}</p>"


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
        out.append(_evidence_html(inp))
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
