"""The ``sdplanner`` command line: parse, call the library, print, return an exit code.

Exit codes: 0 success, 1 a check found problems (``sdplanner check``) or a run's outputs
turned non-finite, 2 bad input or an output that cannot be written (one line on stderr, no
traceback).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from sdplanner import commands
from sdplanner.errors import SdplannerError

__all__ = ["build_parser", "entry_point", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other input error
        self.exit(2, f"sdplanner: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand found in `sdplanner.commands`.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each subcommand sets ``args.handler``.
    """
    parser = _Parser(
        prog="sdplanner",
        description="System-dynamics scenario planner for China's 14 contiguous poor regions.",
    )
    from sdplanner import __version__

    parser.add_argument("--version", action="version", version=f"sdplanner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"sdplanner.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except SdplannerError as exc:
        print(f"sdplanner: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sdplanner: interrupted", file=sys.stderr)
        return 130


def entry_point() -> None:
    """Console-script entry: exit with `main`'s code."""
    sys.exit(main())
