"""``sdplanner plot RESULTS.csv --variable V --out FILE``: a projection plot from any results.

The figure is `sdplanner.plots.plot_projection`: levels, and the change against the first
scenario drawn when there are two or more; scenario titles from the ``manifest.json`` beside
the results (`sdplanner.readers.scenario_titles`); bands from ``--bands percentiles.csv``.
Observed figures (``--observed``) are drawn by role relative to the calibration the manifest
records (`sdplanner.evidence.recorded_fit`): fitted ones filled, the others hollow.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sdplanner.compare import trajectory_changes
from sdplanner.errors import DataError, OutputError, did_you_mean, quote
from sdplanner.evidence import observed_points, recorded_fit
from sdplanner.model import load_model
from sdplanner.plots import FORMATS, plot_projection, render
from sdplanner.readers import (
    read_manifest,
    read_observed,
    read_percentiles,
    read_results,
    scenario_titles,
)
from sdplanner.results import atomic_write_bytes, prepare_output_dir

__all__ = ["figure_format", "handler", "register"]


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
    p.add_argument(
        "--bands",
        metavar="PERCENTILES.csv",
        help="uncertainty bands to draw: percentiles.csv of sdplanner ensemble (one region)",
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
        ``results``, ``variable``, ``region``, ``scenario``, ``observed``, ``bands``,
        ``out``, ``model``.

    Returns
    -------
    int
        0 on success (errors raise and exit 2).
    """
    out = Path(args.out)
    fmt = figure_format(out)
    spec = load_model(args.model).spec
    results = read_results(args.results, spec)
    manifest = read_manifest(Path(args.results).parent)
    titles = scenario_titles(manifest)
    observed = None
    if args.observed:
        record = recorded_fit(manifest)
        observed = observed_points(read_observed(args.observed), spec.dimension, record)
    bands = read_percentiles(args.bands, spec) if args.bands else None
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
    scenarios = args.scenario or list(dict.fromkeys(sub["scenario"]))
    changes = None
    if len(scenarios) > 1:
        changes = trajectory_changes(
            results[results["scenario"].isin(scenarios)], [args.variable], baseline=scenarios[0]
        )
    fig, _ = plot_projection(
        results,
        args.variable,
        spec,
        regions=regions,
        scenarios=scenarios,
        observed=observed,
        changes=changes,
        bands=bands,
        titles=titles,
    )
    data = render(fig, fmt)
    prepare_output_dir(out.parent if str(out.parent) else ".")
    atomic_write_bytes(out, data)
    print(f"{args.variable}: {fmt.upper()} -> {out}")
    return 0
