"""``sdplanner sketch MODEL.mdl [--write | --out FILE]``: draw a model's diagram for Vensim.

Without ``--write`` or ``--out`` the sketch section is printed and nothing is written.
How the diagram is made: ``docs/sketch.md``.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["handler", "register"]


def register(subparsers) -> None:
    """Add the ``sketch`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    parser = subparsers.add_parser(
        "sketch",
        help="draw a model's stock-and-flow diagram (the .mdl's sketch section, for Vensim)",
        description=(
            "Generate the sketch section of MODEL.mdl from its equations: one view per group"
            " that holds a stock, stocks and flows with their main auxiliaries. The equations"
            " are kept byte for byte; an existing sketch is replaced. Without --write or"
            " --out the sketch is printed. Exit 2 on unreadable input or output."
        ),
    )
    parser.add_argument("model", metavar="MODEL.mdl", help="the Vensim model to draw")
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--write", action="store_true", help="replace the model's sketch in place (atomically)"
    )
    target.add_argument("--out", metavar="FILE", help="write the model with its sketch to FILE")
    parser.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Draw the diagram, then print it or write the model with it.

    Parameters
    ----------
    args : argparse.Namespace
        ``model``, ``write``, ``out``.

    Returns
    -------
    int
        0 on success (bad input raises, and the command line exits with 2).
    """
    from sdplanner.sketch import sketch_section, write_sketch

    if not args.write and args.out is None:
        sys.stdout.write(sketch_section(args.model))
        return 0
    target = args.model if args.write else args.out
    summary = write_sketch(args.model, None if args.write else args.out)
    print(
        f"{target}: {len(summary.views)} views ({', '.join(summary.views)}); {summary.stocks}"
        f" stocks, {summary.flows} flows, {summary.auxiliaries} other variables drawn"
    )
    return 0
