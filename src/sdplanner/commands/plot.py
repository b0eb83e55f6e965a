"""``sdplanner plot RESULTS.csv --variable V --out FILE``: a projection plot from any results.

Also the readers the plotting commands share: a results table (``results.csv`` of ``run`` or
``compare``) and an observation file (``data/seed_figures.csv`` or one like it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

from sdplanner.errors import DataError, OutputError, did_you_mean, quote
from sdplanner.model import load_model
from sdplanner.plots import FORMATS, observed_points, plot_projection, render
from sdplanner.results import atomic_write_bytes, prepare_output_dir

__all__ = [
    "figure_format",
    "handler",
    "read_observed_csv",
    "read_results_csv",
    "register",
    "write_bytes",
]

_RESULT_NEED = ("scenario", "region", "variable", "year", "value")
_OBSERVED_NEED = ("indicator", "area", "year", "value")


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: expected a {what} CSV file, found a directory")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: expected a {what} CSV file, found an empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read as a UTF-8 CSV file ({msg})") from None


def _numbers(frame: pd.DataFrame, column: str, path: Path, what: str) -> pd.Series:
    text = frame[column].astype(str).str.strip()
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = values.isna() & (text != "")
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{path}: line {i + 2}: {column}: expected {what}, found {quote(text.iloc[i])}"
        )
    return values


def read_results_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check a results table written by ``sdplanner run`` or ``compare``.

    Parameters
    ----------
    path : path-like
        ``results.csv``: columns ``scenario, region, variable, year, value[, unit]``.

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
    frame = _read_csv(path, "results")
    missing = [c for c in _RESULT_NEED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: expected the columns of a results table {list(_RESULT_NEED)},"
            f" missing {missing}"
        )
    if frame.empty:
        raise DataError(f"{path}: expected result rows, found only the header")
    years = _numbers(frame, "year", path, "a year")
    values = _numbers(frame, "value", path, "a number")
    if years.isna().any():
        i = int(years.isna().to_numpy().nonzero()[0][0])
        raise DataError(f"{path}: line {i + 2}: year: expected a year, found an empty cell")
    frame = frame.assign(year=years.round().astype(int), value=values.astype(float))
    return frame


def read_observed_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check an observation file for plotting (e.g. ``data/seed_figures.csv``).

    Parameters
    ----------
    path : path-like
        CSV with columns ``indicator, area, year, value`` and optionally ``unit`` (a value
        in ``percent`` is converted to a fraction) and ``area_type``.

    Returns
    -------
    pandas.DataFrame
        The file's rows as text (convert them with `sdplanner.plots.observed_points`).

    Raises
    ------
    DataError
        One line naming the file (and line): missing, unreadable, a missing column, or a
        non-numeric year or value (an empty value is skipped).
    """
    path = Path(path)
    frame = _read_csv(path, "observation")
    missing = [c for c in _OBSERVED_NEED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: expected columns {list(_OBSERVED_NEED)} (optional: unit, area_type),"
            f" missing {missing}"
        )
    _numbers(frame, "year", path, "a year")
    _numbers(frame, "value", path, "a number")
    return frame


def figure_format(path: str | os.PathLike, option: str = "--out") -> str:
    """Return the figure format a file name asks for.

    Parameters
    ----------
    path : path-like
        Output file name.
    option : str
        Option name for the error message.

    Returns
    -------
    str
        ``"png"``, ``"svg"`` or ``"pdf"``.

    Raises
    ------
    OutputError
        When the extension is none of those.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        found = f"'.{suffix}'" if suffix else "no extension"
        raise OutputError(
            f"{option}: {path}: expected a file name ending in .png, .svg or .pdf, found {found}"
        )
    return suffix


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to a file atomically (a temporary file in the same folder, then rename).

    Parameters
    ----------
    path : path-like
        Target file.
    data : bytes
        Content.
    """
    atomic_write_bytes(path, data)


def register(sub) -> None:
    """Add the ``plot`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    p = sub.add_parser(
        "plot",
        help="plot a variable from a results.csv (PNG, SVG or PDF by the file's extension)",
        description=(
            "Plot one variable of a results table over time: one line per scenario (and"
            " region), observed figures on top. The format follows --out's extension."
        ),
    )
    p.add_argument("results", metavar="RESULTS.csv", help="results of `run` or `compare`")
    p.add_argument("--variable", required=True, help="variable to plot, e.g. urbanization_rate")
    p.add_argument(
        "--region",
        nargs="+",
        action="extend",
        metavar="R",
        help="region(s) to plot (default: the aggregate)",
    )
    p.add_argument(
        "--scenario",
        nargs="+",
        action="extend",
        metavar="S",
        help="scenario(s) to plot, in legend order (default: all)",
    )
    p.add_argument(
        "--observed",
        metavar="DATA.csv",
        help="observed figures to overlay (columns indicator, area, year, value[, unit])",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="output file: .png, .svg or .pdf")
    p.add_argument(
        "--model",
        metavar="MODEL.mdl",
        help="the model the results are of, for labels and units (default: the shipped model)",
    )
    p.set_defaults(handler=handler)


def _check_option(option: str, wanted, available, what: str) -> None:
    for name in wanted:
        if name not in available:
            hint = did_you_mean(name, available, cutoff=0.6)
            raise DataError(f"{option}: no {what} {quote(name)} in the results{hint}")


def handler(args: argparse.Namespace) -> int:
    """Read and check everything, draw, then write the figure atomically.

    Parameters
    ----------
    args : argparse.Namespace
        ``results``, ``variable``, ``region``, ``scenario``, ``observed``, ``out``.

    Returns
    -------
    int
        0 on success (errors raise and exit 2).
    """
    out = Path(args.out)
    fmt = figure_format(out)
    results = read_results_csv(args.results)
    spec = load_model(args.model).spec
    observed = None
    if args.observed:
        observed = observed_points(read_observed_csv(args.observed), spec.dimension)
    _check_option("--variable", [args.variable], set(results["variable"]), "variable")
    sub = results[results["variable"] == args.variable]
    dim = spec.dimension
    regions = [
        dim.aggregate if dim is not None and r in dim.aggregate_aliases else r
        for r in (args.region or [])
    ]
    _check_option("--region", regions, list(dict.fromkeys(sub["region"])), "region")
    _check_option(
        "--scenario", args.scenario or [], list(dict.fromkeys(sub["scenario"])), "scenario"
    )
    if out.exists() and out.is_dir():
        raise OutputError(f"--out: {out}: expected a file name, found a directory")
    fig, _ = plot_projection(
        results, args.variable, spec, regions=regions, scenarios=args.scenario, observed=observed
    )
    data = render(fig, fmt)
    prepare_output_dir(out.parent if str(out.parent) else ".")
    write_bytes(out, data)
    print(f"{args.variable}: {fmt.upper()} -> {out}")
    return 0
