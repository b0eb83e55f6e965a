"""Reading sdplanner's own output files back: one reader per kind, shared by every user.

``sdplanner plot``, ``sdplanner report`` and the explorer draw from files that a command
wrote earlier and that a user may have edited or truncated since, so each is read as
untrusted input: a missing file or column, a non-number or an empty table is a
`sdplanner.errors.DataError` whose one line names the file (and line and column).

* `read_results`: ``results.csv`` of ``run`` and ``compare`` (``scenario, region, variable,
  year, value[, unit]``);
* `read_comparison`: ``comparison.csv`` of ``compare`` (`sdplanner.compare.COMPARISON_COLUMNS`);
* `read_percentiles`: ``percentiles.csv`` of ``ensemble``
  (`sdplanner.ensemble.PERCENTILE_COLUMNS`);
* `read_observed`: an observation file drawn on figures (``data/seed_figures.csv``);
* `read_fit_rows`: ``observations.csv`` of ``sdplanner calibrate`` (every compared row and
  its role), the record of which figures a calibration was fitted to;
* `read_manifest` and `scenario_titles`: the ``manifest.json`` beside them, and the scenario
  titles it records, so legends show titles for any results folder.

Every reader names the aggregate rows by the spec's label whatever alias the file uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdplanner.errors import DataError, quote
from sdplanner.spec import ModelSpec

__all__ = [
    "COMPARISON_NEED",
    "FIT_ROWS_NEED",
    "FIT_ROWS_PLACED",
    "OBSERVED_NEED",
    "PERCENTILE_NEED",
    "RESULT_NEED",
    "read_comparison",
    "read_fit_rows",
    "read_manifest",
    "read_observed",
    "read_percentiles",
    "read_results",
    "scenario_titles",
]

RESULT_NEED = ("scenario", "region", "variable", "year", "value")
COMPARISON_NEED = ("scenario", "region", "indicator", "year", "value", "baseline_value", "delta")
PERCENTILE_NEED = ("scenario", "region", "variable", "year", "p05", "p25", "p50", "p75", "p95")
OBSERVED_NEED = ("indicator", "area", "year", "value")
FIT_ROWS_NEED = ("indicator", "area", "data_year", "observed", "role")
#: Columns that place a record's rows on the model (required with ``variable``).
FIT_ROWS_PLACED = ("variable", "compared_with", "year", "factor", "offset")
#: Roles ``observations.csv`` of ``sdplanner calibrate`` gives its rows.
FIT_ROLES = ("fitted", "anchor", "compared", "held out")
#: Largest manifest read (bytes); a command's manifest is a few kilobytes.
MAX_MANIFEST_BYTES = 5 * 1024 * 1024


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found (expected the {what})")
    if not path.is_file():
        raise DataError(f"{path}: expected the {what}, found a directory")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: expected the {what}, found an empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read as a UTF-8 CSV file ({msg})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _require(frame: pd.DataFrame, path: Path, need: Sequence[str], what: str) -> None:
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: expected the columns of the {what} {list(need)}, missing {missing}"
        )
    if frame.empty:
        raise DataError(f"{path}: expected rows, found only the header")


def _numbers(
    frame: pd.DataFrame, path: Path, column: str, what: str = "a number", *, empty: bool = True
) -> pd.Series:
    """Return a column as floats; a cell that is not a number is an error naming its line."""
    text = frame[column].astype(str).str.strip()
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = values.isna() & ((text != "") | (not empty))
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        found = quote(text.iloc[i]) if text.iloc[i] else "an empty cell"
        raise DataError(f"{path}: line {i + 2}: {column}: expected {what}, found {found}")
    return values.astype(float)


def _years(frame: pd.DataFrame, path: Path) -> pd.Series:
    years = _numbers(frame, path, "year", "a year", empty=False)
    return years.round().astype(int)


def _aggregate_named(regions: pd.Series, spec: ModelSpec | None) -> pd.Series:
    regions = regions.astype(str)
    if spec is None or spec.dimension is None:
        return regions
    dim = spec.dimension
    return regions.replace(dict.fromkeys(dim.aggregate_aliases, dim.aggregate))


def read_results(path: str | os.PathLike, spec: ModelSpec | None = None) -> pd.DataFrame:
    """Read and check a results table written by ``sdplanner run`` or ``compare``.

    Parameters
    ----------
    path : path-like
        ``results.csv``: columns ``scenario, region, variable, year, value[, unit]``.
    spec : ModelSpec, optional
        The model's spec; aliases of its aggregate are renamed to its label.

    Returns
    -------
    pandas.DataFrame
        The table, with ``year`` as integers (year) and ``value`` as floats (the model's
        units).

    Raises
    ------
    DataError
        One line naming the file (and line): missing, unreadable, a missing column, a
        non-numeric year or value, or no rows.
    """
    path = Path(path)
    frame = _read_csv(path, "results table (results.csv)")
    _require(frame, path, RESULT_NEED, "results table")
    return frame.assign(
        region=_aggregate_named(frame["region"], spec),
        year=_years(frame, path),
        value=_numbers(frame, path, "value"),
    )


def read_comparison(path: str | os.PathLike, spec: ModelSpec | None = None) -> pd.DataFrame:
    """Read and check ``comparison.csv`` of ``sdplanner compare``.

    Parameters
    ----------
    path : path-like
        The CSV (columns `sdplanner.compare.COMPARISON_COLUMNS`; the cost columns may be
        missing).
    spec : ModelSpec, optional
        The model's spec (the aggregate's label).

    Returns
    -------
    pandas.DataFrame
        The rows; ``year`` as integers, values, changes and costs as floats (empty cells are
        NaN: no cost).

    Raises
    ------
    DataError
        For a missing file or column, a non-number, or no rows.
    """
    path = Path(path)
    frame = _read_csv(path, "comparison table (comparison.csv)")
    _require(frame, path, COMPARISON_NEED, "comparison table")
    numeric = [c for c in frame.columns if c not in ("scenario", "region", "indicator", "year")]
    out = frame.assign(region=_aggregate_named(frame["region"], spec), year=_years(frame, path))
    for col in numeric:
        out[col] = _numbers(frame, path, col)
    return out


def read_percentiles(path: str | os.PathLike, spec: ModelSpec | None = None) -> pd.DataFrame:
    """Read ``percentiles.csv`` of ``sdplanner ensemble``.

    Parameters
    ----------
    path : path-like
        The CSV, columns `sdplanner.ensemble.PERCENTILE_COLUMNS`; ``mean`` may be missing.
    spec : ModelSpec, optional
        The model's spec; its aggregate's aliases are renamed to its label.

    Returns
    -------
    pandas.DataFrame
        The rows; ``year`` (year) and the percentiles (the variable's unit) as numbers.

    Raises
    ------
    DataError
        When the file is missing, not a CSV, lacks a column or holds a non-number.
    """
    path = Path(path)
    frame = _read_csv(path, "percentiles.csv of sdplanner ensemble")
    _require(frame, path, PERCENTILE_NEED, "percentiles table")
    out = frame.assign(region=_aggregate_named(frame["region"], spec), year=_years(frame, path))
    for col in [*PERCENTILE_NEED[4:], *(["mean"] if "mean" in frame.columns else [])]:
        out[col] = _numbers(frame, path, col)
    return out


def read_observed(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check an observation file for figures (e.g. ``data/seed_figures.csv``).

    Parameters
    ----------
    path : path-like
        CSV with columns ``indicator, area, year, value`` and optionally ``unit`` and
        ``area_type``.

    Returns
    -------
    pandas.DataFrame
        The file's rows as text (`sdplanner.evidence.observed_evidence` converts them).

    Raises
    ------
    DataError
        One line naming the file (and line): missing, unreadable, a missing column, or a
        non-numeric year or value (an empty value is skipped).
    """
    path = Path(path)
    frame = _read_csv(path, "observation file")
    missing = [c for c in OBSERVED_NEED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: expected columns {list(OBSERVED_NEED)} (optional: unit, area_type),"
            f" missing {missing}"
        )
    _numbers(frame, path, "year", "a year")
    _numbers(frame, path, "value")
    return frame


def read_fit_rows(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``observations.csv`` of ``sdplanner calibrate``: the rows compared and their roles.

    Parameters
    ----------
    path : path-like
        The CSV; columns `FIT_ROWS_NEED` at least (``observed`` in the data's units); with
        ``variable`` also `FIT_ROWS_PLACED` (``year`` compared, ``factor`` data units per
        model unit, ``offset`` in data units, empty when unknown).

    Returns
    -------
    pandas.DataFrame
        The rows; ``data_year`` (year) as integers and ``observed`` as floats, ``role`` one
        of `FIT_ROLES`; with ``variable``, ``year`` as integers and ``factor`` (positive)
        and ``offset`` (NaN when empty) as floats.

    Raises
    ------
    DataError
        One line naming the file (and line): missing, unreadable, a missing column, a
        non-number, a factor not positive, a role not in `FIT_ROLES`, or no rows.
    """
    path = Path(path)
    frame = _read_csv(path, "calibration record (observations.csv of sdplanner calibrate)")
    _require(frame, path, FIT_ROWS_NEED, "calibration record")
    role = frame["role"].astype(str).str.strip()
    bad = ~role.isin(FIT_ROLES)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{path}: line {i + 2}: role: expected one of {list(FIT_ROLES)},"
            f" found {quote(role.iloc[i])}"
        )
    years = _numbers(frame, path, "data_year", "a year", empty=False)
    frame = frame.assign(
        indicator=frame["indicator"].astype(str).str.strip(),
        area=frame["area"].astype(str).str.strip(),
        data_year=years.round().astype(int),
        observed=_numbers(frame, path, "observed", empty=False),
        role=role,
    )
    if "variable" not in frame.columns:
        return frame
    _require(frame, path, FIT_ROWS_PLACED, "calibration record with variables")
    factor = _numbers(frame, path, "factor", "a positive number", empty=False)
    bad = ~(factor > 0) | ~np.isfinite(factor)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{path}: line {i + 2}: factor: expected a positive number, found"
            f" {quote(frame['factor'].iloc[i])}"
        )
    return frame.assign(
        variable=frame["variable"].astype(str).str.strip(),
        compared_with=frame["compared_with"].astype(str).str.strip(),
        year=_numbers(frame, path, "year", "a year", empty=False).round().astype(int),
        factor=factor,
        offset=_numbers(frame, path, "offset"),
    )


def read_manifest(folder: str | os.PathLike) -> dict[str, Any] | None:
    """Read the ``manifest.json`` of an output folder, or None when there is none.

    Parameters
    ----------
    folder : path-like
        An output folder (or a file in it).

    Returns
    -------
    dict or None
        The manifest.

    Raises
    ------
    DataError
        When the file exists but is not a JSON object, or is larger than
        `MAX_MANIFEST_BYTES`.
    """
    folder = Path(folder)
    path = (folder if folder.is_dir() else folder.parent) / "manifest.json"
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise DataError(f"{path}: larger than {MAX_MANIFEST_BYTES // 2**20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: cannot read as JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def scenario_titles(manifest: dict[str, Any] | None) -> dict[str, str]:
    """Return the scenario titles a manifest records (``scenario_titles``), name -> title.

    Parameters
    ----------
    manifest : dict or None
        From `read_manifest`.

    Returns
    -------
    dict
        Name -> title; entries that are not two strings are left out (titles only label).
    """
    raw = (manifest or {}).get("scenario_titles")
    if not isinstance(raw, dict):
        return {}
    return {
        k: v.strip()[:100]
        for k, v in raw.items()
        if isinstance(k, str) and isinstance(v, str) and v.strip() and v.isprintable()
    }
