"""``sdplanner schema KIND [--model MODEL] [--generic] [--out FILE]``: a file kind's JSON Schema.

Prints (or writes) the JSON Schema of an input file kind, for editors that complete and
check YAML files (``docs/scenarios.md`` says how). The scenario schema lists the model's
levers with their ranges unless ``--generic``.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["handler", "register"]


def register(subparsers) -> None:
    """Add the ``schema`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The subcommand collection of the ``sdplanner`` parser.
    """
    from sdplanner.schema import KINDS

    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of an input file kind (for editors)",
        description=(
            f"Print the JSON Schema of a file kind ({', '.join(KINDS)}). The scenario schema"
            " spells out the levers of the model (the shipped one by default) with their"
            " ranges. Exit 2 for an unknown kind."
        ),
    )
    parser.add_argument("kind", metavar="KIND", help=f"one of {', '.join(KINDS)}")
    parser.add_argument(
        "--model", default=None, help="Vensim .mdl file (default: the shipped model)"
    )
    parser.add_argument(
        "--generic", action="store_true", help="the schema of any model: levers not listed"
    )
    parser.add_argument("--out", metavar="FILE", help="write the schema to FILE")
    parser.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    """Print or write the schema.

    Parameters
    ----------
    args : argparse.Namespace
        ``kind``, ``model``, ``generic``, ``out``.

    Returns
    -------
    int
        0 (an unknown kind raises, and the command line exits with 2).
    """
    from sdplanner.schema import json_schema

    schema = json_schema(args.kind)
    if args.kind == "scenario" and not args.generic:
        from sdplanner.model import load_model
        from sdplanner.schema.scenario import with_levers

        schema = with_levers(schema, load_model(args.model))
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    from sdplanner.results import atomic_write_text

    atomic_write_text(args.out, text)
    print(f"{args.kind} schema -> {args.out}")
    return 0
