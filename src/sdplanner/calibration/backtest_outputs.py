"""Writers and figures of a backtest: scores, summary, the fit's tables, plots, manifest.

`write_backtest` writes, in an output directory:

- ``scores.csv``: ``series, area, year, observed, projected, error, band_low, band_high,
  inside_band`` for every later figure scored (data units);
- ``summary.csv``: per indicator ``n, rmse, mape, mean_error, theil_um, theil_us,
  theil_uc, band_coverage``;
- ``parameters.csv`` and ``observations.csv``: the fit to the window (every row with its
  role: fitted, anchor, compared, held out);
- ``report.txt``: the window, what was scored and what could not be, and the fit's data
  report;
- ``plots/<indicator>.png``: per indicator with a scored row, the model path, the fitted
  figures (filled circles), the held-out figures (filled triangles) and their 95 % bands;
- ``manifest.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sdplanner.calibration.backtest import Backtest, band_width
from sdplanner.calibration.figures import figure_indicators, plot_indicator, plotted_with
from sdplanner.calibration.fit import all_rows
from sdplanner.calibration.outputs import OutputFiles, record_table, report_text
from sdplanner.model import ModelInfo
from sdplanner.results import write_manifest
from sdplanner.units import compared_to_model

__all__ = ["backtest_report", "plot_backtest", "write_backtest"]


def plot_backtest(bt: Backtest, indicator: str) -> tuple[Figure, np.ndarray]:
    """Plot one indicator of a backtest: the fit, the held-out figures and their bands.

    The calibration figure (`sdplanner.calibration.outputs.plot_indicator`: fitted figures
    filled, held-out figures as triangles past the end of the fit window) with each scored
    figure's 95 % band drawn as a grey bar on the same scale.

    Parameters
    ----------
    bt : Backtest
        The backtest.
    indicator : str
        An indicator with scored rows.

    Returns
    -------
    tuple
        ``(figure, axes)``; the caller saves the figure.
    """
    fig, axes = plot_indicator(bt.calibration, indicator)
    family = plotted_with(bt.calibration, indicator)
    spec = bt.calibration.problem.spec.indicators[indicator]
    rows = all_rows(bt.calibration)
    rows = rows[rows.indicator.isin(family) & (rows.role != "anchor")]
    panels = list(dict.fromkeys(rows.compared_with))
    scores = bt.scores[bt.scores.series.isin(family)]
    for ax, area in zip(axes, panels, strict=False):
        mine = scores[scores.compared_with == area]
        if mine.empty:
            continue
        scale = spec.conversion.scale
        low = compared_to_model(mine.band_low, mine.offset, mine.factor) * scale
        high = compared_to_model(mine.band_high, mine.offset, mine.factor) * scale
        ax.vlines(
            mine.year + 0.15, low, high, color="0.55", linewidth=4, alpha=0.6, label="95 % band"
        )
        ax.legend(fontsize=6)
    return fig, axes


def backtest_report(bt: Backtest) -> str:
    """Return ``report.txt`` of a backtest.

    Parameters
    ----------
    bt : Backtest
        The backtest.

    Returns
    -------
    str
        Plain text: window, rows scored and not, band width, then the fit's data report.
    """
    scores = bt.scores
    width = band_width(scores)
    n_boot = bt.calibration.bootstrap.shape[0]
    lines = [
        f"Backtest of {bt.calibration.problem.spec.name!r}: fitted to the figures up to"
        f" {bt.until}, scored on {len(scores)} later figures",
        "",
        f"Band: 2.5-97.5 percentiles of the projections over {n_boot} bootstrap parameter"
        " sets, plus observation noise at each row's sigma. Inside: "
        f"{int(scores.inside_band.sum())} of {len(scores)}; median width"
        f" {float(np.nanmedian(width)):.2f} sigma (3.92 is the noise alone).",
        "",
        f"Not scored: {len(bt.unscored)} rows",
    ]
    lines += [f"  - {u}" for u in bt.unscored]
    return "\n".join(lines) + "\n\n" + report_text(bt.calibration)


def write_backtest(
    bt: Backtest,
    out_dir: str | os.PathLike,
    *,
    model: ModelInfo,
    data,
    spec: str | os.PathLike,
    scenario: str | os.PathLike | None,
    engine: str,
    params: str | os.PathLike | None = None,
    starts: int,
    bootstrap: int,
    seed: int,
    plots: bool = True,
) -> list[Path]:
    """Write every output of a backtest.

    Parameters
    ----------
    bt : Backtest
        The backtest.
    out_dir : path-like
        The command's staging folder (`sdplanner.output_set.OutputSet`).
    model : ModelInfo
        The model.
    data : sequence of path-like
        The observation files.
    spec, scenario : path-like
        The calibration spec and the scenario (or None).
    params : path-like, optional
        The parameter file under the estimated constants.
    engine : str
        Engine name.
    starts, bootstrap, seed : int
        The options used.
    plots : bool
        Write the figures.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    files_out = OutputFiles(out_dir)
    files_out.table(bt.scores[list(bt.scores.columns[:9])], "scores.csv")
    files_out.table(bt.summary, "summary.csv")
    files_out.table(bt.calibration.parameters_table(), "parameters.csv")
    files_out.table(record_table(bt.calibration), "observations.csv")
    files_out.text("report.txt", backtest_report(bt))
    if plots:
        scored = all_rows(bt.calibration)
        scored = scored[scored.indicator.isin(set(bt.scores.series))]
        files_out.plots(figure_indicators(scored, bt.calibration), lambda i: plot_backtest(bt, i))
    written = files_out.written
    manifest = write_manifest(
        files_out.folder,
        model=model,
        command="backtest",
        inputs={
            "data": list(data),
            "spec": [spec],
            "scenario": [scenario] if scenario else [],
            "parameters": [params] if params else [],
        },
        engine=engine,
        seed=seed,
        extra={
            "backtest": {
                "fit_until": bt.until,
                "starts": starts,
                "bootstrap": bootstrap,
                "scored": len(bt.scores),
                "inside_band": int(bt.scores.inside_band.sum()),
                "not_scored": len(bt.unscored),
                "model_runs": bt.calibration.n_runs,
                "outputs": [p.name for p in written],
            }
        },
    )
    written.append(manifest)
    return written
