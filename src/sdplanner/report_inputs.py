"""What a report is made of: the files of the results, calibration and ensemble folders.

`collect_inputs` finds and reads the outputs of ``sdplanner compare`` (or ``run``),
``sdplanner calibrate`` and ``sdplanner ensemble`` that `sdplanner.report` turns into one
HTML file: tables through `sdplanner.readers`, manifests, the figure files of each folder,
the scenario titles, and the observed points of the projections with their roles relative
to the calibration the results were run with (`sdplanner.evidence`). Nothing here draws or
writes HTML.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sdplanner.errors import DataError
from sdplanner.evidence import Evidence, observed_evidence, recorded_fit
from sdplanner.model import load_model
from sdplanner.readers import (
    read_comparison,
    read_observed,
    read_percentiles,
    read_results,
    scenario_titles,
)
from sdplanner.resources import data_path
from sdplanner.spec import ModelSpec

__all__ = ["IMAGE_TYPES", "ReportInputs", "collect_inputs"]

#: Image files embedded from the folders read: suffix -> (media type, leading bytes).
IMAGE_TYPES = {
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".svg": ("image/svg+xml", (b"<", b"\xef\xbb\xbf<")),
}


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
        sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_TYPES and p.is_file())
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
    evidence : Evidence or None
        The observed points drawn on the projections (``data/seed_figures.csv``), each with
        its role relative to the calibration the results manifest records, and the rows
        left out (`sdplanner.evidence.observed_evidence`); None without ``results.csv``.
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
    evidence: Evidence | None = None

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
    evidence = None
    if results is not None:
        observed = read_observed(data_path("seed_figures.csv"))
        evidence = observed_evidence(observed, spec.dimension, recorded_fit(manifest))
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
        evidence=evidence,
    )
