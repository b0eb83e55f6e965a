"""``sdplanner report RESULTS_DIR --out report.html``: one self-contained HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["handler", "register"]


def register(sub) -> None:
    """Add the ``report`` subcommand.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    p = sub.add_parser(
        "report",
        help="turn the outputs of compare (calibrate, ensemble) into one HTML file",
        description=(
            "Write one self-contained HTML file (no server, no network needed to open it) from"
            " the outputs of sdplanner compare in RESULTS_DIR: the scenario table, projection"
            " plots, and when present the calibration fit and intervals, the ensemble's fan"
            " charts and the manifests."
        ),
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="output folder of sdplanner compare")
    p.add_argument(
        "--out",
        help="HTML file to write (default: RESULTS_DIR/report.html)",
    )
    p.add_argument(
        "--calibration",
        metavar="DIR",
        help="output folder of sdplanner calibrate (default: RESULTS_DIR/calibration if present)",
    )
    p.add_argument(
        "--ensemble",
        metavar="DIR",
        help="output folder of sdplanner ensemble or its percentiles.csv"
        " (default: RESULTS_DIR/ensemble if present)",
    )
    p.add_argument("--title", help="heading of the report")
    p.add_argument(
        "--model",
        metavar="MODEL.mdl",
        help="the model the outputs are of, for labels (default: the shipped model)",
    )
    p.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Write the report and print where it is.

    Parameters
    ----------
    args : argparse.Namespace
        ``results_dir``, ``out``, ``calibration``, ``ensemble``, ``title``.

    Returns
    -------
    int
        0 on success.
    """
    from sdplanner.report import write_report

    out = Path(args.out) if args.out else Path(args.results_dir) / "report.html"
    path = write_report(
        args.results_dir,
        out,
        calibration=args.calibration,
        ensemble=args.ensemble,
        title=args.title,
        model=args.model,
    )
    size = path.stat().st_size
    print(f"report: {path} ({size / 1024:.0f} KiB, self-contained)")
    return 0
